"""The LLM group judge over real HTTP (a scripted OpenAI-compatible server) and with the local tiny model."""

from __future__ import annotations

import json
import logging
import re

import pytest
from openai_server import Scripted, ScriptedOpenAIServer

from toolbrain_hub.models.chat import LocalChatModel
from toolbrain_hub.rewards.judge import GroupJudge, JudgeError, JudgeResult, parse_scores, render_task, render_trace
from toolbrain_hub.traces import Trace

TASK = {"query": "What is the weather in Paris?",
        "expected_calls": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        "answer": "Sunny, 21 C"}


def _traces(n: int) -> list[list[dict]]:
    """n TRL-style conversational completions; odd ones call the right tool, even ones answer without it."""
    out = []
    for i in range(1, n + 1):
        if i % 2:
            out.append([
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "name": "get_weather", "content": '{"sky": "sunny", "temp_c": 21}'},
                {"role": "assistant", "content": f"It is sunny and 21 C in Paris (run {i})."},
            ])
        else:
            out.append([{"role": "assistant", "content": f"Probably rainy, I guess (run {i})."}])
    return out


def _reply(scores: list[float], ids: list | None = None) -> str:
    ids = ids or list(range(1, len(scores) + 1))
    return json.dumps({"scores": [{"trace_id": str(i), "explanation": f"reason {i}", "score": s}
                                  for i, s in zip(ids, scores, strict=True)]})


@pytest.fixture
def server():
    with ScriptedOpenAIServer() as s:
        yield s


def test_good_reply_gives_one_score_per_trace_in_order(server, caplog):
    # Entries out of order and ids as ints: matched by id, not position.
    server.push(json.dumps({"scores": [{"trace_id": 2, "explanation": "no tool", "score": 0.1},
                                       {"trace_id": 1, "explanation": "right call", "score": 0.9}]}))
    judge = GroupJudge(server.url)
    with caplog.at_level(logging.INFO, logger="toolbrain_hub.rewards.judge"):
        result = judge.score_group(TASK, _traces(2))
    assert result.scores == [0.9, 0.1] and result.reasons == ["right call", "no tool"]
    assert (result.attempts, result.cached, result.fallback_used) == (1, False, False)
    assert server.request_count == 1
    system, user = server.requests[0]["messages"]
    assert "exactly 2 entries" in system["content"] and "Rubric" in system["content"]
    assert "Task: What is the weather in Paris?" in user["content"]
    assert 'Expected tool calls (a reference; other correct ways may exist): [{"name": "get_weather"' in user["content"]
    assert "Expected answer (a reference): Sunny, 21 C" in user["content"]
    assert '<trace id="1">' in user["content"] and "(run 2)" in user["content"]
    # Tokens are the server's usage counts; latency and tokens are logged.
    assert result.prompt_tokens == len(system["content"].split()) + len(user["content"].split())
    assert result.completion_tokens == judge.stats.completion_tokens > 0
    assert judge.stats.calls == 1 and judge.stats.mean_latency_s > 0
    assert re.search(r"scored 2 traces in [\d.]+ s \(1 attempt\(s\), \d+\+\d+ tokens\)", caplog.text)
    assert JudgeResult.from_dict(result.to_dict()) == result


def test_garbage_then_good_retries_and_shows_the_error(server):
    server.push("The first trace is better, I'd say 8/10.", _reply([0.8, 0.3]))
    judge = GroupJudge(server.url)
    result = judge.score_group(TASK, _traces(2))
    assert result.scores == [0.8, 0.3] and result.attempts == 2
    retry = server.requests[1]["messages"]
    assert retry[2] == {"role": "assistant", "content": "The first trace is better, I'd say 8/10."}
    assert retry[3]["role"] == "user" and "rejected: the reply is not valid JSON" in retry[3]["content"]
    assert (judge.stats.calls, judge.stats.retries, judge.stats.failures) == (2, 1, 0)


def test_seven_scores_for_eight_traces_raises_after_retries(server):
    server.push(*[_reply([0.5] * 7)] * 3)
    judge = GroupJudge(server.url, max_retries=2)
    with pytest.raises(JudgeError, match=r"after 3 attempt\(s\).*expected 8 scores \(trace ids 1, 2, 3, 4, 5, 6, 7, "
                                         r"8\), got 7; missing trace 8"):
        judge.score_group(TASK, _traces(8))
    assert server.request_count == 3
    assert "got 7; missing trace 8" in server.requests[1]["messages"][-1]["content"]
    assert (judge.stats.failures, judge.stats.fallbacks, judge.stats.retries) == (1, 0, 2)


def test_out_of_range_score_is_retried_then_fatal(server):
    server.push(_reply([7, 0.2]), _reply([0.7, 0.2]))
    judge = GroupJudge(server.url, max_retries=1)
    assert judge.score_group(TASK, _traces(2)).scores == [0.7, 0.2]
    assert "trace 1: score 7 is outside [0, 1]" in server.requests[1]["messages"][-1]["content"]

    server.push(_reply([0.5, -0.1]), _reply([0.5, 1.5]))
    with pytest.raises(JudgeError, match=r"trace 2: score -0.1 is outside.*trace 2: score 1.5 is outside"):
        judge.score_group(TASK, _traces(2)[::-1])


def test_timeout_counts_as_a_failed_attempt_and_is_retried(server):
    server.push(Scripted(_reply([1.0, 0.0]), delay=3.0), _reply([0.6, 0.4]))
    judge = GroupJudge(server.url, timeout=0.5)
    result = judge.score_group(TASK, _traces(2))
    assert result.scores == [0.6, 0.4] and result.attempts == 2
    assert (judge.stats.timeouts, judge.stats.retries) == (1, 1)
    # A timed-out attempt is retried with the same prompt (there is no reply to show).
    assert server.requests[1]["messages"] == server.requests[0]["messages"]


def test_only_timeouts_and_endpoint_errors_end_in_judge_error(server):
    server.push(Scripted("busy", status=503), Scripted("late", delay=2.0))
    judge = GroupJudge(server.url, max_retries=1, timeout=0.5)
    with pytest.raises(JudgeError) as info:
        judge.score_group(TASK, _traces(2))
    assert "attempt 1: endpoint error" in str(info.value) and "503" in str(info.value)
    assert "attempt 2: timed out" in str(info.value)


def test_configured_fallback_is_used_logged_and_counted(server, caplog):
    server.push(_reply([0.2, 0.6]), *["not json"] * 2, *["not json"] * 2)
    judge = GroupJudge(server.url, max_retries=1, fallback="mean")
    assert judge.score_group(TASK, _traces(2)).scores == [0.2, 0.6]
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.rewards.judge"):
        result = judge.score_group(TASK, _traces(4)[2:])  # a different group: not a cache hit
    assert result.fallback_used and result.scores == [pytest.approx(0.4)] * 2
    assert "not valid JSON" in result.error and result.reasons == ["fallback: judge failed"] * 2
    assert "Using the configured fallback (mean): 0.400 for every trace (fallback #1)" in caplog.text
    assert (judge.stats.failures, judge.stats.fallbacks) == (1, 1)

    fixed = GroupJudge(server.url, max_retries=1, fallback=0.0)
    assert fixed.score_group(TASK, _traces(3)).scores == [0.0, 0.0, 0.0]
    assert fixed.stats.fallbacks == 1 and server.request_count == 5

    # Fallback results are not cached: the next identical group asks the judge again.
    server.push(_reply([1.0, 0.0, 0.5]))
    again = fixed.score_group(TASK, _traces(3))
    assert again.scores == [1.0, 0.0, 0.5] and not again.cached and server.request_count == 6


def test_cache_hit_avoids_a_second_http_call(server):
    server.push(_reply([0.9, 0.1]), _reply([0.3, 0.7]))
    judge = GroupJudge(server.url)
    first = judge.score_group(TASK, _traces(2))
    second = judge.score_group(TASK, _traces(2))
    assert server.request_count == 1
    assert second.cached and second.scores == first.scores and second.attempts == 0
    assert judge.stats.cache_hits == 1 and judge.stats.groups == 2
    # Another rubric is another judgment.
    other = GroupJudge(server.url, rubric="Only the final answer matters.")
    other._cache = judge._cache  # share the store to show the key, not the instance, separates them
    assert other.score_group(TASK, _traces(2)).scores == [0.3, 0.7] and server.request_count == 2

    uncached = GroupJudge(server.url, cache=False)
    server.push(_reply([0.5, 0.5]), _reply([0.5, 0.5]))
    uncached.score_group(TASK, _traces(2))
    uncached.score_group(TASK, _traces(2))
    assert server.request_count == 4


def test_reward_func_scores_each_prompt_group_once(server):
    def scripted_judge(body: dict) -> str:
        # Reads the prompt like a judge would: 1.0 for traces that call the tool named in the expected calls.
        user = body["messages"][1]["content"]
        found = re.search(r'Expected tool calls.*?"name": "(\w+)"', user)
        expected = found.group(1) if found else None
        traces = re.findall(r'<trace id="(\d+)">\n(.*?)\n</trace>', user, re.DOTALL)
        return _reply([1.0 if f"call {expected}(" in text else 0.0 for _, text in traces],
                      [tid for tid, _ in traces])

    server_fn = ScriptedOpenAIServer(scripted_judge).start()
    try:
        judge = GroupJudge(server_fn.url)
        reward = judge.as_reward_func()
        prompts = [[{"role": "user", "content": "Weather in Paris?"}]] * 4 + [[{"role": "user", "content": "Hi"}]] * 4
        other_task = {"query": "Convert 3 EUR to USD", "expected_calls": [{"name": "convert", "arguments": {}}]}
        metrics: dict[str, list[float]] = {}
        extra: dict[str, list] = {}
        scores = reward(prompts=prompts, completions=_traces(4) + _traces(4),
                        query=[TASK["query"]] * 4 + [other_task["query"]] * 4,
                        expected_calls=[TASK["expected_calls"]] * 4 + [json.dumps(other_task["expected_calls"])] * 4,
                        trainer_state=None, completion_ids=[[1]] * 8,
                        log_metric=lambda k, v: metrics.setdefault(k, []).append(v),
                        log_extra=lambda k, v: extra.setdefault(k, []).extend(v))
        assert reward.__name__ == "llm_judge"
        assert scores == [1.0, 0.0, 1.0, 0.0] + [0.0] * 4
        assert server_fn.request_count == 2
        assert "Task: Convert 3 EUR to USD" in server_fn.requests[1]["messages"][1]["content"]
        assert metrics["llm_judge/calls"] == [2.0] and metrics["llm_judge/fallbacks"] == [0.0]
        assert len(extra["llm_judge_reason"]) == 8

        # Without a query column the prompt's last user message is the task.
        named = judge.as_reward_func(name="judge_b")
        assert named.__name__ == "judge_b"
        assert named(prompts=prompts[:2], completions=["a", "b"]) == [0.0, 0.0]
        assert "Task: Weather in Paris?" in server_fn.requests[-1]["messages"][1]["content"]
    finally:
        server_fn.stop()


def test_tiny_local_model_as_judge_never_gives_a_silent_score(tiny_model):
    model = LocalChatModel("tiny", loaded=tiny_model)
    strict = GroupJudge(model, max_retries=1, max_new_tokens=12)
    with pytest.raises(JudgeError, match=r"after 2 attempt\(s\).*invalid reply"):
        strict.score_group(TASK, _traces(3))
    assert strict.stats.calls == 2 and strict.stats.completion_tokens > 0

    lenient = GroupJudge(model, max_retries=0, max_new_tokens=12, fallback=0.25)
    result = lenient.score_group(TASK, _traces(3))
    assert result.fallback_used and result.scores == [0.25] * 3
    assert lenient.stats.fallbacks == 1 and lenient.stats.failures == 1


@pytest.mark.parametrize("reply, problem", [
    ('{"scores": [{"trace_id": "1", "score": 0.5}, {"trace_id": "1", "score": 0.4}]}', "trace 1 is scored more"),
    ('{"scores": [{"trace_id": "1", "score": 0.5}, {"trace_id": "3", "score": 0.4}]}', "unknown trace_id '3'"),
    ('{"scores": [{"trace_id": "1", "score": "0.5"}, {"trace_id": "2", "score": 1}]}', "score '0.5' is not a number"),
    ('{"scores": [{"trace_id": "1", "score": true}, {"trace_id": "2", "score": 1}]}', "score True is not a number"),
    ('{"scores": [{"trace_id": "1", "score": NaN}, {"trace_id": "2", "score": 1}]}', "score nan is outside"),
    ('{"scores": [{"trace_id": "1", "score": 0.5}, {"trace_id": "2", "score": 1}, {"trace_id": "2", "score": 1}]}',
     "expected 2 scores (trace ids 1, 2), got 3"),
    ('[0.5, 0.5]', 'a JSON object with a "scores" list'),
    ('Here you go: {"scores": []}', "not valid JSON"),
    ("", "empty"),
])
def test_parse_scores_names_the_problem(reply, problem):
    with pytest.raises(ValueError) as info:
        parse_scores(reply, ["1", "2"])
    assert problem in str(info.value)


def test_parse_scores_accepts_one_fence_or_a_think_block():
    body = _reply([0.25, 1])
    assert parse_scores(f"```json\n{body}\n```", ["1", "2"]) == ([0.25, 1.0], ["reason 1", "reason 2"])
    assert parse_scores(f"<think>trace 1 is worse</think>\n{body}", ["1", "2"])[0] == [0.25, 1.0]


def test_rendering_of_tasks_and_traces():
    class Rendered:
        def render(self) -> str:
            return "turn 1: called get_weather"

    class Dictish:
        def to_dict(self) -> dict:
            return {"final_answer": "42"}

    assert render_trace(Rendered()) == "turn 1: called get_weather"
    assert json.loads(render_trace(Dictish())) == {"final_answer": "42"}
    # TRL messages become a Trace: calls, results and the final answer on their own lines.
    text = render_trace(_traces(1)[0], query="Weather in Paris?")
    trace = Trace.from_messages(_traces(1)[0], query="Weather in Paris?")
    assert text == render_trace(trace, query="Weather in Paris?") == trace.render().removeprefix(
        "Task: Weather in Paris?\n")  # the task is shown once, above the traces
    assert '  call get_weather({"city": "Paris"})' in text and "Final answer: It is sunny and 21 C" in text
    assert 'call lookup({"q": 1}) (not executed)' in render_trace(
        [{"role": "assistant", "content": '{"name": "lookup", "arguments": {"q": 1}}'}])
    cut = render_trace("a" * 50 + "b" * 50, max_chars=20)
    assert cut.startswith("a" * 10) and cut.endswith("b" * 10) and "[80 characters cut]" in cut
    assert render_task("Say hi") == "Task: Say hi"
    assert "Expected tool calls: none" in render_task({"query": "Say hi", "expected_calls": []})
    with pytest.raises(ValueError, match="needs the task's query"):
        render_task({"expected_calls": []})


def test_endpoint_token_is_sent_but_never_shown(server, caplog):
    secret = "hf_judgeSecret123"
    server.push(_reply([0.5]), "garbage", "garbage")
    judge = GroupJudge(server.url, token=secret, max_retries=1)
    judge.score_group(TASK, _traces(1))
    assert server.headers[0]["authorization"] == f"Bearer {secret}"
    with caplog.at_level(logging.DEBUG), pytest.raises(JudgeError) as info:
        judge.score_group(TASK, _traces(2))
    assert secret not in str(info.value) and secret not in caplog.text and secret not in judge.model_id
    assert secret not in json.dumps(judge.stats.to_dict())


def test_endpoint_tokens_come_from_one_default_variable(monkeypatch):
    from toolbrain_hub.models.chat import ChatError, endpoint_token

    monkeypatch.delenv("TOOLBRAIN_ENDPOINT_TOKEN", raising=False)
    assert endpoint_token() is None
    monkeypatch.setenv("TOOLBRAIN_ENDPOINT_TOKEN", "tok-default")
    assert endpoint_token() == "tok-default"
    monkeypatch.setenv("MY_JUDGE_TOKEN", "tok-judge")
    assert endpoint_token("MY_JUDGE_TOKEN", field="judge.token_env") == "tok-judge"
    with pytest.raises(ChatError, match="^judge.token_env: the environment variable MISSING_TOKEN is not set$"):
        endpoint_token("MISSING_TOKEN", field="judge.token_env")


def test_endpoint_errors_never_show_url_credentials():
    from app_helpers import free_port

    from toolbrain_hub.models.chat import ChatError, EndpointChatModel

    model = EndpointChatModel(f"http://user:s3cret@127.0.0.1:{free_port()}/v1", model="m", timeout=5)
    assert model.model_id.startswith("http://127.0.0.1:") and "s3cret" not in model.model_id
    with pytest.raises(ChatError) as info:  # nothing listens on that port
        model.chat([{"role": "user", "content": "hi"}])
    assert "s3cret" not in str(info.value) and "user@" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_bad_settings_are_rejected(server):
    with pytest.raises(ValueError, match="fallback must be None, 'mean' or a number in"):
        GroupJudge(server.url, fallback=2)
    with pytest.raises(ValueError, match="max_retries"):
        GroupJudge(server.url, max_retries=-1)
    with pytest.raises(ValueError, match="at least one trace"):
        GroupJudge(server.url).score_group(TASK, [])


def test_judge_reward_in_a_real_grpo_step(tiny_model_dir, tmp_path):
    """TRL calls the adapter once per batch; each prompt's generations go to the judge as one group over HTTP."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    def longest_wins(body: dict) -> str:  # a deterministic "judge" that prefers longer traces, so advantages vary
        traces = re.findall(r'<trace id="(\d+)">\n(.*?)\n</trace>', body["messages"][1]["content"], re.DOTALL)
        longest = max(len(text) for _, text in traces) or 1
        return _reply([round(len(text) / longest, 3) for _, text in traces], [tid for tid, _ in traces])

    dataset = Dataset.from_list([
        {"prompt": [{"role": "user", "content": "Weather in Paris?"}], "query": "Weather in Paris?",
         "expected_calls": TASK["expected_calls"], "gold_answer": "Sunny"},
        {"prompt": [{"role": "user", "content": "Say hello."}], "query": "Say hello.", "expected_calls": "[]",
         "gold_answer": "Hello!"},
    ])
    with ScriptedOpenAIServer(longest_wins) as judge_server:
        judge = GroupJudge(judge_server.url)
        args = GRPOConfig(
            output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=2,
            max_completion_length=12, max_steps=1, logging_steps=1, report_to=[], save_strategy="no",
            activation_checkpointing=False, seed=0,
        )
        trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[judge.as_reward_func()], args=args,
                              train_dataset=dataset)
        trainer.train()
        assert judge_server.request_count == 2  # one judge call per prompt group, never one per completion
        for request in judge_server.requests:
            user = request["messages"][1]["content"]
            assert user.count('<trace id="') == 2 and "exactly 2 entries" in request["messages"][0]["content"]
    assert {r["messages"][1]["content"].splitlines()[0] for r in judge_server.requests} == {
        "Task: Weather in Paris?", "Task: Say hello."}
    logs = trainer.state.log_history[0]
    assert "rewards/llm_judge/mean" in logs and logs["llm_judge/calls"] == 2.0 and logs["llm_judge/fallbacks"] == 0.0
    assert judge.stats.calls == 2 and judge.stats.failures == 0

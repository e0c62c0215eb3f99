"""The answer judge over real HTTP (tests/openai_server.py scripts its replies): labels, parsing, retries, fallback,
cache, the TRL reward that feeds the ladder, and the audit's agreement arithmetic and low-agreement warning."""

from __future__ import annotations

import json
import logging

import pytest
from email_rows import ROWS, asked, fair_judge, judge_reply
from openai_server import Scripted, ScriptedOpenAIServer

from toolbrain_hub.rewards import LADDER_SCORES, AnswerJudge, JudgeAudit, audit_judge, parse_label
from toolbrain_hub.rewards.answer_ladder import SOURCES_BONUS, TURNS_BONUS
from toolbrain_hub.rewards.judge import JudgeError

Q, GOLD = "When is the Q3 review?", "May 14, 2001"
RECORDS = [{"question": "When is the Q3 review?", "answer": "May 14, 2001"},
           {"question": "What is the notional amount of the swap?", "answer": "$25 million"},
           {"question": "Who signed the ISDA agreement?", "answer": "Sara Shackleton"}]


@pytest.fixture
def server():
    with ScriptedOpenAIServer() as s:
        yield s


def test_a_label_over_http_with_the_question_gold_and_answer_in_the_prompt(server):
    server.push(judge_reply("CORRECT", "same date"))
    judge = AnswerJudge(server.url)
    graded = judge.grade(Q, GOLD, "The review was moved to May 14, 2001.")
    assert (graded.label, graded.explanation, graded.attempts, graded.cached) == ("CORRECT", "same date", 1, False)
    system, user = server.requests[0]["messages"]
    assert "CORRECT" in system["content"] and "NO_ANSWER" in system["content"] and "JSON" in system["content"]
    assert asked(server.requests[0]) == {"question": Q, "gold": GOLD,
                                          "answer": "The review was moved to May 14, 2001."}
    assert judge.stats.calls == 1 and judge.stats.prompt_tokens > 0 and judge.label_counts["CORRECT"] == 1


@pytest.mark.parametrize("reply, label", [
    ('{"label": "INCORRECT", "explanation": "wrong day"}', "INCORRECT"),
    ('```json\n{"label": "no answer"}\n```', "NO_ANSWER"),
    ('<think>It says CORRECT? no.</think>\n{"verdict": "no-answer", "reason": "refused"}', "NO_ANSWER"),
    ('Sure. {"label": "correct", "explanation": "ok"} Hope that helps.', "CORRECT"),
    ("INCORRECT: the agent says June 3.", "INCORRECT"),
    ("<think>maybe CORRECT</think>NO_ANSWER", "NO_ANSWER"),
])
def test_parse_label_reads_what_judges_write(reply, label):
    assert parse_label(reply)[0] == label


@pytest.mark.parametrize("reply, problem", [
    ("The answer looks right to me.", "holds no label"),
    ("CORRECT or INCORRECT, hard to say", "several labels (CORRECT, INCORRECT)"),
    ('{"label": "MOSTLY_RIGHT"}', "'MOSTLY_RIGHT' is not one of CORRECT, INCORRECT, NO_ANSWER"),
    ("", "holds no label"),
])
def test_parse_label_names_the_problem(reply, problem):
    with pytest.raises(ValueError) as info:
        parse_label(reply)
    assert problem in str(info.value)


def test_garbage_is_retried_with_the_problem_shown_then_fatal_or_the_fallback(server, caplog):
    server.push("Looks fine to me!", "CORRECT or INCORRECT", judge_reply("INCORRECT"))
    judge = AnswerJudge(server.url, max_retries=2)
    graded = judge.grade(Q, GOLD, "June 3")
    assert graded.label == "INCORRECT" and graded.attempts == 3 and server.request_count == 3
    retry = server.requests[1]["messages"]
    assert retry[2] == {"role": "assistant", "content": "Looks fine to me!"}
    assert "rejected: the reply holds no label" in retry[3]["content"]
    assert "several labels" in server.requests[2]["messages"][3]["content"]
    assert (judge.stats.retries, judge.stats.failures) == (2, 0)

    server.push("nope", Scripted("overloaded", status=503))
    strict = AnswerJudge(server.url, max_retries=1)
    with pytest.raises(JudgeError, match=r"no valid label after 2 attempt\(s\).*holds no label.*503"):
        strict.grade(Q, GOLD, "June 4")
    assert strict.stats.failures == 1

    server.push("nope", "still nope")
    lenient = AnswerJudge(server.url, max_retries=1, fallback="incorrect")
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.rewards.answer_judge"):
        fell = lenient.grade(Q, GOLD, "June 5")
    assert fell.label == "INCORRECT" and fell.fallback_used and "holds no label" in fell.error
    assert "Using the configured fallback label INCORRECT (fallback #1)" in caplog.text
    assert lenient.stats.fallbacks == 1
    with pytest.raises(ValueError, match="fallback must be None or one of"):
        AnswerJudge(server.url, fallback="PARTIAL")


def test_cache_empty_answers_and_label_many(server):
    server.push(judge_reply("CORRECT"), judge_reply("INCORRECT"))
    judge = AnswerJudge(server.url)
    labels = judge.label_many([Q, Q, Q, Q], [GOLD] * 4, ["May 14, 2001", "May 14, 2001", None, "June 3"])
    assert labels == ["CORRECT", "CORRECT", "NO_ANSWER", "INCORRECT"]
    assert server.request_count == 2  # the repeat came from the cache, no answer was not asked about
    assert judge.stats.cache_hits == 1 and judge.stats.groups == 4
    assert dict(judge.label_counts) == {"CORRECT": 2, "NO_ANSWER": 1, "INCORRECT": 1}
    with pytest.raises(ValueError, match="one length"):
        judge.label_many([Q], [GOLD, GOLD], ["x"])
    with pytest.raises(ValueError, match="needs a gold answer"):
        judge.label(Q, "  ", "May 14")


def _completion(call: dict | None, text: str = "") -> list[dict]:
    if call is None:
        return [{"role": "assistant", "content": text}]
    return [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
            {"role": "tool", "name": call["name"], "content": "answer recorded"}]


def test_reward_func_feeds_the_ladder_with_the_labels():
    with ScriptedOpenAIServer(fair_judge) as server:
        judge = AnswerJudge(server.url)
        reward = judge.as_reward_func()
        row = ROWS[0]
        final = "return_final_answer"
        cited = ["<1001.JavaMail.evans@thyme>"]
        completions = [
            _completion({"name": final, "arguments": {"answer": "It is May 14, 2001.", "sources": cited}}),
            _completion({"name": final, "arguments": {"answer": "June 3, 2001", "sources": []}}),
            _completion({"name": final, "arguments": {"answer": "I don't know", "sources": []}}),
            _completion(None, '<tool_call>{"name": "return_final_answer", "arguments": {</tool_call>'),  # malformed
        ]
        metrics: dict[str, float] = {}
        extra: dict[str, list] = {}
        columns = {k: [row[k]] * 4 for k in ("query", "gold_answer", "message_ids", "kind", "tools", "id")}
        values = reward(prompts=[row["prompt"]] * 4, completions=completions, trainer_state=None,
                        log_metric=metrics.__setitem__, log_extra=extra.__setitem__, **columns)
        assert reward.__name__ == "answer_judge"
        assert values == pytest.approx([1.0 + SOURCES_BONUS + TURNS_BONUS, LADDER_SCORES["wrong"],
                                        LADDER_SCORES["no_answer"], LADDER_SCORES["format_error"]])
        assert server.request_count == 3  # the format error was not sent to the judge
        assert asked(server.requests[0])["question"] == row["query"]
        assert extra["answer_judge_label"] == ["CORRECT", "INCORRECT", "NO_ANSWER", ""]
        assert metrics["answer_judge/calls"] == 3.0 and metrics["answer_judge/correct"] == pytest.approx(1 / 3)
        assert metrics["answer_judge/no_answer"] == pytest.approx(1 / 3)

        # The judge's label beats the text match: a hedge that holds the gold answer is wrong.
        hedge = _completion({"name": final, "arguments": {"answer": "May 14, 2001 or June 3", "sources": []}})
        with ScriptedOpenAIServer([judge_reply("INCORRECT")]) as strict_server:
            value = AnswerJudge(strict_server.url).as_reward_func()(prompts=[row["prompt"]], completions=[hedge],
                                                                    **{k: v[:1] for k, v in columns.items()})
        assert value == [LADDER_SCORES["wrong"]]


def test_audit_of_a_fair_judge_agrees_everywhere():
    with ScriptedOpenAIServer(fair_judge) as server:
        labelled = {"question": "When is the Q3 review?", "gold_answer": "May 14, 2001",
                    "agent_answer": "Sometime in June", "label": "INCORRECT"}
        audit = audit_judge(server.url, [*RECORDS, labelled])
    # 3 records x (gold, reworded, other answer, refusal) + 1 labelled record.
    assert audit.cases == 13 == server.request_count
    assert audit.agreement == 1.0 and audit.trusted
    assert audit.per_label == {"CORRECT": 1.0, "INCORRECT": 1.0, "NO_ANSWER": 1.0}
    assert audit.by_case == {"given": 1.0, "gold": 1.0, "reworded": 1.0, "other_answer": 1.0, "refusal": 1.0}
    assert audit.confusion["CORRECT"]["CORRECT"] == 6 and audit.confusion["INCORRECT"]["INCORRECT"] == 4
    assert audit.confusion["NO_ANSWER"] == {"CORRECT": 0, "INCORRECT": 0, "NO_ANSWER": 3, "ERROR": 0}
    assert audit.disagreements == []
    assert JudgeAudit.from_dict(json.loads(json.dumps(audit.to_dict()))) == audit
    # The reworded cases are the gold answer in other words, the other answers another question's gold.
    answers = {(asked(r)["question"], asked(r)["answer"]) for r in server.requests}
    assert ("When is the Q3 review?", "$25 million") in answers
    assert any(q == "When is the Q3 review?" and a != GOLD and GOLD in a for q, a in answers)


def test_audit_of_a_judge_that_always_says_correct_warns(caplog):
    with ScriptedOpenAIServer(lambda body: judge_reply("CORRECT")) as server:
        with caplog.at_level(logging.WARNING, logger="toolbrain_hub.rewards.answer_judge"):
            audit = audit_judge(AnswerJudge(server.url), RECORDS, warn_below=0.8)
    # Per record: 2 CORRECT cases right, the INCORRECT and the NO_ANSWER case wrong.
    assert audit.cases == 12 and audit.agreement == 0.5 and not audit.trusted
    assert audit.per_label == {"CORRECT": 1.0, "INCORRECT": 0.0, "NO_ANSWER": 0.0}
    assert audit.confusion["INCORRECT"] == {"CORRECT": 3, "INCORRECT": 0, "NO_ANSWER": 0, "ERROR": 0}
    assert len(audit.disagreements) == 6 and {d["got"] for d in audit.disagreements} == {"CORRECT"}
    assert "agrees with the known labels on 50% of 12 cases, below 80%: do not trust" in caplog.text
    table = audit.to_markdown()
    assert "NOT trusted" in table and "| INCORRECT | 3 | 0 | 0 | 0 | 0.0% |" in table
    # No cases: no agreement, never trusted.
    empty = audit_judge(AnswerJudge(server.url), [], warn_below=0.5)
    assert (empty.cases, empty.agreement, empty.trusted) == (0, None, False)


def test_audit_counts_a_judge_that_never_answers_as_errors(caplog):
    with ScriptedOpenAIServer(lambda body: "no idea, sorry") as server:
        audit = audit_judge(AnswerJudge(server.url, max_retries=0), RECORDS[:2], limit=2)
    assert audit.cases == 8 and audit.agreement == 0.0 and not audit.trusted
    assert all(row["ERROR"] == n for row, n in zip(audit.confusion.values(), (4, 2, 2), strict=True))
    with pytest.raises(ValueError, match="audit record 0 needs a question"):
        audit_judge(AnswerJudge(server.url), [{"answer": "x"}])
    with pytest.raises(ValueError, match="has a label but no agent_answer"):
        audit_judge(AnswerJudge(server.url), [{"question": "q", "answer": "a", "label": "CORRECT"}])


def test_a_config_names_the_answer_judge_and_training_rewards_by_its_labels(tmp_path):
    from toolbrain_hub.config import JudgeSettings, TrainConfig
    from toolbrain_hub.training.reward_setup import build_rewards

    with ScriptedOpenAIServer(fair_judge) as server:
        config = TrainConfig(algorithm="grpo", tasks=str(tmp_path), rewards={"format": 0.1},
                             judge=JudgeSettings(kind="answer", model=server.url, weight=1.0, fallback="NO_ANSWER"))
        setup = build_rewards(config)
        assert isinstance(setup.judge, AnswerJudge) and setup.judge.fallback == "NO_ANSWER"
        assert [f.__name__ for f in setup.funcs] == ["format", "answer_judge"] and setup.weights == [0.1, 1.0]
        row = ROWS[0]
        right = _completion({"name": "return_final_answer", "arguments": {"answer": "May 14, 2001", "sources": []}})
        columns = {k: [row[k]] for k in ("query", "gold_answer", "message_ids", "kind", "tools", "id")}
        assert setup.funcs[1](prompts=[row["prompt"]], completions=[right], **columns) == [1.0 + TURNS_BONUS]
        assert server.request_count == 1

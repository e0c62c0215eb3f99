"""OpenAI-compatible endpoints over real HTTP (tests/openai_server.py): they are not the Hub, so they keep working in
Hugging Face offline mode, for every component that talks to one (judge, task generator, simulator, teacher)."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from openai_server import Scripted, ScriptedOpenAIServer

from toolbrain_hub.models.chat import ChatError, ChatTimeout, EndpointChatModel, chat_completions_url, get_chat_model

DATA = Path(__file__).parent / "data"
WEATHER = json.loads((DATA / "weather_openai.json").read_text())["tools"][0]  # get_weather(city, unit)


@pytest.fixture
def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 as huggingface_hub sees it (it reads the variable once, at import, into this constant)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import get_session

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    # The switch is really on: huggingface_hub's own session now refuses any URL, even a local one.
    with ScriptedOpenAIServer(["unused"]) as server, pytest.raises(OfflineModeIsEnabled):
        get_session().post(server.url + "/chat/completions", json={"messages": []})
    assert isinstance(get_session(), httpx2.Client)


def test_chat_completions_url_follows_the_openai_base_url_rule():
    assert chat_completions_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1/chat/completions"
    assert chat_completions_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1/chat/completions"
    assert chat_completions_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/v1/chat/completions"
    assert chat_completions_url("https://x.example/v1/chat/completions?a=1") == \
        "https://x.example/v1/chat/completions?a=1"


def test_endpoint_reply_usage_token_and_tool_calls():
    structured = {"id": "c1", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}]}
    with ScriptedOpenAIServer([Scripted("hello there", prompt_tokens=7, completion_tokens=2)]) as server:
        model = EndpointChatModel(server.url, model="m", token="tok-1")
        reply = model.chat([{"role": "user", "content": "hi"}], tools=[WEATHER], max_new_tokens=9, seed=3)
        body, headers = server.requests[0], server.headers[0]
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("hello there", 7, 2)
    assert body["model"] == "m" and body["max_tokens"] == 9 and body["seed"] == 3 and body["tools"] == [WEATHER]
    assert headers["authorization"] == "Bearer tok-1"

    # A server that parses tool calls itself: the call comes back in the tagged form every parser here reads.
    class Structured(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server naming
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps(structured).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Structured)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        model = get_chat_model(f"http://127.0.0.1:{httpd.server_address[1]}/v1")
        reply = model.chat([{"role": "user", "content": "x"}])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert reply.text == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_endpoint_errors_and_timeouts_are_chat_errors():
    with ScriptedOpenAIServer([Scripted("model overloaded", status=503), Scripted("late", delay=2.0)]) as server:
        model = EndpointChatModel(server.url, timeout=30)
        with pytest.raises(ChatError, match=r"^http://127\.0\.0\.1:\d+/v1: HTTP 503: model overloaded$"):
            model.chat([{"role": "user", "content": "hi"}])
        with pytest.raises(ChatTimeout, match=r"did not answer within 0\.5 s"):
            model.chat([{"role": "user", "content": "hi"}], timeout=0.5)


def test_judge_generator_and_simulator_endpoints_work_offline(hub_offline):
    from toolbrain_hub.environment import make_environment_factory
    from toolbrain_hub.rewards.judge import GroupJudge
    from toolbrain_hub.tasks import generate_tasks

    task = {"query": "Weather in Paris?", "expected_calls": json.dumps([{"name": "get_weather",
                                                                           "arguments": {"city": "Paris"}}])}
    traces = [[{"role": "assistant", "content": "Sunny."}], [{"role": "assistant", "content": "No idea."}]]
    verdict = json.dumps({"scores": [{"trace_id": "1", "explanation": "ok", "score": 0.9},
                                     {"trace_id": "2", "explanation": "no", "score": 0.1}]})
    with ScriptedOpenAIServer([verdict]) as server:
        assert GroupJudge(server.url).score_group(task, traces).scores == [0.9, 0.1]

    cities = iter(["Paris", "Oslo", "Lima", "Rome"])

    def generated(body):
        city = next(cities)
        return json.dumps({"query": f"What is the weather like in {city} right now?",
                           "expected_calls": [{"name": "get_weather", "arguments": {"city": city}}]})

    with ScriptedOpenAIServer(generated) as server:
        tasks = generate_tasks([WEATHER], num=2, generator=server.url, mix={"single": 1}, test_size=0,
                               workers=1, progress=False)
        assert server.request_count == 2
    assert tasks.report.kept == 2

    with ScriptedOpenAIServer(['{"city": "Paris", "sky": "sunny"}']) as server:
        env = make_environment_factory([WEATHER], simulator=server.url)()
        env.reset(query="Weather in Paris?")
        assert json.loads(env.get_weather(city="Paris")) == {"city": "Paris", "sky": "sunny"}
        assert env.calls[0].source == "simulated" and server.request_count == 1


def test_distillation_teacher_endpoint_works_offline(hub_offline, tiny_model_dir, tmp_path):
    from toolbrain_hub.config import TrainConfig
    from toolbrain_hub.runs import RunFolder
    from toolbrain_hub.tasks import generate_tasks
    from toolbrain_hub.training.distill import teacher_rows
    from toolbrain_hub.training.reward_setup import build_rewards
    from toolbrain_hub.training.task_data import load_task_data

    generate_tasks([WEATHER], num=2, seed=0, mix={"single": 1}, test_size=0, progress=False).save(tmp_path / "tasks")

    def teacher(body):  # calls the tool, then answers from its result
        messages = body["messages"]
        if messages[-1]["role"] == "tool":
            return "Here is the weather: " + messages[-1]["content"]
        return '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'

    with ScriptedOpenAIServer(teacher) as server:
        config = TrainConfig.from_dict({"algorithm": "distill", "model": str(tiny_model_dir),
                                        "tasks": str(tmp_path / "tasks"), "teacher": server.url,
                                        "reward_threshold": -10.0, "output_dir": str(tmp_path / "run")}).validate()
        data = load_task_data(config)
        try:
            rows = teacher_rows(config, RunFolder(tmp_path / "run"), data, build_rewards(config), progress=False)
        finally:
            data.close()
        assert server.request_count == 4  # two tasks, a call and an answer each
    assert len(rows) == 2 and all(row["messages"][-1]["content"].startswith("Here is the weather") for row in rows)

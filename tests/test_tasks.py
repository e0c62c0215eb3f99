"""Task generation (schema-driven and LLM), validation, dedup, coverage, split, folder and Hub I/O, CLI."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from toolbrain_hub.models.chat import ChatModel, ChatReply
from toolbrain_hub.tasks import (
    COLUMNS,
    DEFAULT_SYSTEM_PROMPT,
    TaskError,
    check_task_folder,
    generate_tasks,
    load_task_tools,
    load_tasks,
    push_tasks,
    save_tasks,
    task_folders,
)
from toolbrain_hub.tasks.generators import parse_proposal, public_model_name
from toolbrain_hub.tasks.sampling import ArgumentSampler, sample_regex
from toolbrain_hub.tools import load_tools
from toolbrain_hub.traces.json_reply import extract_json_object

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
TOOL_FILES = ["weather_openai.json", "calendar_mcp.json", "shop_bare.json"]

# Constructs the sampler must handle; every generated argument set must validate against it.
HARD_TOOL = {
    "name": "configure_job",
    "description": "Configure a batch job.",
    "parameters": {
        "type": "object",
        "properties": {
            "job_code": {"type": "string", "pattern": "^JOB-[A-Z]{2}[0-9]{3}(-(alpha|beta))?$"},
            "owner_email": {"type": "string", "format": "email"},
            "callback": {"type": "string", "format": "uri"},
            "run_on": {"type": "string", "format": "date"},
            "run_at": {"type": "string", "format": "date-time"},
            "host": {"type": "string", "format": "ipv4"},
            "trace_id": {"type": "string", "format": "uuid"},
            "priority": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 4},
            "ratio": {"type": "number", "minimum": 0.25, "maximum": 0.75},
            "batch": {"type": "integer", "minimum": 100, "maximum": 1000, "multipleOf": 50},
            "mode": {"const": "fast"},
            "labels": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c", "d"]},
                       "minItems": 2, "maxItems": 3, "uniqueItems": True},
            "window": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
            "retry": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 3}, {"type": "null"}]},
            "limits": {"allOf": [{"type": "object", "properties": {"cpu": {"type": "number", "minimum": 1}}},
                                 {"required": ["cpu"]}]},
            "notes": {"type": ["string", "null"], "minLength": 5, "maxLength": 12},
            "target": {"$ref": "#/$defs/Target"},
            "meta": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1},
        },
        "required": ["job_code", "priority", "labels", "target", "mode"],
        "$defs": {"Target": {"type": "object", "properties": {
            "region": {"type": "string", "enum": ["eu", "us"]}, "replicas": {"type": "integer", "minimum": 1,
                                                                             "maximum": 5}},
            "required": ["region", "replicas"]}},
    },
}


@pytest.fixture(scope="module")
def all_tools():
    tools = []
    for name in TOOL_FILES:
        tools += load_tools(DATA / name)
    return tools


@pytest.fixture(scope="module")
def taskset(all_tools):
    return generate_tasks(all_tools, num=300, seed=7, progress=False)


def rows(taskset):
    return [row for split in taskset.dataset.values() for row in split]


class ScriptedModel(ChatModel):
    """A ChatModel whose replies come from a function of the conversation (records every conversation)."""

    model_id = "scripted"

    def __init__(self, reply):
        self.reply = reply
        self.conversations: list[list[dict]] = []

    def chat(self, messages, **kwargs) -> ChatReply:
        self.conversations.append(messages)
        return ChatReply(text=self.reply(messages, len(self.conversations)))


def target_tools(messages) -> list[str]:
    """The tools the generator asked for, read from its prompt."""
    return re.findall(r"`([A-Za-z0-9_-]+)`", messages[1]["content"].split("Answer with only")[0].split("Write")[-1])


# ---------------------------------------------------------------------------------------------------------------
# Schema-driven generator


def test_schema_generator_rows_follow_the_documented_schema(taskset, all_tools):
    assert len(taskset) == 300 and taskset.report.kept == 300
    assert set(taskset.dataset) == {"train", "test"}
    tools_json = json.dumps([t.to_openai() for t in all_tools], ensure_ascii=False)
    for row in rows(taskset):
        assert list(row) == COLUMNS
        assert row["prompt"] == [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                                 {"role": "user", "content": row["query"]}]
        assert row["tools"] == tools_json
        assert row["difficulty"] in ("easy", "medium", "hard")
        assert row["generator"] == "schema"
        calls = json.loads(row["expected_calls"])
        if len(calls) < 2:
            assert row["kind"] == {0: "no_tool", 1: "single"}[len(calls)]
        else:  # several calls: together in one turn, or in sequence
            assert row["kind"] in ("parallel", "multi") and len(calls) <= 3
        if row["kind"] != "no_tool":
            assert row["gold_answer"] == ""


def test_every_generated_call_validates_against_its_schema(taskset):
    parsed = {}
    for row in rows(taskset):
        if row["tools"] not in parsed:
            parsed[row["tools"]] = {t.name: t for t in load_tools(row["tools"])}
        specs = parsed[row["tools"]]
        for call in json.loads(row["expected_calls"]):
            assert specs[call["name"]].validate_arguments(call["arguments"]) == [], (row["query"], call)


NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _spoken_forms(value) -> list[str]:
    """Ways a request may state a value (written here independently of tasks.spoken)."""
    import datetime as dt

    if isinstance(value, bool):
        return [" on", "yes", "true", "with", "and ", "includ", "ing "] if value else [" off", "no", "false",
                                                                                        "without"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    forms = [str(value)]
    if isinstance(value, int) and 0 <= value <= 12:
        forms.append(NUMBER_WORDS[value])
    if isinstance(value, str):
        forms.append(value.replace("_", " "))
        day_text = re.match(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2}))?", value)
        if day_text:
            day = dt.date.fromisoformat(day_text[1])
            month = day.strftime("%B")
            days = [f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}", f"{month[:3]} {day.day}, "
                    f"{day.year}", day_text[1]]
            if day_text[2]:  # a date-time: the day and the time, each in some form
                hour, minute = int(day_text[2]), day_text[3]
                times = [f"{hour:02d}:{minute}", f"{hour % 12 or 12}:{minute}"]
                return [value] + [f"{d} at {t}" for d in days for t in times]
            forms += days
        clock = re.fullmatch(r"(\d{2}):(\d{2})", value)
        if clock:
            forms.append(f"{int(clock[1]) % 12 or 12}:{clock[2]}")
    return forms


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_requests_state_every_argument_value(taskset):
    for row in rows(taskset):
        for call in json.loads(row["expected_calls"]):
            for leaf in _leaves(call["arguments"]):
                assert any(form.lower() in row["query"].lower() for form in _spoken_forms(leaf)), (row["query"],
                                                                                                    leaf)


def test_requests_are_varied(taskset):
    queries = [r["query"] for r in rows(taskset)]
    assert len(set(queries)) == len(queries)
    openings = {" ".join(q.split()[:2]) for q in queries}
    assert len(openings) >= 30
    weather = [q for q in queries if "current weather" in q]
    assert len({q.split(" the current weather")[0] for q in weather}) >= 5


@pytest.mark.parametrize("description, phrase", [
    ("Evaluate an arithmetic expression.", "evaluate an arithmetic expression"),
    ("Gets the forecast for a city.", "get the forecast for a city"),
    ("Searches flights between two airports.", "search flights between two airports"),
    ("Current exchange rates.", "get current exchange rates"),  # no verb: "get" in front
])
def test_requests_start_with_an_imperative_verb(description, phrase):
    import random

    from toolbrain_hub.tasks.phrasing import action_phrase

    tool = load_tools([{"name": "tool_x", "description": description,
                        "parameters": {"type": "object", "properties": {}}}])[0]
    assert action_phrase(tool, random.Random(0)) == phrase


def test_hard_schema_constructs_always_sample_valid_arguments():
    spec = load_tools([HARD_TOOL])[0]
    sampler = ArgumentSampler(optional_p=0.7)
    rng = random.Random(0)
    seen_optional = set()
    for _ in range(300):
        args = sampler.arguments(spec, rng)
        assert spec.validate_arguments(args) == [], args
        assert args["mode"] == "fast"
        seen_optional |= set(args)
    assert seen_optional == set(spec.properties)


@pytest.mark.parametrize("pattern", [r"^[A-Z]{3}-\d{2,4}$", r"^(foo|bar)+_[a-z]?\d*$", r"^\w+@\w+\.(com|org)$",
                                     r"^[^0-9\s]{4}$", r"^(ab)\1-x.$", r"^\d{3}(?=\d)\d$"])
def test_sample_regex_matches(pattern):
    rng = random.Random(1)
    for _ in range(50):
        assert re.search(pattern, sample_regex(pattern, rng))


def test_same_seed_same_tasks_other_seed_other_tasks(all_tools):
    a = generate_tasks(all_tools, num=60, seed=3, progress=False)
    b = generate_tasks(all_tools, num=60, seed=3, progress=False)
    c = generate_tasks(all_tools, num=60, seed=4, progress=False)
    assert a.train.to_list() == b.train.to_list() and a.test.to_list() == b.test.to_list()
    assert a.train["query"] != c.train["query"]
    assert a.report.coverage == b.report.coverage


def test_coverage_report_matches_the_rows(taskset, all_tools):
    cov = taskset.report.coverage
    per_tool = {t.name: 0 for t in all_tools}
    kinds, levels = {}, {}
    for row in rows(taskset):
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
        levels[row["difficulty"]] = levels.get(row["difficulty"], 0) + 1
        for call in json.loads(row["expected_calls"]):
            per_tool[call["name"]] += 1
    assert cov["tools"] == per_tool and cov["tools_uncovered"] == []
    assert cov["kind"] == kinds and cov["negatives"] == kinds["no_tool"]
    assert {k: v for k, v in cov["difficulty"].items() if v} == levels
    assert cov["splits"] == {"train": len(taskset.train), "test": len(taskset.test)}
    # the planner balances tools: no tool gets more than twice another's share
    assert max(per_tool.values()) <= 2 * min(per_tool.values())
    # the mix is met: 50% single, 15% parallel, 20% multi, 15% no tool
    assert kinds == {"single": 150, "parallel": 45, "multi": 60, "no_tool": 45}
    assert cov["arguments"]["create_event"] == {"used": ["attendees", "date", "reminder", "start_time", "title"],
                                                "total": 5}


def test_split_is_stratified_and_disjoint(taskset):
    train, test = taskset.train, taskset.test
    assert len(test) == 60 and set(train["split"]) == {"train"} and set(test["split"]) == {"test"}
    assert not set(train["id"]) & set(test["id"])
    assert len(set(train["id"])) == len(train)
    for kind, total in taskset.report.coverage["kind"].items():
        assert test["kind"].count(kind) == round(total * 0.2)
    only_train = generate_tasks(DATA / "weather_openai.json", num=10, seed=0, test_size=0, progress=False)
    assert set(only_train.dataset) == {"train"} and len(only_train.train) == 10


def test_negatives_avoid_what_the_tools_do():
    calculator = [{"name": "calculate", "description": "Evaluate an arithmetic expression and return the number.",
                   "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                                  "required": ["expression"]}}]
    ts = generate_tasks(calculator, num=80, seed=0, mix={"no_tool": 1}, progress=False)
    negatives = [r["query"] for r in rows(ts) if r["kind"] == "no_tool"]
    assert len(negatives) == 80
    assert not [q for q in negatives if re.search(r"\d+ (plus|minus|times) \d+", q)]
    weather = generate_tasks(DATA / "weather_openai.json", num=60, seed=0, mix={"no_tool": 1}, progress=False)
    assert not [r["query"] for r in rows(weather) if "weather" in r["query"].lower()]
    golds = {r["query"]: r["gold_answer"] for r in rows(weather)}
    for query, gold in golds.items():
        if (m := re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", query)):
            a, op, b = int(m[1]), m[2], int(m[3])
            assert gold == str({"plus": a + b, "minus": a - b, "times": a * b}[op])


def test_bad_generation_arguments():
    tools = DATA / "weather_openai.json"
    with pytest.raises(TaskError, match="num must be at least 1"):
        generate_tasks(tools, num=0)
    with pytest.raises(TaskError, match="test_size"):
        generate_tasks(tools, num=5, test_size=1.0)
    with pytest.raises(TaskError, match="unknown kind"):
        generate_tasks(tools, num=5, mix={"chitchat": 1})


def test_schema_generator_fills_a_large_request(all_tools):
    # Its speed (target: 1,000 tasks in < 10 s) is measured in bench/bench_tasks.py, not here.
    ts = generate_tasks(all_tools, num=1000, seed=0, progress=False)
    assert ts.report.kept == 1000 and len({row["query"] for row in ts.dataset["train"]}) == len(ts.dataset["train"])


# ---------------------------------------------------------------------------------------------------------------
# LLM generator: parsing, retries, dedup, endpoint over HTTP, the tiny model


def test_parse_proposal_is_lenient():
    reply = ('Sure! Here it is:\n```json\n{"query": "Weather in Oslo?", "calls": [{"type": "function", "function": '
             '{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}}], "answer": 42}\n```')
    cand = parse_proposal(reply)
    assert cand.error is None
    assert cand.query == "Weather in Oslo?" and cand.gold_answer == "42"
    assert cand.expected_calls == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert extract_json_object('<think>{"no": 1}</think> text {"query": "x"} more') == {"query": "x"}
    assert parse_proposal("no json here").error.startswith("unparseable")
    assert parse_proposal('{"expected_calls": []}').error.startswith("missing_query")
    assert parse_proposal('{"query": "q", "expected_calls": [{"arguments": {}}]}').error.startswith("bad_calls")
    assert parse_proposal('{"query": "q", "expected_calls": "get_weather"}').error.startswith("bad_calls")


def good_reply(messages, n):
    """Valid JSON for whatever the prompt asks, in a different style each time (fenced, bare after prose)."""
    tools = target_tools(messages)
    cities = ["Paris", "Oslo", "Lima", "Rome", "Cairo", "Tokyo", "Quito", "Seoul"]
    if not tools:
        task = {"query": f"What is {n} plus {n}?", "expected_calls": [], "gold_answer": str(2 * n)}
    else:
        calls, parts = [], []
        for i, name in enumerate(tools):
            city = cities[(n + i) % len(cities)]
            args = {"get_weather": {"city": city}, "get_forecast": {"location": city, "days": 1 + n % 14},
                    "get_air_quality": {"latitude": 10.5, "longitude": float(n)}}[name]
            calls.append({"name": name, "arguments": args})
            parts.append(f"{name.replace('_', ' ')} {json.dumps(args)}")
        task = {"query": f"Request {n}: " + " and then ".join(parts), "expected_calls": calls, "gold_answer": ""}
    text = json.dumps(task)
    return f"```json\n{text}\n```" if n % 2 else f"Here you go: {text}"


def test_llm_generator_accepts_good_json():
    model = ScriptedModel(good_reply)
    ts = generate_tasks(DATA / "weather_openai.json", num=12, generator=model, seed=0, progress=False)
    report = ts.report
    assert report.kept == 12 and report.attempts == 12 and report.rejected == {}
    assert report.acceptance_rate == 1.0 and report.generator == "scripted"
    assert set(ts.train["generator"]) == {"scripted"}
    assert report.coverage["kind"] == {"single": 6, "parallel": 2, "multi": 2, "no_tool": 2}
    negatives = [r for r in rows(ts) if r["kind"] == "no_tool"]
    assert all(r["gold_answer"] == str(2 * int(r["query"].split()[2])) for r in negatives)
    # the prompt shows the tools as JSON, valid sampled values for the target tool, and the answer format as a
    # template with placeholders (small models copy worked examples verbatim)
    prompt = model.conversations[0][1]["content"]
    assert '"name": "get_weather"' in prompt
    assert prompt.endswith('{"query": "<the user request, in plain English>", "expected_calls": [{"name": "<tool>", '
                           '"arguments": {<arguments>}}]}')
    hints = re.search(r"you may use \(or choose other valid ones\): (\{.*\}) for (\w+)", prompt)
    tool = {t.name: t for t in load_tools(DATA / "weather_openai.json")}[hints[2]]
    assert tool.validate_arguments(json.loads(hints[1])) == []


def test_llm_generator_retries_with_feedback_then_accepts():
    def reply(messages, n):
        if len(messages) == 2:  # first try: an argument that breaks the schema
            return json.dumps({"query": f"Forecast {n}", "expected_calls": [
                {"name": "get_forecast", "arguments": {"location": "Oslo", "days": 99}}]})
        city = ["Oslo", "Lima", "Rome", "Cairo"][n % 4]
        return json.dumps({"query": f"Forecast for {city}, 3 days", "expected_calls": [
            {"name": "get_forecast", "arguments": {"location": city, "days": 3}}]})

    model = ScriptedModel(reply)
    ts = generate_tasks(DATA / "weather_openai.json", num=2, generator=model, mix={"single": 1}, progress=False)
    assert ts.report.kept == 2
    assert ts.report.rejected == {"invalid_arguments": 2} and ts.report.retries == 2 and ts.report.dropped == {}
    retry = model.conversations[2]
    assert retry[2]["role"] == "assistant" and '"days": 99' in retry[2]["content"]
    assert "days: 99 is greater than the maximum of 14" in retry[3]["content"]


def test_llm_generator_drops_after_retries_and_counts_reasons():
    replies = {1: '{"query": "Weather please", "expected_calls": [{"name": "get_wether", "arguments": {}}]}',
               2: "I cannot help with that."}
    model = ScriptedModel(lambda messages, n: replies.get(n, "still no json"))
    ts = generate_tasks(DATA / "weather_openai.json", num=1, generator=model, mix={"single": 1}, max_retries=2,
                        max_attempts=3, progress=False)
    assert ts.report.kept == 0 and ts.report.attempts == 3
    assert ts.report.rejected == {"unknown_tool": 1, "unparseable": 2}
    assert ts.report.dropped == {"unparseable": 1}
    assert "names 'get_wether', not one of the tools" in ts.report.examples[0]
    assert len(ts.train) == 0 and ts.train.column_names == COLUMNS


def test_arguments_missing_from_the_request_are_rejected():
    def reply(messages, n):
        city = ["Oslo", "Lima", "Rome", "Cairo"][n % 4]
        unit = ', "unit": "celsius"' if n <= 2 else ""  # first tries: a unit the request never mentions
        return f'{{"query": "Weather in {city}?", "expected_calls": [{{"name": "get_weather", "arguments": ' \
               f'{{"city": "{city}"{unit}}}}}]}}'

    ts = generate_tasks(DATA / "weather_openai.json", num=2, generator=ScriptedModel(reply), mix={"single": 1},
                        batch_size=2, progress=False)
    assert ts.report.kept == 2 and ts.report.rejected == {"ungrounded_argument": 2}
    assert ts.report.examples == ['ungrounded_argument: get_weather: "celsius" is not stated in the request']


def test_copying_the_format_placeholder_is_rejected():
    def copy_example(messages, n):
        placeholder = re.search(r'"query": "(<[^"]*>)"', messages[1]["content"])[1]
        return json.dumps({"query": placeholder, "expected_calls": [], "gold_answer": "<the answer>"})

    ts = generate_tasks(DATA / "weather_openai.json", num=2, generator=ScriptedModel(copy_example), max_retries=1,
                        max_attempts=4, progress=False)
    assert ts.report.kept == 0 and ts.report.rejected == {"copied_example": 4}
    assert ts.report.dropped == {"copied_example": 2}


def test_llm_duplicates_and_near_duplicates_are_removed():
    texts = ["Could you get the weather for Paris?", "Could you get the weather for Paris?",
             "Please get the weather for Paris, thanks!", "Get the weather for Rome.",
             "What's the forecast in Lima for 2 days?"]
    calls = [[{"name": "get_weather", "arguments": {"city": "Paris"}}]] * 3 + [
        [{"name": "get_weather", "arguments": {"city": "Rome"}}],
        [{"name": "get_forecast", "arguments": {"location": "Lima", "days": 2}}]]

    def reply(messages, n):
        i = min(n, len(texts)) - 1
        return json.dumps({"query": texts[i], "expected_calls": calls[i]})

    ts = generate_tasks(DATA / "weather_openai.json", num=3, generator=ScriptedModel(reply), mix={"single": 1},
                        max_retries=2, batch_size=1, test_size=0, progress=False)
    assert sorted(ts.train["query"]) == sorted([texts[0], texts[3], texts[4]])
    assert ts.report.rejected == {"duplicate": 1, "near_duplicate": 1}


def test_llm_generator_over_an_openai_compatible_endpoint():
    sys.path.insert(0, str(Path(__file__).parent))
    from openai_server import ScriptedOpenAIServer

    counter = iter(range(1, 1000))

    def reply(body):
        return good_reply(body["messages"], next(counter))

    with ScriptedOpenAIServer(reply) as server:
        ts = generate_tasks(DATA / "weather_openai.json", num=4, generator=server.url, workers=2, seed=1,
                            progress=False)
        assert server.request_count == 4
        assert server.requests[0]["temperature"] == 0.7 and server.requests[0]["max_tokens"] == 256
    assert ts.report.kept == 4 and set(ts.train["generator"]) == {server.url}


def test_unreachable_endpoint_fails_loudly():
    import socket

    from toolbrain_hub.models.chat import ChatError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(ChatError, match="failed on every request"):
        generate_tasks(DATA / "weather_openai.json", num=2, generator=f"http://127.0.0.1:{port}/v1", progress=False)


def test_endpoint_credentials_never_reach_the_dataset():
    assert public_model_name("https://user:s3cret@llm.example.com:8443/v1?api_key=abc#Qwen/Qwen2.5-7B") == \
        "https://llm.example.com:8443/v1#Qwen/Qwen2.5-7B"
    assert public_model_name("qwen2.5-coder-0.5b-instruct") == "qwen2.5-coder-0.5b-instruct"


def test_tiny_model_garbage_is_retried_then_dropped_and_counted(tiny_model):
    from toolbrain_hub.models.chat import LocalChatModel

    model = LocalChatModel(loaded=tiny_model)
    ts = generate_tasks(DATA / "weather_openai.json", num=2, generator=model, max_retries=1, max_attempts=6,
                        max_new_tokens=12, progress=False)
    report = ts.report
    assert report.kept == 0 and report.attempts == 6
    # 2 proposals, their 2 retries (dropped), 2 new proposals (their retries left pending when the budget ran out)
    assert sum(report.rejected.values()) == 6 and report.retries == 2 and sum(report.dropped.values()) == 4
    assert set(report.rejected) <= {"unparseable", "missing_query", "bad_calls", "unknown_tool",
                                    "invalid_arguments"}


# ---------------------------------------------------------------------------------------------------------------
# Folder and Hub I/O


def test_save_and_load_folder(tmp_path, taskset):
    folder = save_tasks(taskset, tmp_path / "tasks")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet",
        "generation_report.json", "tools.json"]
    from datasets import load_dataset

    plain = load_dataset(str(folder))
    assert plain["train"].to_list() == taskset.train.to_list()
    assert plain["test"].to_list() == taskset.test.to_list()
    assert plain["train"].features == taskset.train.features
    assert load_tasks(folder, split="test").to_list() == taskset.test.to_list()
    assert [t.name for t in load_task_tools(folder)] == [t.name for t in taskset.tools]
    report = json.loads((folder / "generation_report.json").read_text())
    assert report["kept"] == 300 and report["coverage"] == taskset.report.coverage
    # saving again replaces the data files (no stale split left behind)
    small = generate_tasks(DATA / "weather_openai.json", num=5, seed=1, test_size=0, progress=False)
    save_tasks(small, folder)
    assert load_tasks(folder)["train"].num_rows == 5 and "test" not in load_tasks(folder)


def test_without_drops_tasks_and_recounts_the_report(taskset):
    train_id, test_id = taskset.train["id"][0], taskset.test["id"][-1]
    kept = taskset.without([train_id, test_id, "no-such-task"])
    assert len(kept) == len(taskset) - 2 and kept.report.kept == len(kept)
    assert train_id not in kept.ids and test_id not in kept.ids
    assert kept.ids == [i for i in taskset.ids if i not in (train_id, test_id)]  # the order of the rest is kept
    cov = kept.report.coverage
    assert cov["splits"] == {"train": len(taskset.train) - 1, "test": len(taskset.test) - 1}
    dropped = [json.loads(row["expected_calls"]) for row in rows(taskset) if row["id"] in (train_id, test_id)]
    for name, count in taskset.report.coverage["tools"].items():
        assert cov["tools"][name] == count - sum(c["name"] == name for calls in dropped for c in calls)
    # the generation's history is not rewritten, and the original set is unchanged
    assert (kept.report.requested, kept.report.attempts, kept.report.seed) == (
        taskset.report.requested, taskset.report.attempts, taskset.report.seed)
    assert len(taskset) == 300 and train_id in taskset.ids
    assert taskset.without([]).ids == taskset.ids


def test_without_a_tools_every_task_reports_it_uncovered():
    small = generate_tasks(DATA / "weather_openai.json", num=12, seed=2, test_size=0.25, progress=False)
    calls = {row["id"]: json.loads(row["expected_calls"]) for row in rows(small)}
    tool = next(c["name"] for cs in calls.values() for c in cs)
    pruned = small.without([i for i, cs in calls.items() if any(c["name"] == tool for c in cs)])
    assert pruned.report.coverage["tools"][tool] == 0 and tool in pruned.report.coverage["tools_uncovered"]


def test_task_folders_lists_saved_datasets_only(tmp_path):
    assert task_folders(tmp_path / "none yet") == []
    small = generate_tasks(DATA / "weather_openai.json", num=4, test_size=0, progress=False)
    for name in ("b-tasks", "a-tasks"):
        save_tasks(small, tmp_path / name)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a dataset")
    assert task_folders(tmp_path) == [tmp_path / "a-tasks", tmp_path / "b-tasks"]


def test_not_a_task_folder(tmp_path):
    with pytest.raises(TaskError, match="missing README.md, tools.json, data/\\*.parquet"):
        check_task_folder(tmp_path)
    with pytest.raises(TaskError, match="not a task dataset"):
        load_tasks(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_tasks(tmp_path / "missing")
    with pytest.raises(TaskError, match="no split 'validation'"):
        folder = save_tasks(generate_tasks(DATA / "weather_openai.json", num=5, progress=False), tmp_path / "t")
        load_tasks(folder, split="validation")


def test_push_and_load_back_over_http(hub_server, taskset, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    repo = f"{hub_server.user}/tasks-{uuid.uuid4().hex[:8]}"
    url = push_tasks(taskset, repo, token=hub_server.token)
    assert url == f"{hub_server.endpoint}/datasets/{repo}"
    plain = load_dataset(repo, token=hub_server.token)
    assert plain["train"].to_list() == taskset.train.to_list()
    assert plain["test"]["query"] == taskset.test["query"]
    assert load_tasks(repo, split="train", token=hub_server.token)["id"] == taskset.train["id"]
    card = DatasetCard.load(repo, repo_type="dataset", token=hub_server.token)
    assert "toolbrain" in card.data.tags and card.data.license == "apache-2.0"
    assert card.data.configs[0]["data_files"][0] == {"split": "train", "path": "data/train-*.parquet"}
    card.validate()  # the server's /api/validate-yaml
    assert f'load_dataset("{repo}")' in card.text
    # no token in anything the Hub now stores for this repo
    stored = hub_server.app.repos[("dataset", repo)]
    commit = stored.resolve("main")
    assert {"README.md", "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet",
            "generation_report.json", "tools.json"} <= set(commit.files)
    for entry in commit.files.values():
        assert hub_server.token.encode() not in hub_server.app.blobs[entry.sha256]


def test_push_private_folder_is_invisible_to_others(hub_server, tmp_path):
    from toolbrain_hub.hub import HubError

    folder = save_tasks(generate_tasks(DATA / "calendar_mcp.json", num=8, seed=2, progress=False), tmp_path / "t")
    repo = f"{hub_server.user}/private-{uuid.uuid4().hex[:8]}"
    push_tasks(folder, repo, token=hub_server.token, private=True)
    loaded = load_tasks(repo, token=hub_server.token)
    assert loaded["train"].num_rows == 6 and loaded["test"].num_rows == 2
    with pytest.raises(HubError):
        load_tasks(repo, token=hub_server.other_token)


# ---------------------------------------------------------------------------------------------------------------
# CLI


def run_cli(*args: str, env: dict | None = None):
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=300)


def test_cli_generate_and_push(hub_server, tmp_path):
    out = tmp_path / "out"
    repo = f"{hub_server.user}/cli-{uuid.uuid4().hex[:8]}"
    result = run_cli("tasks", "generate", "--tools", str(DATA / "shop_bare.json"), "--num", "20", "--seed", "5",
                     "--out", str(out), "--push", repo, "--no-progress", env={"HF_TOKEN": hub_server.token})
    assert result.returncode == 0, result.stderr
    assert "kept 20/20 tasks (train 16, test 4)" in result.stdout
    assert f"pushed to {hub_server.endpoint}/datasets/{repo}" in result.stdout
    assert hub_server.token not in result.stdout + result.stderr
    from datasets import load_dataset

    pushed = load_dataset(repo, token=hub_server.token)
    local = load_tasks(out)
    assert pushed["train"].to_list() == local["train"].to_list()
    again = generate_tasks(DATA / "shop_bare.json", num=20, seed=5, progress=False)
    assert local["train"]["query"] == again.train["query"]  # the CLI's seed gives the library's tasks

    other = f"{hub_server.user}/cli-push-{uuid.uuid4().hex[:8]}"
    result = run_cli("tasks", "push", str(out), "--repo", other, env={"HF_TOKEN": hub_server.token})
    assert result.returncode == 0, result.stderr
    assert load_tasks(other, token=hub_server.token)["test"].num_rows == 4


@pytest.mark.parametrize("args, expected", [
    (["tasks", "generate", "--tools", str(DATA / "bad" / "missing_description.json"), "--num", "5", "--out", "x"],
     "tool 'get_weather', field '[0].description': missing description"),
    (["tasks", "push", str(DATA), "--repo", "alice/x"], "not a task dataset folder"),
    (["tasks", "push", "no/such/folder", "--repo", "alice/x"], "no/such/folder"),
])
def test_cli_bad_input_exit_2_one_line(args, expected, hub_server):
    result = run_cli(*args, env={"HF_TOKEN": hub_server.token})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_push_without_token_is_a_clear_error(tmp_path, hub_server):
    folder = save_tasks(generate_tasks(DATA / "weather_openai.json", num=5, progress=False), tmp_path / "t")
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", "tasks", "push", str(folder), "--repo",
                             "alice/x"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 2
    assert "token" in result.stderr.lower() and "Traceback" not in result.stderr


def test_load_tasks_sees_regenerated_data_in_the_same_folder(tmp_path):
    """Regenerating into one folder must not hand back the first dataset from a cache."""
    from toolbrain_hub.tasks import generate_tasks, load_tasks, save_tasks

    tools = [{"name": "ping", "description": "Ping a host.",
              "parameters": {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]}}]
    folder = tmp_path / "tasks"
    save_tasks(generate_tasks(tools, num=10, seed=0, progress=False), folder)
    first = load_tasks(folder)
    assert sum(first.num_rows.values()) == 10
    save_tasks(generate_tasks(tools, num=30, seed=1, progress=False), folder)
    assert sum(load_tasks(folder).num_rows.values()) == 30


def test_saving_over_a_dataset_only_when_asked(tmp_path):
    from toolbrain_hub.tasks import DatasetExistsError, describe_task_folder

    folder = tmp_path / "travel"
    first = generate_tasks(DATA / "weather_openai.json", num=6, seed=0, progress=False)
    save_tasks(first, folder, replace=False)  # a new folder: nothing to replace
    described = describe_task_folder(folder)
    assert described.startswith("a task dataset of 6 tasks for ") and "get_weather" in described
    before = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    other = generate_tasks(DATA / "calendar_mcp.json", num=4, seed=0, progress=False)
    with pytest.raises(DatasetExistsError) as e:
        save_tasks(other, folder, replace=False)
    assert e.value.folder == folder and e.value.holds == described and str(folder) in str(e.value)
    assert {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # untouched
    save_tasks(other, folder)  # the library default replaces
    assert "create_event" in describe_task_folder(folder)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    assert describe_task_folder(tmp_path / "notes") == "a folder that is not a task dataset"


def test_generation_stops_when_asked_and_says_how_far_it_got():
    from toolbrain_hub.stopping import Stopped

    model = ScriptedModel(lambda messages, n: "no JSON here")
    with pytest.raises(Stopped, match=r"^task generation stopped after 0 of 50 tasks \(\d+ proposals\)$"):
        generate_tasks(DATA / "weather_openai.json", num=50, generator=model, batch_size=2, progress=False,
                       should_stop=lambda: len(model.conversations) >= 3)
    assert 3 <= len(model.conversations) <= 4  # of a budget of 270 proposals


def test_a_local_model_generation_is_cut_at_the_next_token(tiny_model):
    from toolbrain_hub.models.chat import LocalChatModel

    model = LocalChatModel(loaded=tiny_model)
    seen = []

    def stop() -> bool:
        seen.append(1)
        return len(seen) > 3  # a few tokens in

    messages = [{"role": "user", "content": "Write a long story."}]
    config = model.model.generation_config
    saved = config.min_new_tokens
    config.min_new_tokens = 60  # no early end of turn: without the stop, every reply is 60 tokens or more
    steps = []

    def never() -> bool:
        steps.append(1)
        return False

    try:  # the check runs once per generated token
        model.chat_batch([messages], max_new_tokens=60, should_stop=never)
        assert len(steps) == 60
        model.chat_batch([messages], max_new_tokens=60, should_stop=stop)
        assert len(seen) == 4  # the generation ended at the first check that asked to stop
    finally:
        config.min_new_tokens = saved

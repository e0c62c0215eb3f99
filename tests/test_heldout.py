"""The hand-written held-out set (bench/heldout/) and the request-file loader (`tasks.request_files`).

The data is checked from the raw JSON, apart from the loader: every schema loads, every expected call and every
acceptable value validates, the kinds and tool sets are covered, no request repeats or resembles the schema generator's.
An oracle policy run through `evaluate` proves the rows, per-row tools and recorded results fit the evaluation.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from toolbrain_hub.evaluation import EvalError, evaluate
from toolbrain_hub.models.chat import ChatModel, ChatReply
from toolbrain_hub.tasks import REQUEST_KINDS, TaskError, generate_tasks, load_request_file, load_request_files
from toolbrain_hub.tasks.generators import content_tokens, normalize_query
from toolbrain_hub.tools import load_tools

HELDOUT = Path(__file__).resolve().parents[1] / "bench" / "heldout"
FILES = sorted(HELDOUT.glob("*.json"))


def _raw(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _all_requests() -> list[tuple[str, dict]]:
    return [(path.name, request) for path in FILES for request in _raw(path)["requests"]]


# ------------------------------------------------------------------------------------------------- the data


def test_the_heldout_set_is_large_enough_and_covers_every_kind():
    assert len(FILES) >= 5
    taskset = load_request_files(HELDOUT)
    rows = taskset.dataset["test"]
    kinds = Counter(rows["kind"])
    assert set(kinds) == set(REQUEST_KINDS)
    assert all(kinds[k] >= 30 for k in REQUEST_KINDS), kinds
    assert len(rows) >= 150
    per_set = Counter(rows["tool_set"])
    assert len(per_set) >= 4 and min(per_set.values()) >= 20, per_set
    assert set(rows["generator"]) == {"hand-written"} and set(rows["split"]) == {"test"}
    assert list(taskset.dataset) == ["test"]  # never a train split
    for path in FILES:  # each file also loads alone
        assert len(load_request_file(path)) == len(_raw(path)["requests"])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_tool_schema_is_valid_and_rich(path):
    data = _raw(path)
    specs = load_tools(data["tools"], name=path.name)
    assert 3 <= len(specs) <= 8
    text = json.dumps(data["tools"])
    # Realistic schemas: nested objects or arrays of objects, enums, defaults, formats or patterns.
    assert '"enum"' in text and '"default"' in text and ('"format"' in text or '"pattern"' in text)
    assert any(p.get("type") in ("object", "array") for s in specs for p in s.properties.values())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_expected_call_and_acceptable_value_validates(path):
    data = _raw(path)
    tools = {spec.name: spec for spec in load_tools(data["tools"], name=path.name)}
    checked = 0
    for request in data["requests"]:
        offered = request.get("tools", list(tools))
        for call in request.get("expected_calls", []):
            assert call["name"] in offered, (request["id"], call["name"])
            spec = tools[call["name"]]
            assert spec.validate_arguments(call["arguments"]) == [], (request["id"], call)
            optional = call.get("optional", [])
            assert not set(optional) & set(spec.required), (request["id"], optional)
            for arg, values in call.get("acceptable", {}).items():
                if arg in call["arguments"]:
                    assert call["arguments"][arg] in values, (request["id"], arg)
                else:
                    assert arg in optional, (request["id"], arg)
                for value in values:
                    problems = spec.validate_arguments({**call["arguments"], arg: value})
                    assert problems == [], (request["id"], arg, value, problems)
                    checked += 1
    assert checked > 0


def test_expected_calls_fit_their_kind():
    for name, request in _all_requests():
        calls, kind = request.get("expected_calls", []), request["kind"]
        where = f"{name}: {request['id']}"
        if kind == "no_tool":
            assert calls == [], where
        elif kind in ("single", "choice"):
            assert len(calls) == 1, where
            assert (len(request.get("tools", [])) == 1) == (kind == "single"), where
        else:
            assert len(calls) >= 2, where
        if kind == "multi_turn":  # each later call is answered by the earlier one's recorded result
            assert all("result" in c for c in calls[:-1]), where


def test_no_request_is_duplicated():
    queries = [normalize_query(request["query"]) for _, request in _all_requests()]
    assert len(queries) == len(set(queries)), [q for q, n in Counter(queries).items() if n > 1]
    ids = [request["id"] for _, request in _all_requests()]
    assert len(ids) == len(set(ids))


def test_no_request_matches_the_schema_generators_templates():
    # 500 generated tasks per tool set, pooled: a hand-written request must be neither the same request after
    # normalization nor a near copy (the generator's own duplicate threshold on content words).
    generated = []
    for path in FILES:
        tools = load_tools(_raw(path)["tools"], name=path.name)
        taskset = generate_tasks(tools, num=500, generator="schema", seed=0, test_size=0, progress=False)
        generated += taskset.train["query"]
    assert len(generated) >= 500 * len(FILES) * 0.9
    exact = {normalize_query(q) for q in generated}
    pool = [content_tokens(q) for q in set(generated)]
    for name, request in _all_requests():
        query = request["query"]
        assert normalize_query(query) not in exact, (name, query)
        tokens = content_tokens(query)
        closest = max(len(tokens & other) / len(tokens | other) for other in pool)
        assert closest < 0.8, (name, query, closest)


# ----------------------------------------------------------------------------- the set in an evaluation


class OraclePolicy(ChatModel):
    """Makes each request's expected calls (one per turn for multi-turn requests, all at once otherwise), then
    answers with the gold answer; records the tools and tool results it was shown."""

    model_id = "oracle"

    def __init__(self, rows):
        self.rows = {r["query"]: r for r in rows}
        self.offered: dict[str, list[str]] = {}
        self.tool_messages: dict[str, list[str]] = {}

    def chat(self, messages, *, tools=None, **kwargs):
        row = self.rows[next(m["content"] for m in messages if m["role"] == "user")]
        turn = sum(1 for m in messages if m["role"] == "assistant")
        self.offered[row["id"]] = sorted(t["function"]["name"] for t in tools or [])
        self.tool_messages[row["id"]] = [m["content"] for m in messages if m["role"] == "tool"]
        calls = json.loads(row["expected_calls"])
        batches = [[c] for c in calls] if row["kind"] == "multi_turn" else [calls] if calls else []
        if turn < len(batches):
            return ChatReply(text="".join(
                f"<tool_call>\n{json.dumps({'name': c['name'], 'arguments': c['arguments']})}\n</tool_call>"
                for c in batches[turn]))
        return ChatReply(text=f"Done. The answer is {row['gold_answer']}." if row["gold_answer"] else "Done.")


def test_an_oracle_scores_perfectly_and_sees_each_rows_tools_and_recorded_results():
    taskset = load_request_files(HELDOUT)
    rows = [dict(r) for r in taskset.dataset["test"]]
    policy = OraclePolicy(rows)
    result = evaluate(policy, taskset.dataset, progress=False, max_turns=5)
    m = result.metrics
    assert m["tasks"] == len(rows)
    assert m["correctness"] == 1.0 and m["tool_call_accuracy"] == 1.0 and m["invalid_call_rate"] == 0.0
    assert m["answer_accuracy"] == 1.0 and m["no_tool_precision"] == 1.0
    assert set(result.breakdown["kind"]) == set(REQUEST_KINDS)
    for row in rows:
        offered = [t["function"]["name"] for t in json.loads(row["tools"])]
        assert policy.offered[row["id"]] == sorted(offered)
        if row["kind"] == "single":
            assert len(offered) == 1
        if row["kind"] == "multi_turn":  # the later calls were made after the recorded results came back
            seen = policy.tool_messages[row["id"]]
            recorded = json.loads(row["tool_results"])
            assert len(seen) >= len(recorded)
            for entry, message in zip(recorded, seen, strict=False):
                assert json.loads(message) == entry["result"], row["id"]


def test_evaluate_reads_a_request_file_or_folder_by_path():
    path = HELDOUT / "travel.json"
    rows = [dict(r) for r in load_request_file(path).dataset["test"]]
    result = evaluate(OraclePolicy(rows), str(path), progress=False, limit=4)
    assert result.metrics["tasks"] == 4 and result.metrics["correctness"] == 1.0
    assert result.info["dataset"] == str(path)
    with pytest.raises(EvalError, match="only a 'test' split"):
        evaluate(OraclePolicy(rows), str(HELDOUT), split="train", progress=False)


def test_the_eval_command_runs_a_request_file(tiny_model_dir):
    import subprocess
    import sys

    root = HELDOUT.parents[1]
    command = [sys.executable, "-m", "toolbrain_hub.cli", "eval", str(tiny_model_dir), "--tasks",
               str(HELDOUT / "travel.json"), "--limit", "2", "--max-new-tokens", "4", "--json", "--no-progress"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metrics"]["tasks"] == 2
    out = subprocess.run([*command, "--split", "train"], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 2 and "only a 'test' split" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------------ bad files

_TOOL = {"type": "function", "function": {"name": "get_time", "description": "Time in a timezone.", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string", "enum": ["UTC", "Europe/Paris"]},
                                     "format": {"type": "string", "enum": ["12h", "24h"], "default": "24h"}},
    "required": ["tz"]}}}
_TOOL2 = {"type": "function", "function": {"name": "get_date", "description": "Today's date.",
                                           "parameters": {"type": "object", "properties": {}}}}


def _good_request(**changes) -> dict:
    request = {"id": "r1", "kind": "choice", "query": "time in Paris?",
               "expected_calls": [{"name": "get_time", "arguments": {"tz": "Europe/Paris"},
                                   "acceptable": {"format": ["24h"]}, "optional": ["format"]}]}
    return {**request, **changes}


@pytest.mark.parametrize("request_changes, message", [
    ({"kind": "sometimes"}, r"request 'r1': 'kind' must be one of"),
    ({"colour": "red"}, r"request 'r1': unknown keys \['colour'\]"),
    ({"tools": ["get_weather"]}, r"'tools' names \['get_weather'\], not defined"),
    ({"kind": "single"}, r"a single request is offered exactly one tool"),
    ({"kind": "no_tool"}, r"a no_tool request expects no calls"),
    ({"kind": "parallel"}, r"a parallel request expects at least two calls"),
    ({"expected_calls": [{"name": "get_time", "arguments": {"tz": "Asia/Tokyo"}}]},
     r"expected_calls\[0\]\.arguments: invalid for get_time: tz: 'Asia/Tokyo' is not one of"),
    ({"expected_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}, "acceptable": {"tz": ["Europe/Paris"]}}]},
     r"acceptable\.tz: does not list the canonical value 'UTC'"),
    ({"expected_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}, "acceptable": {"format": ["36h"]},
                          "optional": ["format"]}]},
     r"acceptable\.format\[0\]: invalid for get_time: format: '36h' is not one of"),
    ({"expected_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}, "optional": ["tz"]}]},
     r"optional: 'tz' is required by get_time's schema"),
    ({"expected_calls": [{"name": "get_time", "arguments": {"tz": "UTC"}, "optional": ["format"]}]},
     r"optional: 'format' is not in 'arguments': list its acceptable values"),
    ({"kind": "multi_turn", "expected_calls": [{"name": "get_date", "arguments": {}},
                                               {"name": "get_time", "arguments": {"tz": "UTC"}}]},
     r"expected_calls\[0\] of a multi_turn request need a 'result'"),
])
def test_a_bad_request_file_names_the_file_request_and_field(tmp_path, request_changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tool_set": "clock", "tools": [_TOOL, _TOOL2],
                                "requests": [_good_request(**request_changes)]}))
    with pytest.raises(TaskError, match=message) as info:
        load_request_file(path)
    assert str(path) in str(info.value)


def test_a_good_minimal_file_loads_and_records_results(tmp_path):
    path = tmp_path / "clock.json"
    request = _good_request(kind="multi_turn", expected_calls=[
        {"name": "get_date", "arguments": {}, "result": {"date": "2025-05-02"}},
        {"name": "get_time", "arguments": {"tz": "UTC"}}])
    path.write_text(json.dumps({"tools": [_TOOL, _TOOL2], "requests": [request]}))
    row = load_request_file(path).dataset["test"][0]
    assert row["tool_set"] == "clock" and row["kind"] == "multi_turn" and row["split"] == "test"
    assert json.loads(row["tool_results"]) == [{"name": "get_date", "result": {"date": "2025-05-02"}}]
    assert [c["name"] for c in json.loads(row["expected_calls"])] == ["get_date", "get_time"]
    assert "result" not in row["expected_calls"]


def test_two_files_may_not_define_one_tool_differently(tmp_path):
    other = json.loads(json.dumps(_TOOL))
    other["function"]["description"] = "Another clock."
    for name, tool in (("a.json", _TOOL), ("b.json", other)):
        (tmp_path / name).write_text(json.dumps({"tools": [tool, _TOOL2], "requests": [_good_request()]}))
    with pytest.raises(TaskError, match=r"b\.json: tool 'get_time' is defined differently in .*a\.json"):
        load_request_files(tmp_path)


def test_a_file_that_is_not_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"tools": [\n  oops]}')
    with pytest.raises(TaskError, match=r"broken\.json: line 2, column 3: not valid JSON"):
        load_request_file(path)


# ------------------------------------------------------------------------------------- bench/bench_heldout.py


def _bench_module():
    import importlib.util

    path = HELDOUT.parent / "bench_heldout.py"
    spec = importlib.util.spec_from_file_location("bench_heldout", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_takes_a_few_of_each_kind_from_every_tool_set_and_measures_the_native_format():
    bench = _bench_module()
    rows = bench.heldout_rows(HELDOUT, limit=4)
    assert Counter(r["kind"] for r in rows) == {kind: 4 for kind in REQUEST_KINDS}
    assert all(len({r["tool_set"] for r in rows if r["kind"] == kind}) == 4 for kind in REQUEST_KINDS)
    tagged = evaluate(OraclePolicy(rows), rows, progress=False, max_turns=5)

    class FencedOracle(OraclePolicy):  # the same calls as fenced JSON: well-formed, but not the native form
        def chat(self, messages, **kwargs):
            reply = super().chat(messages, **kwargs)
            calls = [json.loads(part.split("</tool_call>")[0]) for part in reply.text.split("<tool_call>")[1:]]
            return ChatReply(text="".join(f"```json\n{json.dumps(c)}\n```\n" for c in calls) or reply.text)

    fenced = evaluate(FencedOracle(rows), [r for r in rows if r["kind"] in ("single", "choice")], progress=False)
    assert fenced.metrics["tool_call_accuracy"] == 1.0
    assert bench.native_format_rate(tagged) == 1.0 and bench.native_format_rate(fenced) == 0.0
    summary = bench.summarize(tagged, elapsed=1.0)
    assert summary["tasks"] == len(rows) and summary["metrics"]["correctness"] == 1.0
    assert set(summary["by_kind"]) == set(REQUEST_KINDS)
    assert summary["metrics"]["ast_accuracy"] == tagged.metrics.get("ast_accuracy")  # None until the scorer has it

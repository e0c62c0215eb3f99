"""Evaluation: metric arithmetic with scripted policies, token-exact episodes (same ids as the deployed agent), the tiny
model through a LoRA adapter folder and a real training run folder, save/load, before/after, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolbrain_hub.evaluation import (
    METRICS,
    Comparison,
    EvalError,
    EvalResult,
    aggregate,
    compare,
    evaluate,
    evaluate_before_after,
    load_comparison,
    load_policy,
    save_before_after,
    score_task,
    source_spec,
)
from toolbrain_hub.models.chat import ChatModel, ChatReply, LocalChatModel
from toolbrain_hub.tasks import TaskError, generate_tasks, load_tasks
from toolbrain_hub.traces import Trace

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount of money into another currency",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number", "description": "Amount to convert"},
            "to": {"type": "string", "enum": ["EUR", "USD", "JPY"], "description": "Target currency"}},
            "required": ["amount", "to"]}}},
]
TOOLS_JSON = json.dumps(TOOLS)


def get_weather(city: str, unit: str = "celsius") -> str:
    """Get the current weather for a city.

    Args:
        city: City name
        unit: Temperature unit
    """
    return f"Sunny in {city}, 21 degrees {unit}"


def convert_currency(amount: float, to: str) -> str:
    """Convert an amount of money into another currency.

    Args:
        amount: Amount to convert
        to: Target currency
    """
    return f"{amount * 0.5:.2f} {to}"


IMPLEMENTATIONS = {"get_weather": get_weather, "convert_currency": convert_currency}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval-tasks")
    generate_tasks(TOOLS, num=30, seed=3, progress=False).save(folder)
    return folder


@pytest.fixture(scope="module")
def train_rows(task_dir):
    rows = [dict(r) for r in load_tasks(task_dir, split="train")]
    kinds = {r["kind"] for r in rows}
    assert {"single", "parallel", "multi", "no_tool"} <= kinds, kinds  # the arithmetic below needs every kind
    return rows


def _expected(row):
    return json.loads(row["expected_calls"])


def _tagged(calls) -> str:
    return "".join(f"<tool_call>\n{json.dumps({'name': c['name'], 'arguments': c['arguments']})}\n</tool_call>"
                   for c in calls)


class ScriptedPolicy(ChatModel):
    """Replies from a script `script(row, turn, messages) -> text`; records what it was shown."""

    model_id = "scripted"

    def __init__(self, rows, script):
        self.by_query = {r["query"]: r for r in rows}
        self.script = script
        self.seen_tools: list[list[str]] = []
        self.seen_system: list[str] = []

    def chat(self, messages, *, tools=None, **kwargs):
        query = next(m["content"] for m in messages if m["role"] == "user")
        turn = sum(1 for m in messages if m["role"] == "assistant")
        self.seen_tools.append(sorted(t["function"]["name"] for t in tools or []))
        self.seen_system.append(next((m["content"] for m in messages if m["role"] == "system"), ""))
        return ChatReply(text=self.script(self.by_query[query], turn, messages))


def oracle(row, turn, messages):
    if turn == 0 and _expected(row):
        return "Let me check.\n" + _tagged(_expected(row))
    if turn == 0:
        return f"The answer is {row['gold_answer']}." if row["gold_answer"] else "Hello! How can I help you today?"
    return "Done: " + messages[-1]["content"][:40]


def inventor(row, turn, messages):
    return _tagged([{"name": "search_web", "arguments": {"q": row["query"]}}])


def answer_only(row, turn, messages):
    return row["gold_answer"] or "Sure, happy to help with that."


# --------------------------------------------------------------------------------------------- scripted policies


def test_oracle_policy_scores_perfectly(train_rows):
    policy = ScriptedPolicy(train_rows, oracle)
    result = evaluate(policy, train_rows, progress=False, implementations=IMPLEMENTATIONS)
    m = result.metrics
    n = len(train_rows)
    n_tool = sum(1 for r in train_rows if _expected(r))
    assert m["tasks"] == n == len(result.traces) == len(result.rows)
    for name in ("correctness", "ast_accuracy", "tool_call_accuracy", "tool_name_accuracy", "call_match_score",
                 "no_tool_precision", "native_format_rate"):
        assert m[name] == 1.0, name
    assert m["hallucination_rate"] == 0.0 and m["no_answer_rate"] == 0.0 and m["invalid_call_rate"] == 0.0
    assert m["avg_turns"] == pytest.approx((2 * n_tool + (n - n_tool)) / n)
    assert m["avg_tool_calls"] == pytest.approx(sum(len(_expected(r)) for r in train_rows) / n)
    if any(r["gold_answer"] for r in train_rows):
        assert m["answer_accuracy"] == 1.0
    # Per kind and difficulty, every group is perfect too; group sizes add up.
    assert set(result.breakdown["kind"]) == {"single", "parallel", "multi", "no_tool"}
    assert sum(g["tasks"] for g in result.breakdown["kind"].values()) == n
    assert sum(g["tasks"] for g in result.breakdown["difficulty"].values()) == n
    assert all(g["correctness"] == 1.0 for g in result.breakdown["kind"].values())
    # The policy saw the tasks' tools and system prompt; the real implementations answered the calls.
    assert all(names == ["convert_currency", "get_weather"] for names in policy.seen_tools)
    assert set(policy.seen_system) == {train_rows[0]["prompt"][0]["content"]}
    weather = next(t for t, r in zip(result.traces, train_rows, strict=True)
                   if _expected(r) and _expected(r)[0]["name"] == "get_weather")
    assert weather.turns[0].results[0].content.startswith("Sunny in ")
    assert result.info["tools"] == "implementations"


def test_inventing_tools_is_invalid_and_hallucinated(train_rows):
    result = evaluate(ScriptedPolicy(train_rows, inventor), train_rows, progress=False, max_turns=2)
    m = result.metrics
    assert m["invalid_call_rate"] == 1.0
    assert m["correctness"] == 0.0 and m["tool_call_accuracy"] == 0.0 and m["tool_name_accuracy"] == 0.0
    assert m["hallucination_rate"] == 1.0 and m["no_answer_rate"] == 0.0
    assert m["no_tool_precision"] == 0.0
    assert m["avg_turns"] == 2.0  # it calls on every turn, so every episode hits the turn limit
    assert m["avg_tool_calls"] == 2.0
    first = result.traces[0].turns[0]
    assert first.results[0].error and "search_web not found" in first.results[0].content
    assert result.traces[0].turns[1].call_outcomes() == [None]  # the last turn's call is not run, as in TRL
    assert all(t.final_answer is None for t in result.traces)


def test_answering_without_tools(train_rows):
    result = evaluate(ScriptedPolicy(train_rows, answer_only), train_rows, progress=False)
    m = result.metrics
    n = len(train_rows)
    n_neg = sum(1 for r in train_rows if r["kind"] == "no_tool")
    assert m["no_tool_precision"] == 1.0
    assert m["correctness"] == pytest.approx(n_neg / n)
    assert m["hallucination_rate"] == pytest.approx((n - n_neg) / n)  # every tool task answered, wrongly
    assert m["tool_call_accuracy"] == 0.0 and m["call_match_score"] == 0.0
    assert m["invalid_call_rate"] is None and m["native_format_rate"] is None  # no call attempted: no denominator
    assert m["avg_turns"] == 1.0 and m["no_answer_rate"] == 0.0
    assert result.breakdown["kind"]["no_tool"]["correctness"] == 1.0
    assert result.breakdown["kind"]["single"]["correctness"] == 0.0
    # Schema-only by default: nothing ran, but the episodes still record the tools offered.
    assert result.info["tools"] == "schema-only"


def test_schema_only_calls_are_validated_and_answered(train_rows):
    result = evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False)
    trace, row = next((t, r) for t, r in zip(result.traces, train_rows, strict=True) if _expected(r))
    echoed = json.loads(trace.turns[0].results[0].content)  # no implementation: the validated call is echoed
    assert echoed["status"] == "ok" and echoed["tool"] == _expected(row)[0]["name"]
    assert result.metrics["correctness"] == 1.0


def test_tasks_as_dataset_objects(task_dir):
    splits = load_tasks(task_dir)  # a DatasetDict: the split is picked from it
    policy = ScriptedPolicy([dict(r) for r in splits["test"]], answer_only)
    from_dict = evaluate(policy, splits, progress=False)
    from_dataset = evaluate(policy, splits["test"], progress=False, limit=2)
    assert from_dict.metrics["tasks"] == len(splits["test"]) and from_dataset.metrics["tasks"] == 2
    assert [r["id"] for r in from_dataset.rows] == splits["test"]["id"][:2]
    with pytest.raises(EvalError, match="no split 'dev'"):
        evaluate(policy, splits, split="dev", progress=False)


def test_implementations_from_a_file(train_rows, tmp_path):
    source = tmp_path / "my_tools.py"
    source.write_text("def get_weather(city, unit='celsius'):\n    return f'Rain in {city}'\n\n"
                      "def convert_currency(amount, to):\n    return f'{amount} {to} converted'\n")
    rows = [r for r in train_rows if _expected(r) and _expected(r)[0]["name"] == "get_weather"][:2]
    result = evaluate(ScriptedPolicy(rows, oracle), rows, progress=False, implementations=str(source))
    assert result.traces[0].turns[0].results[0].content.startswith("Rain in ")


# --------------------------------------------------------------------------------------------- scoring arithmetic


def _row(expected, *, kind=None, gold="", row_id="t"):
    return {"id": row_id, "query": "q", "tools": TOOLS_JSON, "expected_calls": json.dumps(expected),
            "gold_answer": gold, "difficulty": "easy",
            "kind": kind or ("multi" if len(expected) > 1 else "single" if expected else "no_tool")}


PARIS = {"name": "get_weather", "arguments": {"city": "Paris"}}
EUR = {"name": "convert_currency", "arguments": {"amount": 10, "to": "EUR"}}


def _trace(*replies, results=None):
    messages = [{"role": "user", "content": "q"}]
    for i, reply in enumerate(replies):
        messages.append({"role": "assistant", "content": reply})
        for content in (results or {}).get(i, []):
            messages.append({"role": "tool", "name": "tool", "content": content})
    return Trace.from_messages(messages)


def test_score_repeated_right_call_is_correct_but_costs_partial_credit():
    row = score_task(_trace(_tagged([PARIS]), _tagged([PARIS]), results={0: ["sunny"]}), _row([PARIS]))
    assert row["correct"] and row["exact_matched"] == 1 and row["wrong_calls"] == 0
    assert row["call_match_score"] == 0.25  # partial credit (at most 0.5) x 1 matched / max(1 expected, 2 made)
    assert row["turns"] == 2 and row["final_answer"] is None and row["attempted"]


def test_score_wrong_arguments_right_name_in_bare_json():
    bare = json.dumps({"name": "get_weather", "arguments": {"city": "Lyon"}})
    row = score_task(_trace(bare, "It is sunny.", results={0: ["sunny"]}), _row([PARIS]))
    assert not row["correct"] and row["exact_matched"] == 0 and row["name_matched"] == 1
    assert row["wrong_calls"] == 1 and row["native_calls"] == 0 and row["invalid"] == 0
    assert row["final_answer"] == "It is sunny."


def test_score_schema_invalid_and_malformed_calls():
    invalid = score_task(_trace(_tagged([{"name": "get_weather", "arguments": {"city": 5}}])), _row([PARIS]))
    assert invalid["attempts"] == 1 and invalid["invalid"] == 1 and not invalid["correct"]
    broken = score_task(_trace('<tool_call>{"name": "get_weather", "arguments": {</tool_call>'), _row([PARIS]))
    assert broken["calls"] == 0 and broken["attempts"] == 1 and broken["invalid"] == 1
    assert broken["attempted"] and not broken["correct"]


def test_score_order_of_independent_calls_does_not_matter():
    row = score_task(_trace(_tagged([EUR, PARIS]), "Done.", results={0: ["a", "b"]}), _row([PARIS, EUR]))
    assert row["correct"] and row["exact_matched"] == 2 and row["call_match_score"] == 1.0
    half = score_task(_trace(_tagged([PARIS]), "Done.", results={0: ["a"]}), _row([PARIS, EUR]))
    assert not half["correct"] and half["exact_matched"] == 1 and half["name_matched"] == 1


def test_score_negatives_and_gold_answers():
    gold = _row([], gold="Rome")
    assert score_task(_trace("The capital of Italy is Rome."), gold)["correct"]
    wrong = score_task(_trace("It is Paris."), gold)
    assert not wrong["correct"] and wrong["attempted"] and wrong["answer_correct"] is False
    called = score_task(_trace(_tagged([PARIS])), _row([]))
    assert not called["correct"] and called["attempts"] == 1
    empty = score_task(_trace(""), _row([]))
    assert not empty["attempted"] and not empty["correct"]
    assert score_task(_trace("Hi there!"), _row([]))["correct"]  # no gold: any answer without a call


def test_aggregate_hallucination_is_wrong_over_attempted():
    rows = [score_task(_trace(_tagged([PARIS])), _row([PARIS])),  # right
            score_task(_trace(_tagged([EUR])), _row([PARIS])),  # wrong
            score_task(_trace(""), _row([PARIS])),  # no answer
            score_task(_trace("Hello!"), _row([]))]  # right negative
    m = aggregate(rows)
    assert m["correctness"] == 0.5
    assert m["hallucination_rate"] == pytest.approx(1 / 3)
    assert m["no_answer_rate"] == 0.25
    assert m["tool_call_accuracy"] == pytest.approx(1 / 3)
    assert m["no_tool_precision"] == 1.0
    assert m["invalid_call_rate"] == 0.0 and m["avg_turns"] == 1.0


def test_score_standard_rule_next_to_exact_match():
    paris_fr = {**PARIS, "acceptable": {"city": ["Paris, France"]}, "optional": ["unit"]}
    accepted = {"name": "get_weather", "arguments": {"city": "paris, france"}}
    row = score_task(_trace(_tagged([accepted]), "Sunny."), _row([paris_fr]))
    assert row["ast_correct"] and row["ast_matched"] == 1 and not row["correct"]  # an acceptable value: AST only
    assert row["call_match_score"] == 1.0  # the reward takes it too (the extended form)
    # A plain expected call: an unrequested optional argument with a valid value passes the standard rule only, and
    # the reward keeps the exact rule; a value outside the enum passes neither.
    filled = score_task(_trace(_tagged([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]),
                               "Sunny."), _row([PARIS]))
    assert filled["ast_correct"] and not filled["correct"] and filled["call_match_score"] < 0.5
    kelvin = score_task(_trace(_tagged([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "kelvin"}}]),
                               "Sunny."), _row([PARIS]))
    assert not kelvin["ast_correct"] and not kelvin["correct"] and kelvin["invalid"] == 1
    # "10" is not the number 10 for the standard rule; the exact rule forgives it.
    text = score_task(_trace(_tagged([{"name": "convert_currency", "arguments": {"amount": "10", "to": "EUR"}}])),
                      _row([EUR]))
    assert text["correct"] and not text["ast_correct"]
    # Parallel calls: each expected call matched by exactly one call, in any order; a repeat is one too many.
    both = score_task(_trace(_tagged([EUR, PARIS]), "Done.", results={0: ["a", "b"]}), _row([PARIS, EUR]))
    assert both["ast_correct"] and both["ast_matched"] == 2 and both["correct"]
    first_only = score_task(_trace(_tagged([PARIS]), "Done.", results={0: ["a"]}), _row([PARIS, EUR]))
    assert not first_only["ast_correct"] and first_only["ast_matched"] == 1
    repeated = score_task(_trace(_tagged([PARIS]), _tagged([PARIS]), results={0: ["sunny"]}), _row([PARIS]))
    assert repeated["correct"] and not repeated["ast_correct"]  # exact match tolerates the repeat, AST does not
    # No-tool tasks: the standard rule asks for no call.
    assert score_task(_trace("Hello!"), _row([]))["ast_correct"]
    assert not score_task(_trace(_tagged([PARIS])), _row([]))["ast_correct"]


def test_aggregate_standard_rule_native_format_and_kinds():
    celsius = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    episodes = [
        (_trace(_tagged([PARIS, EUR]), "Done.", results={0: ["a", "b"]}), _row([PARIS, EUR], kind="parallel")),
        (_trace(_tagged([PARIS]), "Done.", results={0: ["a"]}), _row([PARIS, EUR], kind="parallel")),
        (_trace(_tagged([PARIS]), json.dumps(EUR), "Done.", results={0: ["a"], 1: ["b"]}),
         _row([PARIS, EUR], kind="multi_turn")),
        (_trace(_tagged([celsius]), "Sunny."), _row([PARIS])),
        (_trace("Hello!"), _row([])),
    ]
    result = EvalResult.from_traces([t for t, _ in episodes], [r for _, r in episodes])
    m = result.metrics
    assert m["correctness"] == pytest.approx(3 / 5) and m["ast_accuracy"] == pytest.approx(4 / 5)
    assert m["native_format_rate"] == pytest.approx(5 / 6)  # 6 calls; the bare JSON one is not the native form
    kinds = result.breakdown["kind"]
    assert set(kinds) == {"parallel", "multi_turn", "single", "no_tool"}  # parallel and sequential apart
    assert kinds["parallel"]["tasks"] == 2 and kinds["parallel"]["ast_accuracy"] == 0.5
    assert kinds["multi_turn"]["ast_accuracy"] == 1.0 and kinds["multi_turn"]["native_format_rate"] == 0.5
    assert kinds["single"]["correctness"] == 0.0 and kinds["single"]["ast_accuracy"] == 1.0
    md = result.to_markdown()
    assert "| ast_accuracy | 0.800 |" in md and "| native_format_rate | 0.833 |" in md
    header = next(line for line in md.splitlines() if line.startswith("| kind |"))
    assert header == ("| kind | tasks | correctness | ast_accuracy | tool_call_accuracy | no_tool_precision | "
                      "invalid_call_rate | native_format_rate |")
    assert "| parallel | 2 | 0.500 | 0.500 |" in md


def test_score_rejects_bad_expected_calls():
    with pytest.raises(EvalError, match="task 'bad'"):
        score_task(_trace("x"), {"id": "bad", "expected_calls": "{not json", "tools": TOOLS_JSON})


# --------------------------------------------------------------------------------------------- results, compare


def test_save_load_and_compare(train_rows, tmp_path):
    good = evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False)
    bad = evaluate(ScriptedPolicy(train_rows, answer_only), train_rows, progress=False)
    good.save(tmp_path / "good")
    for name in ("eval.json", "traces.jsonl", "eval.md"):
        assert (tmp_path / "good" / name).stat().st_size > 0
    loaded = EvalResult.load(tmp_path / "good")
    assert loaded.metrics == good.metrics and loaded.rows == good.rows and loaded.breakdown == good.breakdown
    assert [t.to_dict() for t in loaded.traces] == [t.to_dict() for t in good.traces]
    assert "| correctness | 1.000 |" in (tmp_path / "good" / "eval.md").read_text()

    table = compare(bad, tmp_path / "good")
    assert isinstance(table, Comparison)
    assert [r["metric"] for r in table.rows] == list(METRICS)
    by_name = {r["metric"]: r for r in table.rows}
    assert by_name["correctness"]["delta"] == pytest.approx(good.metrics["correctness"] - bad.metrics["correctness"])
    assert by_name["invalid_call_rate"]["before"] is None and by_name["invalid_call_rate"]["delta"] is None
    md = table.to_markdown()
    assert "| correctness ↑ |" in md and f"{by_name['correctness']['delta']:+.3f}" in md
    out = table.save(tmp_path / "cmp")
    saved = json.loads((out / "eval.json").read_text())
    assert saved["comparison"]["rows"] == table.rows
    assert saved["before"]["metrics"] == bad.metrics and saved["after"]["metrics"] == good.metrics
    assert saved["num_tasks"] == len(train_rows)
    assert (out / "eval_comparison.png").stat().st_size > 1000
    assert "before vs after" in (out / "eval.md").read_text()


def test_load_errors(tmp_path):
    with pytest.raises(EvalError, match="no evaluation here"):
        EvalResult.load(tmp_path)
    (tmp_path / "eval.json").write_text("{broken")
    with pytest.raises(EvalError, match="eval.json: line 1"):
        EvalResult.load(tmp_path)
    with pytest.raises(EvalError, match="cannot compare"):
        compare(42, {"correctness": 1.0})


def test_before_after_runs_both_and_keeps_them_in_the_run_folder(train_rows, tmp_path):
    from toolbrain_hub.stopping import Stopped

    run, started = tmp_path / "run", []
    table = evaluate_before_after(ScriptedPolicy(train_rows, oracle), ScriptedPolicy(train_rows, answer_only),
                                  train_rows, labels=("base", "trained"), run_dir=run, progress=False,
                                  on_start=lambda index, label: started.append((index, label)))
    assert started == [(0, "base"), (1, "trained")]  # the baseline first
    base = evaluate(ScriptedPolicy(train_rows, answer_only), train_rows, progress=False)
    trained = evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False)
    assert table.before.metrics == base.metrics and table.after.metrics == trained.metrics
    assert table.rows == compare(base, trained).rows and table.labels == ("base", "trained")
    # Each evaluation whole in <run>/eval, the comparison there and in the run folder (what `publish` reads).
    for name in ("eval.json", "eval.md", "eval_comparison.png", "eval/eval.json", "eval/before/traces.jsonl",
                 "eval/after/eval.md"):
        assert (run / name).is_file(), name
    assert EvalResult.load(run / "eval" / "before").metrics == base.metrics
    saved = json.loads((run / "eval.json").read_text())
    assert saved["labels"] == ["base", "trained"] and saved["after"]["metrics"] == trained.metrics
    loaded = load_comparison(run)
    assert loaded.rows == table.rows and loaded.labels == ("base", "trained") and loaded.complete
    # A stop names the evaluation it stopped, and nothing is saved.
    with pytest.raises(Stopped, match=rf"^base: evaluation stopped after loading the model, before the first of "
                                      rf"{len(train_rows)} tasks$"):
        evaluate_before_after(ScriptedPolicy(train_rows, oracle), ScriptedPolicy(train_rows, answer_only),
                              train_rows, labels=("base", "trained"), run_dir=tmp_path / "stopped", progress=False,
                              should_stop=lambda: True)
    assert not (tmp_path / "stopped").exists()


def test_training_keeps_its_first_evaluation_as_the_before(train_rows, tmp_path):
    first = evaluate(ScriptedPolicy(train_rows, answer_only), train_rows, progress=False)
    later = evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False)
    assert save_before_after(run_dir=tmp_path, before=first) is None  # nothing to compare yet
    assert (tmp_path / "eval" / "before" / "eval.json").is_file() and load_comparison(tmp_path) is None
    table = save_before_after(run_dir=tmp_path, after=later)  # a later evaluation meets the saved before
    assert table.before.metrics == first.metrics and table.after.metrics == later.metrics
    assert load_comparison(tmp_path).rows == table.rows == compare(first, later).rows
    # Without a saved before, an after is kept but not compared.
    assert save_before_after(tmp_path / "other", after=later) is None
    assert (tmp_path / "other" / "after" / "eval.json").is_file() and not (tmp_path / "other" / "eval.json").exists()
    with pytest.raises(ValueError, match="needs a folder"):
        save_before_after(after=later)


def test_comparison_read_back_from_any_eval_json(train_rows, tmp_path):
    assert load_comparison(tmp_path) is None
    evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False).save(tmp_path)
    single = load_comparison(tmp_path)  # one evaluation: its metrics are the after column
    assert not single.complete and all(r["before"] is None for r in single.rows)
    assert {r["metric"]: r["after"] for r in single.rows}["correctness"] == 1.0
    (tmp_path / "eval.json").write_text("{broken")
    with pytest.raises(EvalError, match="eval.json: line 1"):
        load_comparison(tmp_path)
    # Rows of an older or edited file: malformed rows are skipped, numbers checked, directions from METRICS.
    table = Comparison.from_dict({"labels": ["a", "b"], "comparison": {"rows": [
        {"metric": "correctness", "before": 0.5, "after": 1}, {"before": 1.0}, "x",
        {"metric": "avg_turns", "before": "many", "after": 2.0, "better": "sideways"}]}})
    assert table.labels == ("a", "b") and [r["metric"] for r in table.rows] == ["correctness", "avg_turns"]
    assert table.rows[0]["delta"] == 0.5 and table.rows[0]["better"] == "higher"
    assert table.rows[1]["before"] is None and table.rows[1]["delta"] is None and table.rows[1]["better"] == "lower"


def test_comparison_shows_both_rules_and_the_native_format_by_kind(train_rows, tmp_path):
    before = evaluate(ScriptedPolicy(train_rows, answer_only), train_rows, progress=False)
    after = evaluate(ScriptedPolicy(train_rows, oracle), train_rows, progress=False)
    table = compare(before, after)
    by_name = {r["metric"]: r for r in table.rows}
    assert by_name["ast_accuracy"]["after"] == 1.0 and by_name["ast_accuracy"]["better"] == "higher"
    assert by_name["native_format_rate"]["before"] is None and by_name["native_format_rate"]["after"] == 1.0
    assert [r["metric"] for r in table.rows].index("ast_accuracy") == 1  # next to correctness
    md = (table.save(tmp_path) / "eval.md").read_text()
    n_single = after.breakdown["kind"]["single"]["tasks"]
    single = before.breakdown["kind"]["single"]
    assert "By kind (before → after):" in md
    assert (f"| single | {n_single} | 0.000 → 1.000 | {single['ast_accuracy']:.3f} → 1.000 | 0.000 → 1.000 | "
            f"n/a → n/a | n/a → 0.000 | n/a → 1.000 |") in md
    assert "By difficulty (before → after):" in md


def test_results_saved_before_the_native_format_rename_still_compare(tmp_path):
    """Files written when the native-format rate was called tagged_call_rate read under its current name."""
    old = {"metrics": {"correctness": 0.5, "tagged_call_rate": 0.25},
           "breakdown": {"kind": {"single": {"tasks": 2, "tagged_call_rate": 0.25}}}}
    (tmp_path / "eval.json").write_text(json.dumps(old))
    loaded = EvalResult.load(tmp_path)
    assert loaded.metrics == {"correctness": 0.5, "native_format_rate": 0.25}
    assert loaded.breakdown["kind"]["single"] == {"tasks": 2, "native_format_rate": 0.25}
    table = compare(tmp_path, {"correctness": 1.0, "native_format_rate": 1.0})
    assert {r["metric"]: r["before"] for r in table.rows} == {"correctness": 0.5, "native_format_rate": 0.25}
    saved = Comparison.from_dict({"comparison": {"rows": [{"metric": "tagged_call_rate", "before": 0, "after": 1}]}})
    assert [(r["metric"], r["better"]) for r in saved.rows] == [("native_format_rate", "higher")]


# --------------------------------------------------------------------------------------------- bad input


def test_bad_paths_and_tasks(task_dir, tmp_path, tiny_model):
    with pytest.raises(EvalError, match="no such model, adapter or run folder"):
        evaluate(str(tmp_path / "missing"), task_dir, progress=False)
    with pytest.raises(EvalError, match="not a model folder"):
        evaluate(str(tmp_path), task_dir, progress=False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "status.json").write_text('{"state": "running"}')
    with pytest.raises(EvalError, match="no final adapter yet \\(status: running\\)"):
        evaluate(str(tmp_path / "run"), task_dir, progress=False)
    with pytest.raises(TaskError, match="not a task dataset"):
        evaluate(tiny_model, tmp_path / "run", progress=False)
    with pytest.raises(TaskError, match="no split 'validation'"):
        evaluate(tiny_model, task_dir, split="validation", progress=False)
    with pytest.raises(EvalError, match="no such task dataset folder"):
        evaluate(tiny_model, str(tmp_path / "nothing"), progress=False)
    with pytest.raises(EvalError, match="limit must be at least 1"):
        evaluate(tiny_model, task_dir, limit=0, progress=False)


# --------------------------------------------------------------------------------------------- the tiny model


def test_tiny_model_batched_equals_one_by_one(tiny_model, task_dir):
    batched = evaluate(tiny_model, task_dir, progress=False, max_new_tokens=8, batch_size=4)
    single = evaluate(LocalChatModel(loaded=tiny_model), task_dir, progress=False, max_new_tokens=8, batch_size=1)
    n_test = len(load_tasks(task_dir, split="test"))
    assert batched.metrics["tasks"] == n_test
    assert [t.to_dict()["turns"] for t in batched.traces] == [t.to_dict()["turns"] for t in single.traces]
    assert all(t.turns[0].prompt_tokens > 50 and 1 <= t.turns[0].completion_tokens <= 8 for t in batched.traces)
    assert batched.info["max_turns"] == 3 and batched.info["split"] == "test"


def test_a_stopped_evaluation_ends_early_and_says_how_far_it_got(tiny_model, train_rows):
    """Stopped from another thread (a Stop button), the evaluation ends within one token, not after its tasks."""
    import threading

    from toolbrain_hub.stopping import Stopped

    model, _ = tiny_model
    stop, forwards = threading.Event(), []

    def count(*_):
        forwards.append(1)
        if len(forwards) == 5:  # a few tokens into the first batch
            stop.set()

    hook = model.register_forward_hook(count)
    try:
        with pytest.raises(Stopped, match=rf"^evaluation stopped after 0 of {len(train_rows)} tasks$"):
            evaluate(tiny_model, train_rows, max_new_tokens=64, batch_size=2, progress=False, should_stop=stop.is_set)
    finally:
        hook.remove()
    assert len(forwards) == 5  # the generation ended at the next token; no other batch started
    # Episodes through a ChatModel (an endpoint, a teacher) stop between batches.
    policy = ScriptedPolicy(train_rows, answer_only)  # answers at once: an episode per reply
    with pytest.raises(Stopped, match=rf"^eval stopped after 2 of {len(train_rows)} episodes$"):
        evaluate(policy, train_rows, batch_size=2, progress=False, should_stop=lambda: len(policy.seen_tools) >= 2)
    assert len(policy.seen_tools) == 2 < len(train_rows)  # one batch of replies, then the stop


def test_episodes_are_token_identical_to_the_deployed_agent(tiny_model_dir, train_rows):
    """A scripted generator stands in for the model: evaluation shows it exactly the prompt ids the smolagents agent
    built by `build_agent` shows it (and the agent-spec tests show those are the ids TRL trains on)."""
    from toolbrain_hub.agent import AgentSpec, SpecModel, build_agent
    from toolbrain_hub.environment import make_environment_factory
    from toolbrain_hub.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    rows = [r for r in train_rows if r["kind"] == "multi"][:1] + [r for r in train_rows if r["kind"] == "no_tool"][:1]
    system = rows[0]["prompt"][0]["content"]
    spec = AgentSpec.for_training(str(tiny_model_dir), tokenizer, make_environment_factory(TOOLS),
                                  system_prompt=system, max_turns=3, max_new_tokens=64)
    by_query = {r["query"]: r for r in rows}

    def scripted(record):
        def generate(prompt_ids):
            record.append(list(prompt_ids))
            text = tokenizer.decode(prompt_ids)
            row = next(r for q, r in by_query.items() if q in text)
            turn = text.count("<|im_start|>assistant") - 1
            if turn == 0 and _expected(row):
                reply = _tagged(_expected(row))
            else:
                reply = f"All done: {row['gold_answer']}" if row["gold_answer"] else "All done."
            return tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id]
        return generate

    seen_by_eval: list[list[int]] = []
    result = evaluate(SpecModel(spec, tokenizer=tokenizer, generate_fn=scripted(seen_by_eval)), rows,
                      progress=False, implementations=IMPLEMENTATIONS, batch_size=1)
    assert result.metrics["correctness"] == 1.0
    seen_by_agent: list[list[int]] = []
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=scripted(seen_by_agent),
                        verbosity_level=-1)
    for row, trace in zip(rows, result.traces, strict=True):
        assert agent.run(row["query"]) == trace.final_answer
    assert len(seen_by_eval) == 3  # two turns for the tool task, one for the negative
    assert sorted(seen_by_eval) == sorted(seen_by_agent)  # evaluation batches by turn, the agent runs one task


# Another task set's idea of `get_weather` (a required location and days), and a tool the agent never saw.
OTHER_TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Forecast for a location over the next days",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "Place name"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7, "description": "Days ahead"}},
            "required": ["location", "days"]}}},
    {"type": "function", "function": {
        "name": "find_recipe", "description": "Find a recipe by its main ingredient",
        "parameters": {"type": "object", "properties": {"ingredient": {"type": "string"}},
                       "required": ["ingredient"]}}},
]


def _other_rows():
    def row(i, query, calls, tools, kind):
        return {"id": f"other-{i}", "query": query, "prompt": [{"role": "user", "content": query}],
                "tools": json.dumps(tools), "expected_calls": json.dumps(calls), "gold_answer": "",
                "difficulty": "easy", "kind": kind, "split": "test", "generator": "hand"}

    return [row(0, "Forecast for Oslo, next 3 days?", [{"name": "get_weather",
                                                         "arguments": {"location": "Oslo", "days": 3}}],
                OTHER_TOOLS, "single"),
            row(1, "A recipe with leeks?", [{"name": "find_recipe", "arguments": {"ingredient": "leeks"}}],
                OTHER_TOOLS[1:], "single")]


def test_an_agent_is_evaluated_on_another_task_set_with_the_tasks_own_tools(tiny_model_dir):
    """An agent trained on one tool set runs another task set: each task's own tools (here a `get_weather` with
    another schema, and a tool the agent never saw) are rendered in its prompt and validate its calls, while the
    agent keeps its own prompt format (system prompt, chat template)."""
    from toolbrain_hub.agent import AgentSpec, SpecModel
    from toolbrain_hub.environment import make_environment_factory
    from toolbrain_hub.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    spec = AgentSpec.for_training(str(tiny_model_dir), tokenizer, make_environment_factory(TOOLS),
                                  system_prompt="You are the weather desk agent.", max_turns=2, max_new_tokens=64)
    rows = _other_rows()
    by_query = {r["query"]: r for r in rows}
    prompts: list[str] = []

    def generate(prompt_ids):
        text = tokenizer.decode(prompt_ids)
        prompts.append(text)
        row = next(r for q, r in by_query.items() if q in text)
        reply = _tagged(_expected(row)) if "<tool_response>" not in text else "Done."
        return tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id]

    result = evaluate(SpecModel(spec, tokenizer=tokenizer, generate_fn=generate), rows, progress=False)
    # the calls are right by the tasks' schemas (by the agent's own `get_weather` the first would lack `city`)
    assert result.metrics["correctness"] == 1.0 and result.metrics["invalid_call_rate"] == 0.0
    assert result.info["tools_source"] == "tasks" and result.info["tools"] == "schema-only"
    assert result.info["tool_sets"] == 2
    assert "Tools: from the tasks · calls: schema-only" in result.to_markdown()
    first = [p for p in prompts if "Oslo" in p]
    second = [p for p in prompts if "leeks" in p]
    assert first and second
    assert all("You are the weather desk agent." in p for p in prompts)  # the agent's own system prompt
    assert all("Forecast for a location over the next days" in p and "find_recipe" in p for p in first)
    assert all("Get the current weather for a city" not in p and "convert_currency" not in p for p in prompts)
    assert all("find_recipe" in p and "get_weather" not in p for p in second)


def test_rows_of_a_routed_training_split_evaluate(train_rows):
    """Rows that went through training's routing carry an `environment` column: evaluation routes them again."""
    from toolbrain_hub.environment import make_routed_environments

    routed, _ = make_routed_environments(train_rows[:3])
    policy = ScriptedPolicy(train_rows, oracle)
    result = evaluate(policy, routed, progress=False)
    assert result.metrics["correctness"] == 1.0 and result.info["tools_source"] == "tasks"


def _make_adapter(tiny_model_dir, folder, task_dir):
    """A LoRA adapter made with peft on the tiny model (random, non-zero update) and an agent spec beside it."""
    import torch
    from peft import LoraConfig, get_peft_model

    from toolbrain_hub.agent import AgentSpec
    from toolbrain_hub.environment import make_environment_factory
    from toolbrain_hub.models import load_model
    from toolbrain_hub.tasks import DEFAULT_SYSTEM_PROMPT, load_task_tools

    torch.manual_seed(0)
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(str(folder))
    spec = AgentSpec.for_training(str(tiny_model_dir), tokenizer,
                                  make_environment_factory(load_task_tools(task_dir)),
                                  system_prompt=DEFAULT_SYSTEM_PROMPT, max_turns=2, max_new_tokens=10)
    spec.save(folder)
    return spec


@pytest.mark.numeric  # greedy text of a random adapter from two code paths: equal only if their arithmetic agrees
def test_lora_adapter_folder_end_to_end(tiny_model_dir, tiny_model, task_dir, tmp_path):
    from peft import PeftModel

    from toolbrain_hub.agent import build_agent

    folder = tmp_path / "adapter"
    spec = _make_adapter(tiny_model_dir, folder, task_dir)
    policy = load_policy(str(folder), device="cpu")
    assert isinstance(policy.model, PeftModel) and policy.spec == spec
    after = evaluate(str(folder), task_dir, progress=False)
    before = evaluate(tiny_model, task_dir, progress=False, max_turns=2, max_new_tokens=10)
    assert after.info["max_turns"] == 2 and after.info["max_new_tokens"] == 10  # the adapter's spec settings
    texts_after = [t.turns[0].text for t in after.traces]
    assert texts_after != [t.turns[0].text for t in before.traces]  # the adapter changes what the model writes
    # The deployed agent with the same adapter writes the same first turn (greedy, same prompt ids).
    agent = build_agent(policy.spec, policy.model, policy.tokenizer, tools=IMPLEMENTATIONS, verbosity_level=-1)
    row = dict(load_tasks(task_dir, split="test")[0])
    agent.run(row["query"], max_steps=1)
    deployed = Trace.from_smolagents(agent)
    assert deployed.turns[0].text == after.traces[0].turns[0].text


# --------------------------------------------------------------------------------------------- a real training run


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, task_dir, tmp_path_factory):
    from toolbrain_hub.training import train

    out = tmp_path_factory.mktemp("eval-run") / "run"
    train({"algorithm": "grpo", "model": str(tiny_model_dir), "tasks": str(task_dir), "max_steps": 3,
           "num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 12, "device": "cpu",
           "save_steps": 0, "output_dir": str(out), "lora": {"r": 4, "alpha": 8}}, progress=False)
    return out


def test_training_run_folder_evaluates_and_plots(trained_run, task_dir, tmp_path):
    from peft import PeftModel

    from toolbrain_hub.agent import AgentSpec
    from toolbrain_hub.runs.plots import plot_reward_curves, reward_curve_data

    policy = load_policy(str(trained_run), device="cpu")
    assert isinstance(policy.model, PeftModel)
    assert policy.spec == AgentSpec.load(trained_run / "adapter")
    result = evaluate(str(trained_run), task_dir, progress=False, limit=3)
    assert result.metrics["tasks"] == len(result.traces) == 3
    assert result.info["model"] == str(trained_run) and result.info["max_turns"] == policy.spec.max_turns
    assert sum(g["tasks"] for g in result.breakdown["kind"].values()) == 3
    # The reward curve of the run has one point per logged training step.
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train_steps = [r["step"] for r in rows if r.get("kind") == "train" and "reward" in r]
    data = reward_curve_data(trained_run)
    assert data["rewards"]["reward"]["steps"] == train_steps and len(train_steps) == 3
    assert len(data["loss"]["steps"]) == len([r for r in rows if "loss" in r])
    png = plot_reward_curves(trained_run, tmp_path / "curve.png")
    assert png.stat().st_size > 5000


def test_the_baseline_runs_with_the_agents_episode_limits(trained_run, train_rows, tmp_path):
    from toolbrain_hub.agent import AgentSpec

    spec = AgentSpec.load(trained_run / "adapter")
    assert source_spec(str(trained_run)) == spec == source_spec(trained_run / "adapter")  # no weights loaded
    assert source_spec("tiny-random-qwen2") is None and source_spec(ScriptedPolicy(train_rows, oracle)) is None
    with pytest.raises(EvalError, match="no such model, adapter or run folder"):
        source_spec(str(tmp_path / "missing"))
    table = evaluate_before_after(str(trained_run), ScriptedPolicy(train_rows, oracle), train_rows[:2],
                                  folder=tmp_path / "out", progress=False)
    assert table.before.info["max_turns"] == table.after.info["max_turns"] == spec.max_turns
    assert table.before.info["max_new_tokens"] == table.after.info["max_new_tokens"] == spec.max_new_tokens == 12
    assert (tmp_path / "out" / "before" / "eval.json").is_file() and (tmp_path / "out" / "eval.json").is_file()


def _cli(*args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    code = "import sys; from toolbrain_hub.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1], timeout=300)


@pytest.mark.slow  # two CLI processes, each importing torch/transformers and loading models
def test_cli_eval_before_after(trained_run, task_dir, tiny_model_dir, tmp_path):
    done = _cli("eval", str(trained_run), "--tasks", str(task_dir), "--baseline", str(tiny_model_dir), "--limit", "2",
                "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "| correctness ↑ |" in done.stdout and f"before: {tiny_model_dir}" in done.stdout
    assert not (trained_run / "eval.json").exists()  # the run's own evaluation (what `publish` reads) is untouched
    (folder,) = (trained_run / "eval").glob(f"{task_dir.name}-*")  # a folder of its own, named for the tasks
    assert f"results written to {folder}" in done.stdout
    saved = json.loads((folder / "eval.json").read_text())
    assert saved["num_tasks"] == 2 and saved["split"] == "test"
    assert [r["metric"] for r in saved["comparison"]["rows"]] == list(METRICS)
    assert saved["before"]["max_turns"] == saved["after"]["max_turns"]  # the baseline runs with the run's limits
    assert saved["before"]["max_new_tokens"] == saved["after"]["max_new_tokens"] == 12
    for name in ("eval.json", "eval.md", "eval_comparison.png", "after/traces.jsonl", "before/eval.json"):
        assert (folder / name).is_file(), name

    out = tmp_path / "single"
    done = _cli("eval", str(tiny_model_dir), "--tasks", str(task_dir), "--limit", "1", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert printed["metrics"]["tasks"] == 1
    assert EvalResult.load(out).metrics == printed["metrics"]


def test_cli_eval_of_a_run_on_another_task_set_keeps_the_runs_evaluation(trained_run, tmp_path):
    """`eval RUN --tasks OTHER` runs the other tasks with their own tools (it exited 2 before: "row 0 lists tools
    [...] that the environment does not provide"), and without --out writes beside, never over, the run's
    eval.json."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    own = json.dumps({"metrics": {"correctness": 0.5}, "info": {"model": "the training's evaluation"}})
    (run / "eval.json").write_text(own)
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / "eval.json").write_text(own)
    other = tmp_path / "travel-tasks"
    generate_tasks(Path(__file__).with_name("data") / "travel_tools.json", num=6, seed=0, test_size=0.5,
                   progress=False).save(other)
    done = _cli("eval", str(run), "--tasks", str(other), "--limit", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (run / "eval.json").read_text() == own and (run / "eval" / "eval.json").read_text() == own
    (folder,) = (run / "eval").glob("travel-tasks-*")
    assert f"results written to {folder}" in done.stdout and "Tools: from the tasks · calls: schema-only" in done.stdout
    result = EvalResult.load(folder)
    assert result.metrics["tasks"] == 2 and result.info["tools_source"] == "tasks"


def test_a_new_eval_folder_never_reuses_one(tmp_path):
    from toolbrain_hub.cli.evaluate import new_eval_folder

    first = new_eval_folder(tmp_path, "user/my tasks")
    assert first.parent == tmp_path / "eval" and first.name.startswith("my-tasks-")
    first.mkdir(parents=True)
    second = new_eval_folder(tmp_path, "user/my tasks")
    assert second != first and not second.exists()
    assert new_eval_folder(tmp_path, "./before").name.startswith("tasks-before-")  # the training's own folders


def test_cli_bad_input_exits_2(task_dir, tiny_model_dir, tmp_path):
    missing = _cli("eval", str(tmp_path / "nope"), "--tasks", str(task_dir))
    assert missing.returncode == 2 and "error:" in missing.stderr and "no such model" in missing.stderr
    assert "Traceback" not in missing.stderr
    not_tasks = _cli("eval", str(tiny_model_dir), "--tasks", str(tiny_model_dir))
    assert not_tasks.returncode == 2 and "not a task dataset" in not_tasks.stderr
    split = _cli("eval", str(tiny_model_dir), "--tasks", str(task_dir), "--split", "dev")
    assert split.returncode == 2 and "no split 'dev'" in split.stderr
    limit = _cli("eval", str(tiny_model_dir), "--tasks", str(task_dir), "--limit", "0")
    assert limit.returncode == 2 and "must be at least 1" in limit.stderr


@pytest.mark.default_model
def test_default_model_calls_are_scored(default_model_dir, train_rows):
    """The real default model writes its calls as bare or fenced JSON (FACTS.md): evaluation still sees them."""
    rows = [r for r in train_rows if r["kind"] == "single"][:2]
    # One turn is enough to see the calls (they are scored even though the last turn's calls do not run).
    result = evaluate(str(default_model_dir), rows, progress=False, max_turns=1, max_new_tokens=40, batch_size=2)
    assert result.metrics["tasks"] == 2
    assert result.metrics["tool_name_accuracy"] >= 0.5  # zero-shot it names the right tool for plain requests
    assert result.metrics["invalid_call_rate"] is not None and result.metrics["avg_tool_calls"] >= 0.5
    called = [t for t in result.traces if t.calls]
    assert called and all(t.turns[0].format in ("tagged", "fenced", "bare") for t in called)


# --------------------------------------------------------------------------------------------- email tasks, a judge


def _email_agent(row, turn, messages):
    """Searches, then answers: right for e1, wrong for e2, "I don't know" for e3, a guess for e4 (no gold)."""
    from email_rows import INBOX

    if turn == 0:
        return _tagged([{"name": "search_emails", "arguments": {"inbox": INBOX, "keywords": row["query"].split()[:2]}}])
    if turn == 1:
        answer = {"e1": "The Q3 review is on May 14, 2001.", "e2": "$52 million", "e3": "I don't know."}.get(
            row["id"], "Probably Houston.")
        return _tagged([{"name": "return_final_answer", "arguments": {"answer": answer, "sources": []}}])
    return "Done."


def _email_rows():
    from email_rows import ROWS, email_row

    return [*ROWS, email_row("Who approved the budget?", "Sara Shackleton", [], row_id="e3"),
            email_row("Where is the offsite?", "", [], row_id="e4")]


def test_email_tasks_are_tool_tasks_scored_by_their_answer():
    from email_rows import IMPLEMENTATIONS

    rows = _email_rows()
    result = evaluate(ScriptedPolicy(rows, _email_agent), rows, progress=False, implementations=IMPLEMENTATIONS,
                      max_turns=4)
    by_id = {r["id"]: r for r in result.rows}
    assert all(r["needs_tools"] and r["expected"] == 0 and r["call_match_score"] is None for r in result.rows)
    assert [by_id[i]["answer_rung"] for i in ("e1", "e2", "e3", "e4")] == ["right", "wrong", "no_answer", "wrong"]
    assert by_id["e1"]["correct"] and by_id["e1"]["ast_correct"] and by_id["e1"]["answer_correct"]
    assert by_id["e1"]["final_answer"] == "The Q3 review is on May 14, 2001."  # the submitted answer, not "Done."
    assert not by_id["e3"]["attempted"] and by_id["e2"]["attempted"] and by_id["e4"]["answer_correct"] is None
    m = result.metrics
    assert m["no_tool_precision"] is None  # no email task counts as a no-tool task
    assert m["call_match_score"] is None and m["tool_call_accuracy"] is None
    assert m["correctness"] == m["ast_accuracy"] == 0.25 and m["no_answer_rate"] == 0.25
    assert m["hallucination_rate"] == pytest.approx(2 / 3) and m["avg_turns"] == 3.0
    assert not any(k.startswith("judged_") for k in m) and "judge_label" not in by_id["e1"]
    assert "judged_" not in result.to_markdown() and "judge" not in result.info


def test_evaluate_with_an_answer_judge_labels_every_answer(tmp_path):
    from email_rows import IMPLEMENTATIONS, fair_judge
    from openai_server import ScriptedOpenAIServer

    rows = _email_rows()
    policy = ScriptedPolicy(rows, _email_agent)
    with ScriptedOpenAIServer(fair_judge) as server:
        judged = evaluate(policy, rows, progress=False, implementations=IMPLEMENTATIONS, max_turns=4,
                          judge=server.url)
        assert server.request_count == 3  # e4 has no gold answer: nothing to judge against
    labels = {r["id"]: r["judge_label"] for r in judged.rows}
    assert labels == {"e1": "CORRECT", "e2": "INCORRECT", "e3": "NO_ANSWER", "e4": None}
    assert [t.metadata["judge_label"] for t in judged.traces] == list(labels.values())
    assert judged.traces[0].metadata["judge_explanation"] == "because"
    m = judged.metrics
    assert m["judged_tasks"] == 3 and m["judged_correct_rate"] == pytest.approx(1 / 3)
    assert m["judged_hallucination_rate"] == 0.5 and m["judged_no_answer_rate"] == pytest.approx(1 / 3)
    assert m["correctness"] == 0.25 and m["hallucination_rate"] == pytest.approx(2 / 3)  # unchanged by the judge
    assert judged.breakdown["kind"]["email_search"]["judged_correct_rate"] == pytest.approx(1 / 3)
    assert judged.info["judge"] == server.url and judged.info["judge_failures"] == 0
    assert "| judged_hallucination_rate | 0.500 |" in judged.to_markdown()
    # Saved and read back; compared with an evaluation without a judge, the judged rows have no "before".
    judged.save(tmp_path / "judged")
    loaded = EvalResult.load(tmp_path / "judged")
    assert loaded.metrics == judged.metrics and loaded.traces[1].metadata["judge_label"] == "INCORRECT"
    plain = evaluate(policy, rows, progress=False, implementations=IMPLEMENTATIONS, max_turns=4)
    table = compare(plain, loaded)
    rows_by_name = {r["metric"]: r for r in table.rows}
    assert list(rows_by_name)[: len(METRICS)] == list(METRICS)
    assert rows_by_name["judged_hallucination_rate"] == {"metric": "judged_hallucination_rate", "before": None,
                                                         "after": 0.5, "delta": None, "better": "lower"}
    assert [r["metric"] for r in compare(plain, plain).rows] == list(METRICS)


def test_a_judge_that_gives_no_label_leaves_the_task_unlabelled(caplog):
    import logging

    from email_rows import IMPLEMENTATIONS, asked, fair_judge
    from openai_server import ScriptedOpenAIServer

    from toolbrain_hub.rewards import AnswerJudge

    rows = _email_rows()[:2]

    def flaky(body):
        return "hmm, hard to say" if asked(body)["gold"] == "$25 million" else fair_judge(body)

    with ScriptedOpenAIServer(flaky) as server, caplog.at_level(logging.WARNING):
        result = evaluate(ScriptedPolicy(rows, _email_agent), rows, progress=False, implementations=IMPLEMENTATIONS,
                          max_turns=4, judge=AnswerJudge(server.url, max_retries=1))
    assert [r["judge_label"] for r in result.rows] == ["CORRECT", None]
    assert result.info["judge_failures"] == 1 and "judge gave no label for task 'e2'" in caplog.text
    assert result.metrics["judged_tasks"] == 1 and result.metrics["judged_hallucination_rate"] == 0.0
    with pytest.raises(EvalError, match="judge must be"):
        evaluate(ScriptedPolicy(rows, _email_agent), rows, progress=False, judge=42)


@pytest.fixture(scope="module")
def email_agent_dir(tmp_path_factory):
    """A pinned tiny model that answers every email question "May 14, 2001" (citing the Q3 email), then "Done."."""
    from toolbrain_hub.models.tiny import build_pinned_model

    call = {"name": "return_final_answer", "arguments": {"answer": "May 14, 2001",
                                                         "sources": ["<1001.JavaMail.evans@thyme>"]}}
    return build_pinned_model(tmp_path_factory.mktemp("email-agent"), first_reply=_tagged([call]),
                              after_tool_reply="Done.")


def test_a_tiny_model_evaluated_with_a_judge_in_python_and_on_the_command_line(email_agent_dir, tmp_path, capsys):
    from datasets import Dataset
    from email_rows import IMPLEMENTATIONS, ROWS, fair_judge
    from openai_server import ScriptedOpenAIServer

    from toolbrain_hub.cli import main

    with ScriptedOpenAIServer(fair_judge) as server:
        result = evaluate(str(email_agent_dir), ROWS, progress=False, implementations=IMPLEMENTATIONS,
                          judge=server.url, device="cpu")
        # The same agent from the command line, on the rows saved as a task dataset, the tools from a file.
        folder = tmp_path / "email-tasks"
        (folder / "data").mkdir(parents=True)
        Dataset.from_list([{**r, "split": "test", "generator": "test"} for r in ROWS]).to_parquet(
            folder / "data" / "test-00000.parquet")
        code = main(["eval", str(email_agent_dir), "--tasks", str(folder), "--judge", server.url, "--implementations",
                     str(Path(__file__).with_name("email_rows.py")), "--device", "cpu", "--no-progress", "--json"])
    assert [r["judge_label"] for r in result.rows] == ["CORRECT", "INCORRECT"]
    assert [t.calls[0].name for t in result.traces] == ["return_final_answer"] * 2
    assert [r["answer_rung"] for r in result.rows] == ["right", "wrong"]
    m = result.metrics
    assert (m["judged_correct_rate"], m["judged_hallucination_rate"], m["judged_no_answer_rate"]) == (0.5, 0.5, 0.0)
    assert m["no_tool_precision"] is None and m["correctness"] == 0.5 and m["avg_turns"] == 2.0
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"]["judged_hallucination_rate"] == 0.5 and printed["metrics"]["tasks"] == 2


def test_a_local_model_named_as_the_judge_runs_here(tiny_model_dir):
    from email_rows import IMPLEMENTATIONS

    rows = _email_rows()[:1]
    result = evaluate(ScriptedPolicy(rows, _email_agent), rows, progress=False, implementations=IMPLEMENTATIONS,
                      max_turns=4, judge=str(tiny_model_dir), device="cpu")
    # The random tiny model's replies are noise: labelled or counted as a failure, never a silent label.
    label = result.rows[0]["judge_label"]
    assert label in (None, "CORRECT", "INCORRECT", "NO_ANSWER")
    assert result.info["judge_failures"] == (label is None) and result.info["judge"] == str(tiny_model_dir)
    assert result.info["judge_stats"]["calls"] >= 1 and result.info["judge_stats"]["completion_tokens"] > 0

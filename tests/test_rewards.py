"""Tests for the built-in rewards, their combination, and their wrapping into TRL reward functions."""

from __future__ import annotations

import json
import math

import pytest

from toolbrain_hub.rewards import (
    REWARDS,
    RewardError,
    answer_exact,
    answer_match,
    ast_match,
    batch_reward,
    call_similarity,
    combine,
    expected_calls_match,
    format_reward,
    get_reward,
    invented_tool_penalty,
    same_typed_value,
    schema_valid_rate,
    score,
    step_efficiency,
    to_trl_reward,
    to_trl_rewards,
    tool_success_rate,
    unneeded_tool_penalty,
)
from toolbrain_hub.tools import load_tools
from toolbrain_hub.traces import ToolCall, Trace, parse_tool_calls, read_calls

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city name"},
                    "unit": {"type": "string", "enum": ["C", "F"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
]
PARIS = json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}])
ROW = {"id": "w1", "tools": json.dumps(TOOLS), "expected_calls": PARIS, "gold_answer": "Sunny, 21 C", "kind": "single"}
NO_TOOL_ROW = {
    "id": "n1", "tools": json.dumps(TOOLS), "expected_calls": "[]", "gold_answer": "Hello!", "kind": "no_tool"
}


def episode(*replies: str, results: list[str] | None = None, query: str = "Weather in Paris?") -> Trace:
    """A trace from raw model replies: each reply is parsed like a rollout would; `results` answer the calls."""
    results = list(results or [])
    messages = [{"role": "user", "content": query}]
    for reply in replies:
        message = parse_tool_calls(reply).to_message()
        messages.append(message)
        for call in message.get("tool_calls", []):
            if results:  # calls beyond the given results were not executed
                messages.append({"role": "tool", "name": call["function"]["name"], "content": results.pop(0)})
    return Trace.from_messages(messages, task_id="w1")


TAGGED_PARIS = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
GOOD = episode(TAGGED_PARIS, "Sunny, 21 C", results=["Sunny, 21 C"])


# ---------------------------------------------------------------------------------------------------------------------
# Answers


def test_answer_exact_and_normalized():
    assert answer_exact(GOOD, **ROW) == 1.0
    loose = episode(TAGGED_PARIS, "  sunny 21 c. ", results=["Sunny, 21 C"])
    assert answer_exact(loose, **ROW) == 0.0
    assert answer_match(loose, **ROW) == 1.0
    wrong = episode(TAGGED_PARIS, "Rainy, 12 C", results=["Rainy, 12 C"])
    assert answer_exact(wrong, **ROW) == 0.0 and answer_match(wrong, **ROW) == 0.0
    assert answer_match(episode("The answer: 42.0"), gold_answer="The answer: 42") == 0.0  # text differs
    assert answer_match(episode("42.0"), gold_answer="42") == 1.0  # numbers compare as numbers
    assert answer_match(episode("An apple"), gold_answer="apple") == 1.0
    # No final answer (ended on a call) and no gold answer both give 0.
    assert answer_match(episode(TAGGED_PARIS, results=["x"]), **ROW) == 0.0
    assert answer_match(GOOD, gold_answer=None) == 0.0


def test_answer_reward_needs_its_column():
    with pytest.raises(RewardError, match=r"reward 'answer_match' needs the dataset column 'gold_answer'"):
        answer_match(GOOD, id="w1")


# ---------------------------------------------------------------------------------------------------------------------
# Expected calls


def test_expected_calls_partial_credit():
    assert expected_calls_match(GOOD, **ROW) == 1.0
    case_only = episode(
        '<tool_call>{"name": "get_weather", "arguments": {"city": " paris "}}</tool_call>', results=["x"]
    )
    assert expected_calls_match(case_only, **ROW) == 1.0  # case and spacing of strings do not count
    # Anything short of right earns at most PARTIAL_CREDIT (0.5) x the similarity.
    wrong_city = episode('<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>', results=["x"])
    assert expected_calls_match(wrong_city, **ROW) == 0.25  # right tool (half), wrong argument
    extra_arg = episode(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "F"}}</tool_call>', results=["x"]
    )
    assert expected_calls_match(extra_arg, **ROW) == 0.375  # 1 of 2 keys matches
    wrong_tool = episode('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', results=["3"])
    assert expected_calls_match(wrong_tool, **ROW) == 0.0
    repeated = episode(TAGGED_PARIS, TAGGED_PARIS, "Sunny", results=["Sunny", "Sunny"])
    assert expected_calls_match(repeated, **ROW) == 0.25  # the repeat halves the partial credit
    none_made = episode("It is sunny.")
    assert expected_calls_match(none_made, **ROW) == 0.0
    malformed = episode('<tool_call>{"name": "get_weather", "arguments": {"city": }}</tool_call>')
    assert expected_calls_match(malformed, **ROW) == 0.0


def test_expected_calls_full_credit_only_for_calls_that_ran_validly():
    rejected = "{'error': 'invalid arguments for get_weather'}"
    # The environment rejected the call (out of the enum): REJECTED_SHARE (0.5) of the partial credit.
    out_of_enum = episode(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "K"}}</tool_call>',
        results=[rejected],
    )
    assert expected_calls_match(out_of_enum, **ROW) == 0.5 * 0.5 * 0.75
    # Equal to the expected call up to case, but the enum is case-sensitive: never full credit.
    row = {**ROW, "expected_calls": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}])}
    lower = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}</tool_call>'
    assert expected_calls_match(episode(lower, results=[rejected]), **row) == 0.25
    # Judged by the schema too, when the call never ran (e.g. the last turn TRL did not execute) ...
    assert expected_calls_match(episode(lower), **row) == 0.25
    # ... and by the result alone when the row does not list its tools.
    no_tools = {k: v for k, v in row.items() if k != "tools"}
    assert expected_calls_match(episode(lower), **no_tools) == 1.0
    assert expected_calls_match(episode(lower, results=[rejected]), **no_tools) == 0.25
    # A tool that failed for a right call is not a right call either.
    assert expected_calls_match(episode(TAGGED_PARIS, results=["{'error': 'timeout'}"]), **ROW) == 0.25


def test_expected_calls_several_calls_any_order_and_no_tool_tasks():
    row = {"expected_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "get_weather", "parameters": {
        "city": "Oslo"}}]}
    both = episode(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
        '<tool_call>{"name": "add", "arguments": {"a": 1, "b": "2"}}</tool_call>',
        results=["cold", "3"],
    )
    assert expected_calls_match(both, **row) == 1.0
    # With the tools known, "2" is not an integer: the schema rejects that call, so one of two is right.
    assert expected_calls_match(both, **row, tools=ROW["tools"]) == 0.5 * (1.0 + 0.5) / 2
    one = episode('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', results=["3"])
    assert expected_calls_match(one, **row) == 0.25
    assert expected_calls_match(episode("Hello!"), **NO_TOOL_ROW) == 1.0
    assert expected_calls_match(GOOD, **NO_TOOL_ROW) == 0.0


def test_expected_calls_bad_column_is_a_clear_error():
    with pytest.raises(RewardError, match=r"'expected_calls'.*task 'w1'.*not valid JSON"):
        expected_calls_match(GOOD, id="w1", expected_calls="[{name: x}]")
    with pytest.raises(RewardError, match=r"task 'w1'.*missing tool name"):
        expected_calls_match(GOOD, id="w1", expected_calls='[{"arguments": {}}]')
    with pytest.raises(RewardError, match=r"needs the dataset column 'expected_calls'"):
        expected_calls_match(GOOD, id="w1")


# ---------------------------------------------------------------------------------------------------------------------
# The standard (AST) rule, and the reward for expected calls in the extended form

SPECS = {spec.name: spec for spec in load_tools(TOOLS)}


def _expect(**call) -> ToolCall:
    (expected,) = read_calls([call])
    return expected


def _ast(arguments: dict, expected: ToolCall, name: str | None = None, spec: bool = True) -> bool:
    return ast_match(ToolCall(name or expected.name, arguments), expected, SPECS[expected.name] if spec else None)


def test_same_typed_value_compares_by_json_type():
    assert same_typed_value(7, 7.0) and same_typed_value(0.1 + 0.2, 0.3)
    assert not same_typed_value("7", 7) and not same_typed_value(True, 1) and not same_typed_value(1, True)
    assert same_typed_value(" New  york", "new york") and not same_typed_value("New York", "NewYork")
    assert same_typed_value([1, "A"], [1.0, "a"]) and not same_typed_value([1, 2], [2, 1])
    assert same_typed_value({"a": [1]}, {"a": [1.0]}) and not same_typed_value({"a": 1}, {"a": 1, "b": None})
    assert same_typed_value(None, None) and not same_typed_value(None, "")


def test_ast_match_acceptable_values_and_optional_arguments():
    nyc = _expect(name="get_weather", arguments={"city": "New York"}, acceptable={"city": ["NYC"]})
    assert _ast({"city": "New York"}, nyc) and _ast({"city": "NYC"}, nyc) and _ast({"city": " new york "}, nyc)
    assert not _ast({"city": "Boston"}, nyc) and not _ast({}, nyc)  # a wrong value; the needed city missing
    assert not _ast({"city": "NYC"}, nyc, name="add")  # another tool
    # An argument the expected call does not name: free when the schema has it, with a value the schema accepts.
    assert _ast({"city": "NYC", "unit": "F"}, nyc)
    assert not _ast({"city": "NYC", "unit": "K"}, nyc)  # outside the enum
    assert not _ast({"city": "NYC", "unit": "f"}, nyc)  # the enum decides case, as the tool does
    assert not _ast({"city": "NYC", "country": "US"}, nyc)  # unknown to the schema
    # Optional with a reference value: left out, or one of its values.
    paris = _expect(name="get_weather", arguments={"city": "Paris", "unit": "C"}, optional=["unit"])
    assert _ast({"city": "Paris"}, paris) and _ast({"city": "Paris", "unit": "C"}, paris)
    assert not _ast({"city": "Paris", "unit": "F"}, paris)
    # Without the schema, only what the expected call names is known; optional without values takes any value.
    loose = _expect(name="get_weather", arguments={"city": "Paris"}, optional=["unit"])
    assert _ast({"city": "Paris", "unit": "kelvin"}, loose, spec=False)
    assert not _ast({"city": "Paris", "days": 3}, loose, spec=False)
    # Values by type: 1.0 is the integer 1, "1" is not; the schema's required arguments are needed.
    add = _expect(name="add", arguments={"a": 1, "b": 2})
    assert _ast({"a": 1.0, "b": 2}, add) and not _ast({"a": "1", "b": 2}, add)
    assert not _ast({"a": 1}, _expect(name="add", arguments={"a": 1, "b": 2}, optional=["b"]))  # the schema needs b


def test_the_exact_rule_is_unchanged_for_the_plain_form():
    plain = _expect(name="get_weather", arguments={"city": "Paris"})
    added = ToolCall("get_weather", {"city": "Paris", "unit": "F"})
    assert call_similarity(added, plain) == 0.75  # 1 of 2 keys, as before the extended form existed
    assert ast_match(added, plain, SPECS["get_weather"])  # the standard rule lets a valid optional argument pass
    assert call_similarity(ToolCall("add", {"a": 1, "b": "2"}), _expect(name="add", arguments={"a": 1, "b": 2})) == 1.0
    assert not ast_match(ToolCall("add", {"a": 1, "b": "2"}), _expect(name="add", arguments={"a": 1, "b": 2}))


def _tagged(*calls: dict) -> str:
    return "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)


def test_expected_calls_reward_accepts_acceptable_values_and_optional_arguments():
    canonical = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    plain = {**ROW, "expected_calls": json.dumps([canonical])}
    extended = {**ROW, "expected_calls": json.dumps([{**canonical, "acceptable": {"city": ["Paris, France"]},
                                                      "optional": ["unit"]}])}

    def reward(arguments: dict, row: dict, result: str = "ok") -> float:
        return expected_calls_match(episode(_tagged({"name": "get_weather", "arguments": arguments}), "Done.",
                                            results=[result]), **row)

    assert reward({"city": "Paris", "unit": "C"}, plain) == reward({"city": "Paris", "unit": "C"}, extended) == 1.0
    assert reward({"city": "Paris, France", "unit": "C"}, extended) == 1.0  # an acceptable value
    assert reward({"city": "Paris"}, extended) == 1.0  # an optional argument left out
    assert reward({"city": "Paris"}, plain) == 0.375  # the plain form scores as before: 1 of 2 keys
    assert reward({"city": "Paris", "unit": "F"}, extended) == 0.375  # a value not acceptable: partial credit
    assert reward({"city": "Lyon"}, extended) == 0.25  # optional left out, the needed one wrong
    # An argument the expected call does not name, with a value the schema accepts: not penalized in the extended
    # form (even with nothing listed), penalized in the plain form.
    open_row = {**ROW, "expected_calls": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"},
                                                      "optional": []}])}
    assert reward({"city": "Paris", "unit": "F"}, open_row) == 1.0
    assert reward({"city": "Paris", "unit": "F"}, ROW) == 0.375
    # Still only for calls that ran validly: the environment rejects "K"; the rejected call keeps REJECTED_SHARE.
    assert reward({"city": "Paris", "unit": "K"}, open_row, "{'error': 'invalid arguments'}") == 0.5 * 0.5


def test_expected_calls_parallel_calls_pair_each_expected_call_with_one_call():
    """Two calls of one tool, where one call fits both expected calls: a pairing that gives it to the wrong one
    would miss the other; every order of calls and of expected calls earns full credit, in one turn or two."""
    either = {"name": "get_weather", "arguments": {"city": "Springfield"}, "acceptable": {"city": ["Springfield, IL"]}}
    illinois = {"name": "get_weather", "arguments": {"city": "Springfield, IL"}}
    call_il = {"name": "get_weather", "arguments": {"city": "Springfield, IL"}}
    call_any = {"name": "get_weather", "arguments": {"city": "Springfield"}}
    for expected in ([either, illinois], [illinois, either]):
        row = {**ROW, "expected_calls": json.dumps(expected), "kind": "parallel"}
        for calls in ([call_il, call_any], [call_any, call_il]):
            assert expected_calls_match(episode(_tagged(*calls), "Done.", results=["a", "b"]), **row) == 1.0
            turns = episode(_tagged(calls[0]), _tagged(calls[1]), "Done.", results=["a", "b"])  # successive turns
            assert expected_calls_match(turns, **row) == 1.0
        # Only the first of the two calls (the default model's habit), or one repeated: partial credit.
        assert expected_calls_match(episode(_tagged(call_il), "Done.", results=["a"]), **row) == 0.25
        repeated = episode(_tagged(call_il, call_any, call_any), "Done.", results=["a", "b", "c"])
        assert expected_calls_match(repeated, **row) == pytest.approx(0.5 * 2 / 3)
        # Two calls that both fit only the flexible expected call: the other is not covered.
        assert expected_calls_match(episode(_tagged(call_any, call_any), "Done.", results=["a", "b"]), **row) < 0.5


# ---------------------------------------------------------------------------------------------------------------------
# Schema validity, tool success, efficiency


def test_schema_valid_rate():
    assert schema_valid_rate(GOOD, **ROW) == 1.0
    bad = episode(
        '<tool_call>{"name": "get_weather", "arguments": {"unit": "K"}}</tool_call>'  # no city, unit not in enum
        '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
        '<tool_call>{"name": "add", "arguments": {"a": "one", "b": 2}}</tool_call>'  # a is not an integer
        '<tool_call>{"name": "search_web", "arguments": {"q": "x"}}</tool_call>'  # no such tool
        "<tool_call>{broken</tool_call>",  # malformed
        results=["e1", "3", "e2", "e3"],
    )
    assert schema_valid_rate(bad, **ROW) == pytest.approx(1 / 5)
    assert schema_valid_rate(episode("no calls"), **ROW) == 1.0
    with pytest.raises(RewardError, match=r"reward 'schema_valid' needs the dataset column 'tools'"):
        schema_valid_rate(GOOD, id="w1")
    with pytest.raises(RewardError, match=r"reward 'schema_valid': bad tools column in task 'w1'"):
        schema_valid_rate(GOOD, id="w1", tools='[{"type": "function", "function": {"description": "no name"}}]')


def test_tool_success_rate():
    assert tool_success_rate(GOOD, **ROW) == 1.0
    failed = episode(TAGGED_PARIS, TAGGED_PARIS, results=["{'error': 'timeout'}", "Sunny"])
    assert tool_success_rate(failed, **ROW) == 0.5
    # A bare call TRL did not execute did not succeed.
    unexecuted = Trace.from_messages(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": '{"name": "add", "arguments": {}}'}]
    )
    assert tool_success_rate(unexecuted) == 0.0
    assert tool_success_rate(episode("no calls")) == 1.0


def test_step_efficiency():
    assert step_efficiency(GOOD, **ROW) == 1.0
    repeated = episode(TAGGED_PARIS, TAGGED_PARIS, TAGGED_PARIS, "Sunny", results=["S", "S", "S"])
    assert step_efficiency(repeated, **ROW) == pytest.approx(1 / 3)
    assert step_efficiency(episode("Hello!"), **NO_TOOL_ROW) == 1.0
    assert step_efficiency(GOOD, **NO_TOOL_ROW) == 0.5
    assert step_efficiency(GOOD) == 0.5  # without expected calls: 1 / model turns


# ---------------------------------------------------------------------------------------------------------------------
# Format, invented tools, unneeded calls


def test_format_reward_prefers_tags():
    bare = episode('{"name": "get_weather", "arguments": {"city": "Paris"}}')
    fenced = episode('```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```')
    malformed = episode('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}</tool_call>')
    half = episode(TAGGED_PARIS + "<tool_call>{oops}</tool_call>", results=["S"])
    scores = [format_reward(t) for t in (GOOD, bare, fenced, malformed, half)]
    assert scores == [1.0, 0.3, 0.3, -1.0, 0.0]
    assert format_reward(episode("Just text.")) == 0.0


def test_format_reward_pays_only_calls_that_ran_validly():
    out_of_enum = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "unit": "K"}}</tool_call>'
    rejected = episode(out_of_enum, results=["{'error': 'invalid arguments'}"])
    assert format_reward(rejected) == 0.0  # the environment said no
    assert format_reward(episode(out_of_enum), **ROW) == 0.0  # never ran, but the schema says no
    assert format_reward(episode(out_of_enum)) == 1.0  # never ran and no tools to judge it by
    invented = episode('<tool_call>{"name": "get_time", "arguments": {}}</tool_call>')
    assert format_reward(invented, **ROW) == 0.0
    # Per turn, the valid share: one valid and one rejected tagged call.
    mixed = episode(TAGGED_PARIS + out_of_enum, results=["Sunny", "{'error': 'invalid arguments'}"])
    assert format_reward(mixed, **ROW) == 0.5


def test_invented_tool_and_unneeded_tool_penalties():
    invented = episode(
        '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>' + TAGGED_PARIS, results=["e", "S"]
    )
    assert invented_tool_penalty(invented, **ROW) == -0.5
    assert invented_tool_penalty(GOOD, **ROW) == 0.0
    assert unneeded_tool_penalty(GOOD, **NO_TOOL_ROW) == -1.0
    assert unneeded_tool_penalty(episode("Hello!"), **NO_TOOL_ROW) == 0.0
    assert unneeded_tool_penalty(GOOD, **ROW) == 0.0
    # Without `kind`, an empty expected_calls means no tool was needed; a malformed attempt is still an attempt.
    attempt = episode("<tool_call>{oops}</tool_call>")
    assert unneeded_tool_penalty(attempt, expected_calls="[]") == -1.0
    with pytest.raises(RewardError, match="needs the dataset column 'kind' or 'expected_calls'"):
        unneeded_tool_penalty(GOOD, id="x")


# ---------------------------------------------------------------------------------------------------------------------
# Registry, combination, user rewards


def test_registry_and_combine():
    assert set(REWARDS) >= {
        "answer_exact", "answer_match", "expected_calls", "schema_valid", "tool_success", "step_efficiency",
        "format", "invented_tool", "unneeded_tool",
    }
    with pytest.raises(KeyError, match="unknown reward 'nope'.*answer_match"):
        get_reward("nope")

    def length_penalty(trace, **row):
        return -0.1 * len(trace.model_turns)

    total = combine({"expected_calls": 1.0, "format": 0.5, length_penalty: 2.0}, name="total")
    assert total.__name__ == "total" and total.parts == {"expected_calls": 1.0, "format": 0.5, "length_penalty": 2.0}
    wrong = episode('{"name": "add", "arguments": {"a": 1, "b": 2}}')
    values = score(total, [GOOD, wrong], [ROW, ROW])
    assert values == pytest.approx([1.0 + 0.5 - 0.4, 0.0 + 0.15 - 0.2])
    with pytest.raises(ValueError, match="weight of reward 'format' must be a finite number"):
        combine({"format": math.nan})


def test_user_rewards_per_trace_and_batch():
    def uses_answer(trace, gold_answer):  # names only the column it needs
        return float(trace.final_answer == gold_answer)

    @batch_reward
    def rank(traces, **rows):
        assert rows["id"] == ["w1", "n1"]
        return [float(i) for i in range(len(traces))]

    def relative(traces, expected_calls):  # batch because its first parameter is `traces`
        return [len(t.calls) - len(json.loads(e)) for t, e in zip(traces, expected_calls, strict=True)]

    assert score(uses_answer, [GOOD, GOOD], [ROW, NO_TOOL_ROW]) == [1.0, 0.0]
    assert score(rank, [GOOD, GOOD], [ROW, NO_TOOL_ROW]) == [0.0, 1.0]
    assert score(relative, [GOOD, GOOD], [ROW, NO_TOOL_ROW]) == [0.0, 1.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, r"reward 'bad' returned nan for trace 0 \(task 'w1'\): a reward must be finite"),
        (None, r"reward 'bad' returned None \(NoneType\) for trace 0 \(task 'w1'\): a reward must be a finite number"),
        ("1.0", r"returned '1.0' \(str\)"),
        (math.inf, "returned inf"),
    ],
)
def test_bad_reward_values_raise_naming_the_reward(value, message):
    def bad(trace, **row):
        return value

    with pytest.raises(RewardError, match=message):
        score(bad, [GOOD], [ROW])
    with pytest.raises(RewardError, match=r"'total/bad'"):
        score(combine({bad: 1.0}, name="total"), [GOOD], [ROW])


def test_raising_and_short_batch_rewards_raise_naming_the_reward():
    def boom(trace, **row):
        if row["id"] == "n1":
            raise KeyError("score")
        return 1.0

    with pytest.raises(RewardError, match=r"reward 'boom' failed on trace 1 \(task 'n1'\): KeyError: 'score'"):
        score(boom, [GOOD, GOOD], [ROW, NO_TOOL_ROW])

    @batch_reward
    def short(traces, **rows):
        return [1.0]

    with pytest.raises(RewardError, match=r"batch reward 'short' returned 1 values for 2 traces"):
        score(short, [GOOD, GOOD], [ROW, NO_TOOL_ROW])
    import numpy as np
    import torch

    assert score(lambda_free(np.float32(0.5)), [GOOD], [ROW]) == [0.5]
    assert score(lambda_free(torch.tensor(2.0)), [GOOD], [ROW]) == [2.0]
    with pytest.raises(ValueError, match="has no name"):
        to_trl_reward(lambda trace, **row: 1.0)


def lambda_free(value):
    def constant(trace, **row):
        return value

    return constant


# ---------------------------------------------------------------------------------------------------------------------
# TRL wrapping with the exact structures GRPOTrainer passes


def _trl_kwargs(n_repeat: int = 1) -> dict:
    # What GRPOTrainer._calculate_rewards passes besides prompts/completions: dataset columns (minus "prompt") as
    # lists, completion_ids, trainer_state, log_extra, log_metric.
    rows = [ROW, NO_TOOL_ROW]
    keys = ["id", "tools", "expected_calls", "gold_answer", "kind"]
    columns = {k: [r[k] for r in rows for _ in range(n_repeat)] for k in keys}
    return {
        **columns,
        "completion_ids": [[1, 2, 3]] * (2 * n_repeat),
        "trainer_state": object(),
        "log_extra": lambda *a: None,
        "log_metric": lambda *a: None,
    }


def test_to_trl_reward_with_tool_completions():
    prompts = [
        [{"role": "user", "content": "Weather in Paris?"}],
        [{"role": "user", "content": "Say hello."}],
    ]
    completions = [
        [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
                ],
            },
            {"role": "tool", "name": "get_weather", "content": "Sunny, 21 C"},
            {"role": "assistant", "content": "Sunny, 21 C"},
        ],
        [{"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Hello"}}'}],
    ]
    funcs = to_trl_rewards(["expected_calls", "format", "unneeded_tool", "answer_exact", "format"])
    assert [f.__name__ for f in funcs] == ["expected_calls", "format", "unneeded_tool", "answer_exact", "format_2"]
    values = {f.__name__: f(prompts=prompts, completions=completions, **_trl_kwargs()) for f in funcs}
    assert values == {
        "expected_calls": [1.0, 0.0],
        "format": [1.0, 0.3],
        "unneeded_tool": [0.0, -1.0],
        "answer_exact": [1.0, 0.0],
        "format_2": [1.0, 0.3],
    }


def test_to_trl_reward_passes_traces_and_rows():
    received = []

    def spy(trace, **row):
        received.append((trace, row))
        return 0.0

    prompts = ["Weather in Paris?", "Say hello."]  # a non-chat dataset: strings in, strings out
    completions = ['{"name": "get_weather", "arguments": {"city": "Paris"}}', "Hello!"]
    assert to_trl_reward(spy)(prompts=prompts, completions=completions, **_trl_kwargs()) == [0.0, 0.0]
    (t1, r1), (t2, r2) = received
    assert t1.query == "Weather in Paris?" and t1.task_id == "w1" and t1.calls[0].name == "get_weather"
    assert t1.metadata["completion_ids"] == 3
    assert t2.final_answer == "Hello!"
    assert r1 == ROW and r2 == NO_TOOL_ROW  # dataset columns only: no trainer_state, log_metric...


def test_to_trl_reward_error_names_reward_and_task():
    def broken(trace, **row):
        return float("nan") if row["id"] == "n1" else 1.0

    wrapped = to_trl_reward(broken, name="my_reward")
    with pytest.raises(RewardError, match=r"reward 'my_reward' returned nan for trace 1 \(task 'n1'\)"):
        wrapped(prompts=["a", "b"], completions=["x", "y"], **_trl_kwargs())


# ---------------------------------------------------------------------------------------------------------------------
# Real TRL: a GRPO step with tools, on a tiny model taught to emit one tool call


def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city name
    """
    return f"Sunny, 21 C in {city}"


@pytest.fixture(scope="module")
def tool_calling_tiny_model(tiny_model_dir, tmp_path_factory):
    """The tiny model, overfit in a few seconds to answer "Weather in Paris?" with a tagged get_weather call and
    "Say hello." with "Hello!", so that TRL's real tool loop runs (a random model never writes a call)."""
    import torch

    from toolbrain_hub.models import load_model

    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    pairs = [
        ("Weather in Paris?", TAGGED_PARIS + "<|im_end|>"),
        ("Say hello.", "Hello!<|im_end|>"),
    ]
    batches = []
    for query, target in pairs:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": query}], tools=[get_weather], add_generation_prompt=True, tokenize=False
        )
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p_ids + t_ids])
        labels = ids.clone()
        labels[0, : len(p_ids)] = -100
        batches.append((ids, labels))
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(300):
        losses = [model(input_ids=ids, labels=labels).loss for ids, labels in batches]
        loss = sum(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if max(x.item() for x in losses) < 0.01:
            break
    out = tmp_path_factory.mktemp("tiny-tool-caller")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_grpo_with_tools_calls_wrapped_rewards(tool_calling_tiny_model, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    tools_json = json.dumps(
        [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string", "description": "the city name"}},
                                               "required": ["city"]}}}]
    )
    dataset = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": "Weather in Paris?"}], "id": "w1", "tools": tools_json,
             "expected_calls": PARIS, "gold_answer": "Sunny", "kind": "single"},
            {"prompt": [{"role": "user", "content": "Say hello."}], "id": "n1", "tools": tools_json,
             "expected_calls": "[]", "gold_answer": "Hello!", "kind": "no_tool"},
        ]
    )
    seen: list[tuple[Trace, dict]] = []

    def recorder(trace, **row):
        seen.append((trace, row))
        return float(len(trace.calls))

    raw: list[tuple[list, list, dict]] = []

    def raw_inputs(prompts, completions, **kwargs):  # unwrapped: records exactly what TRL passes
        raw.append((prompts, completions, kwargs))
        return [0.0] * len(completions)

    reward_funcs = to_trl_rewards(
        ["expected_calls", "format", "tool_success", combine({"answer_match": 1.0, "unneeded_tool": 0.5}), recorder]
    ) + [raw_inputs]
    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=2,
        max_completion_length=128, temperature=0.3, max_tool_calling_iterations=1, max_steps=1, logging_steps=1,
        report_to=[], save_strategy="no", activation_checkpointing=False, seed=0,
    )
    trainer = GRPOTrainer(
        model=str(tool_calling_tiny_model), reward_funcs=reward_funcs, args=args, train_dataset=dataset,
        tools=[get_weather],
    )
    trainer.train()

    assert len(seen) == 4
    ((prompts, completions, kwargs),) = raw
    assert {"trainer_state", "log_metric", "completion_ids", "id", "expected_calls"} <= set(kwargs)
    for prompt, completion, task_id in zip(prompts, completions, kwargs["id"], strict=True):
        assert prompt[-1]["role"] == "user" and completion[0]["role"] == "assistant"
        if task_id == "w1":  # the structure from_messages reads: assistant tool_calls, a tool message, more text
            assert completion[0]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
            assert completion[1] == {"role": "tool", "name": "get_weather", "content": "Sunny, 21 C in Paris"}
            assert completion[2]["role"] == "assistant"
    by_task = {}
    for trace, row in seen:
        assert row["id"] == trace.task_id and set(row) == {"id", "tools", "expected_calls", "gold_answer", "kind"}
        by_task.setdefault(trace.task_id, []).append(trace)
    # TRL ran the tool: the completion held assistant tool_calls, then a role "tool" message with its result.
    for trace in by_task["w1"]:
        first = trace.turns[0]
        assert first.format == "tagged" and first.calls[0].name == "get_weather"
        assert first.calls[0].arguments == {"city": "Paris"}
        assert first.results[0].content == "Sunny, 21 C in Paris" and first.call_outcomes() == [True]
    for trace in by_task["n1"]:
        assert trace.calls == [] and trace.final_answer == "Hello!"
    logged = trainer.state.log_history[0]
    for name in ("expected_calls", "format", "tool_success", "combined", "recorder"):
        assert f"rewards/{name}/mean" in logged, name
    assert logged["tools/call_frequency"] > 0
    assert logged["rewards/expected_calls/mean"] == pytest.approx(
        sum(expected_calls_match(t, **r) for t, r in seen) / 4
    )


def test_answer_rewards_never_match_an_empty_gold_answer():
    """The task schema writes "" for "no gold answer"; an empty or punctuation-only reply must not score 1."""
    from toolbrain_hub.rewards import answer_exact, answer_match
    from toolbrain_hub.traces import Trace

    for text in ["", "\n\n", "...!"]:
        trace = Trace.from_text("What time is it?", text)
        assert answer_match(trace, gold_answer="") == 0.0
        assert answer_exact(trace, gold_answer="") == 0.0
    assert answer_match(Trace.from_text("q", "..."), gold_answer="!") == 0.0
    assert answer_match(Trace.from_text("q", "The Rome."), gold_answer="rome") == 1.0

"""The schema generator writes expected calls in the extended form where it knows more than one right answer (issue
15, point 2): optional arguments the request does not state, and values the request's words equally support. The
standard (AST) rule then accepts a call that leaves an optional argument out or uses an acceptable value, and still
rejects a wrong value; where nothing applies the call stays in the plain form, and the same seed gives the same tasks.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from toolbrain_hub.rewards.matching import ast_match, call_similarity
from toolbrain_hub.tasks import generate_tasks
from toolbrain_hub.tasks.alternatives import extended_call
from toolbrain_hub.tasks.request_files import read_request_file
from toolbrain_hub.tasks.sampling import ArgumentSampler, SamplingError
from toolbrain_hub.tools import load_tools
from toolbrain_hub.traces.parsing import ToolCall, read_calls

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
HELDOUT = sorted((ROOT / "bench" / "heldout").glob("*.json"))

# Schemas where one stated value maps to several schema values: a date and a time as free text, a count the schema
# also takes as a string, enums whose members name one thing twice.
RESTAURANT = [
    {"type": "function", "function": {
        "name": "book_table", "description": "Book a table at a restaurant.",
        "parameters": {"type": "object", "properties": {
            "restaurant": {"type": "string", "description": "Name of the restaurant"},
            "date": {"type": "string", "description": "Day of the booking"},
            "time": {"type": "string", "description": "Time of the booking"},
            "guests": {"type": ["integer", "string"], "minimum": 1, "maximum": 12, "pattern": "^[0-9]+$",
                       "description": "How many people"},
            "seating": {"type": "string", "enum": ["indoor", "outdoor", "no_preference", "No Preference"],
                        "default": "no_preference", "description": "Where to sit"},
            "occasion": {"type": "string", "description": "What the dinner is for"}},
            "required": ["restaurant", "date", "time", "guests"]}}},
    {"type": "function", "function": {
        "name": "get_forecast", "description": "Get the weather forecast for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit", "C", "F"], "default": "celsius",
                     "description": "Temperature unit"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 3, "description": "Days ahead"},
            "alerts": {"type": "array", "items": {"type": "string"}, "description": "Alert kinds to include"}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_exchange_rate", "description": "Get the exchange rate between two currencies.",
        "parameters": {"type": "object", "properties": {
            "from_currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO code"},
            "to_currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO code"},
            "date": {"type": "string", "format": "date", "description": "Day of the rate"}},
            "required": ["from_currency", "to_currency"]}}},
]


def _tool_sets() -> dict[str, list]:
    sets = {"restaurant": load_tools(RESTAURANT)}
    for name in ("weather_openai.json", "nested_tools.json", "shop_bare.json", "travel_tools.json",
                 "calendar_mcp.json"):
        sets[name] = load_tools(DATA / name)
    for path in HELDOUT:
        sets[path.name] = read_request_file(path)[1]
    return sets


TOOL_SETS = _tool_sets()


@pytest.fixture(scope="module")
def tools():
    return {t.name: t for t in TOOL_SETS["restaurant"]}


# ------------------------------------------------------------------------------------------------ one call, by hand


def test_stated_values_map_to_the_other_schema_values_the_words_support(tools):
    args = {"restaurant": "Nopa", "date": "2025-03-14", "time": "19:30", "guests": 4}
    call = extended_call(tools["book_table"], args, "Book Nopa on March 14, 2025 at 7:30 pm for four guests.")
    assert call["arguments"] == args  # the reference is untouched
    assert call["acceptable"] == {
        "date": ["March 14, 2025"],  # the day as the request writes it (the schema takes any text)
        "time": ["7:30 pm"],
        # the schema also takes the count as a string of digits ("four" is what the request writes, but the
        # schema's pattern rejects it: only values that validate are listed)
        "guests": ["4"],
        "seating": ["no_preference", "No Preference"]}  # not stated: its default, under both names
    assert call["optional"] == ["seating", "occasion"]
    # the request writes the values as they are: nothing else is supported (no other date or time form)
    call = extended_call(tools["book_table"], args, "Book Nopa on 2025-03-14 at 19:30 for 4 guests.")
    assert call["acceptable"] == {"guests": ["4"], "seating": ["no_preference", "No Preference"]}
    # a time with seconds or a zone: its spoken form would lose them
    call = extended_call(tools["book_table"], {**args, "time": "19:30Z"}, "Book Nopa on 2025-03-14 at 7:30 pm UTC.")
    assert "time" not in call["acceptable"]
    # a count given as a string of digits is also right as the number
    call = extended_call(tools["book_table"], {**args, "guests": "4"}, "Book Nopa on 2025-03-14 at 19:30 for 4.")
    assert call["acceptable"]["guests"] == [4]
    # a day in another layout that reads as one day gives its ISO form too; one that reads as two days gives none
    call = extended_call(tools["book_table"], {**args, "date": "03/14/2025"},
                         "Book Nopa on 03/14/2025 at 19:30 for 4 guests.")
    assert call["acceptable"]["date"] == ["2025-03-14"]
    call = extended_call(tools["book_table"], {**args, "date": "03/04/2025"},
                         "Book Nopa on 03/04/2025 at 19:30 for 4 guests.")
    assert "date" not in call["acceptable"]


def test_enum_synonyms_defaults_and_the_plain_form(tools):
    forecast = tools["get_forecast"]
    call = extended_call(forecast, {"city": "Oslo", "unit": "fahrenheit", "days": 5},
                         "Get the forecast for Oslo in fahrenheit for 5 days.")
    # "fahrenheit" is also "F" in this enum; days stated and not the default: needed, one value
    assert call["acceptable"] == {"unit": ["F"]} and call["optional"] == ["alerts"]
    call = extended_call(forecast, {"city": "Oslo", "days": 3, "alerts": []}, "Get the 3-day forecast for Oslo.")
    # days filled with its default and alerts empty: both may be left out, their reference values stay
    assert call["optional"] == ["unit", "days", "alerts"] and call["acceptable"] == {"unit": ["celsius", "C"]}
    # a date whose schema pins its layout (format: date) and codes with a pattern: nothing else is right
    rate = tools["get_exchange_rate"]
    args = {"from_currency": "EUR", "to_currency": "USD", "date": "2025-03-14"}
    assert extended_call(rate, args, "EUR to USD rate on March 14, 2025?") == {"name": "get_exchange_rate",
                                                                               "arguments": args}
    # a count the schema takes as a number or any string: also the digits, and the word the request writes
    rooms = load_tools([{"type": "function", "function": {
        "name": "book_rooms", "description": "Book hotel rooms.", "parameters": {"type": "object", "properties": {
            "rooms": {"type": ["integer", "string"]}}, "required": ["rooms"]}}}])[0]
    assert extended_call(rooms, {"rooms": 3}, "Book three rooms.")["acceptable"] == {"rooms": ["3", "three"]}
    assert extended_call(rooms, {"rooms": 3}, "Book 3 rooms.")["acceptable"] == {"rooms": ["3"]}


def test_the_ast_rule_reads_the_extended_call(tools):
    forecast = tools["get_forecast"]
    expected = read_calls([extended_call(forecast, {"city": "Oslo", "unit": "fahrenheit", "days": 3},
                                         "Oslo forecast in fahrenheit for the next 3 days")])[0]
    assert ast_match(ToolCall("get_forecast", {"city": "Oslo", "unit": "fahrenheit", "days": 3}), expected, forecast)
    assert ast_match(ToolCall("get_forecast", {"city": "Oslo", "unit": "F"}), expected, forecast)  # days: default
    assert not ast_match(ToolCall("get_forecast", {"city": "Oslo", "unit": "C"}), expected, forecast)
    assert not ast_match(ToolCall("get_forecast", {"city": "Oslo", "unit": "F", "days": 4}), expected, forecast)
    assert not ast_match(ToolCall("get_forecast", {"city": "Oslo"}), expected, forecast)  # the unit was asked for
    # the exact rule still compares with the reference arguments only
    assert call_similarity(ToolCall("get_forecast", {"city": "Oslo", "unit": "F", "days": 3}), expected) < 1


# ------------------------------------------------------------------------------------------------- generated tasks


def _wrong_value(tool, args: dict, key: str, listed: list, rng: random.Random):
    """A value for `key` that the schema accepts but the expected call does not list; None if none is found."""
    sampler = ArgumentSampler()
    schema = tool.properties[key]
    for _ in range(30):
        try:
            value = sampler.value(schema, rng, name=key, root=tool.parameters)
        except SamplingError:
            return None
        if not any(json.dumps(value, sort_keys=True).casefold() == json.dumps(v, sort_keys=True).casefold()
                   for v in listed) and not tool.validate_arguments({**args, key: value}):
            return value
    return None


def _check_generated(rows, tools_by_name, rng: random.Random) -> dict[str, int]:
    """Check every generated call's extended form; count what was checked."""
    counts = {"calls": 0, "optional": 0, "acceptable": 0, "wrong": 0}
    for row in rows:
        for raw, expected in zip(json.loads(row["expected_calls"]), read_calls(row["expected_calls"]), strict=True):
            tool = tools_by_name[expected.name]
            args = expected.arguments
            counts["calls"] += 1
            assert set(raw) <= {"name", "arguments", "acceptable", "optional"}
            assert ast_match(ToolCall(tool.name, args), expected, tool)
            optional = expected.optional or []
            acceptable = expected.acceptable or {}
            for key in optional:  # a non-required argument of the schema
                assert key in tool.properties and key not in tool.required, (tool.name, key)
            if optional:  # every optional argument left out at once
                counts["optional"] += 1
                bare = {k: v for k, v in args.items() if k not in optional}
                assert ast_match(ToolCall(tool.name, bare), expected, tool), (row["query"], raw)
            for key, values in acceptable.items():
                assert values and (key in args or key in optional)
                for value in values:  # each validates, and is right by the standard rule
                    substituted = {**args, key: value}
                    assert tool.validate_arguments(substituted) == [], (tool.name, key, value)
                    assert ast_match(ToolCall(tool.name, substituted), expected, tool), (row["query"], key, value)
                    counts["acceptable"] += 1
            for key in args:  # a wrong value is still wrong
                if key in optional and key not in acceptable:
                    continue  # any value its schema accepts is right
                listed = [args[key], *acceptable.get(key, [])]
                wrong = _wrong_value(tool, args, key, listed, rng)
                if wrong is not None:
                    assert not ast_match(ToolCall(tool.name, {**args, key: wrong}), expected, tool), (key, wrong)
                    counts["wrong"] += 1
    return counts


@pytest.mark.parametrize("name", sorted(TOOL_SETS))
def test_generated_extended_calls_are_valid_and_scored_by_the_standard_rule(name):
    tools = TOOL_SETS[name]
    ts = generate_tasks(tools, num=30, seed=0, test_size=0, progress=False)
    counts = _check_generated(ts.train, {t.name: t for t in tools}, random.Random(0))
    assert counts["calls"] > 0 and counts["wrong"] > 0
    if any(not set(t.properties) <= set(t.required) for t in tools):
        assert counts["optional"] > 0, counts


def test_many_seeds_give_acceptable_values_the_requests_support():
    tools = TOOL_SETS["restaurant"]
    by_name = {t.name: t for t in tools}
    totals = {"calls": 0, "optional": 0, "acceptable": 0, "wrong": 0}
    stated = {"date": 0, "time": 0, "guests": 0, "unit": 0}
    for seed in range(12):
        ts = generate_tasks(tools, num=12, seed=seed, test_size=0, progress=False)
        for key, value in _check_generated(ts.train, by_name, random.Random(seed)).items():
            totals[key] += value
        for row in ts.train:
            for call in json.loads(row["expected_calls"]):
                for key, values in (call.get("acceptable") or {}).items():
                    if key in call["arguments"] and key in stated:
                        stated[key] += 1
                        for value in values:  # a form the request writes, or one it equally supports
                            if isinstance(value, str) and key in ("date", "time") and "-" not in value:
                                assert value.casefold() in row["query"].casefold(), (row["query"], value)
    assert totals["acceptable"] > 20 and totals["wrong"] > 20, totals
    assert all(stated.values()), stated  # every kind of alternative turned up


def test_same_seed_same_tasks_and_ids_of_the_reference_calls():
    tools = TOOL_SETS["restaurant"]
    first = generate_tasks(tools, num=20, seed=7, progress=False)
    again = generate_tasks(tools, num=20, seed=7, progress=False)
    for name in first.dataset:
        assert first.dataset[name].to_list() == again.dataset[name].to_list()
    extended = 0
    for row in first.train:
        calls = json.loads(row["expected_calls"])
        plain = [{"name": c["name"], "arguments": c["arguments"]} for c in calls]
        extended += plain != calls
        # the id hashes the request and the reference calls: the extended fields do not make another task
        text = f"{row['query']}\n{json.dumps(plain, ensure_ascii=False)}"
        assert row["id"] == f"task-{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    assert extended > 0


def test_a_call_with_nothing_else_right_stays_plain():
    tools = load_tools([{"type": "function", "function": {
        "name": "lookup_order", "description": "Get an order by its id.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{4}$"}},
                       "required": ["order_id"]}}}])
    ts = generate_tasks(tools, num=6, seed=0, test_size=0, progress=False, mix={"single": 1})
    for row in ts.train:
        assert [set(c) for c in json.loads(row["expected_calls"])] == [{"name", "arguments"}]

"""The default rewards rank every way of answering a task in three strict tiers (issue 11).

Tasks come from the schema-driven generator over two tool sets: the weather/currency example of the Space's Tools tab
and a travel set with enums, numeric ranges, patterns, date formats, nested objects and arrays, optional arguments
and closed objects; the default mix adds parallel-call, multi-call and no-tool tasks. For every task, every call form
is written as a model reply, in each accepted format (bare JSON, a ```json fence, `<tool_call>` tags):

- right: the expected calls (in one turn, in reverse order, or one per turn); for a no-tool task, a direct answer;
  with the expected calls in the extended form (`extend`), also their acceptable values, an optional argument left
  out, and a valid argument the expected call leaves to the model;
- flawed: one call the environment rejects, per kind of schema violation (enum, enum case, range, pattern, date
  format, missing required, unknown argument, wrong type); a valid call with a wrong value, an optional argument
  left out or added; the wrong tool; a repeated or missing call; one right call and one invented or broken; on a
  no-tool task, any valid or rejected call;
- invented or broken: a tool that does not exist; JSON that does not parse.

The replies are played by a scripted policy through `run_episodes` (the rollout loop GRPO runs: parse the reply, run
its calls in the schema-only environment, append the results, generate again), on the rows and environment
`load_task_data` gives training, and each task's episodes are scored as one group by `score_episodes` with the reward
functions and weights `build_rewards` makes from the default config, as GRPO weights them. No component is replaced:
only the policy's words are fixed. For every task: min(right) > max(flawed) and min(flawed) > max(invented/broken).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolbrain_hub.config import TrainConfig
from toolbrain_hub.config.base import DEFAULT_REWARDS
from toolbrain_hub.environment import make_environment_factory
from toolbrain_hub.environment.rollouts import run_episodes, score_episodes
from toolbrain_hub.models.chat import ChatModel, ChatReply
from toolbrain_hub.rewards import REWARDS, call_similarity, reward_range
from toolbrain_hub.tasks import generate_tasks, save_tasks
from toolbrain_hub.tasks.sampling import ArgumentSampler, sample_regex
from toolbrain_hub.tools import load_tools
from toolbrain_hub.traces import ToolCall, parse_tool_calls
from toolbrain_hub.training.reward_setup import build_rewards
from toolbrain_hub.training.task_data import load_task_data


def _tool(name: str, description: str, properties: dict, required: list[str], closed: bool = False) -> dict:
    parameters = {"type": "object", "properties": properties, "required": required}
    if closed:
        parameters["additionalProperties"] = False
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


IATA = {"type": "string", "pattern": "^[A-Z]{3}$"}
COUNTRY = {"type": "string", "pattern": "^[A-Z]{2}$"}
TRAVEL_TOOLS = [
    _tool("search_flights", "Search flights between two airports on a given day.", {
        "origin": {**IATA, "description": "IATA code of the departure airport, e.g. CDG"},
        "destination": {**IATA, "description": "IATA code of the arrival airport, e.g. JFK"},
        "departure_date": {"type": "string", "format": "date", "description": "Day of departure, YYYY-MM-DD"},
        "cabin": {"type": "string", "enum": ["economy", "premium_economy", "business", "first"],
                  "description": "Cabin class"},
        "max_stops": {"type": "integer", "minimum": 0, "maximum": 3, "description": "Most stops allowed"},
        "passengers": {"type": "object", "description": "Who travels", "additionalProperties": False,
                       "properties": {"adults": {"type": "integer", "minimum": 1, "maximum": 9},
                                      "children": {"type": "integer", "minimum": 0, "maximum": 8}},
                       "required": ["adults"]},
    }, ["origin", "destination", "departure_date"]),
    _tool("book_hotel", "Book hotel rooms in a city.", {
        "city": {"type": "string", "description": "City of the hotel"},
        "check_in": {"type": "string", "format": "date", "description": "Day of arrival, YYYY-MM-DD"},
        "nights": {"type": "integer", "minimum": 1, "maximum": 30, "description": "Number of nights"},
        "rooms": {"type": "array", "minItems": 1, "maxItems": 4, "description": "The rooms to book",
                  "items": {"type": "object", "properties": {
                      "guests": {"type": "integer", "minimum": 1, "maximum": 4},
                      "bed": {"type": "string", "enum": ["single", "double", "twin"]}},
                      "required": ["guests"]}},
        "max_price": {"type": "number", "minimum": 20, "maximum": 2000, "description": "Highest price per night"},
    }, ["city", "check_in", "nights"], closed=True),
    _tool("rent_car", "Rent a car at a city's airport.", {
        "pickup_city": {"type": "string", "description": "City where the car is picked up"},
        "days": {"type": "integer", "minimum": 1, "maximum": 60, "description": "Rental length in days"},
        "car_class": {"type": "string", "enum": ["economy", "compact", "suv", "van"], "description": "Car class"},
        "extras": {"type": "array", "uniqueItems": True, "description": "Optional equipment",
                   "items": {"type": "string", "enum": ["gps", "child_seat", "snow_chains"]}},
        "driver_age": {"type": "integer", "minimum": 18, "maximum": 99, "description": "Age of the driver"},
    }, ["pickup_city", "days"]),
    _tool("check_visa", "Check the visa requirements of a trip.", {
        "passport_country": {**COUNTRY, "description": "ISO alpha-2 code of the passport's country, e.g. FR"},
        "destination_country": {**COUNTRY, "description": "ISO alpha-2 code of the country visited, e.g. JP"},
        "purpose": {"type": "string", "enum": ["tourism", "business", "transit"], "description": "Why you travel"},
        "stay_days": {"type": "integer", "minimum": 1, "maximum": 180, "description": "Length of the stay"},
    }, ["passport_country", "destination_country"], closed=True),
]

FORMATS = ("bare", "fenced", "tagged")
# Kinds of schema violation the rejected forms cover; each must be exercised across the tasks.
REJECTIONS = ("enum", "enum_case", "range", "pattern", "format", "missing", "unknown_argument", "type")
SEEDS = (0, 1)
TASKS_PER_SET = 24


# ---------------------------------------------------------------------------------------------------------------------
# Arguments: walking them with their schema, rejected and wrong-but-valid variants


def _nodes(schema: dict, value, path: tuple = ()):
    """(path, schema, value) for the arguments and everything inside them, depth first."""
    yield path, schema, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes((schema.get("properties") or {}).get(key, {}), item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(schema.get("items") or {}, item, (*path, i))


def _with(arguments: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(arguments)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _without(arguments: dict, path: tuple) -> dict:
    out = copy.deepcopy(arguments)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def rejected_variants(schema: dict, arguments: dict) -> dict[str, list[dict]]:
    """{kind of schema violation: arguments with that one violation}, for every place it can occur."""
    out: dict[str, list[dict]] = {}
    for path, sub, value in _nodes(schema, arguments):
        kinds: list[tuple[str, tuple, object]] = []
        if isinstance(value, dict):
            kinds += [("missing", (*path, key), None) for key in sub.get("required", []) if key in value]
            if sub.get("additionalProperties") is False:
                kinds.append(("unknown_argument", (*path, "notes"), "window seat please"))
        if path:
            if isinstance(sub.get("enum"), list) and isinstance(value, str):
                kinds.append(("enum", path, f"{value}_plus"))
                if value.upper() not in sub["enum"]:
                    kinds.append(("enum_case", path, value.upper()))  # equal up to case: still outside the enum
            kind = sub.get("type")
            if kind in ("integer", "number"):
                if "maximum" in sub:
                    kinds.append(("range", path, sub["maximum"] + 1))
                elif "minimum" in sub:
                    kinds.append(("range", path, sub["minimum"] - 1))
                kinds.append(("type", path, str(value)))  # "3" for 3: the same value, the wrong type
            elif kind == "string":
                if "pattern" in sub:
                    bad = next(c for c in (value.lower(), f"{value}!", "?") if not re.search(sub["pattern"], c))
                    kinds.append(("pattern", path, bad))
                if sub.get("format") == "date":
                    kinds.append(("format", path, f"{value[:5]}02-30"))  # no such day
                kinds.append(("type", path, [value]))
            elif kind == "array":
                kinds.append(("type", path, json.dumps(value)))
            elif kind == "object":
                kinds.append(("type", path, json.dumps(value)))  # an object sent as a JSON string
            elif kind == "boolean":
                kinds.append(("type", path, "yes"))
        for name, where, new in kinds:
            out.setdefault(name, []).append(_without(arguments, where) if name == "missing" else
                                            _with(arguments, where, new))
    return out


def _other_valid_value(sub: dict, value, rng: random.Random):
    """Another value the schema accepts, not equal to `value` even up to case; None when there is none."""
    if isinstance(sub.get("enum"), list):
        others = [v for v in sub["enum"] if str(v).casefold() != str(value).casefold()]
        return rng.choice(others) if others else None
    kind = sub.get("type")
    if kind == "boolean":
        return not value
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 1.5
        for new in (value + step, value - step):
            if sub.get("minimum", -1e9) <= new <= sub.get("maximum", 1e9):
                return round(new, 2) if kind == "number" else new
        return None
    if kind == "string":
        if sub.get("format") == "date":
            return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()
        if "pattern" in sub:
            for _ in range(30):
                new = sample_regex(sub["pattern"], rng)
                if new.casefold() != value.casefold() and re.search(sub["pattern"], new):
                    return new
            return None
        return "Springfield" if value.casefold() != "springfield" else "Shelbyville"
    return None


def wrong_value_variants(schema: dict, arguments: dict, rng: random.Random) -> dict[str, list[dict]]:
    """{kind: valid arguments that differ from the right ones}: a wrong value, an optional argument left out or
    added."""
    out: dict[str, list[dict]] = {}
    for path, sub, value in _nodes(schema, arguments):
        if path and not isinstance(value, (dict, list)):
            new = _other_valid_value(sub, value, rng)
            if new is not None:
                out.setdefault("value", []).append(_with(arguments, path, new))
    props, required = schema.get("properties") or {}, set(schema.get("required") or [])
    for key, sub in props.items():
        if key in required:
            continue
        if key in arguments:
            out.setdefault("omitted_optional", []).append(_without(arguments, (key,)))
        else:
            new = ArgumentSampler().value(sub, rng, name=key, root=schema)
            out.setdefault("added_optional", []).append(_with(arguments, (key,), new))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Replies, as a model writes them


def _blob(call: dict) -> str:
    return json.dumps({"name": call["name"], "arguments": call["arguments"]}, ensure_ascii=False)


def _wrap(blob: str, fmt: str) -> str:
    return {"bare": blob, "fenced": f"```json\n{blob}\n```", "tagged": f"<tool_call>\n{blob}\n</tool_call>"}[fmt]


def render(calls: list[dict], fmt: str, broken: list[dict] = ()) -> str:
    """One model turn making `calls`, then `broken` ones (their JSON cut short), in format `fmt`."""
    parts = [_wrap(_blob(c), fmt) for c in calls] + [_wrap(_blob(c)[:-1], fmt) for c in broken]
    lead = {"bare": "I'll look that up.\n", "fenced": "Calling the tool:\n", "tagged": ""}[fmt]
    return lead + "\n".join(parts)


@dataclass
class Form:
    """One way to answer a task: its tier (1 right, 2 flawed, 3 invented or broken), a label, the model's turns."""

    tier: int
    label: str
    replies: list[str]
    check: str  # what the trace must show: "right", "rejected", "valid", "invented", "broken", "mixed", "answer"


class ScriptedPolicy(ChatModel):
    """The n-th model turn of an episode gets `replies[n]`."""

    def __init__(self, replies: list[str]):
        self.replies = replies

    def chat(self, messages, **kwargs) -> ChatReply:
        return ChatReply(text=self.replies[sum(1 for m in messages if m["role"] == "assistant")])


def play(replies: list[str], row: dict, factory, max_turns: int = 2):
    """One episode of `row`: the replies through the rollout loop GRPO runs, in a fresh environment of `factory`."""
    (episode,) = run_episodes(ScriptedPolicy(replies), [row], lambda _row: factory(),
                              tools_for=lambda _row: factory.tool_schemas, max_turns=max_turns)
    return episode


def plain(row: dict) -> dict:
    """The row with its expected calls in the plain form: the reference arguments only."""
    calls = [{"name": c["name"], "arguments": c["arguments"]} for c in json.loads(row["expected_calls"])]
    return {**row, "expected_calls": json.dumps(calls)}


def extend(row: dict, specs: dict) -> dict:
    """The row with its expected calls in the extended form: the optional arguments they give marked `optional`, and
    another valid value of their first scalar argument that has one listed as `acceptable`."""
    rng = random.Random(f"extend-{row['id']}")
    calls = []
    for call in json.loads(row["expected_calls"]):
        spec = specs[call["name"]]
        out = {**call, "optional": sorted(k for k in call["arguments"] if k not in spec.required)}
        for key, value in sorted(call["arguments"].items()):
            other = None if isinstance(value, (dict, list)) else _other_valid_value(spec.properties[key], value, rng)
            if other is not None:
                out["acceptable"] = {key: [other]}
                break
        calls.append(out)
    return {**row, "expected_calls": json.dumps(calls)}


def _takes_acceptable(arguments: dict, call: dict) -> bool:
    """Whether `arguments` give some argument one of its acceptable values instead of the reference one."""
    return any(key in arguments and arguments[key] != call["arguments"].get(key)
               and str(arguments[key]).casefold() in {str(v).casefold() for v in values}
               for key, values in (call.get("acceptable") or {}).items())


def _invented_name(name: str, tools: set[str]) -> str:
    invented = f"{name}_pro"
    assert invented not in tools
    return invented


def forms_for(row: dict, specs: dict, max_turns: int, seen: Counter) -> list[Form]:
    """Every form of answering `row`, each in every format."""
    rng = random.Random(row["id"])
    expected = json.loads(row["expected_calls"])
    names = set(specs)
    answer = row["gold_answer"] or "Here is what I found."
    forms: list[Form] = []
    if not expected:  # a no-tool task: answer directly; any call is flawed, an invented or broken one worse
        forms.append(Form(1, "direct answer", [answer], "answer"))
        for fmt in FORMATS:
            for name, spec in specs.items():
                call = {"name": name, "arguments": ArgumentSampler().arguments(spec, rng)}
                forms.append(Form(2, f"needless {name} ({fmt})", [render([call], fmt), answer], "valid"))
                kinds = rejected_variants(spec.parameters, call["arguments"])
                kind = rng.choice(sorted(kinds))
                bad = {"name": name, "arguments": rng.choice(kinds[kind])}
                assert spec.validate_arguments(bad["arguments"]), f"{kind} variant not rejected: {bad}"
                forms.append(Form(2, f"needless {name}, rejected {kind} ({fmt})", [render([bad], fmt), answer],
                                  "rejected"))
                seen[f"rejected:{kind}"] += 1
            call = {"name": _invented_name(rng.choice(sorted(names)), names), "arguments": {"query": row["query"]}}
            forms.append(Form(3, f"invented ({fmt})", [render([call], fmt), answer], "invented"))
            forms.append(Form(3, f"broken ({fmt})", [render([], fmt, broken=[call])], "broken"))
        return forms

    def replace(k: int, arguments: dict | None = None, name: str | None = None) -> list[dict]:
        calls = copy.deepcopy(expected)
        calls[k] = {"name": name or calls[k]["name"], "arguments": calls[k]["arguments"] if arguments is None
                    else arguments}
        return calls

    extended = any("acceptable" in c or "optional" in c for c in expected)
    for fmt in FORMATS:
        forms.append(Form(1, f"right ({fmt})", [render(expected, fmt), answer], "right"))
        if 1 < len(expected) <= max_turns:
            turns = [render([c], fmt) for c in expected]
            forms.append(Form(1, f"right, one call per turn ({fmt})", [*turns, answer], "right"))
        if len(expected) > 1:
            forms.append(Form(1, f"right, in reverse order ({fmt})", [render(expected[::-1], fmt), answer], "right"))
        if any(c.get("acceptable") for c in expected):  # every call with its acceptable values, in one turn
            accepted = [{"name": c["name"], "arguments": {**c["arguments"], **{key: values[0] for key, values in
                                                                              (c.get("acceptable") or {}).items()}}}
                        for c in expected]
            forms.append(Form(1, f"acceptable values ({fmt})", [render(accepted, fmt), answer], "valid"))
            seen["right:acceptable"] += 1
        for k, call in enumerate(expected):
            spec = specs[call["name"]]
            for kind, variants in sorted(rejected_variants(spec.parameters, call["arguments"]).items()):
                arguments = rng.choice(variants)
                assert spec.validate_arguments(arguments), f"{kind} variant not rejected: {arguments}"
                forms.append(Form(2, f"call {k} rejected: {kind} ({fmt})", [render(replace(k, arguments), fmt),
                                                                             answer], "rejected"))
                seen[f"rejected:{kind}"] += 1
            for kind, variants in sorted(wrong_value_variants(spec.parameters, call["arguments"], rng).items()):
                valid = [a for a in variants if not spec.validate_arguments(a) and not _takes_acceptable(a, call)]
                if not valid:
                    continue
                arguments = rng.choice(valid)
                if extended and kind in ("omitted_optional", "added_optional"):
                    # An argument marked optional left out, or one the expected call leaves to the model given a
                    # valid value: right by the standard rule.
                    forms.append(Form(1, f"call {k} {kind} ({fmt})", [render(replace(k, arguments), fmt), answer],
                                      "valid"))
                    seen[f"right:{kind}"] += 1
                    continue
                assert call_similarity(ToolCall(call["name"], arguments), ToolCall(call["name"], call["arguments"])) < 1
                forms.append(Form(2, f"call {k} wrong: {kind} ({fmt})", [render(replace(k, arguments), fmt),
                                                                          answer], "valid"))
                seen[f"wrong:{kind}"] += 1
            other = rng.choice(sorted(names - {call["name"]}))
            wrong_tool = replace(k, ArgumentSampler().arguments(specs[other], rng), name=other)
            forms.append(Form(2, f"call {k} to the wrong tool {other} ({fmt})", [render(wrong_tool, fmt), answer],
                              "valid"))
            invented = {"name": _invented_name(call["name"], names), "arguments": call["arguments"]}
            rest = [c for i, c in enumerate(expected) if i != k]
            if rest:  # one right, one invented or broken
                forms.append(Form(2, f"call {k} invented ({fmt})", [render([*rest, invented], fmt), answer],
                                  "mixed"))
                forms.append(Form(2, f"call {k} broken ({fmt})", [render(rest, fmt, broken=[call]), answer],
                                  "mixed"))
                forms.append(Form(2, f"call {k} missing ({fmt})", [render(rest, fmt), answer], "valid"))
        forms.append(Form(2, f"first call repeated ({fmt})", [render([*expected, expected[0]], fmt), answer],
                          "valid"))
        forms.append(Form(2, f"repeated after its result ({fmt})",
                          [render(expected, fmt), render(expected[:1], fmt), answer], "valid"))
        invented = [{"name": _invented_name(c["name"], names), "arguments": c["arguments"]} for c in expected]
        forms.append(Form(3, f"invented ({fmt})", [render(invented, fmt), answer], "invented"))
        forms.append(Form(3, f"broken ({fmt})", [render([], fmt, broken=expected)], "broken"))
        forms.append(Form(3, f"one broken call ({fmt})", [render([], fmt, broken=expected[:1])], "broken"))
    return forms


def _check_trace(form: Form, trace, row: dict, names: set[str]) -> None:
    """The episode went as the form intends: what the environment did with each call, how the reply parsed."""
    answer = row["gold_answer"] or "Here is what I found."
    outcomes = [o for t in trace.turns for o in t.call_outcomes()]
    errors = trace.totals()["invalid_calls"]
    where = f"{form.label}: {trace.render()}"
    if form.check == "answer":
        assert not trace.calls and not errors and trace.final_answer == answer, where
        return
    fmt = form.label.rsplit("(", 1)[1].rstrip(")")
    assert trace.model_turns[0].format == fmt, where
    if form.check == "right":
        made = sorted(json.dumps([c.name, c.arguments], sort_keys=True) for c in trace.calls)
        expected = sorted(json.dumps([c["name"], c["arguments"]], sort_keys=True)
                          for c in json.loads(row["expected_calls"]))
        assert made == expected, where
    if form.check in ("right", "valid"):
        assert outcomes and all(outcomes) and not errors and trace.final_answer == answer, where
    elif form.check == "rejected":
        assert False in outcomes and all(c.name in names for c in trace.calls) and not errors, where
        assert any("invalid arguments" in r.content for t in trace.turns for r in t.results if r.error), where
    elif form.check == "invented":
        assert outcomes and not any(outcomes) and all(c.name not in names for c in trace.calls), where
        assert all("not found" in r.content for t in trace.turns for r in t.results), where
    elif form.check == "broken":
        assert not trace.calls and errors and trace.final_answer is None, where
    else:  # mixed: a right call that ran, and an invented or a broken one
        assert outcomes.count(True) == len(outcomes) - (1 if False in outcomes else 0), where
        assert (False in outcomes) != bool(errors) and trace.final_answer == answer, where


# ---------------------------------------------------------------------------------------------------------------------
# The property


@pytest.fixture(scope="module")
def weather_currency_tools():
    from space.tools_tab import EXAMPLE_TOOLS

    return json.loads(EXAMPLE_TOOLS)


def test_default_rewards_declare_their_range():
    assert all(hasattr(func, "value_range") for func in REWARDS.values())
    low, high = reward_range(DEFAULT_REWARDS)
    assert (low, high) == pytest.approx((-1.2, 1.7))
    # The GRPO example spells out exactly the defaults this file checks.
    example = Path(__file__).parent.parent / "examples" / "train_grpo.yaml"
    assert TrainConfig.from_yaml(example).rewards == DEFAULT_REWARDS
    with pytest.raises(ValueError, match="reward 'mine' declares no value_range"):
        reward_range({_named("mine"): 1.0})


def _named(name):
    def reward(trace, **row):
        return 0.0

    reward.__name__ = name
    return reward


@pytest.mark.parametrize("expected_form", ["plain", "extended"])
@pytest.mark.parametrize("tool_set", ["weather_currency", "travel"])
def test_default_rewards_rank_right_above_flawed_above_invented_or_broken(tool_set, expected_form,
                                                                           weather_currency_tools, tmp_path):
    """In the plain form (a reference value per argument) and in the extended form (acceptable values, optional
    arguments): there an acceptable value, an optional argument left out and a valid argument the expected call does
    not name are right, and climb to the first tier."""
    tools = weather_currency_tools if tool_set == "weather_currency" else TRAVEL_TOOLS
    config = TrainConfig(tasks="")
    rewards = build_rewards(config)  # the default rewards and weights, as GRPO gets them
    assert dict(zip(rewards.names, rewards.weights, strict=True)) == DEFAULT_REWARDS
    low, high = reward_range(config.rewards)
    seen: Counter = Counter()
    kinds: Counter = Counter()
    tiers_checked = 0
    specs = {spec.name: spec for spec in load_tools(tools)}
    for seed in SEEDS:
        folder = save_tasks(generate_tasks(tools, num=TASKS_PER_SET, seed=seed, test_size=0, progress=False),
                            tmp_path / f"tasks-{seed}")
        config.tasks = str(folder)
        data = load_task_data(config)  # the rows and the environment training uses
        factory = data.environment_factory
        for row in data.train:
            # The generator writes the extended form where it knows other right answers: start from the plain one.
            row = plain(row)
            row = extend(row, specs) if expected_form == "extended" else row
            kinds[row["kind"]] += 1
            forms = forms_for(row, specs, config.max_turns, seen)
            episodes = [play(form.replies, row, factory, config.max_turns) for form in forms]
            for form, episode in zip(forms, episodes, strict=True):
                _check_trace(form, episode.trace(), row, set(specs))
            score_episodes(episodes, rewards.funcs, rewards.weights)  # the task's forms as one GRPO group
            totals = {tier: [(e.total, f.label, e.rewards) for f, e in zip(forms, episodes, strict=True)
                             if f.tier == tier] for tier in (1, 2, 3)}
            assert all(totals.values()), f"task {row['id']}: a tier has no form"
            for tier in (1, 2):
                worst_above = min(totals[tier], key=lambda x: x[0])
                best_below = max(totals[tier + 1], key=lambda x: x[0])
                assert worst_above[0] > best_below[0], (
                    f"task {row['id']} ({row['kind']}: {row['expected_calls']}): tier {tier} {worst_above[1]!r} "
                    f"scored {worst_above[0]:.4f} {worst_above[2]}, not above tier {tier + 1} {best_below[1]!r} "
                    f"{best_below[0]:.4f} {best_below[2]}")
            assert all(low <= e.total <= high for e in episodes)
            tiers_checked += 1
    # The property was checked on every kind of task and every kind of flawed call.
    assert tiers_checked == len(SEEDS) * TASKS_PER_SET
    assert kinds["single"] and kinds["parallel"] and kinds["multi"] and kinds["no_tool"], kinds
    expected_rejections = REJECTIONS if tool_set == "travel" else ("enum", "enum_case", "range", "missing", "type")
    assert all(seen[f"rejected:{kind}"] for kind in expected_rejections), seen
    if expected_form == "plain":
        assert all(seen[f"wrong:{kind}"] for kind in ("value", "omitted_optional", "added_optional")), seen
    else:
        assert seen["wrong:value"] and not seen["wrong:omitted_optional"] and not seen["wrong:added_optional"], seen
        assert all(seen[f"right:{kind}"] for kind in ("acceptable", "omitted_optional", "added_optional")), seen


def test_the_issue_example_ranks_right():
    """The issue's travel example: a correct bare call now outranks a tagged one with a value outside the enum or
    an out-of-range max_stops (it was 1.06 against 1.075 and 1.1)."""
    call = {"name": "search_flights", "arguments": {"origin": "CDG", "destination": "JFK",
                                                     "departure_date": "2025-06-01", "cabin": "business",
                                                     "max_stops": 1}}
    row = {"id": "t1", "query": "Find me a business flight from CDG to JFK on 2025-06-01 with at most one stop.",
           "prompt": [{"role": "user", "content": "Find me a business flight from CDG to JFK on 2025-06-01 with at "
                                                  "most one stop."}],
           "tools": json.dumps(TRAVEL_TOOLS), "expected_calls": json.dumps([call]), "gold_answer": "",
           "kind": "single"}
    factory = make_environment_factory(TRAVEL_TOOLS)
    replies = {
        "bare": render([call], "bare"),
        "fenced": render([call], "fenced"),
        "tagged": render([call], "tagged"),
        "tagged, cabin outside the enum": render([{**call, "arguments": {**call["arguments"], "cabin": "luxury"}}],
                                                 "tagged"),
        "tagged, max_stops 9": render([{**call, "arguments": {**call["arguments"], "max_stops": 9}}], "tagged"),
    }
    episodes = [play([text, "Found 3 flights."], row, factory) for text in replies.values()]
    rewards = build_rewards(TrainConfig(tasks=""))
    score_episodes(episodes, rewards.funcs, rewards.weights)
    total = {label: e.total for label, e in zip(replies, episodes, strict=True)}
    outcomes = {label: e.trace().turns[0].call_outcomes() for label, e in zip(replies, episodes, strict=True)}
    assert outcomes == {label: [not label.startswith("tagged,")] for label in replies}  # the environment's verdicts
    assert [parse_tool_calls(text).format for text in replies.values()] == ["bare", "fenced", *["tagged"] * 3]
    assert total["bare"] == pytest.approx(1.06)  # as before: a right call keeps its reward
    assert max(total["tagged, cabin outside the enum"], total["tagged, max_stops 9"]) <= 0.7  # was 1.075 and 1.1
    assert total["tagged"] > total["bare"] == total["fenced"]  # the tags still earn their bonus among right calls


def test_trls_grpo_loop_scores_the_forms_as_the_rollout_loop_does(tiny_model_dir, tmp_path):
    """The forms of one task as the 8 generations of a real GRPO step: TRL's own multi-turn loop (its tool
    execution in the environment, its reward call, its weights) with only the policy's words scripted gives the
    totals `run_episodes` gives, so the tiers above are what training pays."""
    from toolbrain_hub.runs import RunFolder
    from toolbrain_hub.training import grpo
    from toolbrain_hub.training.policy import load_policy

    tasks = generate_tasks(TRAVEL_TOOLS, num=1, seed=3, mix={"single": 1.0}, test_size=0, progress=False)
    config = TrainConfig.from_dict({
        "model": str(tiny_model_dir), "tasks": str(save_tasks(tasks, tmp_path / "tasks")),
        "output_dir": str(tmp_path / "run"), "max_steps": 1, "num_generations": 8, "per_device_train_batch_size": 8,
        "max_prompt_length": 4096, "max_completion_length": 1024, "trace_samples": 8, "threads": 1, "seed": 0,
        "save_steps": 0, "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}}).validate()
    run = RunFolder(config.output_dir)
    model, tokenizer, peft_config, _ = load_policy(config, progress=False)
    data = load_task_data(config, tokenizer)
    rewards = build_rewards(config)
    trainer, _ = grpo.build_trainer(config, run, model=model, tokenizer=tokenizer, peft_config=peft_config,
                                    data=data, rewards=rewards, progress=False)
    (row,) = list(data.train)
    answer = "Here is what I found."
    forms = {f.label: f for f in forms_for(row, {s.name: s for s in load_tools(TRAVEL_TOOLS)}, 2, Counter())}
    rejected = sorted(label for label in forms if label.startswith("call 0 rejected") and label.endswith("(tagged)"))
    labels = ["right (bare)", "right (fenced)", "right (tagged)", *rejected[:2], "call 0 wrong: value (tagged)",
              "invented (tagged)", "broken (tagged)"]
    picked = [forms[label] for label in labels]
    first_turns = iter(form.replies[0] for form in picked)

    def scripted_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        replies = [answer if "<tool_response>" in tokenizer.decode(ids) else next(first_turns) for ids in prompt_ids]
        return [tokenizer.encode(r + "<|im_end|>", add_special_tokens=False) for r in replies], None

    trainer._generate_single_turn = scripted_turn  # the policy's words; everything else is TRL's loop
    trainer.train()
    data.close()

    sampled = {s["index"]: s for s in map(json.loads, run.traces_file.read_text().splitlines())}
    weights = dict(zip(rewards.names, rewards.weights, strict=True))
    in_trl = [sum(weights[name] * sampled[i]["rewards"][name] for name in weights) for i in range(len(picked))]
    episodes = [play(form.replies, row, data.environment_factory) for form in picked]
    score_episodes(episodes, rewards.funcs, rewards.weights)
    assert in_trl == pytest.approx([e.total for e in episodes]), labels
    tiers = {tier: [t for t, f in zip(in_trl, picked, strict=True) if f.tier == tier] for tier in (1, 2, 3)}
    assert min(tiers[1]) > max(tiers[2]) and min(tiers[2]) > max(tiers[3]), dict(zip(labels, in_trl, strict=True))

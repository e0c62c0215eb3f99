"""Comparing the calls an episode made with the calls its task expects, by two rules, side by side.

- **Exact** (`call_similarity(call, expected) == 1`): the right tool with exactly the reference `arguments` of the
  expected call, values compared leniently (case and spacing of strings; 7, 7.0 and "7" alike). Evaluation's
  `correct` and `tool_call_accuracy` use it; so does the `expected_calls` reward for an expected call in the plain
  form (`{"name", "arguments"}`), which therefore scores exactly as it did before the extended form existed.
- **Standard** (`ast_match`): the rule of the field, the "AST" check of the Berkeley Function-Calling Leaderboard,
  over an expected call that may list acceptable values and optional arguments (`traces.parsing.ExpectedCall`):

  1. the right tool;
  2. every needed argument is given: those of the reference `arguments` not marked `optional`, and those the tool's
     schema requires;
  3. every argument given is right: one with a list of values (its reference value and its `acceptable` ones) has one
     of them; one without a list must be marked `optional`, or be an argument of the tool's schema that the expected
     call does not name, and then any value the schema accepts is right; any other argument is unknown, hence wrong;
  4. values are compared by type: numbers as numbers (7 equals 7.0, but "7" is not 7 and true is not 1), strings up
     to case and spacing, lists item by item in order, objects key by key;
  5. when the tool's schema is known, the call satisfies it: so where a field constrains a string (an enum, a pattern,
     a format), its case counts, as it does for the tool.

  Evaluation reports it as `ast_correct` / `ast_accuracy`; the `expected_calls` reward uses it (and `ast_similarity`
  for partial credit) for an expected call in the extended form.

Several expected calls (parallel or sequential) are paired with the calls made by `match_calls`: each expected call
with exactly one call, in any order. The pairing is a largest bipartite matching, not a greedy one: with lists of
acceptable values one call can fit two expected calls, and only one of the ways to pair them may cover both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..tools.schemas import ToolSpec, load_tools
from ..traces.parsing import ToolCall

__all__ = ["as_number", "ast_match", "ast_similarity", "call_similarity", "match_calls", "same_typed_value",
           "tool_specs"]

# Numbers closer than this (relative) are the same value: 0.1 + 0.2 is 0.3 (FACTS: never test the last bits).
_REL_TOL = 1e-6
_ABS_TOL = 1e-9


def as_number(value: Any) -> float | None:
    """A number, or a string that reads as one ("1,200" too), as a float; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _same_value(a: Any, b: Any) -> bool:
    """The exact rule's equality: equal up to what a model cannot be blamed for (case and spacing of strings, and
    7 vs 7.0 vs "7")."""
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return math.isclose(na, nb, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
    if isinstance(a, str) and isinstance(b, str):
        return _fold(a) == _fold(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def same_typed_value(a: Any, b: Any) -> bool:
    """The standard rule's equality: the same JSON type and value; integers and floats are both numbers (7 == 7.0),
    strings are equal up to case and spacing, lists item by item in order, objects key by key.

    Args:
        a: A value a call gave.
        b: A value the expected call accepts.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
    if isinstance(a, str) and isinstance(b, str):
        return _fold(a) == _fold(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_typed_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_typed_value(a[k], b[k]) for k in a)
    return a is None and b is None


@lru_cache(maxsize=256)
def _tool_specs_from_json(text: str) -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in load_tools(text, name="tools column")}


def tool_specs(value: Any) -> dict[str, ToolSpec]:
    """A task row's `tools` column (JSON text or parsed) as {name: ToolSpec}; parsed once per distinct value.

    Args:
        value: The column: JSON text, a list of tool dicts, or None / "" / [] for no tools.

    Raises:
        ValueError: the tools do not load (the message names the tool and field).
    """
    if value is None or (isinstance(value, str) and not value.strip()) or value == []:
        return {}
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return _tool_specs_from_json(text)


def _standard_verdict(call: ToolCall, expected: ToolCall, spec: ToolSpec | None) -> tuple[set[str], set[str]]:
    """(the argument names the standard rule judges: needed or given; those it finds right), rules 2-4."""
    optional = set(getattr(expected, "optional", None) or ())
    acceptable = getattr(expected, "acceptable", None) or {}
    needed = set(expected.arguments) - optional
    if spec is not None:
        needed |= set(spec.required)
    right = set()
    for key, value in call.arguments.items():
        listed = ([expected.arguments[key]] if key in expected.arguments else []) + list(acceptable.get(key, ()))
        if listed:
            ok = any(same_typed_value(value, want) for want in listed)
        else:  # no list: free when optional or an argument of the schema the expected call leaves to the model
            ok = key in optional or (spec is not None and key in spec.properties)
        if ok:
            right.add(key)
    return needed | set(call.arguments), right


def ast_match(call: ToolCall, expected: ToolCall, spec: ToolSpec | None = None) -> bool:
    """Whether a call is right for an expected call by the standard (AST) rule (see the module docstring).

    Args:
        call: The call made.
        expected: The expected call: a `traces.parsing.ExpectedCall` (its `acceptable` values and `optional`
            arguments count) or a plain `ToolCall` (its arguments are the only values accepted, all needed).
        spec: The tool's schema, when known: it names the arguments the model may add, the ones it must give, and the
            call must satisfy it.
    """
    if call.name != expected.name:
        return False
    judged, right = _standard_verdict(call, expected, spec)
    if right != judged:
        return False
    return spec is None or not spec.validate_arguments(call.arguments)


def call_similarity(call: ToolCall, expected: ToolCall) -> float:
    """How close a call is to the reference call by the exact rule, in [0, 1]: 0 for another tool; otherwise 0.5 for
    the name plus 0.5 x the share of argument keys (given or in the reference `arguments`) whose values match, so
    missing, wrong and invented arguments all cost. 1.0 is an exact match. `acceptable` and `optional` play no part.

    Args:
        call: The call made.
        expected: The expected call (its reference `arguments`).
    """
    if call.name != expected.name:
        return 0.0
    keys = set(call.arguments) | set(expected.arguments)
    if not keys:
        return 1.0
    both = [k for k in keys if k in call.arguments and k in expected.arguments]
    matched = sum(1 for k in both if _same_value(call.arguments[k], expected.arguments[k]))
    return 0.5 + 0.5 * matched / len(keys)


def ast_similarity(call: ToolCall, expected: ToolCall, spec: ToolSpec | None = None) -> float:
    """How close a call is to an expected call by the standard rule, in [0, 1]: 0 for another tool; otherwise 0.5
    for the name plus 0.5 x the share of the arguments judged (needed or given) that are right (rules 2-4 of
    `ast_match`; the schema check, rule 5, is left to the caller: the reward learns it from the environment).

    Args:
        call: The call made.
        expected: The expected call, with its `acceptable` values and `optional` arguments.
        spec: The tool's schema, when known.
    """
    if call.name != expected.name:
        return 0.0
    judged, right = _standard_verdict(call, expected, spec)
    return 0.5 + 0.5 * len(right) / len(judged) if judged else 1.0


def match_calls(made: int, expected: int, fits: Callable[[int, int], bool]) -> dict[int, int]:
    """A largest pairing of expected calls with calls made, each call used at most once, in any order.

    Args:
        made: How many calls were made.
        expected: How many calls are expected.
        fits: `fits(i, j)`: whether made call i is right for expected call j.

    Returns:
        {expected index: made index}; it covers every expected call exactly when they can all be matched.
    """
    table = [[fits(i, j) for j in range(expected)] for i in range(made)]
    owner: dict[int, int] = {}  # made index -> expected index

    def assign(j: int, seen: set[int]) -> bool:  # augmenting path (Kuhn); tasks have a handful of calls
        for i in range(made):
            if table[i][j] and i not in seen:
                seen.add(i)
                if i not in owner or assign(owner[i], seen):
                    owner[i] = j
                    return True
        return False

    for j in range(expected):
        assign(j, set())
    return {j: i for i, j in owner.items()}

"""What else is right for a call the schema generator wrote: the extended form of an expected call
(`traces.parsing.ExpectedCall`), read off the tool's schema and the words of the request.

- `optional`: the tool's arguments that are not required and that the call may leave out:
  - one the request does not state: the generator did not fill it (if its schema has a valid `default`, that is its
    one acceptable value: giving the default is the same call; without one, any value its schema accepts is right,
    the standard rule), or filled it with a value that says nothing (an empty list or object, kept as the reference);
  - one filled with its schema's `default`: leaving it out makes the same call (the reference value stays).
- `acceptable`: for an argument the request states in a form that maps to several values its schema accepts, the
  other ones that form equally supports:
  - a date where the schema takes any text (no format, pattern or layout in its description): the ISO day and each
    written form of that day the request uses ("March 14, 2025");
  - a time (hours and minutes, no zone) likewise ("2:30 pm" for 14:30);
  - an enum value another member of the enum names too: the same words ("premium_economy", "Premium Economy") or a
    synonym ("celsius", "C");
  - a number the schema also takes as a string ("2", and "two" when the request writes it so), and a numeric string
    the schema also takes as a number.

Every acceptable value is checked by putting it in the call and validating the call; a value equal to the
reference (strings up to case, as the standard rule compares them) is not listed. A call where nothing applies stays
in the plain form `{"name", "arguments"}`. Only top-level arguments get alternatives; a nested object or list is one
value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..tools.schemas import ToolSpec
from .mentions import enum_values
from .phrasing import resolved_schema
from .spoken import CLOCK, NUMBER_WORDS, dates_in, stated_forms

__all__ = ["extended_call", "extended_calls"]

# Words that name one unit or order; an enum value maps to the other members of its group.
_SYNONYMS = [
    {"celsius", "c", "°c", "centigrade", "degc"}, {"fahrenheit", "f", "°f", "degf"}, {"kelvin", "k"},
    {"km", "kilometer", "kilometers", "kilometre", "kilometres"}, {"mi", "mile", "miles"},
    {"m", "meter", "meters", "metre", "metres"}, {"kg", "kilogram", "kilograms", "kilo", "kilos"},
    {"lb", "lbs", "pound", "pounds"}, {"asc", "ascending"}, {"desc", "descending"},
]
# Words of a description that pin the text of a date or time to one layout.
_LAYOUT_WORDS = re.compile(r"\b(?:iso|8601|rfc|yyyy|yy|mm|dd|hh|format|formatted|layout|24-hour|12-hour)\b", re.I)


def extended_calls(calls: list[dict], tools: dict[str, ToolSpec], query: str) -> list[dict]:
    """The calls of a generated task, each in the extended form where it has optional arguments or acceptable
    values (see the module docstring), else as it is.

    Args:
        calls: The expected calls, `{"name", "arguments"}`.
        tools: The tools by name.
        query: The request the calls answer (its final text, after any paraphrase).
    """
    return [extended_call(tools[c["name"]], c.get("arguments") or {}, query) if c["name"] in tools else c
            for c in calls]


def extended_call(tool: ToolSpec, arguments: dict, query: str) -> dict:
    """One expected call with the optional arguments and acceptable values the request supports.

    Args:
        tool: The tool called.
        arguments: The call's (valid) arguments: the reference values.
        query: The request.

    Returns:
        `{"name", "arguments"}`, plus `"acceptable"` and `"optional"` when they are not empty.
    """
    required = set(tool.required)
    optional: list[str] = []
    acceptable: dict[str, list] = {}
    schemas = {key: resolved_schema(tool.parameters, raw) for key, raw in tool.properties.items()}
    for key, schema in schemas.items():
        if key in required:
            continue
        has_default = "default" in schema
        if key not in arguments:
            optional.append(key)
            if has_default:
                values = _others(tool, arguments, key, None, [schema["default"], *_enum_synonyms(schema["default"],
                                                                                               schema)])
                if values:
                    acceptable[key] = values
        elif not _says_something(arguments[key]) or has_default and _same(arguments[key], schema["default"]):
            optional.append(key)
    for key, value in arguments.items():
        values = _others(tool, arguments, key, value, _alternatives(value, schemas.get(key) or {}, query))
        if values:
            acceptable[key] = values
    call: dict[str, Any] = {"name": tool.name, "arguments": arguments}
    if acceptable:
        call["acceptable"] = acceptable
    if optional:
        call["optional"] = optional
    return call


def _alternatives(value: Any, schema: dict, query: str) -> list:
    """Values besides `value` that the request's words for it equally support (not yet checked against the schema)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        if not _takes(schema, "string"):
            return []
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        word = NUMBER_WORDS[value] if isinstance(value, int) and 0 <= value < len(NUMBER_WORDS) else None
        return [text] + ([word] if word and re.search(rf"\b{word}\b", query.lower()) else [])
    if not isinstance(value, str):
        return []
    if enum_values(schema):
        return _enum_synonyms(value, schema)
    number = _number(value)
    if number is not None:
        return [number] if _takes(schema, "integer" if isinstance(number, int) else "number") else []
    clock = CLOCK.match(value)
    if not _free_text(schema) or clock and (clock[3] or clock[4]):  # "2:30 pm" would lose the seconds or the zone
        return []
    forms = stated_forms(value, query)
    if forms and not CLOCK.match(value):  # a date the request states: its ISO day too
        forms = [dates_in(value)[0].isoformat(), *forms]
    return forms


def _number(text: str) -> int | float | None:
    """The number a string writes exactly ("42", "2.5"; not "02139", a code that only looks like one)."""
    if re.fullmatch(r"-?(?:0|[1-9]\d*)", text):
        return int(text)
    if re.fullmatch(r"-?(?:0|[1-9]\d*)\.\d*[1-9]", text):
        return float(text)
    return None


def _takes(schema: dict, kind: str) -> bool:
    """Whether the schema names this JSON type (at its top or in an anyOf/oneOf branch); "number" takes integers."""
    kinds = {kind, "number"} if kind == "integer" else {kind}
    for branch in [schema, *[b for k in ("anyOf", "oneOf") for b in schema.get(k) or [] if isinstance(b, dict)]]:
        declared = branch.get("type")
        declared = declared if isinstance(declared, list) else [declared]
        if kinds & set(declared):
            return True
    return False


def _enum_synonyms(value: Any, schema: dict) -> list:
    """Members of the schema's enum that name the same thing as `value`: the same words, or a synonym."""
    if not isinstance(value, str):
        return []
    mine = _norm(value)
    group = next((g for g in _SYNONYMS if mine in g), {mine})
    return [m for m in enum_values(schema) if isinstance(m, str) and m != value and (_norm(m) in group)]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[_\-\s]+", " ", text).casefold().split())


def _free_text(schema: dict) -> bool:
    """A string schema that takes a date or time in any layout: no format, pattern or enum (here or in a branch)
    and no layout named in its description."""
    branches = [schema, *[b for k in ("anyOf", "oneOf") for b in schema.get(k) or [] if isinstance(b, dict)]]
    if any(b.get(k) is not None for b in branches for k in ("format", "pattern", "enum", "const")):
        return False
    return not any(_LAYOUT_WORDS.search(b.get("description") or "") for b in branches)


def _says_something(value: Any) -> bool:
    """Whether a value has anything a request would state: a scalar somewhere inside it."""
    if isinstance(value, dict):
        return any(_says_something(v) for v in value.values())
    if isinstance(value, list):
        return any(_says_something(v) for v in value)
    return value is not None


def _others(tool: ToolSpec, arguments: dict, key: str, reference: Any, candidates: list) -> list:
    """The candidates that differ from the reference and from each other and with which the call still validates."""
    seen = {_key(reference)} if reference is not None else set()
    out = []
    for value in candidates:
        if _key(value) in seen:
            continue
        seen.add(_key(value))
        if not tool.validate_arguments({**arguments, key: value}):
            out.append(value)
    return out


def _key(value: Any) -> str:
    """Equal keys for values the standard rule cannot tell apart (strings up to case and spacing, 7 and 7.0)."""
    if isinstance(value, str):
        return "s:" + " ".join(value.casefold().split())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"n:{float(value)!r}"
    return "j:" + json.dumps(value, sort_keys=True)


def _same(a: Any, b: Any) -> bool:
    return (isinstance(a, bool) == isinstance(b, bool)) and _key(a) == _key(b)

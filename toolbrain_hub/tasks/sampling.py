"""Argument sampling: valid JSON values drawn from a tool's JSON Schema, deterministic for a seed.

Types, enums, ranges, string formats, patterns (`sample_regex`), examples, defaults, `$ref`/`allOf`/`anyOf`/`oneOf`,
nested objects and arrays; strings are drawn from pools chosen by the parameter's name and description
(`tasks.vocab`). The schema generator samples a task's arguments with it, and the LLM generator its value hints.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from typing import Any

from ..tools.checks import resolve_pointer
from ..tools.schemas import ToolSpec
from .spoken import date_format_of
from .vocab import (
    CODE_POOLS,
    COORDINATES,
    MAKERS,
    MONEY_WORDS,
    NUMBER_RULES,
    WORDS,
    humanize,
    pair_side,
    sample_email,
    sample_slug,
    string_kind,
    words_of,
)

__all__ = ["ArgumentSampler", "SamplingError", "sample_regex"]


class SamplingError(ValueError):
    """No valid value could be sampled for a schema."""

class ArgumentSampler:
    """Samples JSON values that validate against a schema; deterministic for a given `random.Random`.

    Args:
        optional_p: Probability of including each optional property.
        base_date: Dates are drawn within two years of this day (fixed, so output doesn't depend on today).
    """

    def __init__(self, *, optional_p: float = 0.4, base_date: dt.date = dt.date(2025, 1, 1)):
        from jsonschema import FormatChecker

        self.optional_p = optional_p
        self.base_date = base_date
        self._formats = FormatChecker()

    def arguments(self, tool: ToolSpec, rng: random.Random, *, attempts: int = 8, optional_p: float | None = None
                  ) -> dict:
        """Valid arguments for `tool` (checked with `tool.validate_arguments`), or raise SamplingError."""
        last = ""
        p = self.optional_p if optional_p is None else optional_p
        for _ in range(attempts):
            try:
                value = self.value(tool.parameters, rng, root=tool.parameters, optional_p=p)
            except SamplingError as e:
                last = str(e)
                continue
            problems = tool.validate_arguments(value)
            if not problems:
                return value
            last = problems[0]
        raise SamplingError(f"no valid arguments for {tool.name!r} after {attempts} tries ({last})")

    def value(self, schema: Any, rng: random.Random, *, name: str = "", description: str = "", root: Any = None,
              depth: int = 0, optional_p: float | None = None) -> Any:
        if depth > 12:
            raise SamplingError("schema too deeply nested to sample")
        if schema is True or schema is None:
            schema = {}
        if schema is False:
            raise SamplingError(f"{name or 'value'}: schema 'false' accepts nothing")
        p = self.optional_p if optional_p is None else optional_p
        kw = {"root": root, "depth": depth + 1, "optional_p": p}
        description = schema.get("description") or description
        if "$ref" in schema:
            target = resolve_pointer(root, schema["$ref"])
            if target is None:
                raise SamplingError(f"unresolvable $ref {schema['$ref']}")
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.value(merged, rng, name=name, description=description, **kw)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = resolve_pointer(root, part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
                if isinstance(part, dict):
                    merged = _merge_schemas(merged, part)
            return self.value(merged, rng, name=name, description=description, **kw)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            options = [v for v in schema["enum"] if v is not None] or schema["enum"]
            return rng.choice(options)
        examples = schema.get("examples")
        if isinstance(examples, list) and examples and rng.random() < 0.3:
            return rng.choice(examples)
        if "default" in schema and rng.random() < 0.15:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
                branch = rng.choice(branches or schema[key])
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                merged = _merge_schemas(rest, branch) if isinstance(branch, dict) else rest
                return self.value(merged, rng, name=name, description=description, **kw)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = rng.choice([k for k in kind if k != "null"] or kind)
        kind = kind or _infer_type(schema)
        if kind == "string":
            return self.string(schema, rng, name, description)
        if kind in ("integer", "number"):
            return self.number(schema, rng, name, integer=kind == "integer")
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        if kind == "array":
            return self.array(schema, rng, name, description, **kw)
        if kind == "object":
            return self.object(schema, rng, name, **kw)
        raise SamplingError(f"{name or 'value'}: unknown type {kind!r}")

    def object(self, schema: dict, rng: random.Random, name: str, *, root: Any, depth: int, optional_p: float
               ) -> dict:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out = {}
        for key, sub in props.items():
            if key in required or rng.random() < optional_p:
                out[key] = self.value(sub, rng, name=key, root=root, depth=depth, optional_p=optional_p)
        self._fit_siblings(out, props, rng, root=root, depth=depth, optional_p=optional_p)
        extra = schema.get("additionalProperties")
        want = int(schema.get("minProperties") or 0)
        i = 1
        while len(out) < want and extra is not False:
            out[f"{humanize(name).replace(' ', '_') or 'key'}_{i}"] = self.value(
                extra if isinstance(extra, dict) else {"type": "string"}, rng, name="value", root=root, depth=depth,
                optional_p=optional_p)
            i += 1
        return out

    def _fit_siblings(self, out: dict, props: dict, rng: random.Random, **kw) -> None:
        """Make an object's values fit together: two strings differ (not "from EUR to EUR"), the sides of a pair are
        in order (start before end, min below max), a latitude and a longitude are one real place."""
        keys = [k for k in out if isinstance(props.get(k), dict)]
        for i, key in enumerate(keys):
            for other in keys[:i]:
                if isinstance(out[key], str) and out[key] == out[other]:
                    for _ in range(10):  # draw again; an enum of one value keeps its value
                        out[key] = self.value(props[key], rng, name=key, **kw)
                        if out[key] != out[other]:
                            break
        sides = {k: pair_side(k) for k in keys}
        for low in keys:
            for high in keys:
                a, b = sides[low], sides[high]
                if not (a and b and a[1] == b[1] and (a[0], b[0]) in _ORDERED):
                    continue
                x, y = out[low], out[high]
                if _is_number(x) and _is_number(y) and x > y:
                    out[low], out[high] = y, x
                elif isinstance(x, str) and isinstance(y, str):
                    later = _later(x, y, rng)
                    if later is not None:
                        out[high] = later
        lat = next((k for k in keys if set(words_of(k)) & {"latitude", "lat"}), None)
        lon = next((k for k in keys if set(words_of(k)) & {"longitude", "lon", "lng"}), None)
        if lat and lon and _is_number(out[lat]) and _is_number(out[lon]):
            places = [(y, x) for _, y, x in COORDINATES if _within(props[lat], y) and _within(props[lon], x)]
            if places:
                out[lat], out[lon] = rng.choice(places)

    def array(self, schema: dict, rng: random.Random, name: str, description: str, *, root: Any, depth: int,
              optional_p: float) -> list:
        lo = int(schema.get("minItems") or 1)
        hi = int(schema.get("maxItems") if schema.get("maxItems") is not None else max(lo, 3))
        hi = max(lo, min(hi, lo + 3))
        count = rng.randint(lo, hi)
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        # An item is named after the array ("tags" -> "tag") so the string pools still apply.
        item_name = name[:-1] if name.endswith("s") and len(name) > 3 else name
        out: list = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            for _ in range(10):
                value = self.value(sub, rng, name=item_name, description=description, root=root, depth=depth,
                                   optional_p=optional_p)
                if not schema.get("uniqueItems") or value not in out:
                    break
            else:
                if len(out) >= lo:
                    break
                raise SamplingError(f"{name}: could not draw {lo} unique items")
            out.append(value)
        return out

    def number(self, schema: dict, rng: random.Random, name: str, *, integer: bool) -> int | float:
        lo, hi = None, None
        for words, bounds in NUMBER_RULES:
            if words & set(words_of(name)):
                lo, hi = bounds
                break
        if lo is None:
            lo, hi = (1, 100) if integer else (0.5, 100.0)
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        step = 1 if integer else 0.01
        if isinstance(ex_min, bool):  # draft 4: a boolean modifier of minimum/maximum
            ex_min, minimum = (minimum, None) if ex_min else (None, minimum)
        if isinstance(ex_max, bool):
            ex_max, maximum = (maximum, None) if ex_max else (None, maximum)
        floors = [v for v in (minimum, None if ex_min is None else ex_min + step) if v is not None]
        ceils = [v for v in (maximum, None if ex_max is None else ex_max - step) if v is not None]
        floor, ceil = (max(floors) if floors else None), (min(ceils) if ceils else None)
        if integer:
            floor = None if floor is None else int(-(-floor // 1))
            ceil = None if ceil is None else int(ceil // 1)
        # Natural range for the name, moved or clipped into the allowed range.
        width = hi - lo
        if floor is not None and ceil is not None:
            lo, hi = (max(lo, floor), min(hi, ceil)) if max(lo, floor) <= min(hi, ceil) else (floor, ceil)
        elif floor is not None and floor > lo:
            lo, hi = floor, max(hi, floor + width)
        elif ceil is not None and ceil < hi:
            lo, hi = min(lo, ceil - width), ceil
        if lo > hi:
            raise SamplingError(f"{name or 'number'}: empty range [{lo}, {hi}]")
        multiple = schema.get("multipleOf")
        if multiple:
            first, last = -(-lo // multiple), hi // multiple
            if first > last:
                raise SamplingError(f"{name or 'number'}: no multiple of {multiple} in [{lo}, {hi}]")
            value = rng.randint(int(first), int(last)) * multiple
            return int(value) if integer or float(value).is_integer() else round(value, 10)
        if integer:
            lo_i, hi_i = int(-(-lo // 1)), int(hi // 1)
            if lo_i > hi_i:
                raise SamplingError(f"{name or 'integer'}: no integer in [{lo}, {hi}]")
            return rng.randint(lo_i, hi_i)
        if set(words_of(name)) & MONEY_WORDS:
            # A sum of money as people give it: round (250) more often than with cents (49.99, 207.71).
            roll = rng.random()
            step = next((s for s in (100, 50, 25, 10, 5, 1) if hi - lo >= 4 * s), None)
            if roll < 0.6 and step and -(-lo // step) <= hi // step:
                return float(rng.randint(int(-(-lo // step)), int(hi // step)) * step)
            if roll < 0.75 and int(hi) - 1 >= lo:
                return rng.randint(int(-(-lo // 1)), int(hi) - 1) + 0.99
        value = round(rng.uniform(lo, hi), 4 if {"latitude", "lat", "longitude", "lon", "lng"} & set(words_of(name))
                      else 2)
        return min(max(value, lo), hi)

    def string(self, schema: dict, rng: random.Random, name: str, description: str) -> str:
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        value = self._formatted(fmt, rng) if fmt else None
        kind = None
        if value is None:
            value, kind = self._by_kind(name, description, schema, rng)
        if pattern and not _search(pattern, value):
            value = self._fit_pattern(pattern, schema, kind, rng)
        lo, hi = int(schema.get("minLength") or 0), schema.get("maxLength")
        if hi is not None and len(value) > hi:
            value = value[: int(hi)].rstrip() or value[: int(hi)]
        while len(value) < lo:
            value = f"{value} {rng.choice(WORDS)}".strip()
        if hi is not None and len(value) > hi:
            value = value[: int(hi)]
        return value

    def _formatted(self, fmt: str, rng: random.Random) -> str | None:
        day = self.base_date + dt.timedelta(days=rng.randint(0, 729))
        clock = dt.time(rng.randint(7, 20), rng.choice([0, 15, 30, 45]))
        candidates: list[str]
        if fmt == "date":
            candidates = [day.isoformat()]
        elif fmt == "date-time":
            candidates = [f"{day.isoformat()}T{clock.isoformat()}Z"]
        elif fmt == "time":
            candidates = [f"{clock.isoformat()}Z", clock.isoformat()]
        elif fmt in ("email", "idn-email"):
            candidates = [sample_email(rng)]
        elif fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
            candidates = [f"https://www.example.com/{sample_slug(rng)}"]
        elif fmt in ("hostname", "idn-hostname"):
            candidates = [f"{rng.choice(WORDS)}.example.com"]
        elif fmt == "ipv4":
            candidates = [f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"]
        elif fmt == "ipv6":
            candidates = [f"2001:db8::{rng.randint(1, 0xFFFF):x}"]
        elif fmt == "uuid":
            candidates = [str(uuid.UUID(int=rng.getrandbits(128), version=4))]
        elif fmt == "duration":
            candidates = [f"PT{rng.randint(1, 12)}H"]
        else:
            return None
        # Prefer a form the installed format checker accepts (RFC 3339 times need an offset with rfc3339-validator).
        for candidate in candidates:
            if self._formats.conforms(candidate, fmt):
                return candidate
        return candidates[-1]

    def _by_kind(self, name: str, description: str, schema: dict, rng: random.Random) -> tuple[str, str | None]:
        """A value that fits the parameter (a date in the layout its description asks for, an airport code where
        it says IATA), and its kind (None for dates and times)."""
        name_words = set(words_of(name))
        desc_words = set(words_of(description))
        layout = date_format_of(f"{description} {schema.get('pattern') or ''}")
        if name_words & {"datetime", "timestamp"} or name.endswith("_at") or desc_words & {"datetime", "timestamp"} \
                or "date and time" in description.lower():
            return self._formatted("date-time", rng) or "", None
        if name_words & {"date", "day", "birthday", "deadline", "checkin", "checkout", "dob"} or \
                name.endswith("_on") or layout or "check" in name_words and name_words & {"in", "out"}:
            day = self.base_date + dt.timedelta(days=rng.randint(0, 729))
            return day.strftime(layout or "%Y-%m-%d"), None
        if name_words & {"time"} or "HH:MM" in description.upper():
            return f"{rng.randint(7, 20):02d}:{rng.choice([0, 15, 30, 45]):02d}", None
        kind = string_kind(name, description, schema)
        return MAKERS[kind](rng), kind

    def _fit_pattern(self, pattern: str, schema: dict, kind: str | None, rng: random.Random) -> str:
        """A value matching `pattern`: an example, a code from the kind's pool or any pool (^[A-Z]{3}$ gets an
        airport, currency or country code rather than random letters), else one drawn from the pattern."""
        examples = [e for e in schema.get("examples") or [] if isinstance(e, str) and _search(pattern, e)]
        day = self.base_date + dt.timedelta(days=rng.randint(0, 729))
        clock = f"{rng.randint(7, 20):02d}:{rng.choice(['00', '15', '30', '45'])}"
        for stamp in (f"{day}T{clock}", f"{day}T{clock}:00", f"{day}T{clock}:00Z", f"{day} {clock}", str(day),
                      clock, f"{clock}:00"):  # a real day or time in the layout the pattern spells out
            if _search(pattern, stamp) and re.search(r"\\d|\[0-9\]", pattern):
                return stamp
        pools = [CODE_POOLS[kind]] if kind in CODE_POOLS else []
        pools += [pool for k, pool in CODE_POOLS.items() if k != kind]
        for pool in pools:
            fitting = [v for v in pool if _search(pattern, v)]
            if fitting:
                return rng.choice(fitting)
        value = sample_regex(pattern, rng)
        if examples and not _search(pattern, value):  # lookarounds the sampler ignores
            value = rng.choice(examples)
        return value


_ORDERED = {("from", "to"), ("start", "end"), ("min", "max"), ("from", "end"), ("start", "to")}
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _later(start: str, end: str, rng: random.Random) -> str | None:
    """An end that follows `start` in its layout: a stay or trip ends a few days later, a meeting an hour or two
    later; None when the two are no ISO dates (or not real ones: a pattern may draw month 45)."""
    try:
        if _ISO_DAY.match(start) and _ISO_DAY.match(end):
            return (dt.date.fromisoformat(start) + dt.timedelta(days=rng.randint(1, 14))).isoformat()
        if _ISO_STAMP.match(start) and _ISO_STAMP.match(end):
            later = dt.datetime.fromisoformat(start[:16]) + dt.timedelta(minutes=rng.choice([30, 45, 60, 90, 120]))
            return later.strftime("%Y-%m-%dT%H:%M") + start[16:]
    except ValueError:
        return None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _within(schema: dict, value: float) -> bool:
    """`value` is inside a number schema's plain bounds (the exclusive ones count as plain: close enough here)."""
    lo = [v for v in (schema.get("minimum"), schema.get("exclusiveMinimum")) if _is_number(v)]
    hi = [v for v in (schema.get("maximum"), schema.get("exclusiveMaximum")) if _is_number(v)]
    return all(value >= v for v in lo) and all(value <= v for v in hi)


def _infer_type(schema: dict) -> str:
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema or "minItems" in schema:
        return "array"
    if "minimum" in schema or "maximum" in schema or "multipleOf" in schema:
        return "number"
    return "string"


def _merge_schemas(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list):
            out[key] = sorted(set(out[key]) | set(value))
        else:
            out[key] = value
    return out


def _search(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def sample_regex(pattern: str, rng: random.Random, *, max_repeat: int = 4) -> str:
    """A string matching a regular expression (JSON Schema `pattern`), built from Python's regex parse tree.

    Handles literals, classes, ranges, categories (\\d \\w \\s), repeats, groups, alternation and backreferences;
    lookarounds are ignored (the caller validates the result).
    """
    try:
        from re import _constants as c
        from re import _parser as parser
    except ImportError:  # Python < 3.11
        import sre_constants as c  # type: ignore[no-redef]
        import sre_parse as parser  # type: ignore[no-redef]
    try:
        tree = parser.parse(pattern)
    except re.error as e:
        raise SamplingError(f"bad pattern {pattern!r}: {e}") from None
    groups: dict[int, str] = {}
    printable = [chr(i) for i in range(33, 127)]
    categories = {
        c.CATEGORY_DIGIT: "0123456789",
        c.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
        c.CATEGORY_SPACE: " ",
        c.CATEGORY_NOT_DIGIT: "abcdefghijklmnopqrstuvwxyz",
        c.CATEGORY_NOT_WORD: "-.,:; ",
        c.CATEGORY_NOT_SPACE: "abcdefghijklmnopqrstuvwxyz0123456789",
    }

    def chars_of(items) -> list[str]:
        out: list[str] = []
        negate = False
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                out.append(chr(av))
            elif op is c.RANGE:
                out.extend(chr(i) for i in range(av[0], min(av[1], av[0] + 200) + 1))
            elif op is c.CATEGORY:
                out.extend(categories.get(av, "a"))
        if negate:
            banned = set(out)
            return [ch for ch in printable if ch not in banned] or ["~"]
        return out or ["a"]

    def emit(seq) -> str:
        text = ""
        for op, av in seq:
            if op is c.LITERAL:
                text += chr(av)
            elif op is c.NOT_LITERAL:
                text += rng.choice([ch for ch in "abcxyz0123" if ord(ch) != av])
            elif op is c.ANY:
                text += rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
            elif op is c.IN:
                text += rng.choice(chars_of(av))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) or op is getattr(c, "POSSESSIVE_REPEAT", None):
                lo, hi, sub = av
                hi = lo + max_repeat if hi == c.MAXREPEAT else min(hi, lo + max_repeat)
                text += "".join(emit(sub) for _ in range(rng.randint(lo, hi)))
            elif op is c.SUBPATTERN:
                group, sub = av[0], av[-1]
                piece = emit(sub)
                if group:
                    groups[group] = piece
                text += piece
            elif op is c.BRANCH:
                text += emit(rng.choice(av[1]))
            elif op is c.GROUPREF:
                text += groups.get(av, "")
            elif op is getattr(c, "ATOMIC_GROUP", None):
                text += emit(av)
            # AT (anchors), ASSERT, ASSERT_NOT: nothing to emit
        return text

    return emit(tree)

"""JSON out of a model's reply, read the way models write it.

Asked for JSON, models wrap it: a ``` fence (labelled json or not), prose before or after it, a reasoning block
(`<think>...</think>`) first. This is the one reader of such replies: the task generator's proposals, the tool
simulator's results and the judge's scores (strictly: the reply must be only the JSON) go through `extract_json`; the
tool-call parser (`traces.parsing`) uses the same fence grammar and scanner, since it also needs where calls are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["FENCE_RE", "extract_json", "extract_json_object", "scan_json", "strip_think", "unfence"]

# A ``` fence: group 1 is its language label (may be empty), group 2 its body.
FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)
_KIND_NAMES = {dict: "object", list: "array"}


def strip_think(text: str) -> str:
    """The reply without its reasoning blocks (`<think>...</think>`, which reasoning models write first)."""
    return _THINK_RE.sub("", text)


def unfence(text: str) -> str:
    """The body of a text that is one ``` fence and nothing else; any other text as it is. Both stripped."""
    text = text.strip()
    fence = FENCE_RE.fullmatch(text)
    return fence.group(2).strip() if fence else text


def scan_json(text: str, starts: str = "{[", skip: dict[int, int] | None = None
              ) -> Iterator[tuple[int, int, Any, json.JSONDecodeError | None]]:
    """The JSON values in free text, left to right.

    Yields `(start, end, value, None)` for a value that decodes at one of the `starts` characters, and
    `(start, start + 1, None, error)` where a start character begins no valid JSON. A decoded value is passed over
    whole (the objects inside it are not yielded again); after a failure the scan goes on at the next character.

    Args:
        text: The text.
        starts: The characters a value may start with ("{" for objects only).
        skip: Spans `{start: end}` to pass over (e.g. code blocks that hold no JSON meant as such).
    """
    decoder = json.JSONDecoder()
    i = 0
    while i < len(text):
        if skip and i in skip:
            i = skip[i]
            continue
        if text[i] not in starts:
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            yield i, i + 1, None, e
            i += 1
            continue
        yield i, end, value, None
        i = end


def extract_json(text: str | None, *, kind: type | None = None, strict: bool = False) -> Any:
    """The JSON value a model reply holds.

    Reasoning blocks are dropped, and a reply that is one ``` fence is read inside it. Strict: what is left must be
    one JSON value. Lenient: what is left if it is JSON, else the first JSON value inside a ``` fence, else the first
    one anywhere in the text (after prose, before remarks); a bare scalar (a number, a string) counts only as the
    whole reply.

    Args:
        text: The model's reply.
        kind: `dict` or `list` to accept only a JSON object or array (lenient mode passes over other values);
            None: any JSON value.
        strict: The reply must be only the JSON (the judge's rule); the error says why it is not.

    Raises:
        ValueError: no JSON (of `kind`) in the reply; in strict mode, why the reply is not that JSON (empty, the
            decoder's message and position with the reply's start, or the wrong kind of value).
    """
    if kind is not None and kind not in _KIND_NAMES:
        raise TypeError(f"kind must be dict, list or None, got {kind!r}")
    body = unfence(strip_think(text or ""))
    if strict:
        if not body:
            raise ValueError("the reply is empty")
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            raise ValueError(f"the reply is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                             f"it starts with {body[:80]!r}") from None
        if kind is not None and not isinstance(value, kind):
            raise ValueError(f"the reply must be a JSON {_KIND_NAMES[kind]}, got {type(value).__name__}")
        return value
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        pass
    else:
        if kind is None or isinstance(value, kind):
            return value
    starts = {dict: "{", list: "["}.get(kind, "{[")
    # A fence first: prose before it may hold a JSON-looking example, the fence holds the answer.
    for chunk in [m.group(2) for m in FENCE_RE.finditer(body)] + [body]:
        for _, _, value, error in scan_json(chunk, starts):
            if error is None:
                return value
    raise ValueError(f"no JSON {_KIND_NAMES.get(kind, 'value')} in the reply")


def extract_json_object(text: str | None) -> dict:
    """The JSON object a model reply holds, read leniently (see `extract_json`). Raises ValueError."""
    return extract_json(text, kind=dict)

"""The tool-call parser: a model turn's text split into its text and its tool calls.

A model turn is text. `parse_tool_calls` turns it into tool calls, whatever form the model used: the Qwen
`<tool_call>{json}</tool_call>` tags the chat template asks for, a ```json fence, or a bare JSON object after some
prose (what the default 0.5B model actually writes, see FACTS.md). Malformed calls are reported, never raised, so a
rollout goes on and a reward can penalize them. Fences and JSON in free text are read with `traces.json_reply`.

`read_calls` reads a task's `expected_calls`: a JSON list of calls, each in the plain form `{"name", "arguments"}`
(one reference value per argument) or in the extended form, which adds what else is right:

```json
{"name": "get_weather", "arguments": {"city": "New York", "unit": "fahrenheit"},
 "acceptable": {"city": ["NYC", "New York City"]},
 "optional": ["unit", "days"]}
```

- `acceptable`: {argument: [values]}: more values that are right for an argument, besides its reference value in
  `arguments` (which always is). An argument listed here must be in `arguments` or `optional`.
- `optional`: arguments the call may leave out. Given anyway, such an argument must have one of its values (its
  reference value and its acceptable ones) when it has some, else any value its schema accepts ("days" above).
- The keys are top-level arguments; a nested object or list is one value (list whole alternatives to accept several).

`arguments` stays the reference call (exact-match metrics, training targets, gold episodes). The standard (AST) rule
that reads the rest is `rewards.matching.ast_match`. A call in the plain form keeps being scored exactly as before.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .json_reply import FENCE_RE, scan_json, unfence

__all__ = ["ExpectedCall", "ParsedReply", "ToolCall", "call_from_json", "is_error_result", "parse_tool_calls",
           "read_calls"]

# Keys a JSON object may hold and still be read as a bare call: anything else means "some other JSON", not a call.
_CALL_KEYS = {"name", "arguments", "parameters", "id", "type", "function"}

_TAG_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_OPEN_TAG = "<tool_call>"
_CLOSE_TAG = "</tool_call>"
_STRAY_CLOSE = f"{_CLOSE_TAG} without an opening {_OPEN_TAG}"
# Start of an object that looks like a call: used to report a truncated/broken bare call instead of ignoring it.
_CALL_START_RE = re.compile(r'\{\s*"(?:name|function)"\s*:')
_JSON_FENCE_LANGS = ("", "json", "jsonc", "tool_call", "tool_code")


@dataclass
class ToolCall:
    """One tool call: a tool name and its arguments (a JSON object)."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        return cls(name=data["name"], arguments=dict(data.get("arguments") or {}), id=data.get("id"))

    def to_openai(self) -> dict[str, Any]:
        """The message form chat templates and TRL use: `{"type": "function", "function": {name, arguments}}`."""
        call: dict[str, Any] = {"type": "function", "function": {"name": self.name, "arguments": self.arguments}}
        if self.id is not None:
            call["id"] = self.id
        return call


@dataclass
class ExpectedCall(ToolCall):
    """A call a task expects: the reference call (`name`, `arguments`) and, in the extended form, what else is right
    (see the module docstring).

    Args:
        acceptable: {argument: [values]}: values accepted besides the reference one; None in the plain form.
        optional: Arguments the call may leave out; None in the plain form.
    """

    acceptable: dict[str, list[Any]] | None = None
    optional: list[str] | None = None

    @property
    def extended(self) -> bool:
        """Whether the call is in the extended form (it has `acceptable` or `optional`, even empty)."""
        return self.acceptable is not None or self.optional is not None

    def to_dict(self) -> dict[str, Any]:
        """The call as `read_calls` reads it (the extended keys only when set)."""
        out: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.acceptable is not None:
            out["acceptable"] = self.acceptable
        if self.optional is not None:
            out["optional"] = self.optional
        return out


@dataclass
class ParsedReply:
    """A model reply split into its text and its tool calls.

    Args:
        content: the text outside the calls, stripped.
        calls: the well-formed calls, in order.
        errors: one message per malformed call (bad JSON, missing name, arguments not an object).
        format: how the model wrote its calls: "tagged" (`<tool_call>` tags), "fenced" (a ``` fence), "bare" (a JSON
            object or list in the text) or "none" (no call attempt).
    """

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    format: str = "none"

    def to_message(self) -> dict[str, Any]:
        """The reply as an assistant chat message (TRL/OpenAI form), keeping the call format and parse errors.

        `Trace.from_messages` reads `tool_call_format` and `tool_call_errors` back; chat templates ignore them.
        """
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.calls:
            message["tool_calls"] = [c.to_openai() for c in self.calls]
        message["tool_call_format"] = self.format
        if self.errors:
            message["tool_call_errors"] = list(self.errors)
        return message

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "calls": [c.to_dict() for c in self.calls],
            "errors": list(self.errors),
            "format": self.format,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParsedReply:
        return cls(
            content=data.get("content", ""),
            calls=[ToolCall.from_dict(c) for c in data.get("calls", [])],
            errors=list(data.get("errors", [])),
            format=data.get("format", "none"),
        )


def _looks_like_call(obj: Any) -> bool:
    """True when a JSON value found in free text is meant as a call (or a list of calls), not arbitrary data."""
    if isinstance(obj, list):
        return bool(obj) and all(isinstance(item, dict) and _looks_like_call(item) for item in obj)
    if not isinstance(obj, dict) or not obj or not set(obj) <= _CALL_KEYS:
        return False
    if isinstance(obj.get("function"), dict):
        return True
    return "name" in obj or "arguments" in obj or "parameters" in obj


def call_from_json(obj: Any, where: str) -> tuple[ToolCall | None, str | None]:
    """Read one parsed call object (`{"name", "arguments"}`, OpenAI's `{"function": {...}}` wrapper, or
    `"parameters"` for arguments): returns (call, None), or (None, an error that starts with `where`).

    Args:
        obj: The parsed JSON value.
        where: Where it came from, for the error ("tool_calls[0]").
    """
    if not isinstance(obj, dict):
        return None, f"{where}: a call must be a JSON object, got {type(obj).__name__}"
    call_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    if isinstance(obj.get("function"), dict):  # OpenAI wrapper: {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f"{where}: missing tool name"
    if "arguments" in obj:
        args = obj["arguments"]
    else:
        args = obj.get("parameters", {})
    if args is None:
        args = {}
    if isinstance(args, str):  # OpenAI sends arguments as a JSON string
        text = args.strip()
        if not text:
            args = {}
        else:
            try:
                args = json.loads(text)
            except json.JSONDecodeError as e:
                return None, f"{where}: arguments of {name!r} are a string that is not valid JSON ({e.msg})"
    if not isinstance(args, dict):
        return None, f"{where}: arguments of {name!r} must be a JSON object, got {type(args).__name__}"
    return ToolCall(name=name.strip(), arguments=args, id=call_id), None


def _calls_from_value(value: Any, where: str, calls: list[ToolCall], errors: list[str]) -> None:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        errors.append(f"{where}: empty list of calls")
    for i, item in enumerate(items):
        call, error = call_from_json(item, f"{where}[{i}]" if isinstance(value, list) else where)
        if call is not None:
            calls.append(call)
        else:
            errors.append(error)


def _alternatives(obj: Any, call: ToolCall, where: str) -> tuple[ExpectedCall | None, str | None]:
    """The call with the extended form's `acceptable` and `optional` read from its JSON object (at the top or inside
    an OpenAI `function` wrapper), or an error naming the call and the field."""
    sources = [obj, obj.get("function") if isinstance(obj.get("function"), dict) else {}]
    acceptable = next((s["acceptable"] for s in sources if s.get("acceptable") is not None), None)
    optional = next((s["optional"] for s in sources if s.get("optional") is not None), None)
    label = f"{where}: {call.name!r}"
    if optional is not None:
        if not isinstance(optional, list) or not all(isinstance(k, str) and k for k in optional):
            return None, f"{label}: \"optional\" must be a list of argument names, got {json.dumps(optional)[:80]}"
        optional = list(dict.fromkeys(optional))
    if acceptable is not None:
        if not isinstance(acceptable, dict):
            return None, (f"{label}: \"acceptable\" must be an object of argument -> list of values, got "
                          f"{type(acceptable).__name__}")
        for key, values in acceptable.items():
            if not isinstance(values, list) or not values:
                return None, f"{label}: \"acceptable\" of {key!r} must be a non-empty list of values"
            if key not in call.arguments and key not in (optional or ()):
                return None, (f"{label}: \"acceptable\" lists {key!r}, which is neither in its \"arguments\" nor "
                              "\"optional\" (an argument it needs must have a reference value)")
        acceptable = {key: list(values) for key, values in acceptable.items()}
    return ExpectedCall(name=call.name, arguments=call.arguments, id=call.id, acceptable=acceptable,
                        optional=optional), None


def read_calls(value: Any, where: str = "calls") -> list[ExpectedCall]:
    """Read a list of calls given as JSON text or parsed data (e.g. a task's `expected_calls` column).

    Each call is `{"name", "arguments"}` in any form `parse_tool_calls` accepts inside a tag (`parameters`, a
    JSON-string `arguments`, an OpenAI `function` wrapper), optionally with the extended form's `acceptable` and
    `optional` (see the module docstring). None or "" is no calls.

    Args:
        value: JSON text, a list of call dicts, or one call dict.
        where: how to name the value in errors.

    Raises:
        ValueError: naming the value and the bad call.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not valid JSON ({e.msg} at char {e.pos})") from None
    if isinstance(value, list) and not value:
        return []
    items = value if isinstance(value, list) else [value]
    calls: list[ExpectedCall] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        label = f"{where}[{i}]" if isinstance(value, list) else where
        call, error = call_from_json(item, label)
        if call is not None:
            call, error = _alternatives(item, call, label)
        if call is not None:
            calls.append(call)
        else:
            errors.append(error)
    if errors:
        raise ValueError("; ".join(errors))
    return calls


def _parse_tagged(text: str) -> ParsedReply:
    calls: list[ToolCall] = []
    errors: list[str] = []
    pieces: list[str] = []
    pos = 0
    n = 0
    for m in _TAG_RE.finditer(text):
        pieces.append(text[pos : m.start()])
        pos = m.end()
        n += 1
        _parse_json_call(m.group(1), f"<tool_call> #{n}", calls, errors)
    rest = text[pos:]
    # An opening tag with no closing one: generation stopped (eos or length) inside or right after the call.
    start = rest.find(_OPEN_TAG)
    if start != -1:
        pieces.append(rest[:start])
        n += 1
        inner = rest[start + len(_OPEN_TAG) :]
        for end_marker in ("<|im_end|>", "<|endoftext|>"):
            inner = inner.split(end_marker, 1)[0]
        _parse_json_call(inner, f"<tool_call> #{n} (not closed)", calls, errors)
    else:
        pieces.append(rest)
    content = "".join(pieces)
    errors += [_STRAY_CLOSE] * content.count(_CLOSE_TAG)
    return ParsedReply(content=content.replace(_CLOSE_TAG, "").strip(), calls=calls, errors=errors, format="tagged")


def _parse_json_call(raw: str, where: str, calls: list[ToolCall], errors: list[str]) -> None:
    raw = raw.strip()
    if not raw:
        errors.append(f"{where}: empty")
        return
    raw = unfence(raw)  # a fence inside the tags happens: read what is inside it
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        errors.append(f"{where}: invalid JSON ({e.msg} at char {e.pos})")
        return
    _calls_from_value(value, where, calls, errors)


def _parse_fenced(text: str) -> ParsedReply | None:
    calls: list[ToolCall] = []
    errors: list[str] = []
    pieces: list[str] = []
    pos = 0
    found = False
    for n, m in enumerate(FENCE_RE.finditer(text), start=1):
        lang, body = m.group(1).lower(), m.group(2).strip()
        if lang not in _JSON_FENCE_LANGS:
            continue  # a ```python block is code the model shows, not a call
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            if _CALL_START_RE.match(body):
                found = True
                errors.append(f"```{lang} block #{n}: invalid JSON ({e.msg} at char {e.pos})")
                pieces.append(text[pos : m.start()])
                pos = m.end()
            continue
        if not _looks_like_call(value):
            continue
        found = True
        pieces.append(text[pos : m.start()])
        pos = m.end()
        _calls_from_value(value, f"```{lang} block #{n}", calls, errors)
    if not found:
        return None
    pieces.append(text[pos:])
    return ParsedReply(content="".join(pieces).strip(), calls=calls, errors=errors, format="fenced")


def _parse_bare(text: str) -> ParsedReply | None:
    calls: list[ToolCall] = []
    errors: list[str] = []
    pieces: list[str] = []
    pos = 0  # end of the last consumed span
    n = 0
    found = False
    # Code the model shows in a ```python (etc.) block is not a call, even when it contains call-shaped JSON.
    code_blocks = {m.start(): m.end() for m in FENCE_RE.finditer(text) if m.group(1).lower() not in _JSON_FENCE_LANGS}
    # Data JSON is passed over as a whole by the scan, so its inner objects are not read as calls.
    for i, end, value, error in scan_json(text, "{[", skip=code_blocks):
        if error is not None:
            if _CALL_START_RE.match(text, i):
                # A call that does not parse (truncated, a missing brace): report it and drop the rest of the text
                # from the content, since we cannot tell where it ends.
                found = True
                n += 1
                errors.append(f"JSON call #{n}: invalid JSON ({error.msg} at char {error.pos - i})")
                pieces.append(text[pos:i])
                pos = len(text)
                break
            continue
        if _looks_like_call(value):
            found = True
            n += 1
            pieces.append(text[pos:i])
            _calls_from_value(value, f"JSON call #{n}", calls, errors)
            pos = end
    if not found:
        return None
    pieces.append(text[pos:])
    return ParsedReply(content="".join(pieces).strip(), calls=calls, errors=errors, format="bare")


def parse_tool_calls(text: str) -> ParsedReply:
    """Split a model reply into text and tool calls.

    Accepts, in this order of precedence: Qwen `<tool_call>{json}</tool_call>` tags (several per turn, an unclosed
    last tag included; a `</tool_call>` with no opening tag is reported as malformed); ```json (or bare ```) fences
    holding a call; bare JSON in the text. A call is `{"name": ..., "arguments": {...}}`, with `"parameters"` accepted
    for `"arguments"`, arguments given as a JSON string, an OpenAI `{"function": {...}}` wrapper, or a list of such
    calls. Outside tags, JSON that does not look like a call (no "name", or keys a call does not have) stays text.

    Args:
        text: the model's reply (special tokens may be present; they are kept in `content`).

    Returns:
        A ParsedReply; malformed calls are listed in `errors` and never raise.
    """
    if text is None:
        text = ""
    if _OPEN_TAG in text:
        return _parse_tagged(text)
    if _CLOSE_TAG in text:
        # Closing tags only: the model dropped the opener. Read any JSON call as usual, and flag each stray tag.
        stray = text.count(_CLOSE_TAG)
        text = text.replace(_CLOSE_TAG, "")
        reply = _parse_fenced(text) or _parse_bare(text) or ParsedReply(content=text.strip(), format="tagged")
        reply.errors += [_STRAY_CLOSE] * stray
        return reply
    return _parse_fenced(text) or _parse_bare(text) or ParsedReply(content=text.strip())


# TRL sends a tool exception back as `str({"error": ...})` (a Python repr); tools and environments may also return JSON.
_ERROR_RESULT_RE = re.compile(r"""^\s*\{\s*['"]error['"]\s*:""")


def is_error_result(content: Any) -> bool:
    """True when a tool result is an error report: `{"error": ...}` as a dict, JSON or Python repr (TRL's form)."""
    if isinstance(content, dict):
        return "error" in content
    return isinstance(content, str) and bool(_ERROR_RESULT_RE.match(content))

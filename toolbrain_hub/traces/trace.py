"""Execution traces (the paper's Adapter) and the tool-call parser.

A model turn is text. `parse_tool_calls` turns it into tool calls, whatever form the model used: the Qwen
`<tool_call>{json}</tool_call>` tags the chat template asks for, a ```json fence, or a bare JSON object after some
prose (what the default 0.5B model actually writes, see FACTS.md). Malformed calls are reported, never raised, so a
rollout goes on and a reward can penalize them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..jsonl import JsonlError, iter_jsonl

__all__ = [
    "ParsedReply",
    "ToolCall",
    "ToolResult",
    "Trace",
    "Turn",
    "call_from_json",
    "is_error_result",
    "load_traces",
    "parse_tool_calls",
    "read_calls",
    "save_traces",
]

# Keys a JSON object may hold and still be read as a bare call: anything else means "some other JSON", not a call.
_CALL_KEYS = {"name", "arguments", "parameters", "id", "type", "function"}

_TAG_RE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_OPEN_TAG = "<tool_call>"
_CLOSE_TAG = "</tool_call>"
_STRAY_CLOSE = f"{_CLOSE_TAG} without an opening {_OPEN_TAG}"
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)```", re.DOTALL)
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


def read_calls(value: Any, where: str = "calls") -> list[ToolCall]:
    """Read a list of calls given as JSON text or parsed data (e.g. a task's `expected_calls` column).

    Each call is `{"name", "arguments"}` in any form `parse_tool_calls` accepts inside a tag (`parameters`, a
    JSON-string `arguments`, an OpenAI `function` wrapper). None or "" is no calls.

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
    calls: list[ToolCall] = []
    errors: list[str] = []
    _calls_from_value(value, where, calls, errors)
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
    # A fence inside the tags happens: read what is inside it.
    fence = _FENCE_RE.fullmatch(raw)
    if fence:
        raw = fence.group(2).strip()
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
    for n, m in enumerate(_FENCE_RE.finditer(text), start=1):
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
    decoder = json.JSONDecoder()
    calls: list[ToolCall] = []
    errors: list[str] = []
    pieces: list[str] = []
    pos = 0  # end of the last consumed span
    i = 0
    n = 0
    found = False
    # Code the model shows in a ```python (etc.) block is not a call, even when it contains call-shaped JSON.
    code_blocks = {m.start(): m.end() for m in _FENCE_RE.finditer(text) if m.group(1).lower() not in _JSON_FENCE_LANGS}
    while i < len(text):
        if i in code_blocks:
            i = code_blocks[i]
            continue
        if text[i] not in "{[":
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            if _CALL_START_RE.match(text, i):
                # A call that does not parse (truncated, a missing brace): report it and drop the rest of the text
                # from the content, since we cannot tell where it ends.
                found = True
                n += 1
                errors.append(f"JSON call #{n}: invalid JSON ({e.msg} at char {e.pos - i})")
                pieces.append(text[pos:i])
                pos = i = len(text)
                break
            i += 1
            continue
        if _looks_like_call(value):
            found = True
            n += 1
            pieces.append(text[pos:i])
            _calls_from_value(value, f"JSON call #{n}", calls, errors)
            pos = i = end
        else:
            i = end  # skip over data JSON as a whole so its inner objects are not read as calls
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


# ---------------------------------------------------------------------------------------------------------------------
# Traces

# TRL sends a tool exception back as `str({"error": ...})` (a Python repr); tools and environments may also return JSON.
_ERROR_RESULT_RE = re.compile(r"""^\s*\{\s*['"]error['"]\s*:""")


def is_error_result(content: Any) -> bool:
    """True when a tool result is an error report: `{"error": ...}` as a dict, JSON or Python repr (TRL's form)."""
    if isinstance(content, dict):
        return "error" in content
    return isinstance(content, str) and bool(_ERROR_RESULT_RE.match(content))


@dataclass
class ToolResult:
    """What a tool call returned.

    Args:
        name: the tool's name.
        content: the result as text (what the model saw).
        error: True when the call failed (exception, unknown tool, invalid arguments).
        call_id: id of the call it answers, when the format has ids.
    """

    name: str
    content: str
    error: bool = False
    call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "content": self.content, "error": self.error, "call_id": self.call_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolResult:
        return cls(
            name=data.get("name") or "",
            content=data.get("content") or "",
            error=bool(data.get("error", False)),
            call_id=data.get("call_id"),
        )


@dataclass
class Turn:
    """One model turn and what came back from its tool calls.

    Args:
        role: "assistant" for model turns; "user" for text injected between turns (environment feedback).
        text: the model's text outside its tool calls.
        calls: the well-formed tool calls of the turn.
        results: tool results, in call order (one result may stand for several calls when the agent merged them).
        errors: malformed call attempts (see `parse_tool_calls`).
        format: how the calls were written: "tagged", "fenced", "bare" or "none".
        prompt_tokens: tokens the model read for this turn, when known.
        completion_tokens: tokens the model wrote for this turn, when known.
    """

    role: str = "assistant"
    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    format: str = "none"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def call_outcomes(self) -> list[bool | None]:
        """Per call: True if it ran and succeeded, False if it failed, None if it never ran (no result)."""
        if not self.calls:
            return []
        if len(self.results) == 1 and len(self.calls) > 1 and self.results[0].call_id is None:
            return [not self.results[0].error] * len(self.calls)  # one merged result for all calls (smolagents)
        outcomes: list[bool | None] = []
        by_id = {r.call_id: r for r in self.results if r.call_id is not None}
        positional = [r for r in self.results if r.call_id is None or r.call_id not in {c.id for c in self.calls}]
        for call in self.calls:
            result = by_id.get(call.id) if call.id is not None else None
            if result is None and positional:
                result = positional.pop(0)
            outcomes.append(None if result is None else not result.error)
        return outcomes

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "text": self.text,
            "calls": [c.to_dict() for c in self.calls],
            "results": [r.to_dict() for r in self.results],
            "errors": list(self.errors),
            "format": self.format,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(
            role=data.get("role", "assistant"),
            text=data.get("text") or "",
            calls=[ToolCall.from_dict(c) for c in data.get("calls") or []],
            results=[ToolResult.from_dict(r) for r in data.get("results") or []],
            errors=list(data.get("errors") or []),
            format=data.get("format") or "none",
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
        )


def _text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of content blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type", "text") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return str(content)


def _message_get(message: Any, key: str, default: Any = None) -> Any:
    if isinstance(message, dict):
        return message.get(key, default)
    return getattr(message, key, default)


def _calls_from_message(tool_calls: list[Any]) -> tuple[list[ToolCall], list[str]]:
    """Structured tool calls of a chat message (OpenAI/TRL dicts or smolagents objects) -> ToolCalls + errors."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    for i, tc in enumerate(tool_calls):
        function = _message_get(tc, "function", tc)
        obj = {
            "name": _message_get(function, "name"),
            "arguments": _message_get(function, "arguments"),
            "id": _message_get(tc, "id"),
        }
        if obj["arguments"] is not None and not isinstance(obj["arguments"], (dict, str)):
            obj["arguments"] = {"input": obj["arguments"]}  # e.g. a CodeAgent's code string
        call, error = call_from_json(obj, f"tool_calls[{i}]")
        if call is not None:
            calls.append(call)
        else:
            errors.append(error)
    return calls, errors


def _count_tokens(tokenizer: Any, text: str) -> int | None:
    if tokenizer is None:
        return None
    return len(tokenizer.encode(text, add_special_tokens=False))


@dataclass
class Trace:
    """A standard execution trace of one episode: what the model wrote, which tools it called, what came back.

    The same shape whether the episode ran in TRL (`from_messages`) or in a smolagents agent (`from_smolagents`), so
    rewards, the judge and evaluation read one format.

    Args:
        query: the task as the user asked it.
        turns: model turns in order (tool results are attached to the turn that made the calls).
        final_answer: the answer the episode ended with, or None when it ended without one (still calling tools, cut
            at the turn or length limit, or an agent error).
        task_id: the task's id in its dataset.
        metadata: anything else (model, run, step, agent errors).
    """

    query: str = ""
    turns: list[Turn] = field(default_factory=list)
    final_answer: str | None = None
    task_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- totals --------------------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[ToolCall]:
        """All well-formed tool calls of the episode, in order."""
        return [c for t in self.turns for c in t.calls]

    @property
    def model_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.role == "assistant"]

    def totals(self) -> dict[str, int]:
        """Counts over the episode: turns, tool calls, invalid calls, failed calls, unexecuted calls, tokens."""
        outcomes = [o for t in self.turns for o in t.call_outcomes()]
        prompt = [t.prompt_tokens for t in self.turns if t.prompt_tokens is not None]
        completion = [t.completion_tokens for t in self.turns if t.completion_tokens is not None]
        return {
            "turns": len(self.model_turns),
            "tool_calls": len(self.calls),
            "invalid_calls": sum(len(t.errors) for t in self.turns),
            "errors": sum(1 for o in outcomes if o is False),
            "unexecuted_calls": sum(1 for o in outcomes if o is None),
            "prompt_tokens": sum(prompt),
            "completion_tokens": sum(completion),
        }

    # -- serialization -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "query": self.query,
            "turns": [t.to_dict() for t in self.turns],
            "final_answer": self.final_answer,
            "totals": self.totals(),  # derived, written for readers of the JSONL; recomputed on load
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if not isinstance(data, dict):
            raise ValueError(f"a trace must be a JSON object, got {type(data).__name__}")
        if not isinstance(data.get("turns", []), list):
            raise ValueError("trace field 'turns' must be a list")
        return cls(
            task_id=data.get("task_id"),
            query=data.get("query") or "",
            turns=[Turn.from_dict(t) for t in data.get("turns") or []],
            final_answer=data.get("final_answer"),
            metadata=dict(data.get("metadata") or {}),
        )

    def fingerprint(self) -> str:
        """A stable hash of the episode's content (query, turns, answer; not metadata), e.g. to cache judgments."""
        import hashlib

        body = {"query": self.query, "turns": [t.to_dict() for t in self.turns], "final_answer": self.final_answer}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def render(self, max_chars: int = 400) -> str:
        """Compact text of the episode for an LLM judge or a log.

        Args:
            max_chars: longest text kept for any one message or tool result (the middle is cut).
        """

        def cut(text: str) -> str:
            text = text.strip()
            if len(text) <= max_chars:
                return text
            half = max(max_chars // 2 - 10, 1)
            return f"{text[:half]} [... {len(text) - 2 * half} chars cut ...] {text[-half:]}"

        lines = [f"Task: {cut(self.query)}"]
        for n, turn in enumerate(self.turns, start=1):
            if turn.role != "assistant":
                lines.append(f"[{n}] {turn.role}: {cut(turn.text)}")
                continue
            lines.append(f"[{n}] assistant: {cut(turn.text)}" if turn.text.strip() else f"[{n}] assistant:")
            for call, outcome in zip(turn.calls, turn.call_outcomes(), strict=True):
                args = json.dumps(call.arguments, ensure_ascii=False, default=str)
                lines.append(f"  call {call.name}({cut(args)}){' (not executed)' if outcome is None else ''}")
            for result in turn.results:
                lines.append(f"  -> {result.name}: {'ERROR ' if result.error else ''}{cut(result.content)}")
            for error in turn.errors:
                lines.append(f"  malformed call: {cut(error)}")
        lines.append(f"Final answer: {cut(self.final_answer) if self.final_answer is not None else '(none)'}")
        t = self.totals()
        lines.append(
            f"({t['turns']} turns, {t['tool_calls']} tool calls, {t['invalid_calls']} malformed, {t['errors']} failed)"
        )
        return "\n".join(lines)

    # -- adapters ------------------------------------------------------------------------------------------------

    @classmethod
    def from_messages(
        cls,
        messages: list[dict[str, Any]],
        task_id: str | None = None,
        query: str | None = None,
        tokenizer: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> Trace:
        """Build a trace from chat messages: a TRL completion (prompt + completion) or any plain chat history.

        Assistant messages may carry structured `tool_calls` (TRL parsed `<tool_call>` tags: format "tagged") and/or
        text; the text is parsed too, so bare or fenced calls TRL did not see, and malformed tags, are recorded
        (as unexecuted calls and errors). A message may set `tool_call_format` / `tool_call_errors` (what
        `ParsedReply.to_message` writes) to keep the format of calls parsed before. `role: "tool"` messages attach to
        the preceding assistant turn; a result `{"error": ...}` (TRL's form for a tool exception) is a failed call.

        Args:
            messages: the conversation, oldest first (dicts with role/content; content may be content blocks).
            task_id: the task's id.
            query: the task text; by default the first user message.
            tokenizer: when given, per-turn completion tokens are counted with it.
            metadata: stored on the trace.
        """
        trace = cls(task_id=task_id, metadata=dict(metadata or {}))
        first_user = True
        for i, message in enumerate(messages):
            role = _message_get(message, "role")
            text = _text_of(_message_get(message, "content"))
            if role == "system":
                continue
            if role == "user":
                if first_user and not trace.turns:
                    trace.query = text
                    first_user = False
                else:
                    trace.turns.append(Turn(role="user", text=text))
                continue
            if role == "assistant":
                trace.turns.append(_assistant_turn(message, text, tokenizer))
                continue
            if role in ("tool", "tool-response", "ipython"):
                result = ToolResult(
                    name=_message_get(message, "name") or "",
                    content=text,
                    error=bool(_message_get(message, "error", False)) or is_error_result(text),
                    call_id=_message_get(message, "tool_call_id"),
                )
                if trace.turns and trace.turns[-1].role == "assistant":
                    trace.turns[-1].results.append(result)
                else:
                    trace.turns.append(Turn(role="tool", text=text, results=[result]))
                continue
            raise ValueError(f"message {i} has an unknown role {role!r} (expected system/user/assistant/tool)")
        if query is not None:
            trace.query = query
        last = trace.turns[-1] if trace.turns else None
        if last is not None and last.role == "assistant" and not last.calls and not last.errors:
            trace.final_answer = last.text
        return trace

    @classmethod
    def from_text(cls, query: str, text: str, task_id: str | None = None, tokenizer: Any = None) -> Trace:
        """A one-turn trace from a plain (non-chat) prompt and completion."""
        return cls.from_messages(
            [{"role": "user", "content": query}, {"role": "assistant", "content": text}],
            task_id=task_id,
            tokenizer=tokenizer,
        )

    @classmethod
    def from_smolagents(
        cls, agent_or_memory: Any, task_id: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Trace:
        """Build a trace from a smolagents agent (after `run`) or its `AgentMemory`.

        Each ActionStep becomes a turn: the model's text, its tool calls, the observations as the result, the step's
        error (a tool that raised, an unknown tool, invalid arguments) as a failed result, or as a malformed call when
        the model output could not be parsed. The `final_answer` tool call is the episode's answer, not a tool call.

        Args:
            agent_or_memory: a smolagents agent (MultiStepAgent) or its `.memory`.
            task_id: the task's id.
            metadata: stored on the trace; agent-level errors (max steps) are added under "agent_errors".
        """
        from smolagents.memory import ActionStep, FinalAnswerStep, TaskStep
        from smolagents.utils import AgentExecutionError, AgentParsingError

        memory = getattr(agent_or_memory, "memory", agent_or_memory)
        steps = getattr(memory, "steps", None)
        if steps is None:
            raise TypeError(f"expected a smolagents agent or AgentMemory, got {type(agent_or_memory).__name__}")
        trace = cls(task_id=task_id, metadata=dict(metadata or {}))
        agent_errors: list[str] = []
        for step in steps:
            if isinstance(step, TaskStep):
                if not trace.query:
                    trace.query = step.task
                continue
            if isinstance(step, FinalAnswerStep):
                trace.final_answer = None if step.output is None else str(step.output)
                continue
            if not isinstance(step, ActionStep):
                continue  # planning steps carry no actions
            if step.model_output_message is None and step.model_output is None:
                # The max-steps fallback: an answer written without tools, recorded with an error.
                if step.error is not None:
                    agent_errors.append(str(step.error))
                if step.action_output is not None:
                    trace.final_answer = str(step.action_output)
                continue
            text = _text_of(step.model_output) if step.model_output is not None else ""
            message = step.model_output_message
            raw_calls = step.tool_calls or (_message_get(message, "tool_calls") if message is not None else None) or []
            calls, errors = _calls_from_message(raw_calls)
            parsed = parse_tool_calls(text)
            turn = Turn(
                text=parsed.content if parsed.format != "none" else text.strip(),
                calls=[c for c in calls if c.name != "final_answer"],
                errors=errors,
                format=parsed.format if parsed.format != "none" else ("tagged" if calls else "none"),
            )
            if step.token_usage is not None:
                turn.prompt_tokens = step.token_usage.input_tokens
                turn.completion_tokens = step.token_usage.output_tokens
            if step.error is not None:
                if isinstance(step.error, AgentParsingError) or not turn.calls and not isinstance(
                    step.error, AgentExecutionError
                ):
                    turn.errors.append(str(step.error))
                elif turn.calls:
                    names = ", ".join(c.name for c in turn.calls)
                    turn.results.append(ToolResult(name=names, content=str(step.error), error=True))
                else:
                    agent_errors.append(str(step.error))  # e.g. a final answer rejected by a check
            elif turn.calls and step.observations is not None:
                if len(turn.calls) == 1:
                    turn.results.append(
                        ToolResult(name=turn.calls[0].name, content=step.observations, call_id=turn.calls[0].id)
                    )
                else:  # smolagents joins the observations of parallel calls: keep them as one result
                    names = ", ".join(c.name for c in turn.calls)
                    turn.results.append(ToolResult(name=names, content=step.observations))
            if step.is_final_answer:
                final = [c for c in calls if c.name == "final_answer"]
                if step.action_output is not None:
                    trace.final_answer = str(step.action_output)
                elif final:
                    trace.final_answer = str(final[0].arguments.get("answer", ""))
            trace.turns.append(turn)
        if agent_errors:
            trace.metadata["agent_errors"] = agent_errors
        return trace


def _assistant_turn(message: Any, text: str, tokenizer: Any) -> Turn:
    structured = _message_get(message, "tool_calls") or []
    calls, errors = _calls_from_message(structured)
    parsed = parse_tool_calls(text)
    calls += parsed.calls  # calls left in the text were not executed by TRL: they get no result
    errors += parsed.errors
    fmt = _message_get(message, "tool_call_format")
    if fmt is None:
        fmt = "tagged" if structured else parsed.format
    errors += list(_message_get(message, "tool_call_errors") or [])
    written = text
    if structured and tokenizer is not None:  # count the call tokens too: TRL removed the tags from the content
        written += "".join(
            "<tool_call>\n" + json.dumps({"name": c.name, "arguments": c.arguments}) + "\n</tool_call>"
            for c in calls
        )
    return Turn(
        text=parsed.content,
        calls=calls,
        errors=errors,
        format=fmt,
        completion_tokens=_count_tokens(tokenizer, written),
    )


def save_traces(traces: list[Trace], path: str) -> None:
    """Write traces as JSON Lines, one trace per line.

    Args:
        traces: the traces.
        path: the .jsonl file to write (parent folders are created).
    """
    from pathlib import Path

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for trace in traces:
            f.write(json.dumps(trace.to_dict(), ensure_ascii=False, default=str) + "\n")


def load_traces(path: str) -> list[Trace]:
    """Read traces written by `save_traces`.

    Args:
        path: the .jsonl file.

    Raises:
        ValueError: naming the file and line of a line that is not valid JSON or not a trace.
    """
    traces = []
    try:
        for n, data in iter_jsonl(path):
            try:
                traces.append(Trace.from_dict(data))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise JsonlError(path, n, str(e)) from None
    except JsonlError as e:
        raise ValueError(f"{path}, line {e.line}: not a valid trace: {e.reason}") from None
    return traces

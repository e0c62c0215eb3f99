"""Execution traces (the paper's Adapter): the `Trace` of an episode, its turns, calls and results.

A trace is built from TRL's chat messages (`Trace.from_messages`) or a smolagents agent's memory
(`Trace.from_smolagents`); the text of each model turn is read with the tool-call parser (`traces.parsing`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..jsonl import JsonlError, iter_jsonl
from .parsing import ToolCall, call_from_json, is_error_result, parse_tool_calls

__all__ = ["ToolResult", "Trace", "Turn", "load_traces", "save_traces"]


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

"""Traces: tool calls parsed from model output and the `Trace` of an episode (turns, calls, results)."""

from __future__ import annotations

from .trace import (
    ParsedReply,
    ToolCall,
    ToolResult,
    Trace,
    Turn,
    call_from_json,
    is_error_result,
    load_traces,
    parse_tool_calls,
    read_calls,
    save_traces,
)

__all__ = [
    "ParsedReply", "ToolCall", "ToolResult", "Trace", "Turn", "call_from_json", "is_error_result", "load_traces",
    "parse_tool_calls", "read_calls", "save_traces"
]

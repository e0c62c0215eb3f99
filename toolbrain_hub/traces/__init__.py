"""Traces: tool calls parsed from model output (`traces.parsing`), JSON read from a model's reply
(`traces.json_reply`), and the `Trace` of an episode (turns, calls, results; `traces.trace`)."""

from __future__ import annotations

from .json_reply import extract_json, extract_json_object
from .parsing import (
    ExpectedCall,
    ParsedReply,
    ToolCall,
    call_from_json,
    is_error_result,
    parse_tool_calls,
    read_calls,
)
from .trace import ToolResult, Trace, Turn, load_traces, save_traces

__all__ = [
    "ExpectedCall", "ParsedReply", "ToolCall", "ToolResult", "Trace", "Turn", "call_from_json", "extract_json",
    "extract_json_object", "is_error_result", "load_traces", "parse_tool_calls", "read_calls", "save_traces",
]

"""Tools: schemas (`ToolSpec`, `load_tools`), how they reach a chat template (`rendering`: whole), their Python
implementations, and retrieval of the right tools from many.
"""

from __future__ import annotations

from .checks import MAX_SCHEMA_DEPTH, ToolSchemaError, resolve_pointer
from .implementations import load_implementations
from .rendering import install_tool_schemas, template_tools
from .schemas import (
    EXPECTED_TOOLS,
    MAX_FILE_BYTES,
    MAX_TOOLS,
    NAME_PATTERN,
    TASK_PARAMETER,
    ToolSpec,
    constraint_notes,
    load_tools,
    takes_task,
)

__all__ = [
    "EXPECTED_TOOLS", "MAX_FILE_BYTES", "MAX_SCHEMA_DEPTH", "MAX_TOOLS", "NAME_PATTERN", "TASK_PARAMETER",
    "ToolSchemaError", "ToolSpec", "constraint_notes", "install_tool_schemas", "load_implementations", "load_tools",
    "resolve_pointer", "takes_task", "template_tools"
]

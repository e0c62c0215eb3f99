"""The checks a tool's JSON Schema goes through, and `ToolSchemaError`, which names the file, tool and field of a fault.

A schema must be valid JSON Schema (Draft 2020-12 unless it says otherwise), an object schema for the arguments,
within the size limits, and free of constructs the tool-calling formats cannot carry (external `$ref`s...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ToolBrainError

MAX_SCHEMA_DEPTH = 32
# Keywords that make a schema depend on something outside the document (we only resolve local "#/..." refs).
_UNSUPPORTED_KEYWORDS = {
    "$dynamicRef": "$dynamicRef (dynamic references)",
    "$recursiveRef": "$recursiveRef (recursive references)",
    "$dynamicAnchor": "$dynamicAnchor",
    "$recursiveAnchor": "$recursiveAnchor",
}


class ToolSchemaError(ToolBrainError, ValueError):
    """A tool definition is malformed. `str(e)` is one line naming file, tool and field (and line for JSON errors).

    When a list has several faults, one error reports them all: `faults` holds one `ToolSchemaError` per fault (for a
    single fault it is `[self]`), and `str(e)` lists them ("2 problems: (1) tool ..., field ...: ...; (2) ...").
    """

    def __init__(self, problem: str, *, file: str | None = None, tool: str | None = None, field: str | None = None,
                 line: int | None = None, column: int | None = None, faults: list[ToolSchemaError] | None = None):
        self.problem, self.file, self.tool, self.field = problem, file, tool, field
        self.line, self.column = line, column
        self.faults = list(faults) if faults else [self]
        where = [file] if file else []
        located = self.location()
        if located:
            where.append(located)
        super().__init__(": ".join([", ".join(where), problem]) if where else problem)

    def location(self) -> str:
        """Where the fault is, without the file: "line 3, column 5", "tool 'x', field 'name'"..."""
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.tool:
            where.append(f"tool {self.tool}")
        if self.field:
            where.append(f"field '{self.field}'")
        return ", ".join(where)

    def describe(self) -> str:
        """The fault without the file name: its location and problem."""
        return f"{self.location()}: {self.problem}" if self.location() else self.problem

    @classmethod
    def combine(cls, faults: list[ToolSchemaError], file: str | None) -> ToolSchemaError:
        """One error for all `faults` (the fault itself when there is only one).

        Args:
            faults: The faults found, in document order.
            file: How to name the source.
        """
        if len(faults) == 1:
            return faults[0]
        listed = "; ".join(f"({i}) {f.describe()}" for i, f in enumerate(faults[:_LISTED_FAULTS], start=1))
        more = f"; and {len(faults) - _LISTED_FAULTS} more" if len(faults) > _LISTED_FAULTS else ""
        return cls(f"{len(faults)} problems: {listed}{more}", file=file, faults=faults)


# At most this many faults are spelled out in one message (all are kept in `ToolSchemaError.faults`).
_LISTED_FAULTS = 20


def check_parameters(parameters: Any, label: str, tool: str, key: str) -> None:
    if not isinstance(parameters, dict):
        raise ToolSchemaError(f"parameters must be a JSON Schema object, got {type_name(parameters)}", file=label,
                              tool=tool, field=key)
    if parameters.get("type") != "object":
        got = parameters.get("type")
        raise ToolSchemaError(f'parameters must be an object schema ("type": "object"), got type {got!r}',
                              file=label, tool=tool, field=f"{key}.type")
    props = parameters.get("properties", {})
    if not isinstance(props, dict):
        raise ToolSchemaError(f"properties must be an object, got {type_name(props)}", file=label, tool=tool,
                              field=f"{key}.properties")
    check_json_schema(parameters, label, tool, key)
    for arg in parameters.get("required") or []:
        if arg not in props:
            raise ToolSchemaError(f"required argument {arg!r} is not defined in properties", file=label, tool=tool,
                                  field=f"{key}.required")


def default_validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator


def check_json_schema(schema: Any, label: str, tool: str, key: str) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    _check_constructs(schema, schema, label, tool, key, depth=0)
    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    if dialect is not None:
        import warnings

        with warnings.catch_warnings():  # jsonschema warns on unknown dialects; we raise instead
            warnings.simplefilter("ignore")
            known = validator_for({"$schema": dialect}, default=None) if isinstance(dialect, str) else None
        if known is None:
            raise ToolSchemaError(f"unknown JSON Schema dialect {dialect!r}", file=label, tool=tool,
                                  field=f"{key}.$schema")
    cls = validator_for(schema, default=default_validator())
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        where = json_path(e.path)
        raise ToolSchemaError(f"invalid JSON Schema: {shorten(e.message)}", file=label, tool=tool,
                              field=f"{key}{where and '.' + where}") from None


def _check_constructs(node: Any, root: Any, label: str, tool: str, path: str, depth: int) -> None:
    if depth > MAX_SCHEMA_DEPTH:
        raise ToolSchemaError(f"schema nested deeper than {MAX_SCHEMA_DEPTH} levels", file=label, tool=tool,
                              field=path)
    if isinstance(node, list):
        for i, child in enumerate(node):
            _check_constructs(child, root, label, tool, f"{path}[{i}]", depth + 1)
        return
    if not isinstance(node, dict):
        return
    for keyword, what in _UNSUPPORTED_KEYWORDS.items():
        if keyword in node:
            raise ToolSchemaError(f"unsupported construct: {what}", file=label, tool=tool, field=f"{path}.{keyword}")
    ref = node.get("$ref")
    if ref is not None:
        if not isinstance(ref, str):
            raise ToolSchemaError("$ref must be a string", file=label, tool=tool, field=f"{path}.$ref")
        if not ref.startswith("#"):
            raise ToolSchemaError(f"unsupported construct: $ref to an external document ({shorten(ref, 80)}); only "
                                  "local references like '#/$defs/Name' are supported", file=label, tool=tool,
                                  field=f"{path}.$ref")
        if resolve_pointer(root, ref) is None:
            raise ToolSchemaError(f"$ref {ref!r} does not resolve inside the schema", file=label, tool=tool,
                                  field=f"{path}.$ref")
    for key, child in node.items():
        # Values of these keywords are data (or names), not subschemas: don't look for constructs inside them.
        if key in ("enum", "const", "examples", "default", "required", "description", "title"):
            continue
        if key == "properties" and isinstance(child, dict):
            for prop, sub in child.items():
                _check_constructs(sub, root, label, tool, f"{path}.properties.{prop}", depth + 1)
            continue
        _check_constructs(child, root, label, tool, f"{path}.{key}", depth + 1)


def resolve_pointer(root: Any, ref: str) -> Any:
    """The node a local `$ref` ('#', '#/a/b') points to, or None."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def json_path(parts: Iterable) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def shorten(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Public names of a tool environment (`environment.ToolEnvironment`). The environment exposes every tool as a method of
# that name (what TRL's `environment_factory` calls), so a tool named like one of these would shadow it.
ENVIRONMENT_NAMES = frozenset({"reset", "get_reward", "calls", "row", "query", "tool_specs", "tool_schemas",
                               "tool_names", "tools_column"})


def method_name_problem(name: str) -> str | None:
    """Why a tool cannot be exposed as a tool environment's method under this name, or None when it can.

    Args:
        name: The tool's name.
    """
    if not name.isidentifier() or name.startswith("_"):
        return "tool names must be Python identifiers and not start with '_'"
    if name in ENVIRONMENT_NAMES:
        return f"{name!r} is one of the environment's own names {sorted(ENVIRONMENT_NAMES)}"
    return None

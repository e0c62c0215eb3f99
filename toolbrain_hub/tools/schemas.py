"""Tool definitions in, one normalized `ToolSpec` out.

Accepted inputs (`load_tools`):
- OpenAI function-calling JSON: a list of `{"type": "function", "function": {...}}` items, `{"tools": [...]}`,
  the legacy `{"functions": [...]}`, bare `{name, description, parameters}` items and the flat Responses-API form;
- an MCP `tools/list` result: `{"tools": [{name, description, inputSchema, outputSchema?}]}`, also wrapped in a
  JSON-RPC response `{"result": {"tools": [...]}}`;
- in the library only: Python functions with type hints and a Google-style docstring, and smolagents `Tool`s.
  A function's keyword-only parameter `task` (`*, task: dict | None = None`) is not a tool argument: it is how the
  implementation receives the episode's task row (`environment.backends.PythonTools`), so its schema leaves it out.

A file or JSON text is DATA: it is parsed with `json` and checked against the JSON Schema meta-schema, never
evaluated. Problems raise `ToolSchemaError` naming the file, the tool (name or index) and the field; every tool of
a list is checked, and one error reports all their faults. Something that is no tool list at all (`{"foo": 1}`, `42`)
is refused with what was expected.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import (
    ToolSchemaError,
    check_json_schema,
    check_parameters,
    default_validator,
    json_path,
    shorten,
    type_name,
)
from .rendering import TOOL_SCHEMA_ATTRIBUTE

MAX_TOOLS = 256
MAX_FILE_BYTES = 2 * 1024 * 1024
# OpenAI's function-name rule; most chat templates and providers accept exactly this.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What a tool source may be, for the message when it is something else.
EXPECTED_TOOLS = ('a list of tools, {"tools": [...]} (OpenAI or an MCP tools/list result), or one tool object '
                  '(OpenAI {"type": "function", "function": {...}} or MCP {"name", "description", "inputSchema"})')
# Keys that make a JSON object a tool (possibly a broken one) rather than something else entirely.
_TOOL_KEYS = {"name", "function", "description", "parameters", "inputSchema", "input_schema", "type"}
# The keyword-only parameter through which an implementation receives the episode's task row (a dict): never part of
# the tool's schema, never set by the model (environment.backends.PythonTools passes it).
TASK_PARAMETER = "task"


@dataclass
class ToolSpec:
    """One tool: a name, a description and a JSON Schema for its arguments (optionally one for its output).

    Args:
        name: Tool name (letters, digits, `_`, `-`; at most 64 characters).
        description: What the tool does; models read it to decide when to call the tool.
        parameters: A JSON Schema with `"type": "object"` describing the arguments.
        output_schema: Optional JSON Schema of the result (informational).
    """

    name: str
    description: str
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict | None = None

    def __post_init__(self):
        self._validator = None

    @property
    def properties(self) -> dict[str, Any]:
        return self.parameters.get("properties") or {}

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required") or [])

    def to_openai(self) -> dict:
        """The chat-template / OpenAI tool format: `{"type": "function", "function": {...}}`."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": copy.deepcopy(self.parameters)}}

    def to_dict(self) -> dict:
        out = {"name": self.name, "description": self.description, "parameters": copy.deepcopy(self.parameters)}
        if self.output_schema is not None:
            out["output_schema"] = copy.deepcopy(self.output_schema)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ToolSpec:
        """Inverse of `to_dict`; validates like `load_tools` does."""
        return load_tools([data])[0]

    @classmethod
    def from_function(cls, func: Callable) -> ToolSpec:
        """The spec of a Python function (type hints + Google-style docstring), as `load_tools` reads it; a
        keyword-only `task` parameter (see `takes_task`) is left out of the schema.

        Args:
            func: The function.
        """
        return load_tools([func], name=getattr(func, "__name__", None))[0]

    def validate_arguments(self, arguments: Any) -> list[str]:
        """Problems with `arguments` for this tool (empty list: valid), one readable line each."""
        if not isinstance(arguments, dict):
            return [f"arguments must be a JSON object, got {type(arguments).__name__}"]
        if self._validator is None:
            from jsonschema import FormatChecker
            from jsonschema.validators import validator_for

            cls = validator_for(self.parameters, default=default_validator())
            self._validator = cls(self.parameters, format_checker=FormatChecker())
        problems = []
        for error in sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
            where = json_path(error.absolute_path)
            problems.append(f"{where}: {error.message}" if where else error.message)
        return problems

    def to_smolagents_tool(self, function: Callable | None = None):
        """A smolagents `Tool` with this name, description and inputs.

        Args:
            function: The implementation, called with the arguments as keywords. Without it the tool only describes
                itself: calling it raises an error saying to pass an implementation.
        """
        from smolagents import Tool

        if not self.name.isidentifier():
            raise ToolSchemaError(f"smolagents needs tool names that are Python identifiers, got {self.name!r}",
                                  tool=repr(self.name), field="name")
        inputs = {}
        for key, prop in self.properties.items():
            prop = dict(prop) if isinstance(prop, dict) else {}
            entry = {k: v for k, v in prop.items() if k not in ("type", "description")}
            entry["type"] = _smolagents_type(prop)
            entry["description"] = prop.get("description") or key.replace("_", " ")
            if key not in self.required:
                entry["nullable"] = True
            inputs[key] = entry
        output_type = _smolagents_type(self.output_schema or {}) if self.output_schema else "any"
        spec_name = self.name

        def forward(self, **kwargs):
            if function is None:
                raise NotImplementedError(
                    f"Tool {spec_name!r} has a schema but no implementation: pass tools= with an implementation "
                    f"(e.g. tools={{'{spec_name}': my_function}}) when building the agent."
                )
            return function(**kwargs)

        attrs = {"name": self.name, "description": self.description, "inputs": inputs, "output_type": output_type,
                 "output_schema": copy.deepcopy(self.output_schema), "skip_forward_signature_validation": True,
                 "forward": forward}
        tool_cls = type(f"{_camel(self.name)}Tool", (Tool,), attrs)
        return tool_cls()

    def to_callable(self, function: Callable | None = None) -> Callable:
        """A plain Python function for TRL's `tools=[...]`, carrying this tool's full schema (`to_openai()`) in its
        `tool_schema` attribute: a tokenizer prepared with `tools.rendering.install_tool_schemas` renders it as that
        schema, whole.

        Its signature, type hints and docstring also describe the tool, for code that reads them (and for
        `transformers.utils.get_json_schema`, which renders the name, argument names, types, required set,
        descriptions and enums; the constraints type hints cannot carry are written into the argument descriptions;
        nested object/array details are lost). Agents trained before full schemas were rendered saw that view.

        Args:
            function: The implementation; without it, calling raises an error asking for one.
        """
        import inspect
        import keyword

        spec_name = self.name
        if not self.name.isidentifier():
            raise ToolSchemaError(f"Python callables need tool names that are identifiers, got {self.name!r}",
                                  tool=repr(self.name), field="name")

        def tool_function(**kwargs):
            if function is None:
                raise NotImplementedError(f"Tool {spec_name!r} has a schema but no implementation: pass one.")
            return function(**kwargs)

        py_types = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
        params, annotations, arg_docs = [], {}, []
        required = set(self.required)
        # Argument names real APIs use but Python cannot ("from", "class", "max-results") leave the signature as
        # `**kwargs`: what the model is shown comes from `tool_schema`, and calls pass keywords from a dict anyway.
        named = all(key.isidentifier() and not keyword.iskeyword(key) for key in self.properties)
        # Required arguments first: Python signatures cannot put a defaulted argument before a plain one.
        for key in sorted(self.properties, key=lambda k: k not in required):
            prop = self.properties[key] if isinstance(self.properties[key], dict) else {}
            t = prop.get("type")
            hint = py_types.get(t if isinstance(t, str) else "", Any)
            if key not in required:
                hint = hint | None
            annotations[key] = hint
            default = inspect.Parameter.empty if key in required else None
            if named:
                params.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
            doc = " ".join(str(prop.get("description") or key.replace("_", " ")).split())
            if notes := constraint_notes(prop):
                doc += f" ({notes})"
            if prop.get("enum"):
                doc += f" (choices: {json.dumps(prop['enum'])})"
            arg_docs.append(f"    {key}: {doc}")
        tool_function.__name__ = tool_function.__qualname__ = self.name
        if named:
            tool_function.__signature__ = inspect.Signature(params)
            tool_function.__annotations__ = annotations
        description = " ".join(self.description.split())
        tool_function.__doc__ = description + ("\n\nArgs:\n" + "\n".join(arg_docs) if arg_docs else "")
        setattr(tool_function, TOOL_SCHEMA_ATTRIBUTE, self.to_openai())
        return tool_function


# Example values for JSON Schema formats: a model copies an example more reliably than it decodes a format name.
_FORMAT_EXAMPLES = {"date": "YYYY-MM-DD", "date-time": "YYYY-MM-DDTHH:MM:SSZ", "time": "HH:MM:SS",
                    "email": "name@example.com", "uri": "https://...", "uuid": "8-4-4-4-12 hex digits"}


def constraint_notes(prop: dict[str, Any]) -> str:
    """The validation rules of one argument's schema as a short text, e.g. "format: date, YYYY-MM-DD; minimum 1".

    Args:
        prop: The argument's JSON Schema.
    """
    notes = []
    if isinstance(prop.get("format"), str):
        example = _FORMAT_EXAMPLES.get(prop["format"])
        notes.append(f"format: {prop['format']}" + (f", {example}" if example else ""))
    if isinstance(prop.get("pattern"), str):
        notes.append(f"pattern: {prop['pattern']}")
    for key, text in (("minimum", "minimum"), ("maximum", "maximum"), ("exclusiveMinimum", "greater than"),
                      ("exclusiveMaximum", "less than"), ("multipleOf", "multiple of"),
                      ("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
                      ("minItems", "at least {} items"), ("maxItems", "at most {} items")):
        value = prop.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            notes.append(text.format(value) if "{}" in text else f"{text} {value}")
    return "; ".join(notes)


def load_tools(source: Any, *, name: str | None = None, max_tools: int = MAX_TOOLS,
               max_bytes: int = MAX_FILE_BYTES) -> list[ToolSpec]:
    """Parse and validate tool definitions into `ToolSpec`s.

    Args:
        source: A file path (str or Path), JSON text, a parsed list/dict (OpenAI or MCP formats), a ToolSpec, a
            Python function (type hints + docstring), a smolagents Tool, or a list mixing these.
        name: How to name the source in error messages (default: the file path, or "<json>"/"<tools>").
        max_tools: Refuse more tools than this.
        max_bytes: Refuse files or texts larger than this.

    Raises:
        ToolSchemaError: naming file, tool and field.
    """
    label = name
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        path = Path(source)
        label = label or str(path)
        data = _read_json_file(path, label, max_bytes)
    elif isinstance(source, (str, bytes)):
        label = label or "<json>"
        data = _parse_json_text(source, label, max_bytes)
    else:
        label = label or "<tools>"
        data = source
    items = _tool_items(data, label)
    if len(items) > max_tools:
        raise ToolSchemaError(f"{len(items)} tools, more than the limit of {max_tools}", file=label)
    if not items:
        raise ToolSchemaError("no tools found", file=label)
    specs, seen, faults = [], {}, []
    for index, (item, prefix) in enumerate(items):
        try:  # every tool is checked, so one message names all the faults of the list
            spec = _to_spec(item, index, label, prefix)
        except ToolSchemaError as e:
            faults += e.faults
            continue
        if spec.name in seen:
            faults.append(ToolSchemaError(f"duplicate tool name (first defined at index {seen[spec.name]})",
                                          file=label, tool=f"{spec.name!r} (index {index})",
                                          field=_name_field(item, prefix)))
            continue
        seen[spec.name] = index
        specs.append(spec)
    if faults:
        raise ToolSchemaError.combine(faults, label)
    if not isinstance(source, (str, bytes, Path)):
        size = len(json.dumps([s.to_dict() for s in specs], default=str))
        if size > max_bytes:
            raise ToolSchemaError(f"tool definitions are {size} bytes, more than the limit of {max_bytes}", file=label)
    return specs


def _name_field(item: Any, prefix: str) -> str:
    key = "function.name" if isinstance(item, dict) and isinstance(item.get("function"), dict) else "name"
    return f"{prefix}.{key}" if prefix else key


def _read_json_file(path: Path, label: str, max_bytes: int) -> Any:
    if not path.exists():
        raise ToolSchemaError("file not found", file=label)
    if not path.is_file():
        raise ToolSchemaError("not a file", file=label)
    size = path.stat().st_size
    if size > max_bytes:
        raise ToolSchemaError(f"file is {size} bytes, more than the limit of {max_bytes}", file=label)
    return _parse_json_text(path.read_bytes(), label, max_bytes)


def _parse_json_text(text: str | bytes, label: str, max_bytes: int) -> Any:
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise ToolSchemaError(f"{len(text)} bytes, more than the limit of {max_bytes}", file=label)
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ToolSchemaError(f"not UTF-8 text (byte {e.start})", file=label) from None
    elif len(text.encode("utf-8")) > max_bytes:
        raise ToolSchemaError(f"more than the limit of {max_bytes} bytes", file=label)

    def reject_constant(value):
        raise ValueError(f"{value} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as e:
        raise ToolSchemaError(f"not valid JSON: {e.msg}", file=label, line=e.lineno, column=e.colno) from None
    except ValueError as e:
        raise ToolSchemaError(f"not valid JSON: {e}", file=label) from None
    except RecursionError:
        raise ToolSchemaError("not valid JSON: nested too deeply", file=label) from None


def _tool_items(data: Any, label: str) -> list[tuple[Any, str]]:
    """The list of raw tool items in any accepted container, each with its field path prefix."""
    if isinstance(data, dict):
        if isinstance(data.get("result"), dict) and "tools" in data["result"]:
            return _listed(data["result"]["tools"], "result.tools", label)
        if "tools" in data:
            return _listed(data["tools"], "tools", label)
        if "functions" in data and "name" not in data:
            return _listed(data["functions"], "functions", label)
        if "error" in data and "result" not in data:
            raise ToolSchemaError("a JSON-RPC error response, not a tools/list result", file=label, field="error")
        if not _TOOL_KEYS & data.keys():
            keys = ", ".join(repr(k) for k in list(data)[:8]) + (", ..." if len(data) > 8 else "")
            raise ToolSchemaError(f"not a tool list: expected {EXPECTED_TOOLS}; got an object with the keys {keys}"
                                  if data else f"not a tool list: expected {EXPECTED_TOOLS}; got an empty object",
                                  file=label)
        return [(data, "")]
    if isinstance(data, (list, tuple)):
        return _listed(data, "", label)
    if isinstance(data, ToolSpec) or callable(data):  # a Python function, a smolagents Tool
        return [(data, "")]
    raise ToolSchemaError(f"not a tool list: expected {EXPECTED_TOOLS}; got {type_name(data)}", file=label)


def _listed(items: Any, key: str, label: str) -> list[tuple[Any, str]]:
    if not isinstance(items, (list, tuple)):
        raise ToolSchemaError(f"must be a list of tools, got {type_name(items)}", file=label, field=key or None)
    return [(item, f"{key}[{i}]" if key else f"[{i}]") for i, item in enumerate(items)]


def _to_spec(item: Any, index: int, label: str, prefix: str) -> ToolSpec:
    if isinstance(item, ToolSpec):
        item = item.to_dict()
    elif callable(item) and _is_smolagents_tool(item):
        return _from_smolagents(item, index, label)
    elif callable(item) and not isinstance(item, dict):
        return _from_function(item, index, label)
    if not isinstance(item, dict):
        raise ToolSchemaError(f"a tool must be a JSON object, got {type_name(item)}", file=label,
                              tool=f"at index {index}", field=prefix or None)

    def field_path(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    body, body_prefix = item, prefix
    kind = item.get("type")
    if "function" in item:
        if kind not in (None, "function"):
            raise ToolSchemaError(f"unsupported tool type {kind!r} (only 'function')", file=label,
                                  tool=f"at index {index}", field=field_path("type"))
        body, body_prefix = item["function"], field_path("function")
        if not isinstance(body, dict):
            raise ToolSchemaError(f"must be an object, got {type_name(body)}", file=label, tool=f"at index {index}",
                                  field=body_prefix)
    elif kind not in (None, "function"):
        raise ToolSchemaError(f"unsupported tool type {kind!r} (only function tools are supported)", file=label,
                              tool=f"at index {index}", field=field_path("type"))

    def bfield(key: str) -> str:
        return f"{body_prefix}.{key}" if body_prefix else key

    # Name, description, parameters and output schema are checked independently: every fault is reported.
    faults: list[ToolSchemaError] = []
    name = body.get("name")
    tool = f"at index {index}"
    if name is None or name == "":
        faults.append(ToolSchemaError("missing tool name", file=label, tool=tool, field=bfield("name")))
    elif not isinstance(name, str):
        faults.append(ToolSchemaError(f"name must be a string, got {type_name(name)}", file=label, tool=tool,
                                      field=bfield("name")))
    else:
        tool = f"{name!r}" if len(name) <= 80 else tool
        if not NAME_PATTERN.match(name):
            faults.append(ToolSchemaError("bad name: use 1-64 letters, digits, '_' or '-' (no spaces or dots)",
                                          file=label, tool=tool, field=bfield("name")))
    description = body.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        faults.append(ToolSchemaError("missing description (models need it to decide when to call the tool)",
                                      file=label, tool=tool, field=bfield("description")))
    elif not isinstance(description, str):
        faults.append(ToolSchemaError(f"description must be a string, got {type_name(description)}", file=label,
                                      tool=tool, field=bfield("description")))
    if "inputSchema" in body:
        params_key = "inputSchema"
    elif "input_schema" in body:  # Anthropic's spelling
        params_key = "input_schema"
    else:
        params_key = "parameters"
    parameters = body.get(params_key)
    if parameters is None or parameters == {}:
        parameters = {"type": "object", "properties": {}}
    try:
        check_parameters(parameters, label, tool, bfield(params_key))
    except ToolSchemaError as e:
        faults.append(e)
    output = body.get("outputSchema", body.get("output_schema"))
    if output is not None:
        out_key = bfield("outputSchema" if "outputSchema" in body else "output_schema")
        try:
            if not isinstance(output, (dict, bool)):
                raise ToolSchemaError(f"must be a JSON Schema object, got {type_name(output)}", file=label,
                                      tool=tool, field=out_key)
            check_json_schema(output, label, tool, out_key)
        except ToolSchemaError as e:
            faults.append(e)
    if faults:
        raise ToolSchemaError.combine(faults, label)
    return ToolSpec(name=name, description=description.strip(), parameters=copy.deepcopy(parameters),
                    output_schema=copy.deepcopy(output) if isinstance(output, dict) else None)


def takes_task(func: Callable) -> bool:
    """Whether an implementation receives the episode's task row: it declares the keyword-only parameter `task`
    with the default None (`def f(query: str, *, task: dict | None = None)`), so a direct call works without one.

    Args:
        func: The implementation.
    """
    try:
        parameter = inspect.signature(func).parameters.get(TASK_PARAMETER)
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return False
    return parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is None


def _without_task(func: Callable) -> Callable:
    """A stand-in for `func` with its name, docstring, signature and type hints minus `task`, to build the schema
    from."""
    import typing

    hints = typing.get_type_hints(func)  # resolved here: the stand-in has no module globals to resolve names in
    signature = inspect.signature(func)

    def stand_in(*args, **kwargs):
        raise NotImplementedError("a schema stand-in; call the implementation itself")

    stand_in.__name__ = stand_in.__qualname__ = getattr(func, "__name__", "operation")
    stand_in.__doc__ = inspect.getdoc(func)
    stand_in.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != TASK_PARAMETER])
    stand_in.__annotations__ = {k: v for k, v in hints.items() if k != TASK_PARAMETER}
    return stand_in


def _from_function(func: Callable, index: int, label: str) -> ToolSpec:
    from transformers.utils import get_json_schema

    name = getattr(func, "__name__", f"at index {index}")
    try:
        schema = get_json_schema(_without_task(func) if takes_task(func) else func)
    except Exception as e:  # noqa: BLE001 - transformers raises several types for missing hints/docs
        raise ToolSchemaError(f"cannot build a schema from this function: {shorten(str(e))}", file=label,
                              tool=repr(name), field="docstring/type hints") from None
    fn = schema["function"]
    for prop in (fn.get("parameters") or {}).get("properties", {}).values():
        # transformers marks `x: str | None = None` with a "nullable" flag that JSON Schema does not know, so a call
        # passing null for it would be rejected: say it in JSON Schema instead.
        if isinstance(prop, dict) and prop.pop("nullable", False) and isinstance(prop.get("type"), str):
            prop["type"] = [prop["type"], "null"]
    return _to_spec({"name": fn["name"], "description": fn.get("description"),
                     "parameters": fn.get("parameters"), "output_schema": fn.get("return")}, index, label, "")


def _is_smolagents_tool(obj: Any) -> bool:
    try:
        from smolagents import Tool
    except ImportError:
        return False
    return isinstance(obj, Tool)


def _from_smolagents(tool: Any, index: int, label: str) -> ToolSpec:
    from smolagents.models import get_tool_json_schema

    fn = get_tool_json_schema(tool)["function"]
    output = getattr(tool, "output_schema", None)
    if output is None and getattr(tool, "output_type", "any") not in ("any", None):
        output = {"type": tool.output_type if tool.output_type in _JSON_TYPES else "string"}
    for prop in fn["parameters"]["properties"].values():
        # smolagents' "nullable" flag is not JSON Schema; optionality is already in "required".
        prop.pop("nullable", None)
    return _to_spec({"name": fn["name"], "description": fn["description"], "parameters": fn["parameters"],
                     "output_schema": output}, index, label, "")


_JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}


def _smolagents_type(prop: dict) -> str | list[str]:
    from smolagents.tools import AUTHORIZED_TYPES

    t = prop.get("type")
    if isinstance(t, str) and t in AUTHORIZED_TYPES:
        return t
    if isinstance(t, list) and t and all(x in AUTHORIZED_TYPES for x in t):
        return t
    return "any"


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_-]+", name) if part) or "Custom"

"""The layouts of public function-calling datasets: each row read into its first user request, the tools it offers
(as tool definitions with JSON Schemas) and the calls of each assistant turn until the user speaks again, each call
with the result the dataset recorded for it when it has one (Glaive's "FUNCTION RESPONSE:" after a `<functioncall>`,
ToolACE's tool turn after an assistant's calls; xLAM records none).

`reader(format)` gives the reader of a layout; `tasks.importers` turns what it reads into tasks.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["FORMATS", "ImportProblem", "reader", "result_value"]

FORMATS = ("xlam", "glaive", "toolace")


class ImportProblem(ValueError):
    """Why one row cannot become a task: `reason` (a short key the report counts) and `detail`."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def _json_value(row: dict, column: str) -> Any:
    if column not in row:
        raise ImportProblem("missing_column", f"no {column!r} column (columns: {', '.join(map(str, row))})")
    value = row[column]
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise ImportProblem("invalid_json", f"column {column!r} is not valid JSON ({e.msg})") from None
    return value


def result_value(text: str) -> Any:
    """A recorded tool result: its JSON value, or the text itself when it is not JSON (kept, never dropped).

    Args:
        text: The result as the dataset wrote it.
    """
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _call(name: Any, arguments: Any) -> dict:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as e:
            raise ImportProblem("unreadable_call", f"the arguments of {name!r} are not valid JSON ({e.msg})") from None
    if not isinstance(name, str) or not isinstance(arguments, dict | None):
        raise ImportProblem("unreadable_call", "a call needs a name and an object of arguments")
    return {"name": name, "arguments": arguments or {}}


# ---- xLAM


def _xlam(row: dict) -> tuple[Any, list, list[list[dict]]]:
    tools = _json_value(row, "tools")
    answers = _json_value(row, "answers")
    if not isinstance(tools, list) or not isinstance(answers, list):
        raise ImportProblem("invalid_json", "'tools' and 'answers' must be JSON lists")
    calls = []
    for answer in answers:
        if not isinstance(answer, dict):
            raise ImportProblem("unreadable_call", "an answer is not an object")
        calls.append(_call(answer.get("name"), answer.get("arguments")))
    return row.get("query"), [_xlam_tool(t) for t in tools], [calls]  # xLAM's calls are all of one turn


def _xlam_tool(tool: Any) -> Any:
    if not isinstance(tool, dict):
        return tool
    params = tool.get("parameters")
    if not isinstance(params, dict) or params.get("type") == "object" or "properties" in params:
        return tool  # already a JSON Schema (or broken: load_tools says how)
    properties, required = {}, []
    for arg, spec in params.items():
        if not isinstance(spec, dict):
            raise ImportProblem("invalid_tools", f"tool {tool.get('name')!r}: argument {arg!r} is not an object")
        schema, optional = _python_type(str(spec.get("type") or "any"))
        if isinstance(spec.get("description"), str) and spec["description"].strip():
            schema["description"] = spec["description"].strip()
        if _usable_default(spec.get("default"), schema):
            schema["default"] = spec["default"]
        properties[arg] = schema
        # The dataset's convention (and the usual conversion): an argument with a default or ", optional" is optional.
        if not optional and "default" not in spec:
            required.append(arg)
    parameters = {"type": "object", "properties": properties, **({"required": required} if required else {})}
    return {**tool, "parameters": parameters}


_SIMPLE_TYPES = {"str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
                 "number": "number", "double": "number", "bool": "boolean", "boolean": "boolean", "list": "array",
                 "array": "array", "tuple": "array", "set": "array", "sequence": "array", "iterable": "array",
                 "dict": "object", "mapping": "object", "object": "object", "none": "null", "nonetype": "null"}


def _python_type(text: str) -> tuple[dict, bool]:
    """A JSON Schema for a Python type name ("int", "List[str]", "Optional[float]", "str, optional"), and whether
    it marks the argument optional."""
    head, *flags = _split_top(text, ",")
    optional = any(f.strip().lower().startswith(("optional", "default")) for f in flags)
    schema, nullable = _type_schema(head)
    return schema, optional or nullable


def _type_schema(expr: str) -> tuple[dict, bool]:
    expr = expr.strip()
    for sep in ("|", " or "):  # "int | None", "int or float"
        parts = _split_top(expr, sep)
        if len(parts) > 1:
            return _union([_type_schema(p)[0] for p in parts])
    match = re.fullmatch(r"([A-Za-z_][\w.]*)\s*(?:\[(.*)\])?", expr, re.S)
    if match is None:
        raise ImportProblem("unsupported_type", f"type {expr!r}")
    name = match.group(1).rsplit(".", 1)[-1].lower()  # typing.List -> list
    args = _split_top(match.group(2), ",") if match.group(2) else []
    if name == "optional" and len(args) == 1:
        return _type_schema(args[0])[0], True
    if name == "union" and args:
        return _union([_type_schema(a)[0] for a in args])
    if name == "literal" and args:
        try:
            return {"enum": [ast.literal_eval(a.strip()) for a in args]}, False
        except (ValueError, SyntaxError):
            raise ImportProblem("unsupported_type", f"type {expr!r}") from None
    if name == "any":
        return {}, False
    if name not in _SIMPLE_TYPES:
        raise ImportProblem("unsupported_type", f"type {expr!r}")
    schema = {"type": _SIMPLE_TYPES[name]}
    if schema["type"] == "array" and len(args) == 1 and args[0].strip() != "...":
        items = _type_schema(args[0])[0]
        if items:
            schema["items"] = items
    return schema, False


def _union(members: list[dict]) -> tuple[dict, bool]:
    nullable = any(m == {"type": "null"} for m in members)
    rest = [m for m in members if m != {"type": "null"}]
    if any(not m for m in rest):  # Any
        return {}, nullable
    if all(set(m) == {"type"} for m in rest):
        types = list(dict.fromkeys(m["type"] for m in rest))
        return {"type": types[0] if len(types) == 1 else types}, nullable
    return ({"anyOf": rest} if len(rest) > 1 else rest[0]), nullable


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()] or [text]


def _usable_default(value: Any, schema: dict) -> bool:
    """xLAM writes "" (or null) for "no default"; a default is kept only when it is a valid value."""
    if value is None or value == "":
        return False
    from jsonschema import Draft202012Validator

    return Draft202012Validator({k: v for k, v in schema.items() if k != "description"}).is_valid(value)


# ---- Glaive


_GLAIVE_TURN = re.compile(r"(USER|ASSISTANT|FUNCTION RESPONSE):")
_GLAIVE_CALL = re.compile(r'\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*\'(.*)\'\s*\}', re.S)


def _glaive(row: dict) -> tuple[Any, list, list[list[dict]]]:
    system, chat = row.get("system"), row.get("chat")
    if not isinstance(system, str) or not isinstance(chat, str):
        raise ImportProblem("missing_column", "a Glaive row needs 'system' and 'chat' texts")
    tools = _json_objects(system[system.find("{"):] if "{" in system else "")
    pieces = _GLAIVE_TURN.split(chat)
    turns = [(role, text.replace("<|endoftext|>", "").strip()) for role, text in zip(pieces[1::2], pieces[2::2],
                                                                                     strict=True)]
    first = next((i for i, (role, _) in enumerate(turns) if role == "USER"), None)
    if first is None:
        raise ImportProblem("missing_query", "the chat has no USER turn")
    calls: list[list[dict]] = []
    waiting: dict | None = None  # the call of the turn just before: a FUNCTION RESPONSE now answers it
    for role, text in turns[first + 1:]:
        if role == "USER":
            break
        if role == "ASSISTANT" and "<functioncall>" in text:
            waiting = _glaive_call(text.split("<functioncall>", 1)[1])
            calls.append([waiting])
            continue
        if role == "FUNCTION RESPONSE" and waiting is not None and text:
            waiting["result"] = result_value(text)
        waiting = None
    return turns[first][1], tools, calls


def _glaive_call(blob: str) -> dict:
    blob = blob.strip()
    try:
        data = json.loads(blob)
    except json.JSONDecodeError:
        # The usual form quotes the arguments' JSON in single quotes: {"name": "f", "arguments": '{"a": 1}'}
        match = _GLAIVE_CALL.fullmatch(blob)
        if match is None:
            raise ImportProblem("unreadable_call", f"not a function call: {blob[:80]!r}") from None
        data = {"name": json.loads(f'"{match.group(1)}"'), "arguments": match.group(2)}
    if not isinstance(data, dict):
        raise ImportProblem("unreadable_call", f"not a function call: {blob[:80]!r}")
    return _call(data.get("name"), data.get("arguments"))


def _json_objects(text: str) -> list[Any]:
    """Every top-level JSON value in `text` (Glaive lists its functions as objects one after another)."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return values
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise ImportProblem("invalid_tools", f"a function in the system prompt is not valid JSON ({e.msg})") \
                from None
        values.append(value)
        i = end


# ---- ToolACE


_TOOLACE_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "tool": "tool",
                  "function": "tool", "observation": "tool"}
_BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array", "int": "integer", "str": "string",
               "bool": "boolean", "list": "array"}


def _toolace(row: dict) -> tuple[Any, list, list[list[dict]]]:
    system, conversations = row.get("system"), row.get("conversations")
    if not isinstance(system, str) or not isinstance(conversations, list):
        raise ImportProblem("missing_column", "a ToolACE row needs a 'system' text and a 'conversations' list")
    tools = [_bfcl_tool(t) for t in _tool_list(system)]
    names = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
    turns = [(_TOOLACE_ROLES.get(str(t.get("from")).lower()), str(t.get("value") or ""))
             for t in conversations if isinstance(t, dict)]
    first = next((i for i, (role, _) in enumerate(turns) if role == "user"), None)
    if first is None:
        raise ImportProblem("missing_query", "the conversation has no user turn")
    calls: list[list[dict]] = []
    waiting: list[dict] | None = None  # the calls of the turn just before: a tool turn now answers them
    for role, text in turns[first + 1:]:
        if role == "user":
            break
        if role == "assistant":
            waiting = _python_calls(text, names)
            if waiting is not None:
                calls.append(waiting)
            continue
        if role == "tool" and waiting and text.strip():
            _answer(waiting, result_value(text))
        waiting = None
    return turns[first][1], tools, calls


def _answer(calls: list[dict], value: Any) -> None:
    """Give the calls of one assistant turn the results of the tool turn after it: ToolACE writes one
    `{"name", "results"}` per call (matched by name, in order); any other value answers a turn of one call."""
    entries = value if isinstance(value, list) else [value]
    if entries and all(isinstance(e, dict) and isinstance(e.get("name"), str) and ("results" in e or "result" in e)
                       for e in entries):
        unanswered = list(calls)
        for entry in entries:
            call = next((c for c in unanswered if c["name"] == entry["name"]), None)
            if call is not None:
                call["result"] = entry["results"] if "results" in entry else entry["result"]
                unanswered.remove(call)
    elif len(calls) == 1:
        calls[0]["result"] = value


def _tool_list(system: str) -> list[Any]:
    """The JSON list of tools in a ToolACE system prompt (the first '[' that opens a list of named objects)."""
    decoder, i = json.JSONDecoder(), 0
    while (i := system.find("[", i)) >= 0:
        try:
            value, _ = decoder.raw_decode(system, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            return value
        i += 1
    raise ImportProblem("no_tools", "the system prompt holds no JSON list of functions")


def _bfcl_tool(tool: Any) -> Any:
    if not isinstance(tool, dict):
        return tool
    params = tool.get("parameters")
    out = {k: v for k, v in tool.items() if k != "required" or "parameters" not in tool}
    if isinstance(params, dict):
        out["parameters"] = {**_bfcl_schema(params), "type": "object"}
    return out


def _bfcl_schema(schema: Any) -> Any:
    """BFCL/ToolACE type names ("dict", "float", "any"...) as JSON Schema, all the way down."""
    if isinstance(schema, list):
        return [_bfcl_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            if value.lower() == "any":
                continue
            out[key] = _BFCL_TYPES.get(value.lower(), value.lower())
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: _bfcl_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "prefixItems"):
            out[key] = _bfcl_schema(value)
        else:
            out[key] = value
    return out


def _python_calls(text: str, names: list[str]) -> list[dict] | None:
    """The calls of an assistant turn written as `[f(a=1), g(b="x")]`, or None for a turn in words."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]") and "(" in text):
        return None
    # Tool names may hold spaces or dots ("Get Stock Quote"): stand-ins make the turn Python.
    stand_ins = {}
    for i, name in enumerate(sorted(names, key=len, reverse=True)):
        if f"{name}(" in text:
            stand_ins[f"_tool_{i}_"] = name
            text = text.replace(f"{name}(", f"_tool_{i}_(")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise ImportProblem("unreadable_call", f"not a list of calls ({e.msg})") from None
    if not isinstance(tree, ast.List):
        raise ImportProblem("unreadable_call", "not a list of calls")
    def named(code: str) -> str:  # the turn's text with the real tool names back, for messages
        for stand_in, name in stand_ins.items():
            code = code.replace(stand_in, name)
        return code

    calls = []
    for node in tree.elts:
        if not isinstance(node, ast.Call) or node.args:
            raise ImportProblem("unreadable_call", f"{named(ast.unparse(node))[:80]!r} is not a call with named "
                                                   "arguments")
        name = named(ast.unparse(node.func))
        arguments = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ImportProblem("unreadable_call", f"{name}: **arguments are not named arguments")
            try:
                arguments[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, SyntaxError):
                raise ImportProblem("unreadable_call", f"{name}: the value of {keyword.arg!r} is not a literal "
                                                       f"({ast.unparse(keyword.value)[:40]})") from None
        calls.append(_call(name, arguments))
    return calls


def reader(format: str) -> Callable[[dict], tuple[Any, list, list[list[dict]]]]:
    """The reader of a layout: `row -> (query, tools as dicts, calls of each assistant turn)`, raising ImportProblem.
    A call is `{"name", "arguments"}`, with `"result"` when the dataset recorded the tool's answer to it.

    Args:
        format: "xlam", "glaive" or "toolace".
    """
    return {"xlam": _xlam, "glaive": _glaive, "toolace": _toolace}[format]

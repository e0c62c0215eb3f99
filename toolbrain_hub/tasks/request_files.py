"""Request files: hand-written tool-use requests with their own tools, read as a task set.

A request file is one JSON object: a tool set and requests written for it (the project's held-out set in
`bench/heldout/` is a folder of such files).

```json
{"tool_set": "weather_money", "description": "...",
 "tools": [{"type": "function", "function": {...}}, ...],
 "requests": [
   {"id": "wm-single-01", "kind": "single", "tools": ["get_current_weather"], "query": "whats the weather in lisbon",
    "expected_calls": [{"name": "get_current_weather", "arguments": {"location": "Lisbon"},
                        "acceptable": {"location": ["Lisbon", "Lisbon, Portugal"], "units": ["metric"]},
                        "optional": ["units"]}],
    "gold_answer": ""}]}
```

- `kind`: "single" (one call, only that tool offered), "choice" (one call among several tools), "parallel" (several
  independent calls, one turn), "multi_turn" (calls in order, a later one using an earlier result) or "no_tool".
- `tools`: the names of the tools the request is offered (default: all of the file's tools).
- Each expected call: `arguments` holds one canonical value per argument; `acceptable` lists, per argument, every
  value that is right (the canonical one included); `optional` names arguments that may be left out or filled with
  one of their acceptable values (an optional argument absent from `arguments` lists its acceptable values, usually
  the schema's default); `result` is the tool's answer in the episode (recorded, so a later call can use it;
  required on every call of a multi-turn request but the last).
- `gold_answer`: the final answer when it can be checked ("" otherwise).

Every call, and every call with an acceptable value substituted, must validate against its tool's schema; a file that
breaks a rule raises `TaskError` naming the file, the request and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..tools.checks import ToolSchemaError
from ..tools.schemas import ToolSpec, load_tools
from .phrasing import difficulty_of
from .taskset import (
    DEFAULT_SYSTEM_PROMPT,
    GenerationReport,
    TaskError,
    TaskSet,
    coverage,
    recorded_results,
    task_features,
)

__all__ = ["REQUEST_KINDS", "REQUEST_GENERATOR", "is_request_file", "is_request_folder", "load_request_file",
           "load_request_files", "read_request_file"]

REQUEST_KINDS = ("single", "choice", "parallel", "multi_turn", "no_tool")
# The `generator` column of hand-written rows.
REQUEST_GENERATOR = "hand-written"
_FILE_KEYS = {"tool_set", "description", "tools", "requests"}
_REQUEST_KEYS = {"id", "kind", "query", "tools", "expected_calls", "gold_answer"}
_CALL_KEYS = {"name", "arguments", "acceptable", "optional", "result"}
# Columns beyond the task set's: the recorded tool results (read by the schema-only backend) and the file's tool set.
EXTRA_COLUMNS = ("tool_results", "tool_set")


def is_request_file(path: str | Path) -> bool:
    """True for a .json file whose top level is an object with "tools" and "requests" (a quick look, no checks).

    Args:
        path: A file path.
    """
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "tools" in data and "requests" in data


def is_request_folder(path: str | Path) -> bool:
    """True for a folder of request files that is not a task dataset folder (it has no data/*.parquet).

    Args:
        path: A folder path.
    """
    path = Path(path)
    return path.is_dir() and not any(path.glob("data/*.parquet")) and any(is_request_file(p)
                                                                        for p in path.glob("*.json"))


def read_request_file(path: str | Path) -> tuple[str, list[ToolSpec], list[dict[str, Any]]]:
    """Read and check one request file.

    Args:
        path: The .json file.

    Returns:
        (the tool set's name, its tools, the task rows: the task set's columns plus `tool_results` and `tool_set`).

    Raises:
        TaskError: naming the file, request and field of the first fault.
    """
    path = Path(path)
    label = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TaskError(f"{label}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise TaskError(f"{label}: line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise TaskError(f"{label}: a request file is a JSON object with 'tools' and 'requests'")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise TaskError(f"{label}: unknown keys {unknown} (allowed: {sorted(_FILE_KEYS)})")
    tool_set = data.get("tool_set") or path.stem
    if not isinstance(tool_set, str):
        raise TaskError(f"{label}: 'tool_set' must be a string")
    try:
        tools = load_tools(data.get("tools"), name=f"{label} 'tools'")
    except ToolSchemaError as e:
        raise TaskError(str(e)) from None
    requests = data.get("requests")
    if not isinstance(requests, list) or not requests:
        raise TaskError(f"{label}: 'requests' must be a non-empty list")
    by_name = {t.name: t for t in tools}
    rows, seen = [], set()
    for index, request in enumerate(requests):
        where = f"{label}: request {index}"
        if isinstance(request, dict) and isinstance(request.get("id"), str):
            where = f"{label}: request {request['id']!r}"
        row = _read_request(request, where, by_name, tool_set)
        if row["id"] in seen:
            raise TaskError(f"{where}: duplicate id")
        seen.add(row["id"])
        rows.append(row)
    return tool_set, tools, rows


def _read_request(request: Any, where: str, by_name: dict[str, ToolSpec], tool_set: str) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise TaskError(f"{where}: must be a JSON object")
    unknown = sorted(set(request) - _REQUEST_KEYS)
    if unknown:
        raise TaskError(f"{where}: unknown keys {unknown} (allowed: {sorted(_REQUEST_KEYS)})")
    for key in ("id", "query"):
        if not isinstance(request.get(key), str) or not request[key].strip():
            raise TaskError(f"{where}: '{key}' must be a non-empty string")
    kind = request.get("kind")
    if kind not in REQUEST_KINDS:
        raise TaskError(f"{where}: 'kind' must be one of {', '.join(REQUEST_KINDS)}, got {kind!r}")
    names = request.get("tools", list(by_name))
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise TaskError(f"{where}: 'tools' must be a non-empty list of tool names")
    missing = [n for n in names if n not in by_name]
    if missing:
        raise TaskError(f"{where}: 'tools' names {missing}, not defined in the file's tools")
    if len(set(names)) != len(names):
        raise TaskError(f"{where}: 'tools' lists a tool twice")
    calls = request.get("expected_calls", [])
    if not isinstance(calls, list):
        raise TaskError(f"{where}: 'expected_calls' must be a list")
    expected, results = [], []
    for i, call in enumerate(calls):
        clean, result = _read_call(call, f"{where}: expected_calls[{i}]", {n: by_name[n] for n in names})
        expected.append(clean)
        if result is not None:
            results.append((clean, result))
    _check_kind(kind, names, calls, where)
    gold = request.get("gold_answer", "")
    if not isinstance(gold, str):
        raise TaskError(f"{where}: 'gold_answer' must be a string")
    query = request["query"].strip()
    return {
        "id": request["id"], "query": query,
        "prompt": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": query}],
        "tools": json.dumps([by_name[n].to_openai() for n in names], ensure_ascii=False),
        "expected_calls": json.dumps(expected, ensure_ascii=False),
        "gold_answer": gold.strip(), "difficulty": difficulty_of(expected), "kind": kind, "split": "test",
        "generator": REQUEST_GENERATOR, "tool_results": recorded_results(results), "tool_set": tool_set,
    }


def _read_call(call: Any, where: str, tools: dict[str, ToolSpec]) -> tuple[dict[str, Any], Any]:
    """One expected call, checked: (the call without its result, the result or None)."""
    if not isinstance(call, dict):
        raise TaskError(f"{where}: must be a JSON object")
    unknown = sorted(set(call) - _CALL_KEYS)
    if unknown:
        raise TaskError(f"{where}: unknown keys {unknown} (allowed: {sorted(_CALL_KEYS)})")
    name = call.get("name")
    if name not in tools:
        raise TaskError(f"{where}: tool {name!r} is not among the request's tools ({', '.join(tools)})")
    spec = tools[name]
    arguments = call.get("arguments", {})
    if not isinstance(arguments, dict):
        raise TaskError(f"{where}.arguments: must be a JSON object")
    problems = spec.validate_arguments(arguments)
    if problems:
        raise TaskError(f"{where}.arguments: invalid for {name}: {problems[0]}")
    acceptable = call.get("acceptable", {})
    if not isinstance(acceptable, dict):
        raise TaskError(f"{where}.acceptable: must be an object of argument -> list of values")
    optional = call.get("optional", [])
    if not isinstance(optional, list) or not all(isinstance(o, str) for o in optional):
        raise TaskError(f"{where}.optional: must be a list of argument names")
    for arg in [*acceptable, *optional]:
        if arg not in spec.properties:
            raise TaskError(f"{where}: {arg!r} is not an argument of {name}")
    for arg in optional:
        if arg in spec.required:
            raise TaskError(f"{where}.optional: {arg!r} is required by {name}'s schema")
        if arg not in arguments and arg not in acceptable:
            raise TaskError(f"{where}.optional: {arg!r} is not in 'arguments': list its acceptable values")
    for arg, values in acceptable.items():
        field = f"{where}.acceptable.{arg}"
        if not isinstance(values, list) or not values:
            raise TaskError(f"{field}: must be a non-empty list of values")
        if arg in arguments and not any(_same_json(v, arguments[arg]) for v in values):
            raise TaskError(f"{field}: does not list the canonical value {arguments[arg]!r}")
        if arg not in arguments and arg not in optional:
            raise TaskError(f"{field}: {arg!r} is neither in 'arguments' nor optional")
        for k, value in enumerate(values):
            problems = spec.validate_arguments({**arguments, arg: value})
            if problems:
                raise TaskError(f"{field}[{k}]: invalid for {name}: {problems[0]}")
    clean = {"name": name, "arguments": arguments}
    if acceptable:
        clean["acceptable"] = acceptable
    if optional:
        clean["optional"] = optional
    return clean, call.get("result")


def _check_kind(kind: str, names: list[str], calls: list[dict], where: str) -> None:
    n = len(calls)
    if kind == "no_tool" and n:
        raise TaskError(f"{where}: a no_tool request expects no calls, got {n}")
    if kind in ("single", "choice") and n != 1:
        raise TaskError(f"{where}: a {kind} request expects exactly one call, got {n}")
    if kind == "single" and len(names) != 1:
        raise TaskError(f"{where}: a single request is offered exactly one tool, got {len(names)} (use 'choice')")
    if kind == "choice" and len(names) < 2:
        raise TaskError(f"{where}: a choice request is offered several tools, got {len(names)} (use 'single')")
    if kind in ("parallel", "multi_turn") and n < 2:
        raise TaskError(f"{where}: a {kind} request expects at least two calls, got {n}")
    if kind == "multi_turn":
        unanswered = [i for i, call in enumerate(calls[:-1]) if call.get("result") is None]
        if unanswered:
            raise TaskError(f"{where}: expected_calls{unanswered} of a multi_turn request need a 'result' (a later "
                            "call uses it)")


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def load_request_file(path: str | Path) -> TaskSet:
    """One request file as a task set (one "test" split).

    Args:
        path: The .json file.

    Raises:
        TaskError: naming the file, request and field of a fault.
    """
    return load_request_files([path])


def load_request_files(paths: str | Path | list[str | Path]) -> TaskSet:
    """Request files as one task set: one "test" split, each row offered its own tools.

    Args:
        paths: Request files, or a folder: its *.json request files, in name order.

    Returns:
        A TaskSet whose "test" split has the task set's columns plus `tool_results` (recorded results of the
        expected calls, answered by the schema-only backend) and `tool_set` (the file's tool set); its `tools` are all
        the files' tools.

    Raises:
        TaskError: a fault in a file, no request files, or two files defining one tool name differently.
    """
    from datasets import Dataset, DatasetDict

    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        folder = Path(paths)
        files = [p for p in sorted(folder.glob("*.json")) if is_request_file(p)]
        if not files:
            raise TaskError(f"{folder}: no request files (*.json with 'tools' and 'requests')")
    else:
        files = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not files:
        raise TaskError("no request files given")
    tools: dict[str, tuple[ToolSpec, Path]] = {}
    rows, ids = [], {}
    for path in files:
        if not path.is_file():
            raise TaskError(f"{path}: no such request file")
        _, specs, file_rows = read_request_file(path)
        for spec in specs:
            if spec.name in tools and tools[spec.name][0].to_dict() != spec.to_dict():
                raise TaskError(f"{path}: tool {spec.name!r} is defined differently in {tools[spec.name][1]}")
            tools.setdefault(spec.name, (spec, path))
        for row in file_rows:
            if row["id"] in ids:
                raise TaskError(f"{path}: request id {row['id']!r} is also used in {ids[row['id']]}")
            ids[row["id"]] = path
        rows += file_rows
    features = task_features(EXTRA_COLUMNS)
    dataset = DatasetDict({"test": Dataset.from_list(rows, features=features)})
    specs = [spec for spec, _ in tools.values()]
    report = GenerationReport(generator=REQUEST_GENERATOR, seed=0, requested=len(rows), kept=len(rows),
                              attempts=len(rows), coverage=coverage(dataset, specs),
                              settings={"files": [str(p) for p in files]})
    return TaskSet(dataset=dataset, tools=specs, report=report)

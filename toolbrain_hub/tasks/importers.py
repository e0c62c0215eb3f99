"""Public function-calling datasets as task sets: the xLAM, Glaive and ToolACE layouts, every row with its own tools.

- `xlam` (Salesforce/xlam-function-calling-60k): columns `query`, `tools` (JSON list of `{name, description,
  parameters: {arg: {type, description, default}}}`, Python type names such as "str, optional" or "List[int]") and
  `answers` (JSON list of `{name, arguments}`).
- `glaive` (glaiveai/glaive-function-calling-v2): `system` ("SYSTEM: You are a helpful assistant with access to the
  following functions..." then JSON objects) and `chat` ("USER: ... ASSISTANT: <functioncall> {"name": ...,
  "arguments": '{...}'} <|endoftext|> FUNCTION RESPONSE: ...").
- `toolace` (Team-ACE/ToolACE): `system` (a JSON list of tools in the text, BFCL types such as "dict" and "float")
  and `conversations` (`[{from, value}]`, assistant calls written `[func(arg=value, ...), ...]`).

A row becomes one task: its first user request, the tools it offers (turned into JSON Schemas and validated by
`tools.load_tools`; names that cannot be tool names or environment methods, such as "Get Stock Quote", are rewritten
the same way in the tools and the calls), the calls the assistant makes before the user speaks again, which must
validate against those tools, and the results the dataset recorded for those calls (column `tool_results`, the form
the schema-only backend answers calls from; a result that is not JSON is kept as its text). Its kind follows from
the calls: none `no_tool`, one `single`, several in one turn `parallel`, several over turns `multi`. A row that
cannot be converted is counted by reason, and the first reasons are kept with the row's place in the file
(`GenerationReport.rejected` and `.examples`): never dropped silently.

Sources: a .json (a list of rows, or JSON Lines), .jsonl or .parquet file, a folder of them, or a Hub dataset repo.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..tools.checks import ToolSchemaError, method_name_problem
from ..tools.schemas import ToolSpec, load_tools
from .formats import FORMATS, ImportProblem, reader
from .generation import _split
from .taskset import DEFAULT_SYSTEM_PROMPT, GenerationReport, TaskError, TaskSet, coverage, task_row

__all__ = ["FORMATS", "ImportProblem", "convert_row", "import_tasks", "read_rows"]

DATA_SUFFIXES = (".json", ".jsonl", ".parquet")
# JSON files of a Hub dataset repo that hold no rows.
_NOT_DATA = {"dataset_info.json", "dataset_infos.json", "tools.json", "generation_report.json"}
_EXAMPLES = 10  # rejection reasons kept word for word in the report


def import_tasks(source: str | Path, format: str, *, limit: int | None = None, test_size: float = 0.2,
                 seed: int = 0, system_prompt: str = DEFAULT_SYSTEM_PROMPT, token: str | None = None,
                 revision: str | None = None) -> TaskSet:
    """Read a public function-calling dataset and convert its rows into a task set (see the module docstring).

    Args:
        source: A .json/.jsonl/.parquet file, a folder of them, or a Hub dataset repo id.
        format: "xlam", "glaive" or "toolace".
        limit: Keep at most this many tasks (rows are read in order until then).
        test_size: Fraction of the tasks in the "test" split (stratified by kind); 0 for train only.
        seed: Seed of the split.
        system_prompt: The system message of every task's `prompt` (the datasets' own system texts list the tools
            in their own words; the tools reach the model through the chat template instead).
        token: A token for a private or gated Hub repo.
        revision: A branch or commit of the Hub repo.

    Returns:
        A TaskSet: each row's own tools in its `tools` column, and in its `tool_results` column the results the
        dataset recorded for its calls ("" for none: the schema-only backend then answers as it does without);
        `tools` (tools.json) one definition per name of all of them; the report counts the rows read, kept and
        rejected by reason, with the first reasons.

    Raises:
        TaskError: an unknown format, a bad limit or split size, a source with no data files, a file that is not
            valid JSON / JSON Lines / parquet (naming the file and line), or no row that could be converted.
    """
    if format not in FORMATS:
        raise TaskError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise TaskError(f"limit must be at least 1, got {limit}")
    if not 0 <= test_size < 1:
        raise TaskError(f"test_size must be in [0, 1), got {test_size}")
    start = time.perf_counter()
    report = GenerationReport(generator=f"import:{format}", seed=seed, requested=limit or 0, settings={
        "source": str(source), "format": format, "test_size": test_size, "system_prompt": system_prompt,
        **({"limit": limit} if limit else {})})
    rows: list[dict] = []
    ids: set[str] = set()
    renamed: dict[str, str] = {}
    catalog: dict[str, ToolSpec] = {}  # tools.json: the first definition of each name
    for where, raw in read_rows(source, token=token, revision=revision):
        if limit is not None and len(rows) >= limit:
            break
        report.attempts += 1
        try:
            task = convert_row(raw, format)
            row = task_row(task["query"], task["calls"], task["tools"], kind=task["kind"],
                           generator=report.generator, system_prompt=system_prompt, tool_results=task["results"])
            if row["id"] in ids:
                raise ImportProblem("duplicate", "the same request with the same calls is an earlier row")
        except ImportProblem as e:
            report.rejected[e.reason] = report.rejected.get(e.reason, 0) + 1
            if len(report.examples) < _EXAMPLES:
                report.examples.append(f"{where}: {e.reason}: {e.detail}"[:300])
            continue
        ids.add(row["id"])
        renamed.update(task["renamed"])
        for spec in task["tools"]:
            catalog.setdefault(spec.name, spec)
        rows.append(row)
    if not rows:
        reasons = ", ".join(f"{k} {v}" for k, v in report.rejected.items()) or "no rows"
        first = f"; first: {report.examples[0]}" if report.examples else ""
        raise TaskError(f"{source}: no row could be converted as {format} ({report.attempts} read; {reasons}){first}")
    report.kept = len(rows)
    report.requested = report.requested or report.attempts
    if renamed:  # tool names rewritten to be tool names and environment methods ("Get Stock Quote")
        report.settings["renamed_tools"] = len(renamed)
        report.settings["renamed_examples"] = dict(list(renamed.items())[:20])
    dataset = _split(rows, test_size, seed)
    tools = list(catalog.values())
    report.coverage = coverage(dataset, tools)
    report.elapsed_s = round(time.perf_counter() - start, 3)
    return TaskSet(dataset=dataset, tools=tools, report=report)


# ----------------------------------------------------------------------------------------------------------------
# Reading the source


def read_rows(source: str | Path, *, token: str | None = None, revision: str | None = None
              ) -> Iterator[tuple[str, Any]]:
    """The rows of a dataset, each with where it is ("file.json, row 3", "file.jsonl, line 4").

    Args:
        source: A .json/.jsonl/.parquet file, a folder of them, or a Hub dataset repo id.
        token: A token for a private or gated Hub repo.
        revision: A branch or commit of the Hub repo.

    Raises:
        TaskError: no such file, no data files, or a file that cannot be read as rows (naming it and the line).
    """
    from .. import hub

    path = Path(str(source)).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = _data_files(path)
    elif hub.is_local(source):
        raise TaskError(f"{source}: no such file or folder")
    else:
        folder = hub.download(str(source), repo_type="dataset", revision=revision, token=token,
                              allow_patterns=[f"*{suffix}" for suffix in DATA_SUFFIXES])
        files = _data_files(folder)
    if not files:
        raise TaskError(f"{source}: no data files ({', '.join(DATA_SUFFIXES)})")
    for file in files:
        yield from _file_rows(file)


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES
                  and p.name not in _NOT_DATA and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _file_rows(path: Path) -> Iterator[tuple[str, Any]]:
    from ..jsonl import JsonlError, iter_jsonl

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a file that is no parquet
            raise TaskError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from None
        index = 0
        for batch in parquet.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield f"{path.name}, row {index}", row
                index += 1
        return
    if path.suffix == ".json":
        text = _read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg != "Extra data":  # several JSON values: a JSON Lines file named .json (common on the Hub)
                raise TaskError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        else:
            if isinstance(data, dict):
                lists = [v for v in data.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise TaskError(f"{path}: expected a JSON list of rows, got an object")
                data = lists[0]
            if not isinstance(data, list):
                raise TaskError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
            for index, row in enumerate(data):
                yield f"{path.name}, row {index}", row
            return
    try:
        for line, row in iter_jsonl(path):
            yield f"{path.name}, line {line}", row
    except JsonlError as e:  # it names the file and line
        raise TaskError(str(e)) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TaskError(f"{path}: not UTF-8 text") from None


# ----------------------------------------------------------------------------------------------------------------
# Converting a row


def convert_row(row: Any, format: str) -> dict[str, Any]:
    """One dataset row as a task: `{"query", "tools" (ToolSpecs), "calls", "kind", "results" ((call, result) pairs
    of the calls the dataset recorded a result for), "renamed" ({old: new name})}`.

    Args:
        row: The row (a dict).
        format: "xlam", "glaive" or "toolace".

    Raises:
        ImportProblem: why the row cannot be a task.
    """
    if not isinstance(row, dict):
        raise ImportProblem("not_an_object", f"a row must be a JSON object, got {type(row).__name__}")
    query, raw_tools, turns = reader(format)(row)
    if not isinstance(query, str) or not query.strip():
        raise ImportProblem("missing_query", "no user request")
    specs, names = _tool_specs(raw_tools)
    calls, results = [], []
    for turn in turns:
        for call in turn:
            name = names.get(call["name"])
            spec = next((s for s in specs if s.name == name), None)
            if spec is None:
                raise ImportProblem("unknown_tool", f"a call names {call['name']!r}, which the row does not offer")
            problems = spec.validate_arguments(call["arguments"])
            if problems:
                raise ImportProblem("invalid_call", f"{call['name']}: {problems[0]}")
            calls.append({"name": name, "arguments": call["arguments"]})
            if "result" in call:
                results.append((calls[-1], call["result"]))
    calling_turns = sum(1 for turn in turns if turn)
    kind = "no_tool" if not calls else "single" if len(calls) == 1 else "parallel" if calling_turns == 1 else "multi"
    return {"query": query.strip(), "tools": specs, "calls": calls, "kind": kind, "results": results,
            "renamed": {old: new for old, new in names.items() if old != new}}


def _tool_specs(raw_tools: list[Any]) -> tuple[list[ToolSpec], dict[str, str]]:
    """Validated ToolSpecs of a row's tools, and {name in the dataset: tool name}."""
    if not raw_tools:
        raise ImportProblem("no_tools", "the row offers no tools")
    unique: dict[str, dict] = {}
    names: dict[str, str] = {}
    for tool in raw_tools:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):  # the OpenAI wrapping
            tool = tool["function"]
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise ImportProblem("invalid_tools", "a tool is not an object with a name")
        safe = _safe_name(tool["name"])
        if safe is None:
            raise ImportProblem("invalid_tools", f"tool name {tool['name']!r} has no letters or digits")
        other = next((orig for orig, new in names.items() if new == safe and orig != tool["name"]), None)
        if other is not None:
            raise ImportProblem("name_collision", f"{tool['name']!r} and {other!r} both become {safe!r}")
        names[tool["name"]] = safe
        converted = {**tool, "name": safe}
        if safe in unique and unique[safe] != converted:
            raise ImportProblem("duplicate_tool", f"the row defines {tool['name']!r} twice, differently")
        unique[safe] = converted
    return [_spec(json.dumps(t, sort_keys=True, ensure_ascii=False)) for t in unique.values()], names


@functools.lru_cache(maxsize=8192)
def _spec(text: str) -> ToolSpec:
    """One tool, validated (a public dataset repeats its tools over many rows: each is checked once)."""
    try:
        spec = load_tools([{"type": "function", "function": json.loads(text)}], name="the row's tools")[0]
    except ToolSchemaError as e:
        raise ImportProblem("invalid_tools", e.faults[0].describe()) from None
    try:
        spec.to_callable()  # what a tool environment builds its method from: argument names must be usable
    except (ToolSchemaError, ValueError) as e:
        raise ImportProblem("unusable_argument", f"tool {spec.name!r}: {e}") from None
    return spec


def _safe_name(name: str) -> str | None:
    """A tool name a tool environment can expose as a method: other characters become "_" ("Get Stock Quote" ->
    "Get_Stock_Quote"), a leading digit gets "fn_", an environment's own name (`reset`...) gets "_tool"."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", name.strip()).strip("_")[:60]
    if not safe:
        return None
    if safe[0].isdigit():
        safe = f"fn_{safe}"
    if method_name_problem(safe):
        safe = f"{safe}_tool"
    return safe

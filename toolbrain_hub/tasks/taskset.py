"""Task datasets: generation from tool schemas, validation, de-duplication, train/test split, folder and Hub I/O.

A task dataset is a `datasets.DatasetDict` ("train", and "test" when `test_size > 0`) with these columns:

| column | type | meaning |
|---|---|---|
| id | str | stable id: hash of query + expected calls |
| query | str | the user request |
| prompt | list of {role, content} | the system prompt, then the user query (TRL's `prompt` column) |
| tools | str | JSON list of the task's tools, OpenAI format: what it is run with (may differ from row to row) |
| expected_calls | str | JSON list of `{"name", "arguments"}`, `[]` for none (extended form: `traces.parsing`) |
| gold_answer | str | the final answer when it is determined without running tools, else "" |
| difficulty | str | easy / medium / hard |
| kind | str | single (one call) / parallel (several calls in one turn) / multi (calls in sequence) / no_tool |
| split | str | train / test |
| generator | str | "schema", the model that proposed the task, or "import:<format>" (`tasks.importers`) |

Optional columns (`OPTIONAL_COLUMNS`, strings; a task set without them loads and trains as before):

| column | meaning |
|---|---|
| tool_results | results recorded for the expected calls (`recorded_results`), read by the schema-only backend |
| tool_set | the tool set a hand-written request belongs to (`tasks.request_files`) |

On disk (a folder or a Hub dataset repo): `data/<split>-00000-of-00001.parquet`, `tools.json`,
`generation_report.json` and a `README.md` dataset card whose YAML `configs` let plain
`datasets.load_dataset(folder_or_repo_id)` read it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..tools.schemas import ToolSpec, load_tools
from .generators import (
    KINDS,
)

DEFAULT_SYSTEM_PROMPT = ("You are a helpful assistant that can call tools. When a request needs a tool, call it with "
                         "arguments that follow its schema; when no tool is needed, answer directly.")
COLUMNS = ["id", "query", "prompt", "tools", "expected_calls", "gold_answer", "difficulty", "kind", "split",
           "generator"]
# Columns a task set may have besides COLUMNS (see the module docstring); concat_tasks keeps them.
OPTIONAL_COLUMNS = ("tool_results", "tool_set")
# tools.json of a task set whose rows carry their own tools lists every one of them: thousands for an imported set.
CATALOG_MAX_TOOLS = 100_000
CATALOG_MAX_BYTES = 256 * 1024 * 1024


class TaskError(ToolBrainError, ValueError):
    """Bad task-generation input or a folder/repo that is not a task dataset."""


@dataclass
class GenerationReport:
    """What happened during generation: counts, rejections by reason, coverage, speed."""

    generator: str
    seed: int
    requested: int
    kept: int = 0
    attempts: int = 0
    retries: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # every failed attempt, by reason
    dropped: dict[str, int] = field(default_factory=dict)  # tasks given up after all retries, by last reason
    examples: list[str] = field(default_factory=list)  # a few rejection messages, to see what went wrong
    coverage: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # the LLM paraphrase pass, when asked for: model, asked, rewritten, kept_original (by reason), examples
    paraphrase: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return self.kept / self.attempts if self.attempts else 0.0

    @property
    def tasks_per_minute(self) -> float:
        return 60.0 * self.kept / self.elapsed_s if self.elapsed_s else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["acceptance_rate"] = round(self.acceptance_rate, 4)
        out["tasks_per_minute"] = round(self.tasks_per_minute, 2)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> GenerationReport:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TaskSet:
    """Generated tasks with their tools and generation report.

    Args:
        dataset: "train" (and "test") splits with the documented columns.
        tools: The tool set the tasks were generated for.
        report: The generation report.
    """

    dataset: Any  # datasets.DatasetDict
    tools: list[ToolSpec]
    report: GenerationReport

    @property
    def train(self):
        return self.dataset["train"]

    @property
    def test(self):
        return self.dataset["test"] if "test" in self.dataset else None

    def __len__(self) -> int:
        return sum(len(split) for split in self.dataset.values())

    def save(self, folder: str | Path, **card_fields) -> Path:
        return save_tasks(self, folder, **card_fields)

    @property
    def ids(self) -> list[str]:
        """The task ids, split by split in order ("train" first)."""
        return [task_id for split in self.dataset.values() for task_id in split["id"]]

    def without(self, ids: Any) -> TaskSet:
        """These tasks minus the ones with the given ids (e.g. rows a user found bad), with the report's count and
        coverage recomputed; the generation history (requested, attempts, rejections) is kept.

        Args:
            ids: Task ids to drop; ids that are not in the set are ignored.

        Returns:
            A new TaskSet (this one is unchanged).
        """
        from dataclasses import replace  # not at the top: `save_tasks` has a `replace` argument

        from datasets import DatasetDict

        drop = {str(i) for i in ids}
        dataset = DatasetDict({name: split.filter(lambda row: row["id"] not in drop) if drop else split
                               for name, split in self.dataset.items()})
        kept = sum(len(split) for split in dataset.values())
        report = replace(self.report, kept=kept, coverage=coverage(dataset, self.tools))
        return TaskSet(dataset=dataset, tools=self.tools, report=report)


def task_features(optional: tuple[str, ...] | list[str] = ()):
    """The `datasets.Features` of a task dataset.

    Args:
        optional: Optional columns it also has (names from `OPTIONAL_COLUMNS`; each a string).
    """
    from datasets import Features, List, Value

    return Features({
        "id": Value("string"), "query": Value("string"),
        "prompt": List({"role": Value("string"), "content": Value("string")}),
        "tools": Value("string"), "expected_calls": Value("string"), "gold_answer": Value("string"),
        "difficulty": Value("string"), "kind": Value("string"), "split": Value("string"),
        "generator": Value("string"), **{column: Value("string") for column in optional},
    })


def coverage(dataset: Any, tools: list[ToolSpec]) -> dict[str, Any]:
    """Tasks per tool, per difficulty, per kind and per split; arguments each tool's tasks exercise.

    Args:
        dataset: A task DatasetDict (or one Dataset).
        tools: The tool set.
    """
    splits = dataset if hasattr(dataset, "values") else {"all": dataset}
    per_tool = Counter({t.name: 0 for t in tools})
    params = {t.name: set() for t in tools}
    difficulty, kinds, split_sizes = Counter(), Counter(), {}
    for name, split in splits.items():
        split_sizes[name] = len(split)
        for row in split.select_columns(["expected_calls", "difficulty", "kind"]):
            difficulty[row["difficulty"]] += 1
            kinds[row["kind"]] += 1
            for call in json.loads(row["expected_calls"]):
                per_tool[call["name"]] += 1
                params.setdefault(call["name"], set()).update(call["arguments"])
    return {
        "tools": dict(per_tool),
        "tools_uncovered": sorted(n for n, c in per_tool.items() if c == 0),
        "arguments": {t.name: {"used": sorted(params[t.name]), "total": len(t.properties)} for t in tools},
        "difficulty": {d: difficulty.get(d, 0) for d in ("easy", "medium", "hard")},
        "kind": {k: kinds.get(k, 0) for k in (*KINDS, *sorted(set(kinds) - set(KINDS)))},  # imported kinds too
        "negatives": kinds.get("no_tool", 0),
        "splits": split_sizes,
    }


# ----------------------------------------------------------------------------------------------------------------
# Folder and Hub I/O


def save_tasks(taskset: TaskSet, folder: str | Path, *, license: str = "apache-2.0", pretty_name: str | None = None,
               repo_id: str | None = None, replace: bool = True) -> Path:
    """Write a task dataset folder: parquet per split, tools.json, generation_report.json and the README card.

    Args:
        taskset: What `generate_tasks` returned.
        folder: Target folder (created; old parquet files in its data/ folder are replaced).
        license: License in the card's metadata.
        pretty_name: Title of the card (default: from the tool names).
        repo_id: Used in the card's usage snippet.
        replace: Write over a folder that already holds something; with False, such a folder raises
            `DatasetExistsError` (runs trained on the old dataset point at this folder: ask before replacing it).

    Raises:
        DatasetExistsError: `replace` is False and the folder is not empty.
    """
    from .card import render_dataset_card

    folder = Path(folder)
    if not replace and folder.is_dir() and any(folder.iterdir()):
        raise DatasetExistsError(folder, describe_task_folder(folder))
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("*.parquet"):
        old.unlink()
    import pyarrow.parquet as pq

    for name, split in taskset.dataset.items():
        # The Arrow table carries datasets' feature metadata, so `load_dataset` restores the exact features.
        split = split.flatten_indices() if split._indices is not None else split
        pq.write_table(split.data.table, data / f"{name}-00000-of-00001.parquet")
    (folder / "tools.json").write_text(json.dumps([t.to_openai() for t in taskset.tools], indent=2,
                                                  ensure_ascii=False) + "\n")
    (folder / "generation_report.json").write_text(json.dumps(taskset.report.to_dict(), indent=2,
                                                              ensure_ascii=False) + "\n")
    card = render_dataset_card(taskset, license=license, pretty_name=pretty_name, repo_id=repo_id)
    (folder / "README.md").write_text(card)
    return folder


def push_tasks(source: TaskSet | str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
               commit_message: str | None = None, license: str = "apache-2.0") -> str:
    """Publish a task dataset (a TaskSet or a folder written by `save_tasks`) as a Hub dataset repo.

    Args:
        source: A TaskSet, or a folder from `save_tasks`.
        repo_id: "user/name" (or "name" for the signed-in user).
        token: A write token (default: HF_TOKEN or the saved login).
        private: Create the repo as private.
        commit_message: The commit title.
        license: License in the card (only used for a TaskSet).

    Returns:
        The dataset repo's URL.
    """
    from .. import hub

    if isinstance(source, TaskSet):
        with tempfile.TemporaryDirectory(prefix="toolbrain-tasks-") as tmp:
            save_tasks(source, tmp, license=license, repo_id=repo_id)
            return hub.push_folder(tmp, repo_id, repo_type="dataset", token=token, private=private,
                                   commit_message=commit_message or "Upload task dataset with toolbrain-hub")
    folder = Path(source)
    check_task_folder(folder)
    return hub.push_folder(folder, repo_id, repo_type="dataset", token=token, private=private,
                           commit_message=commit_message or "Upload task dataset with toolbrain-hub")


class DatasetExistsError(TaskError):
    """`save_tasks(..., replace=False)` found the folder taken. `folder` is the folder, `holds` what is in it."""

    def __init__(self, folder: Path, holds: str):
        self.folder, self.holds = folder, holds
        super().__init__(f"{folder} already exists ({holds}); choose another name, or replace it")


def describe_task_folder(folder: str | Path) -> str:
    """What a dataset folder holds, in a few words: "a task dataset of 24 tasks for get_weather", or "files".

    Args:
        folder: A folder, usually one written by `save_tasks`.
    """
    folder = Path(folder)
    try:
        report = json.loads((folder / "generation_report.json").read_text(encoding="utf-8"))
        tools = [t["function"]["name"] for t in json.loads((folder / "tools.json").read_text(encoding="utf-8"))]
    except (OSError, ValueError, KeyError, TypeError):
        return "a folder that is not a task dataset"
    named = ", ".join(tools[:6]) + (f" and {len(tools) - 6} more tools" if len(tools) > 6 else "")
    return f"a task dataset of {report.get('kept', '?')} tasks for {named or 'no tools'}"


def task_folders(root: str | Path) -> list[Path]:
    """The task dataset folders directly under `root` (folders `save_tasks` wrote: they hold tools.json), sorted.

    Args:
        root: A folder of dataset folders (none yet: no folders).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "tools.json").is_file())


def check_task_folder(folder: str | Path) -> Path:
    """Raise TaskError unless `folder` looks like a task dataset written by `save_tasks`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    missing = [p for p in ("README.md", "tools.json") if not (folder / p).is_file()]
    if not list((folder / "data").glob("*.parquet")):
        missing.append("data/*.parquet")
    if missing:
        raise TaskError(f"{folder}: not a task dataset folder (missing {', '.join(missing)}); write one with "
                        "`toolbrain-hub tasks generate --out DIR`")
    return folder


def load_tasks(repo_id_or_folder: str | Path, split: str | None = None, *, token: str | None = None,
               revision: str | None = None):
    """Read a task dataset from a folder or a Hub dataset repo.

    Args:
        repo_id_or_folder: A folder written by `save_tasks`, or a Hub dataset repo id ("user/name").
        split: "train" or "test" for one Dataset; None for the DatasetDict.
        token: A token for private repos.
        revision: A branch or commit of the Hub repo.
    """
    from .. import hub

    folder = hub.download(repo_id_or_folder, repo_type="dataset", revision=revision, token=token)
    if not folder.is_dir() or not list(folder.glob("data/*.parquet")):
        raise TaskError(f"{repo_id_or_folder}: not a task dataset (no data/*.parquet files)")
    dataset = _read_parquet_folder(folder)
    first = next(iter(dataset.values()))
    missing = [c for c in COLUMNS if c not in first.column_names]
    if missing:
        raise TaskError(f"{repo_id_or_folder}: not a task dataset (missing columns {', '.join(missing)})")
    if split is None:
        return dataset
    if split not in dataset:
        raise TaskError(f"{repo_id_or_folder}: no split {split!r} (has {', '.join(dataset)})")
    return dataset[split]


def _read_parquet_folder(folder: Path):
    """Read data/<split>-*.parquet straight into memory.

    `datasets.load_dataset(folder)` is avoided on purpose: its cache can hand back an older dataset that was
    written to the same place (regenerating tasks into one folder then trained on the stale rows).
    """
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict, concatenate_datasets
    from datasets.table import InMemoryTable

    splits: dict[str, list] = {}
    for path in sorted(folder.glob("data/*.parquet")):
        split = path.name.split("-", 1)[0]
        splits.setdefault(split, []).append(Dataset(InMemoryTable(pq.read_table(path))))
    return DatasetDict({name: concatenate_datasets(parts) if len(parts) > 1 else parts[0]
                        for name, parts in splits.items()})


def load_task_tools(repo_id_or_folder: str | Path, *, token: str | None = None) -> list[ToolSpec]:
    """The tools of a task dataset (its tools.json): those it was generated for, or for a task set whose rows carry
    their own tools (imported, mixed), one definition per name of all of them (each row's `tools` column is what
    its task is run with)."""
    from .. import hub

    folder = hub.download(repo_id_or_folder, repo_type="dataset", token=token, allow_patterns=["tools.json"]) \
        if not hub.is_local(repo_id_or_folder) else Path(repo_id_or_folder)
    # An imported task set can hold thousands of tools: the upload limits of load_tools are not meant for it.
    return load_tools(folder / "tools.json", max_tools=CATALOG_MAX_TOOLS, max_bytes=CATALOG_MAX_BYTES)


def load_taskset(repo_id_or_folder: str | Path, *, token: str | None = None) -> TaskSet:
    """A task dataset folder or Hub repo back as a TaskSet (its splits, tools.json and generation report).

    Args:
        repo_id_or_folder: A folder written by `save_tasks`, or a Hub dataset repo id.
        token: A token for private repos.
    """
    from .. import hub

    folder = hub.download(repo_id_or_folder, repo_type="dataset", token=token)
    check_task_folder(folder)
    dataset = load_tasks(folder)
    try:
        report = GenerationReport.from_dict(json.loads((folder / "generation_report.json").read_text(
            encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # a task set written by hand: no generation history
        report = GenerationReport(generator="unknown", seed=0, requested=0)
    report.kept = sum(len(split) for split in dataset.values())
    return TaskSet(dataset=dataset, tools=load_task_tools(folder), report=report)


def task_row(query: str, calls: list[dict], tools: list[ToolSpec], *, kind: str, generator: str,
             system_prompt: str = DEFAULT_SYSTEM_PROMPT, gold_answer: str = "", difficulty: str | None = None,
             tool_results: list[tuple[dict, Any]] | None = None) -> dict:
    """One task dataset row (the documented columns), its id a hash of the query and the expected calls.

    Args:
        query: The user request.
        calls: Expected calls, `{"name", "arguments"}` in order (`[]`: no tool is needed).
        tools: The tools the task offers (its `tools` column).
        kind: single / multi / parallel / no_tool.
        generator: What produced the task ("schema", a model, "import:xlam"...).
        system_prompt: The system message of its `prompt`.
        gold_answer: The final answer when known without running tools.
        difficulty: easy / medium / hard (default: from the calls).
        tool_results: (call, result) pairs the source recorded: given (even empty), the row gets the optional
            `tool_results` column (`recorded_results`).
    """
    from .phrasing import difficulty_of

    calls = [{"name": c["name"], "arguments": c.get("arguments") or {}} for c in calls]
    calls_json = json.dumps(calls, ensure_ascii=False)
    digest = hashlib.sha1(f"{query}\n{calls_json}".encode()).hexdigest()[:12]
    row = {
        "id": f"task-{digest}", "query": query,
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": query}],
        "tools": json.dumps([t.to_openai() for t in tools], ensure_ascii=False), "expected_calls": calls_json,
        "gold_answer": gold_answer, "difficulty": difficulty or difficulty_of(calls), "kind": kind, "split": "train",
        "generator": generator,
    }
    if tool_results is not None:
        row["tool_results"] = recorded_results(tool_results)
    return row


def recorded_results(results: list[tuple[dict, Any]]) -> str:
    """The `tool_results` column: the JSON list of `{"name", "arguments", "result"}` the schema-only backend reads
    (`environment.backends.SimulatedTools`); "" for none. A tool called once answers any call of it (its entry has
    no "arguments"); a tool called several times answers each call with that call's arguments.

    Args:
        results: (call `{"name", "arguments"}`, the result the source recorded for it) pairs, in call order.
    """
    if not results:
        return ""
    counts: dict[str, int] = {}
    for call, _ in results:
        counts[call["name"]] = counts.get(call["name"], 0) + 1
    entries = [{"name": call["name"], "result": result} if counts[call["name"]] == 1 else
               {"name": call["name"], "arguments": call.get("arguments") or {}, "result": result}
               for call, result in results]
    return json.dumps(entries, ensure_ascii=False)


def tool_catalog(datasets: Any, first: list[ToolSpec] | None = None) -> list[ToolSpec]:
    """One definition per tool name (the first met) over `first` and the rows' `tools` columns: a tools.json for
    task sets whose rows carry their own tools.

    Args:
        datasets: Datasets (or lists of rows) with a `tools` column.
        first: Tools listed first (e.g. a generated set's own).
    """
    catalog: dict[str, ToolSpec] = {t.name: t for t in first or []}
    seen: set[str] = set()
    for dataset in datasets:
        texts = dataset["tools"] if hasattr(dataset, "column_names") else [r.get("tools") for r in dataset]
        for text in texts:
            if not text or text in seen:
                continue
            seen.add(text)
            for item in json.loads(text) if isinstance(text, str) else text:
                body = item.get("function", item) if isinstance(item, dict) else {}
                if body.get("name") not in catalog:  # only a name's first definition is validated and kept
                    spec = load_tools([item], name="a task's tools column")[0]
                    catalog[spec.name] = spec
    return list(catalog.values())


def concat_tasks(*sources: Any, token: str | None = None) -> TaskSet:
    """Several task sets as one (e.g. imported public tasks mixed with generated ones against forgetting): each
    split with the same split of the others, every row keeping its own tools, a task that is in an earlier set
    (same id) dropped.

    Args:
        sources: TaskSets, task dataset folders or Hub dataset repo ids.
        token: A token for private repos.

    Returns:
        A TaskSet whose tools are one definition per name of all the sets' tools (tools.json), and whose report adds
        up the sets' reports (`settings.sources` lists each set's generator and size).

    Raises:
        TaskError: fewer than two sets.
    """
    from datasets import DatasetDict, concatenate_datasets

    if len(sources) < 2:
        raise TaskError("concat_tasks needs at least two task sets")
    sets = [s if isinstance(s, TaskSet) else load_taskset(s, token=token) for s in sources]
    # An optional column one set has is kept for all ("" in the rows of the sets without it).
    optional = [c for c in OPTIONAL_COLUMNS
                if any(c in split.column_names for s in sets for split in s.dataset.values())]
    columns = COLUMNS + optional
    features = task_features(optional)
    seen: set[str] = set()
    parts: dict[str, list] = {}
    duplicates = 0
    for taskset in sets:
        for name, split in taskset.dataset.items():
            for column in optional:
                if column not in split.column_names:
                    split = split.add_column(column, [""] * len(split))
            split = split.select_columns(columns) if split.column_names != columns else split
            split = split.cast(features) if split.features != features else split
            keep = [i for i, task_id in enumerate(split["id"]) if task_id not in seen]
            duplicates += len(split) - len(keep)
            seen.update(split["id"])
            parts.setdefault(name, []).append(split.select(keep) if len(keep) < len(split) else split)
    dataset = DatasetDict({name: concatenate_datasets(p) for name, p in parts.items()})
    tools = tool_catalog(dataset.values(), first=[t for s in sets for t in s.tools])
    reports = [s.report for s in sets]
    prompts = {r.settings.get("system_prompt") for r in reports}
    report = GenerationReport(
        generator="+".join(dict.fromkeys(r.generator for r in reports)), seed=reports[0].seed,
        requested=sum(r.requested for r in reports), kept=sum(len(split) for split in dataset.values()),
        attempts=sum(r.attempts for r in reports), retries=sum(r.retries for r in reports),
        rejected=_add_counts(r.rejected for r in reports), dropped=_add_counts(r.dropped for r in reports),
        examples=[e for r in reports for e in r.examples][:10], elapsed_s=sum(r.elapsed_s for r in reports),
        settings={"sources": [{"generator": r.generator, "tasks": len(s)} for r, s in zip(reports, sets, strict=True)],
                  "duplicates_dropped": duplicates,
                  **({"system_prompt": prompts.pop()} if len(prompts) == 1 else {})})
    report.coverage = coverage(dataset, tools)
    return TaskSet(dataset=dataset, tools=tools, report=report)


def _add_counts(counts: Any) -> dict[str, int]:
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return dict(total)

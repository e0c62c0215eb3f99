"""Task datasets: generation from tool schemas, validation, de-duplication, train/test split, folder and Hub I/O.

A task dataset is a `datasets.DatasetDict` ("train", and "test" when `test_size > 0`) with these columns:

| column | type | meaning |
|---|---|---|
| id | str | stable id: hash of query + expected calls |
| query | str | the user request |
| prompt | list of {role, content} | the system prompt, then the user query (TRL's `prompt` column) |
| tools | str | JSON list of the available tools, OpenAI format (`{"type": "function", "function": {...}}`) |
| expected_calls | str | JSON list of `{"name", "arguments"}` in order; `[]` when no tool is needed |
| gold_answer | str | the final answer when it is determined without running tools, else "" |
| difficulty | str | easy / medium / hard |
| kind | str | single / multi / no_tool |
| split | str | train / test |
| generator | str | "schema" or the model that proposed the task |

On disk (a folder or a Hub dataset repo): `data/<split>-00000-of-00001.parquet`, `tools.json`,
`generation_report.json` and a `README.md` dataset card whose YAML `configs` let plain
`datasets.load_dataset(folder_or_repo_id)` read it.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..stopping import StopCheck
from ..stopping import check as check_stop
from ..tools.schemas import ToolSpec, load_tools
from .generators import (
    KINDS,
    Candidate,
    LLMGenerator,
    SchemaGenerator,
    Slot,
    content_tokens,
    normalize_query,
    ungrounded_values,
)
from .phrasing import difficulty_of

DEFAULT_SYSTEM_PROMPT = ("You are a helpful assistant that can call tools. When a request needs a tool, call it with "
                         "arguments that follow its schema; when no tool is needed, answer directly.")
DEFAULT_MIX = {"single": 0.6, "multi": 0.25, "no_tool": 0.15}
COLUMNS = ["id", "query", "prompt", "tools", "expected_calls", "gold_answer", "difficulty", "kind", "split",
           "generator"]
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


# ----------------------------------------------------------------------------------------------------------------
# Generation


def generate_tasks(tools: Any, *, num: int = 100, generator: Any = "schema", seed: int = 0, test_size: float = 0.2,
                   mix: dict[str, float] | None = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                   max_retries: int = 2, max_attempts: int | None = None, dedup_threshold: float = 0.8,
                   batch_size: int | None = None, progress: bool = True, temperature: float = 0.7,
                   max_new_tokens: int = 256, workers: int = 2, token: str | None = None,
                   optional_p: float = 0.4, should_stop: StopCheck | None = None) -> TaskSet:
    """Generate validated tool-use tasks from tool schemas.

    Args:
        tools: ToolSpecs or anything `tools.load_tools` reads (a file, JSON, OpenAI/MCP lists, functions).
        num: How many tasks to keep (fewer if the attempt budget runs out; the report says why).
        generator: "schema" (offline, deterministic); a model name, folder or Hub id (run locally); an http(s)
            URL of an OpenAI-compatible endpoint ("URL#model" to name the model); or a `ChatModel`.
        seed: Seed for everything random (the schema generator is deterministic for a seed).
        test_size: Fraction of tasks in the "test" split (stratified by kind); 0 for train only.
        mix: Target fractions of kinds, e.g. {"single": 0.6, "multi": 0.25, "no_tool": 0.15}.
        system_prompt: The system message in every task's `prompt` (the agent must be run with the same one).
        max_retries: Re-asks per task after a malformed, invalid or duplicate proposal before dropping it.
        max_attempts: Cap on generator proposals (default: 5 * num + 20).
        dedup_threshold: Token-set similarity at or above which two requests with the same calls are duplicates.
        batch_size: Proposals per generator round (default: all remaining for "schema", 4 for a model).
        progress: Show a tqdm progress bar.
        temperature: Sampling temperature for a model generator.
        max_new_tokens: Reply budget for a model generator.
        workers: Parallel requests for an endpoint generator.
        token: Bearer token for an endpoint generator.
        optional_p: Probability that the schema generator fills each optional argument.
        should_stop: Called between generation rounds (and, for a local model, between generated tokens); once it
            returns True, generation ends with `stopping.Stopped`.

    Raises:
        stopping.Stopped: `should_stop` asked to stop; the message says how many tasks had been kept.
    """
    from tqdm.auto import tqdm

    specs = tools if isinstance(tools, list) and tools and all(isinstance(t, ToolSpec) for t in tools) else \
        load_tools(tools)
    if num < 1:
        raise TaskError(f"num must be at least 1, got {num}")
    if not 0 <= test_size < 1:
        raise TaskError(f"test_size must be in [0, 1), got {test_size}")
    mix = _check_mix(mix or DEFAULT_MIX)
    rng = random.Random(seed)
    if generator == "schema":
        gen: Any = SchemaGenerator(specs, optional_p=optional_p)
        batch_size = batch_size or num
    else:
        from ..models.chat import get_chat_model

        model = generator if hasattr(generator, "chat") else get_chat_model(str(generator), token=token)
        gen = LLMGenerator(model, specs, temperature=temperature, max_new_tokens=max_new_tokens, workers=workers,
                           should_stop=should_stop)
        batch_size = batch_size or 4
    by_name = {t.name: t for t in specs}
    report = GenerationReport(generator=gen.name, seed=seed, requested=num, settings={
        "test_size": test_size, "mix": mix, "max_retries": max_retries, "dedup_threshold": dedup_threshold,
        "system_prompt": system_prompt, **({"temperature": temperature} if gen.name != "schema" else {})})
    max_attempts = max_attempts or 5 * num + 20
    planner = _Planner(specs, num, mix, rng)
    dedup = _Dedup(dedup_threshold)
    kept: list[dict] = []
    queue: list[tuple[Slot, int, Candidate | None]] = []  # (slot, tries so far, last failed candidate)
    start = time.perf_counter()
    model_errors_in_a_row = 0
    with tqdm(total=num, desc=f"tasks ({gen.name})", disable=not progress, unit="task") as bar:
        while len(kept) < num and report.attempts < max_attempts:
            room = min(batch_size, max_attempts - report.attempts)
            batch = queue[:room]
            queue = queue[room:]
            while len(batch) < min(room, num - len(kept)):
                batch.append((planner.next_slot(), 0, None))
            stopped = f"task generation stopped after {len(kept)} of {num} tasks ({report.attempts} proposals)"
            check_stop(should_stop, stopped)
            candidates = gen.propose([s for s, _, _ in batch], rng, [c for _, _, c in batch])
            check_stop(should_stop, stopped)  # a generation cut short by the stop is no proposal
            report.attempts += len(batch)
            report.retries += sum(1 for _, tries, _ in batch if tries)
            all_model_errors = True
            for (slot, tries, _), cand in zip(batch, candidates, strict=True):
                problem = cand.error or _validate(cand, by_name) or dedup.check(cand)
                all_model_errors = all_model_errors and bool(cand.error and cand.error.startswith("model_error"))
                if problem is None:
                    if len(kept) < num:
                        dedup.add(cand)
                        kept.append(_row(cand, specs, gen.name, system_prompt))
                        planner.done(slot, cand)
                        bar.update(1)
                    continue
                reason = problem.split(":", 1)[0]
                report.rejected[reason] = report.rejected.get(reason, 0) + 1
                if len(report.examples) < 10 and problem[:300] not in report.examples:
                    report.examples.append(problem[:300])
                cand.error = problem
                if tries < max_retries:
                    queue.append((slot, tries + 1, cand))
                else:
                    report.dropped[reason] = report.dropped.get(reason, 0) + 1
                    planner.failed(slot, reason)
            model_errors_in_a_row = model_errors_in_a_row + 1 if all_model_errors else 0
            if model_errors_in_a_row >= 2 and not kept:
                from ..models.chat import ChatError

                raise ChatError(f"the generator model failed on every request: {report.examples[-1]}")
    if len(kept) < num:  # the attempt budget ran out with retries still pending: those tasks are dropped too
        for _, _, cand in queue:
            reason = (cand.error or "budget").split(":", 1)[0]
            report.dropped[reason] = report.dropped.get(reason, 0) + 1
    report.elapsed_s = round(time.perf_counter() - start, 3)
    report.kept = len(kept)
    dataset = _split(kept, test_size, seed)
    report.coverage = coverage(dataset, specs)
    return TaskSet(dataset=dataset, tools=specs, report=report)


def _check_mix(mix: dict[str, float]) -> dict[str, float]:
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise TaskError(f"mix: unknown kind(s) {sorted(unknown)}; use {list(KINDS)}")
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise TaskError("mix: fractions must be >= 0 and not all 0")
    total = sum(mix.values())
    return {k: mix.get(k, 0) / total for k in KINDS}


class _Planner:
    """Chooses what to ask for next: the kind furthest below its target, and the least-covered tools."""

    def __init__(self, tools: list[ToolSpec], num: int, mix: dict[str, float], rng: random.Random):
        self.names = [t.name for t in tools]
        rng.shuffle(self.names)
        self.rng = rng
        self.target = _apportion(num, mix)
        self.kept = Counter()
        self.asked = Counter()
        self.usage = Counter({n: 0 for n in self.names})
        self.failures = Counter()

    def next_slot(self) -> Slot:
        kinds = [k for k in KINDS if self.target[k] > 0]
        kind = max(kinds, key=lambda k: (self.target[k] - self.kept[k] - self.asked[k], -KINDS.index(k)))
        self.asked[kind] += 1
        if kind == "no_tool":
            return Slot("no_tool")
        first = min(self.names, key=lambda n: self.usage[n])
        tools = [first]
        if kind == "multi":
            others = [n for n in self.names if n != first] or [first]
            tools.append(min(self.rng.sample(others, min(3, len(others))), key=lambda n: self.usage[n]))
        for name in tools:
            self.usage[name] += 1
        return Slot(kind, tools)

    def done(self, slot: Slot, cand: Candidate) -> None:
        self.asked[slot.kind] -= 1
        self.kept[_kind_of(cand)] += 1
        self.failures[slot.kind] = 0

    def failed(self, slot: Slot, reason: str) -> None:
        # Tool usage keeps counting the failed try: a tool that yields no new tasks (no arguments, tiny value
        # space) stops being picked first, so the others are not starved.
        self.asked[slot.kind] -= 1
        self.failures[slot.kind] += 1
        # A kind that keeps failing (e.g. no negative request fits these tools) hands its share to single calls.
        if slot.kind != "single" and self.failures[slot.kind] >= 5:
            moved = max(0, self.target[slot.kind] - self.kept[slot.kind] - self.asked[slot.kind])
            self.target[slot.kind] -= moved
            self.target["single"] += moved


def _apportion(num: int, mix: dict[str, float]) -> dict[str, int]:
    raw = {k: num * mix[k] for k in KINDS}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(KINDS, key=lambda k: raw[k] - out[k], reverse=True)[: num - sum(out.values())]:
        out[k] += 1
    return out


def _kind_of(cand: Candidate) -> str:
    n = len(cand.expected_calls)
    return "no_tool" if n == 0 else "single" if n == 1 else "multi"


def _validate(cand: Candidate, tools: dict[str, ToolSpec]) -> str | None:
    """A problem with a proposal ("reason: detail"), or None if it can be kept."""
    if not isinstance(cand.query, str) or len(cand.query.strip()) < 3:
        return "missing_query: empty request"
    if len(cand.query) > 2000:
        return "too_long: request longer than 2000 characters"
    for i, call in enumerate(cand.expected_calls):
        tool = tools.get(call.get("name"))
        if tool is None:
            return f"unknown_tool: expected_calls[{i}] names {call.get('name')!r}, not one of the tools"
        problems = tool.validate_arguments(call.get("arguments"))
        if problems:
            return f"invalid_arguments: {tool.name}: {problems[0]}"
        missing = ungrounded_values(cand.query, call["arguments"])
        if missing:
            # The request must contain what the call uses, else the task teaches the model to invent arguments.
            return f"ungrounded_argument: {tool.name}: {json.dumps(missing[0])} is not stated in the request"
    return None


class _Dedup:
    """Exact duplicates (normalized text) and near-duplicates (same calls and similar content words)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.texts: set[str] = set()
        self.by_calls: dict[str, list[frozenset[str]]] = {}

    @staticmethod
    def _signature(cand: Candidate) -> str:
        return json.dumps(cand.expected_calls, sort_keys=True)

    def check(self, cand: Candidate) -> str | None:
        if normalize_query(cand.query) in self.texts:
            return "duplicate: the same request was already generated"
        tokens = content_tokens(cand.query)
        for other in self.by_calls.get(self._signature(cand), []):
            union = len(tokens | other)
            if union and len(tokens & other) / union >= self.threshold:
                return "near_duplicate: a very similar request with the same calls exists"
        return None

    def add(self, cand: Candidate) -> None:
        self.texts.add(normalize_query(cand.query))
        self.by_calls.setdefault(self._signature(cand), []).append(content_tokens(cand.query))


def _row(cand: Candidate, tools: list[ToolSpec], generator: str, system_prompt: str) -> dict:
    calls = [{"name": c["name"], "arguments": c.get("arguments") or {}} for c in cand.expected_calls]
    calls_json = json.dumps(calls, ensure_ascii=False)
    digest = hashlib.sha1(f"{cand.query}\n{calls_json}".encode()).hexdigest()[:12]
    return {
        "id": f"task-{digest}",
        "query": cand.query,
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": cand.query}],
        "tools": json.dumps([t.to_openai() for t in tools], ensure_ascii=False),
        "expected_calls": calls_json,
        "gold_answer": cand.gold_answer or "",
        "difficulty": cand.difficulty or difficulty_of(calls),
        "kind": _kind_of(cand),
        "split": "train",
        "generator": generator,
    }


def task_features():
    """The `datasets.Features` of a task dataset."""
    from datasets import Features, List, Value

    return Features({
        "id": Value("string"), "query": Value("string"),
        "prompt": List({"role": Value("string"), "content": Value("string")}),
        "tools": Value("string"), "expected_calls": Value("string"), "gold_answer": Value("string"),
        "difficulty": Value("string"), "kind": Value("string"), "split": Value("string"),
        "generator": Value("string"),
    })


def _split(rows: list[dict], test_size: float, seed: int):
    """Stratified by kind (every split gets its share of negatives), shuffled with the seed."""
    from datasets import Dataset, DatasetDict

    rng = random.Random(seed + 1)
    groups = {kind: [r for r in rows if r["kind"] == kind] for kind in KINDS}
    # round(N * test_size) test tasks in all, shared between kinds in proportion (largest remainder first).
    n_test = round(len(rows) * test_size)
    per_kind = _apportion(n_test, {k: len(g) / len(rows) for k, g in groups.items()}) if rows else {}
    train, test = [], []
    for kind, group in groups.items():
        rng.shuffle(group)
        test += group[: per_kind.get(kind, 0)]
        train += group[per_kind.get(kind, 0):]
    rng.shuffle(train)
    rng.shuffle(test)
    for r in test:
        r["split"] = "test"
    features = task_features()

    def build(rows: list[dict]):
        # from_dict with every column keeps the schema even when no task survived.
        return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=features)

    splits = {"train": build(train)}
    if test:
        splits["test"] = build(test)
    return DatasetDict(splits)


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
        "kind": {k: kinds.get(k, 0) for k in KINDS},
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
    return f"a task dataset of {report.get('kept', '?')} tasks for {', '.join(tools) or 'no tools'}"


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
    """The tools a task dataset was generated for (its tools.json)."""
    from .. import hub

    folder = hub.download(repo_id_or_folder, repo_type="dataset", token=token, allow_patterns=["tools.json"]) \
        if not hub.is_local(repo_id_or_folder) else Path(repo_id_or_folder)
    return load_tools(folder / "tools.json")


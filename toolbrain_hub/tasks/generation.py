"""Generating a task set from tool descriptions: plan the mix of task kinds, draw candidates from a generator, keep
the valid and distinct ones, split them into train and test.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from typing import Any

from ..stopping import StopCheck
from ..stopping import check as check_stop
from ..tools.schemas import ToolSpec, load_tools
from .alternatives import extended_calls
from .generators import (
    KINDS,
    Candidate,
    LLMGenerator,
    SchemaGenerator,
    Slot,
    content_tokens,
    normalize_query,
)
from .phrasing import difficulty_of
from .spoken import ungrounded_values
from .taskset import (
    COLUMNS,
    DEFAULT_SYSTEM_PROMPT,
    OPTIONAL_COLUMNS,
    GenerationReport,
    TaskError,
    TaskSet,
    coverage,
    task_features,
)

DEFAULT_MIX = {"single": 0.5, "parallel": 0.15, "multi": 0.2, "no_tool": 0.15}


# ----------------------------------------------------------------------------------------------------------------
# Generation


def generate_tasks(tools: Any, *, num: int = 100, generator: Any = "schema", seed: int = 0, test_size: float = 0.2,
                   mix: dict[str, float] | None = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                   max_retries: int = 2, max_attempts: int | None = None, dedup_threshold: float = 0.8,
                   batch_size: int | None = None, progress: bool = True, temperature: float = 0.7,
                   max_new_tokens: int = 256, workers: int = 2, token: str | None = None,
                   optional_p: float = 0.4, paraphrase: Any = None, should_stop: StopCheck | None = None) -> TaskSet:
    """Generate validated tool-use tasks from tool schemas.

    Args:
        tools: ToolSpecs or anything `tools.load_tools` reads (a file, JSON, OpenAI/MCP lists, functions).
        num: How many tasks to keep (fewer if the attempt budget runs out; the report says why).
        generator: "schema" (offline, deterministic); a model name, folder or Hub id (run locally); an http(s)
            URL of an OpenAI-compatible endpoint ("URL#model" to name the model); or a `ChatModel`.
        seed: Seed for everything random (the schema generator is deterministic for a seed).
        test_size: Fraction of tasks in the "test" split (stratified by kind); 0 for train only.
        mix: Target fractions of kinds (default `DEFAULT_MIX`): "single" (one call), "parallel" (several independent
            calls in one turn), "multi" (calls in sequence), "no_tool" (no call needed).
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
        paraphrase: A chat model that rewrites each tool task's request in everyday words (a `ChatModel`, a model
            name, folder or Hub id, or an endpoint URL, as for `generator`); a rewrite is kept only when every
            argument value still appears in it, else the original stays (`report.paraphrase` counts both).
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
    paraphraser = None
    if paraphrase is not None:
        from ..models.chat import get_chat_model
        from .paraphrase import Paraphraser

        chat = paraphrase if hasattr(paraphrase, "chat") else get_chat_model(str(paraphrase), token=token)
        paraphraser = Paraphraser(chat, set(by_name), temperature=temperature, workers=workers,
                                  should_stop=should_stop)
    report = GenerationReport(generator=gen.name, seed=seed, requested=num, settings={
        "test_size": test_size, "mix": mix, "max_retries": max_retries, "dedup_threshold": dedup_threshold,
        "system_prompt": system_prompt, **({"temperature": temperature} if gen.name != "schema" else {}),
        **({"paraphrase": paraphraser.name} if paraphraser else {})})
    max_attempts = max_attempts or 5 * num + 20
    planner = _Planner(specs, num, mix, rng)
    dedup = _Dedup(dedup_threshold)
    kept: list[Candidate] = []
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
                        kept.append(cand)
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
    if paraphraser is not None:
        _paraphrase(kept, paraphraser, random.Random(f"paraphrase-{seed}"), batch_size, should_stop, progress)
        report.paraphrase = paraphraser.report()
    if gen.name == "schema":
        # The schema generator knows which values its requests state: optional arguments and other right values
        # (read off the final request text, after any paraphrase).
        for cand in kept:
            cand.expected_calls = extended_calls(cand.expected_calls, by_name, cand.query)
    report.elapsed_s = round(time.perf_counter() - start, 3)
    report.kept = len(kept)
    dataset = _split([_row(c, specs, gen.name, system_prompt) for c in kept], test_size, seed)
    report.coverage = coverage(dataset, specs)
    return TaskSet(dataset=dataset, tools=specs, report=report)


def _paraphrase(kept: list[Candidate], paraphraser: Any, rng: random.Random, batch_size: int,
                should_stop: StopCheck | None, progress: bool) -> None:
    """Rewrite the kept tool tasks' requests in place (those the checks accept), a batch at a time."""
    from tqdm.auto import tqdm

    tool_tasks = [c for c in kept if c.expected_calls]
    taken = {normalize_query(c.query) for c in kept}
    size = max(1, min(batch_size, 16))
    with tqdm(total=len(tool_tasks), desc=f"paraphrase ({paraphraser.name})", disable=not progress,
              unit="task") as bar:
        for i in range(0, len(tool_tasks), size):
            check_stop(should_stop, f"paraphrasing stopped after {i} of {len(tool_tasks)} requests")
            batch = tool_tasks[i: i + size]
            for cand, text in zip(batch, paraphraser.rewrite([(c.query, c.expected_calls) for c in batch], rng,
                                                             taken), strict=True):
                cand.query = text
            bar.update(len(batch))


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
        others = [n for n in self.names if n != first]
        if kind == "multi":
            others = others or [first]
            tools.append(min(self.rng.sample(others, min(3, len(others))), key=lambda n: self.usage[n]))
        elif kind == "parallel":
            # Two or three calls: one tool with different arguments ("weather in Paris and in Tokyo"), or others.
            n = 3 if self.rng.random() < 0.25 else 2
            if not others or self.rng.random() < 0.5:
                tools += [first] * (n - 1)
            else:
                tools += sorted(self.rng.sample(others, min(n - 1, len(others))), key=lambda n: self.usage[n])
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
    raw = {k: num * share for k, share in mix.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: num - sum(out.values())]:
        out[k] += 1
    return out


def _kind_of(cand: Candidate) -> str:
    n = len(cand.expected_calls)
    if n > 1 and cand.kind in ("parallel", "multi"):
        return cand.kind
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
    # The id hashes the reference calls only: the extended form's fields do not change which task it is.
    digest = hashlib.sha1(f"{cand.query}\n{calls_json}".encode()).hexdigest()[:12]
    return {
        "id": f"task-{digest}",
        "query": cand.query,
        "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": cand.query}],
        "tools": json.dumps([t.to_openai() for t in tools], ensure_ascii=False),
        "expected_calls": json.dumps([{**c, "arguments": c.get("arguments") or {}} for c in cand.expected_calls],
                                     ensure_ascii=False),
        "gold_answer": cand.gold_answer or "",
        "difficulty": cand.difficulty or difficulty_of(calls),
        "kind": _kind_of(cand),
        "split": "train",
        "generator": generator,
    }


def _split(rows: list[dict], test_size: float, seed: int):
    """Stratified by kind (every split gets its share of negatives), shuffled with the seed."""
    from datasets import Dataset, DatasetDict

    rng = random.Random(seed + 1)
    # Every kind present gets its share: imported tasks have kinds the generator does not make ("parallel").
    kinds = dict.fromkeys([*KINDS, *(r["kind"] for r in rows)])
    groups = {kind: [r for r in rows if r["kind"] == kind] for kind in kinds}
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
    # An optional column (imported rows' `tool_results`) is kept when the rows have it.
    optional = [c for c in OPTIONAL_COLUMNS if rows and c in rows[0]]
    columns = COLUMNS + optional
    features = task_features(optional)

    def build(rows: list[dict]):
        # from_dict with every column keeps the schema even when no task survived.
        return Dataset.from_dict({c: [r[c] for r in rows] for c in columns}, features=features)

    splits = {"train": build(train)}
    if test:
        splits["test"] = build(test)
    return DatasetDict(splits)

"""Held-out evaluation: the hand-written requests of bench/heldout/ and schema-generated tasks for the same tools.

Run: .venv/bin/python bench/bench_heldout.py [--model NAME | --run RUN_DIR | --adapter DIR] [--limit N] [--out FILE]

Evaluates one agent (default: the built-in default model, zero-shot) with `toolbrain_hub.evaluate` (greedy, multi-turn
episodes, schema-only tools answered from each request's recorded results) on
- the hand-written held-out set (bench/heldout/*.json: 180 requests, 6 tool sets, 5 kinds; see its README), and
- generated held-out tasks: for each of those tool sets, the "test" split of `generate_tasks(..., generator="schema")`
  with a seed training does not use (or the test split of `--generated-tasks DIR`, e.g. a training protocol's tasks).

It prints, for both, accuracy by exact match (`correctness`) and by the standard AST rule (`ast_accuracy`, any
acceptable value, optional arguments may be left out; "n/a" while the scorer has no such metric), both by kind, and the
native-format rate (calls written in the chat template's own form: `native_format_rate` when the metrics have it, else
the share of calls whose trace turn has format "tagged"). It writes the numbers to --out (JSON) and the full
evaluations (eval.json, traces.jsonl, eval.md) to a folder beside it.

Before/after: `--run RUN --baseline MODEL` also evaluates MODEL with the run's agent spec (same prompt and limits), and
`--before FILE` prints an earlier output of this script next to this one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import OUT, machine  # noqa: E402

from toolbrain_hub.evaluation.metrics import fmt_value, md_table  # noqa: E402

HELDOUT = Path(__file__).parent / "heldout"
GENERATION_SEED = 2026  # not a seed the training protocol generates with (bench_grpo_cpu uses 0)
KIND_LABELS = {"single": "one call (one tool)", "choice": "one call among several tools", "parallel": "parallel calls",
               "multi_turn": "multi-turn (sequential)", "multi": "several calls", "no_tool": "no call needed"}
HEADLINE = [("exact-match accuracy", "correctness"), ("AST accuracy", "ast_accuracy"),
            ("native-format rate", "native_format_rate"), ("tool-call accuracy", "tool_call_accuracy"),
            ("no-tool precision", "no_tool_precision"), ("invalid-call rate", "invalid_call_rate"),
            ("answer accuracy", "answer_accuracy"), ("avg turns", "avg_turns")]


# --------------------------------------------------------------------------------------------------- task rows


def heldout_rows(folder: Path, limit: int | None) -> list[dict[str, Any]]:
    """The hand-written requests; with `limit`, at most that many of each kind, taken in turn from each tool set."""
    from toolbrain_hub.tasks import load_request_files

    rows = [dict(r) for r in load_request_files(folder).dataset["test"]]
    if limit is None:
        return rows
    by_kind: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_kind[row["kind"]][row["tool_set"]].append(row)
    picked = []
    for sets in by_kind.values():
        queues = list(sets.values())
        taken = 0
        while taken < limit and any(queues):
            for queue in queues:
                if queue and taken < limit:
                    picked.append(queue.pop(0))
                    taken += 1
    return picked


def generated_rows(folder: Path, per_set: int, seed: int, tasks_dir: str | None) -> list[dict[str, Any]]:
    """Schema-generated test tasks for each held-out tool set (`per_set` each), or the test split of `tasks_dir`."""
    from toolbrain_hub.tasks import generate_tasks, load_tasks
    from toolbrain_hub.tasks.request_files import read_request_file

    if tasks_dir:
        test = load_tasks(tasks_dir, split="test")
        return [dict(r) for r in test.select(range(min(per_set, len(test))))]
    rows = []
    for path in sorted(folder.glob("*.json")):
        _, tools, _ = read_request_file(path)
        # test_size 0.5 of 2n: n test tasks, stratified by kind like any generated held-out split.
        taskset = generate_tasks(tools, num=2 * per_set, generator="schema", seed=seed, test_size=0.5, progress=False)
        rows += [dict(r) for r in taskset.test.select(range(min(per_set, len(taskset.test))))]
    return rows


# ------------------------------------------------------------------------------------------------------ metrics


def native_format_rate(result) -> float | None:
    """The metrics' `native_format_rate` when the scorer has it, else calls in "tagged" turns / all calls."""
    if "native_format_rate" in result.metrics:
        return result.metrics["native_format_rate"]
    total = native = 0
    for trace in result.traces:
        for turn in trace.model_turns:
            total += len(turn.calls)
            native += len(turn.calls) if turn.format == "tagged" else 0
    return native / total if total else None


def summarize(result, elapsed: float) -> dict[str, Any]:
    """Headline metrics and the by-kind breakdown of one evaluation (None where a metric does not exist yet)."""
    metrics = {key: result.metrics.get(key) for _, key in HEADLINE}
    metrics["native_format_rate"] = native_format_rate(result)
    by_kind = {kind: {"tasks": m["tasks"], "correctness": m.get("correctness"), "ast_accuracy": m.get("ast_accuracy"),
                      "tool_call_accuracy": m.get("tool_call_accuracy")}
               for kind, m in result.breakdown.get("kind", {}).items()}
    return {"tasks": result.metrics["tasks"], "metrics": metrics, "by_kind": by_kind, "elapsed_s": round(elapsed, 1),
            "ast_rule_available": "ast_accuracy" in result.metrics}


def run_set(model: str, rows: list[dict], spec: Any, args, folder: Path) -> dict[str, Any]:
    from toolbrain_hub.evaluation import evaluate

    start = time.perf_counter()
    result = evaluate(model, rows, spec=spec, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                      max_turns=args.max_turns, device=args.device, dtype=args.dtype, threads=args.threads,
                      progress=not args.no_progress)
    summary = summarize(result, time.perf_counter() - start)
    result.save(folder)
    summary["results"] = str(folder)
    return summary


# ------------------------------------------------------------------------------------------------------- tables


def print_tables(columns: dict[str, dict[str, Any]]) -> None:
    """Headline metrics, one column per (agent, set), then exact / AST accuracy by kind."""
    names = list(columns)
    print()
    print(md_table(["metric", *names], [["tasks", *(columns[n]["tasks"] for n in names)]] +
                   [[label, *(columns[n]["metrics"].get(key) for n in names)] for label, key in HEADLINE]))
    order = list(KIND_LABELS)
    kinds = sorted({k for n in names for k in columns[n]["by_kind"]},
                   key=lambda k: (order.index(k) if k in order else len(order), k))
    rows = []
    for kind in kinds:
        cells = []
        for n in names:
            m = columns[n]["by_kind"].get(kind)
            cells.append("-" if m is None else f"{fmt_value(m['correctness'])} / {fmt_value(m['ast_accuracy'])} "
                         f"({m['tasks']})")
        rows.append([KIND_LABELS.get(kind, kind), *cells])
    print("\nBy kind: exact-match / AST accuracy (tasks)\n")
    print(md_table(["kind", *names], rows))


def main() -> int:
    from toolbrain_hub.errors import ToolBrainError
    from toolbrain_hub.models import DEFAULT_MODEL, set_threads

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--model", help=f"a model name, folder or Hub id (default: {DEFAULT_MODEL})")
    who.add_argument("--run", help="a training run folder (its final adapter and agent spec)")
    who.add_argument("--adapter", help="an adapter folder with agent_spec.json")
    parser.add_argument("--baseline", metavar="MODEL", help="with --run/--adapter: also evaluate MODEL (e.g. the base "
                                                            "model) with the same agent spec")
    parser.add_argument("--before", metavar="FILE", help="an earlier output of this script, printed beside this one")
    parser.add_argument("--heldout", default=str(HELDOUT), help="folder of request files (default: bench/heldout)")
    parser.add_argument("--generated", type=int, default=20, metavar="N",
                        help="generated test tasks per tool set (default 20; 0 to skip)")
    parser.add_argument("--generated-tasks", metavar="DIR", help="evaluate this task folder's test split as the "
                                                                 "generated set instead (at most --generated tasks)")
    parser.add_argument("--seed", type=int, default=GENERATION_SEED, help="generation seed (default %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N hand-written requests of each kind and N "
                                                               "generated tasks per tool set (a quick look)")
    parser.add_argument("--out", default=str(OUT / "heldout.json"), help="JSON output (default bench/out/heldout.json)"
                        "; the full evaluations go to a folder of the same name without .json")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, help="tokens per model turn (default: the agent spec's)")
    parser.add_argument("--max-turns", type=int, help="model turns per episode (default: the agent spec's)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if args.baseline and not (args.run or args.adapter):
        parser.error("--baseline needs --run or --adapter (the agent spec it is prompted with)")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.threads:
        set_threads(args.threads)
    agent = args.run or args.adapter or args.model or DEFAULT_MODEL
    per_set = min(args.generated, args.limit) if args.limit else args.generated
    out = Path(args.out)
    results_dir = out.with_suffix("")
    try:
        from toolbrain_hub.evaluation import source_spec

        sets = {"held-out": heldout_rows(Path(args.heldout), args.limit)}
        if per_set > 0:
            sets["generated"] = generated_rows(Path(args.heldout), per_set, args.seed, args.generated_tasks)
        agents = {agent: None}
        if args.baseline:
            agents = {args.baseline: source_spec(agent), agent: None}
        columns: dict[str, dict[str, Any]] = {}
        for who_name, spec in agents.items():
            role = "after" if args.baseline and who_name == agent else "before" if args.baseline else "agent"
            for set_name, rows in sets.items():
                print(f"evaluating {who_name} on {len(rows)} {set_name} tasks", flush=True)
                column = f"{set_name} ({role})" if args.baseline else set_name
                columns[column] = run_set(who_name, rows, spec, args, results_dir / role / set_name)
                columns[column]["agent"] = who_name
    except ToolBrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    shown = columns
    if args.before:  # an earlier output of this script: its columns first
        earlier = json.loads(Path(args.before).read_text(encoding="utf-8"))
        shown = {f"{name} ({Path(args.before).stem})": column for name, column in earlier["sets"].items()} | columns
    print_tables(shown)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "heldout", "agent": agent, "baseline": args.baseline, "machine": machine(),
            "settings": {"heldout": args.heldout, "limit": args.limit, "generated_per_set": per_set,
                         "generated_tasks": args.generated_tasks, "seed": args.seed, "dtype": args.dtype,
                         "max_new_tokens": args.max_new_tokens, "max_turns": args.max_turns},
            "sets": columns}
    out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"-> {out} (full evaluations in {results_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

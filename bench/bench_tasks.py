"""Task generation: schema-generator throughput and LLM-generator tasks/minute + acceptance rate.

Run: .venv/bin/python bench/bench_tasks.py [--threads 2] [--llm-attempts 10] [--skip-llm]

- Schema generator: 1,000 validated tasks (target: < 10 s on 2 cores) for the 9 test tools (weather, calendar,
  shop: enums, ranges, formats, patterns, nested objects, $refs) and for bench/data/tools_100.json; median of 3 runs.
- LLM generator: the default offline model (Qwen2.5-Coder-0.5B-Instruct) proposes tasks for the 3 weather tools;
  `--llm-attempts` proposals in batches of `--batch-size`, one retry each with the error as feedback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_gb, report  # noqa: E402

from toolbrain_hub.tasks import generate_tasks  # noqa: E402
from toolbrain_hub.tools import load_tools  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEST_TOOLS = [ROOT / "tests" / "data" / name for name in ("weather_openai.json", "calendar_mcp.json",
                                                          "shop_bare.json")]


def schema_runs(tools, num: int, runs: int = 3) -> tuple[float, object]:
    times, last = [], None
    for run in range(runs):
        start = time.perf_counter()
        last = generate_tasks(tools, num=num, seed=run, progress=False)
        times.append(time.perf_counter() - start)
        assert last.report.kept == num, last.report.to_dict()
    return statistics.median(times), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the LLM generator")
    parser.add_argument("--llm-attempts", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--model", default=None, help="generator model (default: the offline default model)")
    args = parser.parse_args()

    rows, extra = [], {}
    tools = [spec for path in TEST_TOOLS for spec in load_tools(path)]
    elapsed, ts = schema_runs(tools, 1000)
    rows += [("schema: 1,000 validated tasks, 9 tools (median of 3)", elapsed, "s"),
             ("schema: tasks per second", 1000 / elapsed, "tasks/s"),
             ("schema: acceptance (kept / proposals)", ts.report.acceptance_rate, "")]
    extra["schema_9_tools"] = ts.report.to_dict()
    hundred = load_tools(ROOT / "bench" / "data" / "tools_100.json")
    elapsed, ts = schema_runs(hundred, 1000)
    rows.append((f"schema: 1,000 validated tasks, {len(hundred)} tools (median of 3)", elapsed, "s"))
    extra["schema_100_tools"] = {k: v for k, v in ts.report.to_dict().items() if k != "coverage"}

    if not args.skip_llm:
        from toolbrain_hub.models import DEFAULT_MODEL
        from toolbrain_hub.models.chat import get_chat_model

        start = time.perf_counter()
        model = get_chat_model(args.model or DEFAULT_MODEL, threads=args.threads, device="cpu")
        rows.append(("llm: model load", time.perf_counter() - start, "s"))
        weather = load_tools(TEST_TOOLS[0])
        ts = generate_tasks(weather, num=args.llm_attempts, generator=model, seed=0, max_retries=1,
                            max_attempts=args.llm_attempts, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens, progress=True)
        r = ts.report
        rows += [(f"llm: proposals ({args.batch_size} per batch, {args.threads} threads)", r.attempts, ""),
                 ("llm: kept tasks", r.kept, ""),
                 ("llm: acceptance rate (kept / proposals)", r.acceptance_rate, ""),
                 ("llm: tasks per minute (kept)", r.tasks_per_minute, "tasks/min"),
                 ("llm: proposals per minute", 60 * r.attempts / r.elapsed_s, "proposals/min"),
                 ("llm: generation time", r.elapsed_s, "s")]
        extra["llm"] = {**r.to_dict(), "model": model.model_id,
                        "kept_examples": [{"query": row["query"], "expected_calls": row["expected_calls"]}
                                          for split in ts.dataset.values() for row in split][:10]}
    rows.append(("peak RSS", peak_rss_gb(), "GB"))
    report("tasks", rows, extra)


if __name__ == "__main__":
    main()

"""Tool environment overhead per episode next to the model's generation time for the same episode.

Target (issue 4): the environment's own cost stays under 2% of an episode's time. Overhead = reset(**row) plus the
episode's tool calls through the environment (Python tools, schema-only, and MCP over stdio); generation = the
default model writing its first turn for the same task (greedy, 2 threads, the task's prompt with its tools).

Run: .venv/bin/python bench/bench_environment.py [--tasks 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402

from toolbrain_hub.environment import episode_overhead, make_environment_factory  # noqa: E402
from toolbrain_hub.tasks import generate_tasks  # noqa: E402
from toolbrain_hub.tools import load_tools  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def python_tools() -> dict:
    def get_weather(city: str, unit: str = "celsius") -> str:
        return f"{city}: 21 {unit}, sunny"

    def get_forecast(location: str, days: int, include_hourly: bool = False) -> str:
        return json.dumps([{"day": d, "summary": "sunny"} for d in range(days)])

    def get_air_quality(latitude: float, longitude: float) -> str:
        return json.dumps({"aqi": 42, "at": [latitude, longitude]})

    return {"get_weather": get_weather, "get_forecast": get_forecast, "get_air_quality": get_air_quality}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=3, help="tasks to time generation on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    tools = load_tools(ROOT / "tests" / "data" / "weather_openai.json")
    rows = [r for r in generate_tasks(tools, num=60, seed=0, progress=False).dataset["train"]
            if r["kind"] == "single"][: args.tasks]
    calls = [(c["name"], c["arguments"]) for c in json.loads(rows[0]["expected_calls"])]
    backends = {
        "python tools": make_environment_factory(tools, implementations=python_tools()),
        "schema-only": make_environment_factory(tools),
    }
    overhead = {name: episode_overhead(factory, rows[0], calls) for name, factory in backends.items()}
    mcp_tools = [{"name": "get_weather", "description": "Current weather for a city.",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    server = [sys.executable, str(ROOT / "tests" / "mcp_server_example.py")]
    mcp_factory = make_environment_factory(mcp_tools, mcp=server)
    try:
        overhead["MCP over stdio"] = episode_overhead(mcp_factory, {"query": "weather in Paris?"},
                                                      [("get_weather", {"city": "Paris"})], repeats=50)
    finally:
        mcp_factory.close()

    from toolbrain_hub.models.chat import LocalChatModel

    model = LocalChatModel(threads=args.threads, device="cpu")
    schemas = [t.to_openai() for t in tools]
    times = []
    for row in rows:
        start = time.perf_counter()
        model.chat(row["prompt"], tools=schemas, max_new_tokens=args.max_new_tokens)
        times.append(time.perf_counter() - start)
    generation_s = sum(times) / len(times)
    results = [("generation, one turn (default model, greedy)", generation_s, "s")]
    for name, stats in overhead.items():
        results.append((f"{name}: overhead per episode ({stats['calls_per_episode']} call)", stats["mean_us"], "us"))
        results.append((f"{name}: share of the episode", 100 * stats["mean_us"] / 1e6 / generation_s, "%"))
    report("environment", results, extra={"overhead": overhead, "generation_s": times})


if __name__ == "__main__":
    main()

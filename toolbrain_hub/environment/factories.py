"""Environment factories: what TRL's `GRPOTrainer(environment_factory=...)` and the deployed agent are given.

```python
factory = make_environment_factory(tools, implementations={"get_weather": get_weather})
install_tool_schemas(tokenizer)  # toolbrain_hub.tools: the prompt shows each tool's full JSON schema
trainer = GRPOTrainer(..., processing_class=tokenizer, environment_factory=factory)
# reward functions receive `environments=[...]`: env.calls holds each rollout's calls
```

`make_routed_environments` gives each task row its own tool set (one factory per distinct set); `episode_overhead`
times the environment's own cost per episode.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ..tools.schemas import ToolSpec, load_tools
from .backends import (
    RESULTS_COLUMN,
    MCPTools,
    PythonTools,
    SimulatedTools,
    ToolBackend,
    ToolEnvironmentError,
    row_query,
)
from .environment import TOOLS_COLUMN, ToolEnvironment, _as_specs, environment_class

__all__ = ["EnvironmentFactory", "episode_overhead", "make_environment_factory", "make_routed_environments"]


class EnvironmentFactory:
    """Makes environments: TRL's `environment_factory` (called once per concurrent rollout, then reused via reset).

    Args:
        environment_cls: A class from `environment_class`.
        backend: Shared by every environment this factory makes.
        reward: Optional `reward(env) -> float`, exposed as `get_reward()`.
        pool: For a routed environment, all the tools its subset was chosen from (see `tool_pool`).
    """

    def __init__(self, environment_cls: type[ToolEnvironment], backend: ToolBackend,
                 reward: Callable[[ToolEnvironment], float] | None = None, pool: list[ToolSpec] | None = None):
        self.environment_class = environment_cls
        self.backend = backend
        self.reward = reward
        self._pool = tuple(pool) if pool is not None else None

    def __call__(self) -> ToolEnvironment:
        return self.environment_class(self.backend, reward=self.reward)

    @property
    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return self.environment_class.tool_specs

    @property
    def tool_schemas(self) -> list[dict]:
        return self.environment_class.tool_schemas

    @property
    def tool_names(self) -> tuple[str, ...]:
        return self.environment_class.tool_names

    @property
    def tool_pool(self) -> tuple[ToolSpec, ...]:
        """Every tool an episode could be given: the routed set's whole pool (what an agent spec must keep for
        retrieval at inference), else this environment's tools."""
        return self._pool if self._pool is not None else self.tool_specs

    def close(self) -> None:
        """Close the backend (the MCP connection, if any)."""
        self.backend.close()

    def __repr__(self) -> str:
        return f"EnvironmentFactory(tools={list(self.tool_names)}, backend={type(self.backend).__name__})"


def make_environment_factory(tools: Any = None, *, implementations: dict[str, Callable] | None = None,
                             mcp: Any = None, simulator: Any = None, results_column: str = RESULTS_COLUMN,
                             reward: Callable[[ToolEnvironment], float] | None = None,
                             tools_column: str = TOOLS_COLUMN) -> EnvironmentFactory:
    """Build a tool-environment factory for `GRPOTrainer(environment_factory=...)` and for the deployed agent.

    Give real implementations, an MCP server, or neither (schema-only: recorded results, `simulator`, or echo).

    Args:
        tools: ToolSpecs or anything `load_tools` reads. Optional with `implementations` (read from the functions'
            hints and docstrings) and with `mcp` (listed from the server; when given, a subset of the server's tools).
        implementations: `{tool name: callable}`.
        mcp: An MCP server: streamable-HTTP URL, stdio command list, `StdioServerParameters`, or in-process server.
        simulator: Schema-only mode: a ChatModel (or a `get_chat_model` spec string) that invents plausible results.
        results_column: Schema-only mode: the row column with recorded results.
        reward: Optional `reward(env) -> float` exposed as the environment's `get_reward()`.
        tools_column: Row column listing the task's tools (checked by `reset`).

    Raises:
        ToolEnvironmentError: conflicting options, missing implementations, tools the MCP server lacks.
    """
    specs, backend = _build_backend(tools, implementations=implementations, mcp=mcp, simulator=simulator,
                                    results_column=results_column)
    cls = environment_class(specs, reward=reward is not None, tools_column=tools_column)
    return EnvironmentFactory(cls, backend, reward)


def make_routed_environments(dataset: Any, tools: Any = None, *, top_k: int | None = None, retriever: Any = None,
                             query_column: str = "query", tools_column: str = TOOLS_COLUMN,
                             implementations: dict[str, Callable] | None = None, mcp: Any = None,
                             simulator: Any = None, results_column: str = RESULTS_COLUMN,
                             reward: Callable[[ToolEnvironment], float] | None = None,
                             ) -> tuple[Any, dict[str, EnvironmentFactory]]:
    """Per-row tool sets for TRL: one environment per distinct set, chosen by an `environment` column.

    TRL renders each prompt with the tools of the environment its row selects (`environment_factory` as a dict), so
    this is how a row exposes only its own tools: the tools listed in its `tools_column`, and with `top_k`, only the
    k most relevant of those for its query (embedding retrieval, `toolbrain_hub.tools.retrieval.ToolRetriever`).

    Args:
        dataset: A `datasets.Dataset` or a list of row dicts.
        tools: All tools (optional when every row lists its own, or with `implementations`/`mcp`).
        top_k: Expose only the k best tools per row; None: all of the row's tools.
        retriever: A ToolRetriever over the tools (default: one built with the offline embedder).
        query_column: Column with the query text (default: "query"; else the last user message of "prompt").
        tools_column: Column listing a row's tools (JSON or a list), if any.
        implementations, mcp, simulator, results_column, reward: as in `make_environment_factory`.

    Returns:
        (the dataset with an added `environment` column, `{environment name: EnvironmentFactory}`) for
        `GRPOTrainer(train_dataset=..., environment_factory=...)`. All factories share one backend.
    """
    rows = list(dataset)
    if rows and "environment" in rows[0]:
        raise ToolEnvironmentError("the dataset already has an 'environment' column")
    row_specs: list[list[ToolSpec] | None] = []
    pooled: dict[str, ToolSpec] = {}
    parsed: dict[str, list[ToolSpec]] = {}  # task datasets repeat one tools JSON on every row: validate it once
    for i, row in enumerate(rows):
        declared = row.get(tools_column)
        if declared:
            key = declared if isinstance(declared, str) else json.dumps(declared, sort_keys=True, default=str)
            if key not in parsed:
                parsed[key] = load_tools(declared, name=f"row {i} column '{tools_column}'")
            own = parsed[key]
            for spec in own:
                if spec.name in pooled and pooled[spec.name].to_dict() != spec.to_dict():
                    raise ToolEnvironmentError(f"row {i} defines tool {spec.name!r} differently from an earlier row")
                pooled.setdefault(spec.name, spec)
            row_specs.append(own)
        else:
            row_specs.append(None)
    base = _as_specs(tools) if tools is not None else None
    if base is None and implementations is None and mcp is None:
        if not pooled:
            raise ToolEnvironmentError(f"no tools: pass tools= or give the rows a '{tools_column}' column")
        base = list(pooled.values())
    specs, backend = _build_backend(base, implementations=implementations, mcp=mcp, simulator=simulator,
                                    results_column=results_column)
    by_name = {spec.name: spec for spec in specs}
    for i, own in enumerate(row_specs):
        missing = [spec.name for spec in own or [] if spec.name not in by_name]
        if missing:
            raise ToolEnvironmentError(f"row {i} lists tools {missing} that the environment does not provide")
    # Each row's candidate tools, in the environment's own definitions.
    candidates = [[by_name[s.name] for s in own] if own is not None else list(specs) for own in row_specs]
    if top_k is not None:
        if top_k < 1:
            raise ToolEnvironmentError(f"top_k must be >= 1, got {top_k}")
        if retriever is None:
            from ..tools.retrieval import ToolRetriever

            retriever = ToolRetriever(list(specs))
        ranked = retriever.search([row_query(row) for row in rows], k=len(retriever.tools))
        selected = []
        for allowed, order in zip(candidates, ranked, strict=True):
            allowed_names = {s.name for s in allowed}
            selected.append([by_name[t.name] for t in order if t.name in allowed_names][:top_k])
        candidates = selected
    factories: dict[str, EnvironmentFactory] = {}
    keys = []
    for subset in candidates:
        key = ",".join(sorted(s.name for s in subset))
        if key not in factories:
            if not subset:
                raise ToolEnvironmentError("a row ended up with no tools")
            cls = environment_class(subset, reward=reward is not None, tools_column=tools_column)
            factories[key] = EnvironmentFactory(cls, backend, reward, pool=specs)
        keys.append(key)
    if hasattr(dataset, "add_column"):
        return dataset.add_column("environment", keys), factories
    return [{**row, "environment": key} for row, key in zip(rows, keys, strict=True)], factories


def episode_overhead(factory: Callable[[], ToolEnvironment], row: dict, calls: list[tuple[str, dict]], *,
                     repeats: int = 200) -> dict:
    """Time the environment's own cost per episode: `reset(**row)` plus the given calls, on one reused instance.

    Args:
        factory: An environment factory.
        row: A task row.
        calls: `(tool name, arguments)` pairs, run in order every episode.
        repeats: Episodes to time.

    Returns:
        `{"episodes", "calls_per_episode", "mean_us", "median_us", "p95_us"}` (microseconds per episode).
    """
    env = factory()
    timings = []
    for _ in range(repeats + 5):  # the first few warm caches (validators, JSON parsing)
        start = time.perf_counter()
        env.reset(**row)
        for name, arguments in calls:
            env(name, arguments)
        timings.append((time.perf_counter() - start) * 1e6)
    timings = sorted(timings[5:])
    return {"episodes": repeats, "calls_per_episode": len(calls), "mean_us": sum(timings) / len(timings),
            "median_us": timings[len(timings) // 2], "p95_us": timings[int(len(timings) * 0.95) - 1]}


def _build_backend(tools: Any, *, implementations, mcp, simulator, results_column) -> tuple[list[ToolSpec], Any]:
    if implementations is not None and mcp is not None:
        raise ToolEnvironmentError("give implementations= or mcp=, not both")
    if simulator is not None and (implementations is not None or mcp is not None):
        raise ToolEnvironmentError("simulator= is for schema-only tools; it cannot be combined with "
                                   "implementations= or mcp=")
    if implementations is not None:
        if not isinstance(implementations, dict):
            raise ToolEnvironmentError("implementations must be a dict {tool name: callable}")
        if tools is None:
            specs = load_tools(list(implementations.values()), name="implementations")
            renamed = [(s.name, key) for s, key in zip(specs, implementations, strict=True) if s.name != key]
            if renamed:
                raise ToolEnvironmentError(f"implementation keys must match the functions' names: {renamed}; "
                                           "pass tools= to describe them explicitly")
        else:
            specs = _as_specs(tools)
        names = [s.name for s in specs]
        missing = [n for n in names if n not in implementations]
        unknown = [n for n in implementations if n not in names]
        if missing or unknown:
            raise ToolEnvironmentError(
                (f"no implementation for tools {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"implementations given for unknown tools {unknown}" if unknown else ""))
        return specs, PythonTools(implementations)
    if mcp is not None:
        backend = mcp if isinstance(mcp, MCPTools) else MCPTools(mcp)
        served = {spec.name: spec for spec in backend.list_tools()}
        if tools is None:
            return list(served.values()), backend
        specs = _as_specs(tools)
        missing = [s.name for s in specs if s.name not in served]
        if missing:
            raise ToolEnvironmentError(f"the MCP server {backend.description} has no tools {missing} "
                                       f"(it serves {sorted(served)})")
        return specs, backend
    if tools is None:
        raise ToolEnvironmentError("schema-only mode needs tools= (the schemas to validate calls against)")
    if isinstance(simulator, str):
        from ..models.chat import get_chat_model

        simulator = get_chat_model(simulator)
    return _as_specs(tools), SimulatedTools(results_column=results_column, simulator=simulator)

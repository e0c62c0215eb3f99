"""Environment factories: what TRL's `GRPOTrainer(environment_factory=...)` and the deployed agent are given.

```python
factory = make_environment_factory(tools, implementations={"get_weather": get_weather})
install_tool_schemas(tokenizer)  # toolbrain_hub.tools: the prompt shows each tool's full JSON schema
trainer = GRPOTrainer(..., processing_class=tokenizer, environment_factory=factory)
# reward functions receive `environments=[...]`: env.calls holds each rollout's calls
```

`make_routed_environments` gives each task row its own tool set, its own definitions included (one factory per
distinct set); `episode_overhead` times the environment's own cost per episode.
"""

from __future__ import annotations

import hashlib
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

__all__ = ["EnvironmentFactory", "episode_overhead", "make_environment_factory", "make_routed_environments",
           "tool_set_key"]


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
                             retrieval_model: str | None = None, query_column: str = "query",
                             tools_column: str = TOOLS_COLUMN, implementations: dict[str, Callable] | None = None,
                             mcp: Any = None, simulator: Any = None, results_column: str = RESULTS_COLUMN,
                             reward: Callable[[ToolEnvironment], float] | None = None,
                             ) -> tuple[Any, dict[str, EnvironmentFactory]]:
    """Per-row tool sets for TRL: one environment per distinct tool set, chosen by an `environment` column.

    TRL renders each prompt with the tools of the environment its row selects (`environment_factory` as a dict), so
    this is how a row exposes only its own tools. A row that lists its tools (`tools_column`) gets exactly those
    definitions: they are rendered in its prompt and validate and run its calls, even when another row defines a
    tool of the same name differently (real datasets carry their tools per row). A row without them gets `tools`.
    With `top_k`, a row sees only the k of its tools most relevant to its query (embedding retrieval,
    `toolbrain_hub.tools.retrieval.ToolRetriever`).

    Where the calls run: with `implementations` (or `mcp`), a row whose tools they all provide runs them for real; a
    row whose tools they provide none of is schema-only (validated, answered from its recorded results, by
    `simulator` or with an echo), so imported tasks can be mixed with tasks for your own tools; a row whose tools they
    provide only in part is an error. Give `tools=` (your tools) so that a row's tool of the same name but another
    definition (an imported `get_weather`) does not run on your implementation. Without implementations or `mcp`,
    every row is schema-only. `EnvironmentFactory.backend.label` says which.

    Args:
        dataset: A `datasets.Dataset` or a list of row dicts.
        tools: The tools of rows that list none (optional when every row lists its own; read from
            `implementations`/`mcp` when not given).
        top_k: Expose only the k best tools per row; None: all of the row's tools.
        retriever: A ToolRetriever to rank a row's tools with when it holds them all (same definitions); rows with
            other tools get one of their own, with the same embedder.
        retrieval_model: The embedder of the retrievers built here (default: `retriever`'s, else the offline one).
        query_column: Column with the query text (default: "query"; else the last user message of "prompt").
        tools_column: Column listing a row's tools (JSON or a list), if any.
        implementations, mcp, simulator, results_column, reward: as in `make_environment_factory`.

    Returns:
        (the dataset with an added `environment` column, `{environment name: EnvironmentFactory}`) for
        `GRPOTrainer(train_dataset=..., environment_factory=...)`. The name is the tool names and a digest of their
        definitions; factories share one backend per kind (one MCP connection, one schema-only cache).

    Raises:
        ToolEnvironmentError: a row with no tools and no `tools=`; tools that cannot be environment methods (naming
            the row); a row whose tools the implementations or the MCP server provide only in part; conflicting
            options (as `make_environment_factory`).
        ToolSchemaError: a row's tools column is not valid tool JSON.
    """
    rows = list(dataset)
    if rows and "environment" in rows[0]:
        raise ToolEnvironmentError("the dataset already has an 'environment' column")
    declared = _row_tool_sets(rows, tools_column)
    real = _real_backend(implementations, mcp, simulator)
    try:
        return _route(dataset, rows, declared, tools, real, top_k=top_k, retriever=retriever,
                      retrieval_model=retrieval_model, tools_column=tools_column, implementations=implementations,
                      simulator=simulator, results_column=results_column, reward=reward)
    except BaseException:
        if real is not None and real is not mcp:  # a connection opened here for nothing
            real.close()
        raise


def _route(dataset, rows, declared, tools, real, *, top_k, retriever, retrieval_model, tools_column, implementations,
           simulator, results_column, reward) -> tuple[Any, dict[str, EnvironmentFactory]]:
    """`make_routed_environments` once its rows' tools are read and its real backend (if any) is up."""
    served = _served(real)
    needs_base = tools is not None or any(own is None for own in declared)
    base = _base_specs(tools, real, served) if needs_base else None
    if base is None and any(own is None for own in declared):
        i = declared.index(None)
        raise ToolEnvironmentError(f"row {i} lists no tools (no '{tools_column}' column) and no tools were given: "
                                   f"pass tools= or give the rows a '{tools_column}' column")
    _check_implementations(implementations, base, declared)
    pool = _pool(base, declared)
    candidates = [list(own) if own is not None else list(base) for own in declared]
    if top_k is not None:
        candidates = _retrieve(rows, candidates, top_k, retriever, retrieval_model)
    schema_only: list[ToolBackend] = []  # created on first use, shared by every schema-only set

    owned = {spec.name: spec for spec in base} if tools is not None else None

    def backend_for(i: int, subset: list[ToolSpec]) -> ToolBackend:
        if real is not None and (declared[i] is None or _provided_by(real, served, subset, i, owned)):
            return real
        if not schema_only:
            schema_only.append(_schema_only(simulator, results_column))
        return schema_only[0]

    factories: dict[str, EnvironmentFactory] = {}
    keys = []
    for i, subset in enumerate(candidates):
        key = tool_set_key(subset)
        if key not in factories:
            if not subset:
                raise ToolEnvironmentError(f"row {i} ended up with no tools")
            try:
                cls = environment_class(subset, reward=reward is not None, tools_column=tools_column)
            except ToolEnvironmentError as e:
                raise ToolEnvironmentError(f"row {i}: {e}") from None
            factories[key] = EnvironmentFactory(cls, backend_for(i, subset), reward, pool=pool)
        keys.append(key)
    if hasattr(dataset, "add_column"):
        return dataset.add_column("environment", keys), factories
    return [{**row, "environment": key} for row, key in zip(rows, keys, strict=True)], factories


def tool_set_key(specs: Any) -> str:
    """The name of a tool set's environment: its tool names (sorted) and a digest of their full definitions, so two
    sets with the same names and different schemas get different environments.

    Args:
        specs: ToolSpecs.
    """
    ordered = sorted(specs, key=lambda s: s.name)
    text = json.dumps([s.to_dict() for s in ordered], sort_keys=True, ensure_ascii=False, default=str)
    return ",".join(s.name for s in ordered) + "#" + hashlib.sha1(text.encode()).hexdigest()[:10]


def _row_tool_sets(rows: list[dict], tools_column: str) -> list[tuple[ToolSpec, ...] | None]:
    """Each row's own tools (None for a row that lists none), each distinct tools text validated once."""
    parsed: dict[str, tuple[ToolSpec, ...]] = {}
    out: list[tuple[ToolSpec, ...] | None] = []
    for i, row in enumerate(rows):
        declared = row.get(tools_column)
        text = declared if isinstance(declared, str) else json.dumps(declared, sort_keys=True, default=str) \
            if declared else ""
        if not text.strip() or text.strip() == "[]":
            out.append(None)
            continue
        if text not in parsed:
            parsed[text] = tuple(load_tools(declared, name=f"row {i} column '{tools_column}'"))
        out.append(parsed[text])
    return out


def _pool(base: list[ToolSpec] | None, declared: list[tuple[ToolSpec, ...] | None]) -> list[ToolSpec]:
    """Every tool an episode could be given, one definition per name (the first): what an agent spec keeps."""
    pooled: dict[str, ToolSpec] = {}
    for specs in [base or [], *(own for own in declared if own is not None)]:
        for spec in specs:
            pooled.setdefault(spec.name, spec)
    return list(pooled.values())


def _retrieve(rows: list[dict], candidates: list[list[ToolSpec]], top_k: int, retriever: Any,
              model: str | None) -> list[list[ToolSpec]]:
    """Each row's `top_k` most relevant tools among its candidates, best first (one retriever per tool set)."""
    if top_k < 1:
        raise ToolEnvironmentError(f"top_k must be >= 1, got {top_k}")
    from ..tools.retrieval import DEFAULT_EMBEDDER, ToolRetriever

    groups: dict[str, list[int]] = {}
    for i, subset in enumerate(candidates):
        groups.setdefault(tool_set_key(subset), []).append(i)
    selected = list(candidates)
    for members in groups.values():
        subset = candidates[members[0]]
        by_name = {spec.name: spec for spec in subset}
        if retriever is not None and _holds(retriever, subset):
            ranker = retriever
        else:
            settings = {"device": retriever.device} if retriever is not None else {}
            ranker = ToolRetriever(subset, model=model or getattr(retriever, "model_name", None) or DEFAULT_EMBEDDER,
                                   **settings)
        ranked = ranker.search([row_query(rows[i]) for i in members], k=len(ranker.tools))
        for i, order in zip(members, ranked, strict=True):
            selected[i] = [by_name[t.name] for t in order if t.name in by_name][:top_k]
    return selected


def _holds(retriever: Any, subset: list[ToolSpec]) -> bool:
    known = {t.name: t for t in retriever.tools}
    return all(s.name in known and known[s.name].to_dict() == s.to_dict() for s in subset)


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
    real = _real_backend(implementations, mcp, simulator)
    specs = _base_specs(tools, real, _served(real))
    if real is None:
        if specs is None:
            raise ToolEnvironmentError("schema-only mode needs tools= (the schemas to validate calls against)")
        return specs, _schema_only(simulator, results_column)
    _check_implementations(implementations, specs, [])
    return specs, real


def _real_backend(implementations: Any, mcp: Any, simulator: Any) -> ToolBackend | None:
    """The backend that runs calls for real (Python functions or an MCP server), or None for schema-only."""
    if implementations is not None and mcp is not None:
        raise ToolEnvironmentError("give implementations= or mcp=, not both")
    if simulator is not None and (implementations is not None or mcp is not None):
        raise ToolEnvironmentError("simulator= is for schema-only tools; it cannot be combined with "
                                   "implementations= or mcp=")
    if implementations is not None:
        if not isinstance(implementations, dict):
            raise ToolEnvironmentError("implementations must be a dict {tool name: callable}")
        return PythonTools(implementations)
    if mcp is not None:
        return mcp if isinstance(mcp, MCPTools) else MCPTools(mcp)
    return None


def _served(real: ToolBackend | None) -> dict[str, ToolSpec]:
    """The tools an MCP server serves, by name ({} for any other backend)."""
    return {spec.name: spec for spec in real.list_tools()} if isinstance(real, MCPTools) else {}


def _base_specs(tools: Any, real: ToolBackend | None, served: dict[str, ToolSpec]) -> list[ToolSpec] | None:
    """The given tools (checked against the real backend), else those the backend defines, else None."""
    if isinstance(real, PythonTools):
        implementations = real.implementations
        if tools is None:
            specs = load_tools(list(implementations.values()), name="implementations")
            renamed = [(s.name, key) for s, key in zip(specs, implementations, strict=True) if s.name != key]
            if renamed:
                raise ToolEnvironmentError(f"implementation keys must match the functions' names: {renamed}; "
                                           "pass tools= to describe them explicitly")
            return specs
        specs = _as_specs(tools)
        missing = [s.name for s in specs if s.name not in implementations]
        if missing:
            raise ToolEnvironmentError(f"no implementation for tools {missing}")
        return specs
    if isinstance(real, MCPTools):
        if tools is None:
            return list(served.values())
        specs = _as_specs(tools)
        missing = [s.name for s in specs if s.name not in served]
        if missing:
            raise ToolEnvironmentError(f"the MCP server {real.description} has no tools {missing} "
                                       f"(it serves {sorted(served)})")
        return specs
    return _as_specs(tools) if tools is not None else None


def _check_implementations(implementations: Any, base: list[ToolSpec] | None,
                           declared: list[tuple[ToolSpec, ...] | None]) -> None:
    """Implementations for tools that no task can call are a mistake (a typo, the wrong file): say so."""
    if not isinstance(implementations, dict):
        return
    known = {s.name for s in base or []} | {s.name for own in declared if own is not None for s in own}
    unknown = [name for name in implementations if name not in known]
    if unknown:
        raise ToolEnvironmentError(f"implementations given for unknown tools {unknown}")


def _provided_by(real: ToolBackend, served: dict[str, ToolSpec], subset: list[ToolSpec], row: int,
                 owned: dict[str, ToolSpec] | None) -> bool:
    """Whether the real backend runs a row's tools: all of them (True), none (False: schema-only), else an error.

    With `owned` (the given tools=), a row's tool whose name the backend provides but whose definition differs from
    the owned one (an imported `get_weather` of another schema) is not the backend's: it is not run there.
    """
    names = sorted(spec.name for spec in subset)
    provided = served if isinstance(real, MCPTools) else getattr(real, "implementations", {})
    differs = {s.name for s in subset if owned is not None and s.name in owned
               and owned[s.name].to_dict() != s.to_dict()}
    have = [name for name in names if name in provided and name not in differs]
    if len(have) == len(names):
        return True
    if not have:
        return False
    missing = [name for name in names if name not in have]
    what = (f"the MCP server {real.description} does not serve {missing}" if isinstance(real, MCPTools)
            else f"there is no implementation for {missing}")
    if differs & set(missing):
        what += f" ({sorted(differs & set(missing))} defined differently from tools=)"
    raise ToolEnvironmentError(f"row {row} uses the tools {names}, but {what} (only for {have}): provide all of a "
                               "row's tools, or none of them (its calls are then answered schema-only)")


def _schema_only(simulator: Any, results_column: str) -> SimulatedTools:
    if isinstance(simulator, str):
        from ..models.chat import get_chat_model

        simulator = get_chat_model(simulator)
    return SimulatedTools(results_column=results_column, simulator=simulator)

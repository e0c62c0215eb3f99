"""The tool environment: where a rollout's tool calls run, in training and at inference.

An environment class is generated from ToolSpecs: each tool becomes a public method whose signature, type hints and
docstring describe the tool, which is exactly what TRL's `GRPOTrainer(environment_factory=...)` expects (one instance
per rollout, `reset(**row)` before each episode, public methods = tools, optional `get_reward()`). The same instance
serves the deployed smolagents agent (`toolbrain_hub.agent.build_agent`), so tool results and error messages look the
same to the model in training and in use.

Calls run on one of three backends:
- Python implementations: `{name: callable}`;
- an MCP server (stdio command, streamable-HTTP URL, or an in-process server), listed into ToolSpecs and called
  through the `mcp` SDK;
- schema-only: the call is validated against the schema and answered from the task row's recorded results (column
  `tool_results`), by a simulator chat model, or with an "ok" payload echoing the validated arguments, so a user who
  only has schemas can still train.

Nothing a model does crashes a rollout: unknown tools, invalid arguments and tool exceptions come back to the model as
`{"error": ...}` text and are recorded (`env.calls`) with arguments, result, error and latency, for traces and rewards.

```python
factory = make_environment_factory(tools, implementations={"get_weather": get_weather})
trainer = GRPOTrainer(..., environment_factory=factory)
# reward functions receive `environments=[...]`: env.calls holds each rollout's calls
```
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import copy
import functools
import inspect
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ToolBrainError
from ..tools.schemas import ToolSpec, load_tools

__all__ = [
    "EnvironmentFactory",
    "MCPTools",
    "PythonTools",
    "SimulatedTools",
    "ToolBackend",
    "ToolCallError",
    "ToolCallRecord",
    "ToolEnvironment",
    "ToolEnvironmentError",
    "environment_class",
    "episode_overhead",
    "make_environment_factory",
    "make_routed_environments",
    "row_query",
]

RESULTS_COLUMN = "tool_results"
TOOLS_COLUMN = "tools"
# Public names of the environment itself; a tool with one of these names would shadow it (TRL treats every other
# public method as a tool).
RESERVED_NAMES = frozenset({"reset", "get_reward", "calls", "row", "query", "tool_specs", "tool_schemas",
                            "tool_names", "tools_column"})

SIMULATOR_PROMPT = (
    "You simulate a software tool so that an AI agent can be tested without the real backend. You are given the "
    "tool's definition, the user's task and the arguments of one call. Reply with only the JSON value the tool would "
    "return: realistic, consistent with the arguments and the task, no explanation, no markdown."
)


class ToolEnvironmentError(ToolBrainError, ValueError):
    """The environment cannot be built or a task row does not fit it (a setup or data error, never a model error)."""


class ToolCallError(RuntimeError):
    """A backend's report that a call failed (e.g. an MCP result with isError); its message goes to the model."""


@dataclass
class ToolCallRecord:
    """One tool call as the environment saw it.

    Args:
        name: Tool name the model asked for.
        arguments: Arguments as the model gave them (a dict, or the raw value when it was not one).
        result: The exact text returned to the model (a result or an `{"error": ...}` message).
        error: Why the call failed (unknown tool, invalid arguments, tool exception), or None.
        latency_s: Time spent in validation and the backend.
        source: Who answered: "python", "mcp", "recorded", "simulated", "echo", or "" when nothing ran.
    """

    name: str
    arguments: Any
    result: str
    error: str | None = None
    latency_s: float = 0.0
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {"name": self.name, "arguments": copy.deepcopy(self.arguments), "result": self.result,
                "error": self.error, "latency_s": self.latency_s, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict) -> ToolCallRecord:
        return cls(name=data["name"], arguments=data.get("arguments"), result=data.get("result", ""),
                   error=data.get("error"), latency_s=float(data.get("latency_s", 0.0)), source=data.get("source", ""))


# --------------------------------------------------------------------------------------------------------- backends


class ToolBackend:
    """Runs validated calls. One backend is shared by all environments of a factory (one MCP connection, one
    simulator cache); per-episode data lives in the environment and is passed in."""

    def prepare(self, row: dict) -> Any:
        """Parse what this backend needs from a task row, once per episode (raise ToolEnvironmentError on bad data)."""
        return None

    def call(self, spec: ToolSpec, arguments: dict, row: dict, state: Any) -> tuple[Any, str]:
        """Run one call with valid arguments; return (result value, source). May raise: the error is recorded."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and processes."""


class PythonTools(ToolBackend):
    """Real Python implementations, called with the arguments as keywords.

    Args:
        implementations: `{tool name: callable}` (functions, bound methods, smolagents Tools...).
    """

    def __init__(self, implementations: dict[str, Callable]):
        bad = [name for name, fn in implementations.items() if not callable(fn)]
        if bad:
            raise ToolEnvironmentError(f"implementations for {bad} are not callable")
        self.implementations = dict(implementations)

    def call(self, spec, arguments, row, state):
        return self.implementations[spec.name](**arguments), "python"


class MCPTools(ToolBackend):
    """Tools served by an MCP server, through the `mcp` SDK's `Client`.

    The client lives on a private event loop in a daemon thread, so the environment's tool methods stay synchronous
    (what TRL and smolagents call) while the connection stays open across episodes.

    Args:
        server: A streamable-HTTP URL (`http://host:port/mcp`), a stdio command (`["python", "server.py"]` or an
            `mcp.StdioServerParameters`), or an in-process `MCPServer`/`Server` (tests).
        timeout: Seconds to wait for the connection and for each call.
    """

    def __init__(self, server: Any, *, timeout: float = 60.0):
        from mcp import Client, StdioServerParameters

        if isinstance(server, (list, tuple)):
            if not server or not all(isinstance(part, str) for part in server):
                raise ToolEnvironmentError("an MCP stdio command must be a non-empty list of strings")
            server = StdioServerParameters(command=server[0], args=list(server[1:]))
        self.description = _describe_server(server)
        self.timeout = timeout
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="toolbrain-mcp", daemon=True)
        self._thread.start()
        self._ready: concurrent.futures.Future = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._main = asyncio.run_coroutine_threadsafe(self._hold(Client(server)), self._loop)
        try:
            self._client = self._ready.result(timeout)
        except Exception as e:
            self.close()
            raise ToolEnvironmentError(f"cannot connect to the MCP server {self.description}: "
                                       f"{type(e).__name__}: {e}") from e
        atexit.register(self.close)

    async def _hold(self, client) -> None:
        # The client's context is entered and exited in this one task (anyio cancel scopes require it); calls run as
        # other tasks on the same loop.
        self._stop = asyncio.Event()
        try:
            async with client:
                self._ready.set_result(client)
                await self._stop.wait()
        except BaseException as e:
            if not self._ready.done():
                self._ready.set_exception(e)
            raise

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    def list_tools(self) -> list[ToolSpec]:
        """The server's tools as ToolSpecs (all pages)."""
        items, cursor = [], None
        while True:
            page = self._run(self._client.list_tools(cursor=cursor))
            items += [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        return load_tools({"tools": items}, name=f"MCP server {self.description}")

    def call(self, spec, arguments, row, state):
        result = self._run(self._client.call_tool(spec.name, arguments))
        texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
        if result.is_error:
            raise ToolCallError("\n".join(texts) or f"the MCP server reported an error calling {spec.name}")
        if texts:
            return "\n".join(texts), "mcp"
        if result.structured_content is not None:
            return result.structured_content, "mcp"
        return [block.model_dump(mode="json", exclude_none=True) for block in result.content], "mcp"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            try:
                self._main.result(self.timeout)
            except Exception:  # noqa: S110 - closing a connection that already failed
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self.timeout)


class SimulatedTools(ToolBackend):
    """Schema-only tools: answer validated calls without a real backend.

    In order: the row's recorded results (column `results_column`), then the simulator model if given, then an
    "ok" payload echoing the validated arguments.

    The recorded-results column holds JSON (text or parsed): either `{tool name: result}` or a list of
    `{"name": ..., "arguments": {...}, "result": ...}`, where an entry without "arguments" matches any call of that
    tool and an entry with them matches only equal arguments.

    Args:
        results_column: Row column with recorded results.
        simulator: A `models.chat.ChatModel` asked for a plausible JSON result (answers are cached by task,
            tool and arguments, so a GRPO group sees consistent results).
        max_new_tokens: Token budget of one simulated result.
    """

    def __init__(self, results_column: str = RESULTS_COLUMN, simulator: Any = None, max_new_tokens: int = 256):
        self.results_column = results_column
        self.simulator = simulator
        self.max_new_tokens = max_new_tokens
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def prepare(self, row):
        value = row.get(self.results_column)
        if value is None or value == "" or value == []:
            return []
        return _parse_recorded(value, self.results_column)

    def call(self, spec, arguments, row, state):
        entries = state or []
        exact = [e for e in entries if e["name"] == spec.name and "arguments" in e and e["arguments"] == arguments]
        loose = [e for e in entries if e["name"] == spec.name and "arguments" not in e]
        if exact or loose:
            return (exact or loose)[0]["result"], "recorded"
        if self.simulator is not None:
            return self._simulate(spec, arguments, row), "simulated"
        return {"status": "ok", "tool": spec.name, "arguments": arguments}, "echo"

    def _simulate(self, spec: ToolSpec, arguments: dict, row: dict) -> Any:
        query = row_query(row)
        key = json.dumps([query, spec.name, arguments], sort_keys=True, default=str)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        user = (f"Tool definition:\n{json.dumps(spec.to_openai()['function'], ensure_ascii=False)}\n\n"
                f"User task: {query or '(not given)'}\n\n"
                f"Call arguments:\n{json.dumps(arguments, ensure_ascii=False)}\n\nThe tool's JSON result:")
        messages = [{"role": "system", "content": SIMULATOR_PROMPT}, {"role": "user", "content": user}]
        reply = self.simulator.chat(messages, max_new_tokens=self.max_new_tokens, temperature=0.0)
        text = (reply.text or "").strip()
        if not text:
            raise ToolCallError(f"the tool simulator returned an empty reply for {spec.name}")
        value = _extract_json(text)
        value = text if value is _NOTHING else value
        with self._lock:
            self._cache[key] = value
        return value


# ------------------------------------------------------------------------------------------------------ environment


class ToolEnvironment:
    """A tool environment for one episode at a time. Don't instantiate this base class: `environment_class(tools)`
    (or `make_environment_factory`) generates a subclass with one public method per tool.

    Public surface (anything else public would become a tool for TRL): `reset(**row)`, the tool methods,
    `env(name, arguments)` to call a tool by name, the properties `calls`, `row`, `query`, the class attributes
    `tool_specs`, `tool_schemas`, `tool_names`, and `get_reward()` when a reward is configured.

    Args:
        backend: Runs the calls (PythonTools, MCPTools or SimulatedTools; default: schema-only echo).
        reward: Optional `reward(env) -> float`; when given (at class generation), `get_reward()` returns it.
    """

    tool_specs: ClassVar[tuple[ToolSpec, ...]] = ()
    # The tools exactly as the chat template renders them in training: `transformers.utils.get_json_schema` of each
    # method, in TRL's order (sorted by name). An AgentSpec stores these, so inference renders the same prompt.
    tool_schemas: ClassVar[list[dict]] = []
    tool_names: ClassVar[tuple[str, ...]] = ()
    tools_column: ClassVar[str] = TOOLS_COLUMN

    def __init__(self, backend: ToolBackend | None = None, *, reward: Callable[[ToolEnvironment], float] | None = None):
        if not self.tool_specs:
            raise ToolEnvironmentError("ToolEnvironment has no tools: build one with environment_class(tools) or "
                                       "make_environment_factory(tools, ...)")
        self._backend = backend if backend is not None else SimulatedTools()
        self._reward = reward
        self._specs = {spec.name: spec for spec in self.tool_specs}
        self._calls: list[ToolCallRecord] = []
        self._row: dict = {}
        self._state: Any = None

    @property
    def calls(self) -> list[ToolCallRecord]:
        """The calls of the current episode, in order."""
        return self._calls

    @property
    def row(self) -> dict:
        """The task row of the current episode."""
        return self._row

    @property
    def query(self) -> str:
        """The current task's query (its `query` column, else the last user message of its `prompt`)."""
        return row_query(self._row)

    def reset(self, **row) -> str | None:
        """Start an episode for one task row (TRL passes every dataset column). Returns None: nothing is appended to
        the user turn, so the prompt is exactly the row's prompt.

        Raises:
            ToolEnvironmentError: the row lists tools and this environment exposes one it does not have, or its
                recorded results are malformed.
        """
        self._row = row
        self._calls = []
        declared = row.get(self.tools_column)
        if declared:
            names = _declared_tool_names(declared if isinstance(declared, str) else json.dumps(declared, default=str))
            extra = [name for name in self.tool_names if name not in names]
            if extra:
                raise ToolEnvironmentError(
                    f"task row's '{self.tools_column}' column does not list {extra}, which this environment exposes "
                    f"(it exposes {list(self.tool_names)}); for per-row tool sets use make_routed_environments")
        self._state = self._backend.prepare(row)
        return None

    def __call__(self, name: str, arguments: Any = None) -> str:
        """Call a tool by name, as the deployed agent does; returns the text the model sees (never raises)."""
        return self._call(name, {} if arguments is None else arguments)

    def _call(self, name: str, arguments: Any) -> str:
        start = time.perf_counter()
        source, error, value = "", None, None
        spec = self._specs.get(name)
        if spec is None:
            # In training TRL answers unknown tools itself, before any environment sees them; use its exact words
            # and format so the deployed agent shows the model the same thing.
            error = f"Tool {name} not found."
            text = str({"error": error})
        else:
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError as e:
                    error = f"arguments of {name} are not valid JSON: {e.msg}"
            if error is None:
                problems = spec.validate_arguments(arguments)
                if problems:
                    error = f"invalid arguments for {name}: " + "; ".join(problems)
            if error is None:
                try:
                    value, source = self._backend.call(spec, arguments, self._row, self._state)
                except ToolCallError as e:
                    error = str(e)
                except Exception as e:
                    error = f"{type(e).__name__}: {e}"
            text = json.dumps({"error": error}, ensure_ascii=False) if error is not None else _result_text(value)
        self._calls.append(ToolCallRecord(name=name, arguments=arguments, result=text, error=error,
                                          latency_s=time.perf_counter() - start, source=source))
        return text


def environment_class(tools: Any, *, reward: bool = False, tools_column: str = TOOLS_COLUMN) -> type[ToolEnvironment]:
    """Generate a ToolEnvironment subclass with one public method per tool.

    Each method takes the tool's arguments as keywords; its signature, type hints and docstring come from
    `ToolSpec.to_callable`, so TRL (through `transformers.utils.get_json_schema`) renders the tool's name, argument
    names, types, required set, descriptions and enums. Whatever a JSON Schema says beyond that (nested properties,
    ranges, formats) is not shown in the prompt but still enforced when the call is validated.

    Args:
        tools: ToolSpecs or anything `load_tools` reads.
        reward: Add a `get_reward()` method (TRL then uses it as an extra reward source).
        tools_column: Row column listing the task's tools, checked by `reset`.
    """
    from transformers.utils import get_json_schema

    specs = _as_specs(tools)
    attrs: dict[str, Any] = {"__doc__": ToolEnvironment.__doc__, "tools_column": tools_column}
    for spec in specs:
        if spec.name in RESERVED_NAMES or spec.name.startswith("_") or not spec.name.isidentifier():
            raise ToolEnvironmentError(
                f"tool {spec.name!r} cannot be an environment method: tool names must be Python identifiers, not "
                f"start with '_' and not be one of {sorted(RESERVED_NAMES)}; rename the tool")
        attrs[spec.name] = _tool_method(spec)
    if reward:
        def get_reward(self) -> float:
            return float(self._reward(self))

        attrs["get_reward"] = get_reward
    names = sorted(spec.name for spec in specs)  # TRL lists methods with inspect.getmembers, i.e. sorted by name
    attrs["tool_specs"] = tuple(sorted(specs, key=lambda s: s.name))
    attrs["tool_names"] = tuple(names)
    attrs["tool_schemas"] = [get_json_schema(attrs[name]) for name in names]
    return type("ToolEnvironment", (ToolEnvironment,), attrs)


def _tool_method(spec: ToolSpec) -> Callable:
    try:
        template = spec.to_callable()  # the function TRL's `tools=` would take: same signature, hints and docstring
    except ValueError as e:  # e.g. an argument named like a Python keyword ("from")
        raise ToolEnvironmentError(f"tool {spec.name!r} cannot be an environment method: {e}; rename the "
                                   "argument") from e
    name = spec.name

    def method(env, /, **arguments):
        # Everything lands here, even unexpected or missing arguments, so validation records it instead of Python
        # raising a TypeError in TRL before the environment sees the call.
        return env._call(name, arguments)

    signature = inspect.signature(template)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(parameters=[self_param, *signature.parameters.values()])
    method.__annotations__ = dict(template.__annotations__)
    method.__doc__ = template.__doc__
    method.__name__ = name
    method.__qualname__ = f"ToolEnvironment.{name}"
    return method


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


# ---------------------------------------------------------------------------------------------------------- helpers


def row_query(row: dict, query_column: str = "query") -> str:
    """A task row's query: its `query_column`, else the text of the last user message of its `prompt`."""
    query = row.get(query_column)
    if isinstance(query, str) and query:
        return query
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        for message in reversed(prompt):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                return str(content or "")
    return ""


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


def _as_specs(tools: Any) -> list[ToolSpec]:
    if isinstance(tools, (list, tuple)) and tools and all(isinstance(t, ToolSpec) for t in tools):
        specs = list(tools)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ToolEnvironmentError(f"duplicate tool names in {names}")
        return specs
    return load_tools(tools)


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


def _result_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()  # smolagents strips observations; doing it here keeps training and inference equal
    return json.dumps(value, ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=256)
def _declared_tool_names(text: str) -> frozenset[str]:
    # Cheap: only the names (full validation happens when tools are loaded); cached by the column's JSON text.
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolEnvironmentError(f"task row's tools column is not valid JSON: {e.msg}") from e
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    names = set()
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict):
            inner = item.get("function") if isinstance(item.get("function"), dict) else item
            if isinstance(inner.get("name"), str):
                names.add(inner["name"])
    return frozenset(names)


def _parse_recorded(value: Any, column: str) -> list[dict]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ToolEnvironmentError(f"column '{column}' is not valid JSON: {e.msg} (line {e.lineno})") from e
    if isinstance(value, dict) and not ("name" in value and "result" in value):
        return [{"name": name, "result": result} for name, result in value.items()]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ToolEnvironmentError(f"column '{column}' must be a JSON object or list, got {type(value).__name__}")
    entries = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "result" not in entry:
            raise ToolEnvironmentError(f"column '{column}' entry {i} needs 'name' and 'result'")
        if "arguments" in entry and isinstance(entry["arguments"], str):
            try:
                entry = {**entry, "arguments": json.loads(entry["arguments"])}
            except json.JSONDecodeError as e:
                raise ToolEnvironmentError(f"column '{column}' entry {i}: arguments are not valid JSON") from e
        entries.append(entry)
    return entries


_NOTHING = object()
_FENCE_RE = re.compile(r"^```[A-Za-z]*\s*\n?(.*?)\n?```$", re.DOTALL)


def _extract_json(text: str) -> Any:
    fence = _FENCE_RE.match(text.strip())
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except json.JSONDecodeError:
                continue
    return _NOTHING


def _describe_server(server: Any) -> str:
    if isinstance(server, str):
        from urllib.parse import urlsplit

        # Scheme, host and path only: user info or a query string may carry a token.
        parts = urlsplit(server)
        return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    command = getattr(server, "command", None)
    if command is not None:
        return " ".join([command, *getattr(server, "args", [])])
    return type(server).__name__

"""The tool environment: where a rollout's tool calls run, in training and at inference.

An environment class is generated from ToolSpecs: each tool becomes a public method, which is exactly what TRL's
`GRPOTrainer(environment_factory=...)` expects (one instance per rollout, `reset(**row)` before each episode, public
methods = tools, optional `get_reward()`). The model is shown each tool's full JSON schema (`tool_schemas`; TRL, which
renders the methods themselves, through `tools.rendering.install_tool_schemas`). The same instance serves the deployed
smolagents agent (`toolbrain_hub.agent.build_agent`), so tool results and error messages look the same to the model in
training and in use.

Nothing a model does crashes a rollout: unknown tools, invalid arguments and tool exceptions come back to the model as
`{"error": ...}` text and are recorded (`env.calls`) with arguments, result, error and latency, for traces and rewards.
The calls run on a backend (`environment.backends`); factories for TRL are in `environment.factories`.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..tools.rendering import TOOL_SCHEMA_ATTRIBUTE
from ..tools.schemas import ToolSpec, load_tools
from .backends import SimulatedTools, ToolBackend, ToolCallError, ToolEnvironmentError, row_query

__all__ = ["ToolCallRecord", "ToolEnvironment", "environment_class"]

TOOLS_COLUMN = "tools"
# Public names of the environment itself; a tool with one of these names would shadow it (TRL treats every other
# public method as a tool).
RESERVED_NAMES = frozenset({"reset", "get_reward", "calls", "row", "query", "tool_specs", "tool_schemas",
                            "tool_names", "tools_column"})


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
    # The tools exactly as the chat template renders them, in training and inference: each tool's full JSON schema
    # (`ToolSpec.to_openai()`), in TRL's order (sorted by name). Each tool method carries its own as `tool_schema`
    # (what TRL's tokenizer renders, `tools.rendering`). An AgentSpec stores these, so inference renders the same.
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

    Each method takes the tool's arguments as keywords and carries the tool's full JSON schema (`ToolSpec.to_openai`)
    as `tool_schema`; the class lists those schemas as `tool_schemas`. TRL renders the methods themselves: on a
    tokenizer prepared with `tools.rendering.install_tool_schemas` (as `training.grpo.build_trainer` does) they render
    as those schemas, so the model sees everything a call is validated against (nested properties, array items,
    defaults, formats, ranges, patterns, `$ref`s). Their signatures, type hints and docstrings come from
    `ToolSpec.to_callable`, for code that reads them.

    Args:
        tools: ToolSpecs or anything `load_tools` reads.
        reward: Add a `get_reward()` method (TRL then uses it as an extra reward source).
        tools_column: Row column listing the task's tools, checked by `reset`.
    """
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
    attrs["tool_schemas"] = [spec.to_openai() for spec in attrs["tool_specs"]]
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
    setattr(method, TOOL_SCHEMA_ATTRIBUTE, getattr(template, TOOL_SCHEMA_ATTRIBUTE))  # what the model is shown
    return method


def _as_specs(tools: Any) -> list[ToolSpec]:
    if isinstance(tools, (list, tuple)) and tools and all(isinstance(t, ToolSpec) for t in tools):
        specs = list(tools)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ToolEnvironmentError(f"duplicate tool names in {names}")
        return specs
    return load_tools(tools)


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

"""Tool backends: what runs an environment's validated tool calls.

- `PythonTools`: Python implementations, `{name: callable}`; one that declares the keyword-only parameter
  `task=None` (`tools.schemas.takes_task`) also receives the episode's task row, e.g. to limit what it shows to the
  task's own data (the email tools: one inbox, before the question's date);
- `MCPTools`: an MCP server (stdio command, streamable-HTTP URL, or an in-process server), listed into ToolSpecs and
  called through the `mcp` SDK;
- `SimulatedTools`: schema-only; the call is answered from the task row's recorded results (column `tool_results`),
  by a simulator chat model, or with an "ok" payload echoing the validated arguments, so a user who only has schemas
  can still train.

One backend serves every environment of a factory (`environment.factories`); per-episode data comes from the task
row.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import threading
from collections.abc import Callable
from typing import Any

from ..errors import ToolBrainError
from ..tools.schemas import TASK_PARAMETER, ToolSpec, load_tools, takes_task
from ..traces.json_reply import extract_json

__all__ = ["MCPTools", "PythonTools", "SimulatedTools", "ToolBackend", "ToolCallError", "ToolEnvironmentError",
           "row_query"]

RESULTS_COLUMN = "tool_results"

SIMULATOR_PROMPT = (
    "You simulate a software tool so that an AI agent can be tested without the real backend. You are given the "
    "tool's definition, the user's task and the arguments of one call. Reply with only the JSON value the tool would "
    "return: realistic, consistent with the arguments and the task, no explanation, no markdown."
)


class ToolEnvironmentError(ToolBrainError, ValueError):
    """The environment cannot be built or a task row does not fit it (a setup or data error, never a model error)."""


class ToolCallError(RuntimeError):
    """A backend's report that a call failed (e.g. an MCP result with isError); its message goes to the model."""


class ToolBackend:
    """Runs validated calls. One backend is shared by all environments of a factory (one MCP connection, one
    simulator cache); per-episode data lives in the environment and is passed in."""

    label = "custom"  # how reports name where the calls ran

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

    The task protocol: an implementation that declares the keyword-only parameter `task` with the default None
    (`def search(query: str, *, task: dict | None = None)`, see `tools.schemas.takes_task`) is also passed the
    episode's task row as `task` (a copy: every column of the row; `{"query": ..., "prompt": ...}` for a deployed
    agent's request). Its schema leaves `task` out, and a `task` argument the model writes is replaced by the row,
    so the model cannot widen what the tool shows. Only when the tool's schema itself declares a `task` argument
    (schemas given as JSON) is `task` the model's argument.

    Args:
        implementations: `{tool name: callable}` (functions, bound methods, smolagents Tools...).
    """

    label = "implementations"

    def __init__(self, implementations: dict[str, Callable]):
        bad = [name for name, fn in implementations.items() if not callable(fn)]
        if bad:
            raise ToolEnvironmentError(f"implementations for {bad} are not callable")
        self.implementations = dict(implementations)
        self._takes_task = {name: takes_task(fn) for name, fn in self.implementations.items()}

    def call(self, spec, arguments, row, state):
        if self._takes_task.get(spec.name) and TASK_PARAMETER not in spec.properties:
            arguments = {**arguments, TASK_PARAMETER: dict(row)}
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

    label = "mcp"

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

    @property
    def label(self) -> str:
        return "simulated" if self.simulator is not None else "schema-only"

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
        try:
            value = extract_json(text)
        except ValueError:
            value = text  # not JSON: the text is the result
        with self._lock:
            self._cache[key] = value
        return value


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

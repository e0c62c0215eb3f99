"""A small OpenAI-compatible chat-completions server for tests (stdlib only, real HTTP on 127.0.0.1).

It answers `POST /v1/chat/completions` (what
`toolbrain_hub.models.chat.EndpointChatModel` and other OpenAI clients send,
also `POST /chat/completions`) with scripted replies, so judge, teacher and simulator code can be tested over the
wire without a model.

```python
with ScriptedOpenAIServer(["first reply", Scripted("slow reply", delay=2.0)]) as server:
    model = get_chat_model(server.url)     # "http://127.0.0.1:<port>/v1"
    ...
    assert server.request_count == 2
```
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Scripted:
    """One scripted answer: reply text, seconds to wait before answering, HTTP status, and optional usage counts."""

    text: str
    delay: float = 0.0
    status: int = 200
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _word_count(messages: list[dict]) -> int:
    words = 0
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        words += len(str(content).split())
    return words


class ScriptedOpenAIServer:
    """Serves a queue of scripted replies (or a callable's replies) over the OpenAI chat-completions protocol.

    Args:
        replies: Strings or `Scripted` items, served in order; or a callable `f(request_body) -> str | Scripted`.
            When the queue is empty the server answers HTTP 500 with an error naming the request number.
        delay: Default seconds to wait before every answer (a `Scripted` item's own delay adds to it).
        model: Model name reported in replies.
        host: Interface to bind (default 127.0.0.1).

    Usage counts default to whitespace word counts of the prompt messages and of the reply.
    """

    def __init__(self, replies: list[str | Scripted] | Callable[[dict], str | Scripted] = (), *, delay: float = 0.0,
                 model: str = "scripted-judge", host: str = "127.0.0.1"):
        self._script = replies if callable(replies) else None
        self._queue: deque[str | Scripted] = deque([] if callable(replies) else replies)
        self.delay = delay
        self.model = model
        self.requests: list[dict] = []  # every request body received, in order
        self.headers: list[dict[str, str]] = []  # and its HTTP headers, names lower-cased
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for `get_chat_model(...)` or any OpenAI client."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def push(self, *replies: str | Scripted) -> None:
        """Queue more replies."""
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> ScriptedOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="openai-test-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next(self, body: dict, headers: dict[str, str]) -> Scripted | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._script is not None:
                item = self._script(body)
            elif self._queue:
                item = self._queue.popleft()
            else:
                return None
        return item if isinstance(item, Scripted) else Scripted(str(item))

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route GET {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": f"no route POST {self.path}"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError as e:
                    self._send(400, {"error": {"message": f"request body is not JSON: {e}"}})
                    return
                if not isinstance(body.get("messages"), list):
                    self._send(400, {"error": {"message": "'messages' must be a list"}})
                    return
                try:
                    item = server._next(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception as e:  # noqa: BLE001 - a failing script is reported to the client, not dropped
                    self._send(500, {"error": {"message": f"scripted reply function failed: {e!r}"}})
                    return
                if item is None:
                    self._send(500, {"error": {"message": f"no scripted reply left for request "
                                                          f"{server.request_count}"}})
                    return
                time.sleep(server.delay + item.delay)
                if item.status != 200:
                    self._send(item.status, {"error": {"message": item.text, "type": "scripted_error"}})
                    return
                prompt_tokens = item.prompt_tokens if item.prompt_tokens is not None else _word_count(
                    body["messages"])
                completion_tokens = (item.completion_tokens if item.completion_tokens is not None
                                     else len(item.text.split()))
                self._send(200, {
                    "id": f"chatcmpl-{server.request_count}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or server.model,
                    "system_fingerprint": "scripted",
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": item.text}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })

        return Handler

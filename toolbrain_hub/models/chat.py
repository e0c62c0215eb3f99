"""One chat-model interface over local transformers models and OpenAI-compatible endpoints.

The task generator, the LLM judge, the distillation teacher, the schema-only tool simulator and the app's
Playground all talk to models through `ChatModel.chat(...)`, so any of them can be a local model (a built-in name,
a folder, a Hub id) or a remote endpoint (HF Inference Providers, TGI, vLLM, Ollama) without code changes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ToolBrainError
from .builtin import DEFAULT_MODEL

# The one environment variable every endpoint reads its bearer token from unless a config names another
# (`judge.token_env`, `teacher_token_env`): tokens never go in config files, cards or logs.
ENDPOINT_TOKEN_ENV = "TOOLBRAIN_ENDPOINT_TOKEN"
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


class ChatError(ToolBrainError, RuntimeError):
    """A chat model failed to answer (endpoint error, bad reply)."""


def redact_url(text: str) -> str:
    """`text` with the credentials of every URL in it removed ("http://user:pw@host/v1" -> "http://host/v1"), for
    errors, logs and names that may be shown or published."""
    return _USERINFO.sub("", text)


def endpoint_token(env: str | None = None, *, field: str = "token_env") -> str | None:
    """The bearer token for an OpenAI-compatible endpoint, from the environment.

    Args:
        env: The variable a config names for this endpoint; None reads $TOOLBRAIN_ENDPOINT_TOKEN (unset: no token).
        field: The setting that named `env`, for the error.

    Raises:
        ChatError: `env` is named but not set (the message names `field` and the variable, never a value).
    """
    if env is None:
        return os.environ.get(ENDPOINT_TOKEN_ENV) or None
    token = os.environ.get(env)
    if not token:
        raise ChatError(f"{field}: the environment variable {env} is not set")
    return token


class ChatTimeout(ChatError):
    """The endpoint did not answer within the timeout."""


@dataclass
class ChatReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


class ChatModel:
    """Base class: subclasses implement `chat`; `chat_batch` defaults to one call per conversation."""

    model_id: str = ""

    def chat(self, messages: list[dict], *, tools: list[dict] | None = None, max_new_tokens: int = 256,
             temperature: float = 0.0, seed: int | None = None, timeout: float | None = None) -> ChatReply:
        raise NotImplementedError

    def chat_batch(self, conversations: list[list[dict]], **kwargs) -> list[ChatReply]:
        return [self.chat(messages, **kwargs) for messages in conversations]


class LocalChatModel(ChatModel):
    """A transformers causal LM, run in this process with its own chat template.

    Args:
        model: Built-in name, folder or Hub id (ignored when `loaded` is given).
        loaded: An already loaded `(model, tokenizer)` pair to reuse.
        device: "auto", "cpu" or "cuda".
        dtype: "auto", "float32", "bfloat16"...
        quantization: None, "8bit" or "4bit".
        threads: torch threads (None: torch's default).
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, loaded: tuple | None = None, device: str = "auto",
                 dtype: str = "auto", quantization: str | None = None, threads: int | None = None):
        from .loading import load_model, set_threads

        set_threads(threads)
        self.model_id = str(model)
        if loaded is not None:
            self.model, self.tokenizer = loaded
        else:
            self.model, self.tokenizer = load_model(model, device=device, dtype=dtype, quantization=quantization)

    def render(self, messages: list[dict], tools: list[dict] | None = None) -> str:
        """The exact prompt text the model sees (chat template with tools and generation prompt)."""
        return self.tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                                  add_generation_prompt=True)

    def chat_batch(self, conversations: list[list[dict]], *, tools: list[dict] | None = None,
                   max_new_tokens: int = 256, temperature: float = 0.0, seed: int | None = None,
                   timeout: float | None = None, should_stop: Callable[[], bool] | None = None) -> list[ChatReply]:
        """Generate one reply per conversation, in one batch.

        Args:
            conversations: Chat message lists.
            tools: Tool schemas rendered into every prompt.
            max_new_tokens: Reply budget.
            temperature: Sampling temperature (0: greedy).
            seed: Seed for sampling.
            timeout: Unused here (endpoints only).
            should_stop: Ends generation at the next token once it returns True (`stopping`); the replies are then
                cut short, and the caller raises `stopping.Stopped`.
        """
        import torch

        from ..stopping import stopping_criteria

        if seed is not None:
            torch.manual_seed(seed)
        prompts = [self.render(messages, tools) for messages in conversations]
        self.tokenizer.padding_side = "left"
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.model.device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                                      stopping_criteria=stopping_criteria(should_stop), **sampling)
        latency = (time.perf_counter() - start) / len(prompts)
        prompt_len = batch["input_ids"].shape[1]
        replies = []
        for row, mask in zip(out, batch["attention_mask"], strict=True):
            new = row[prompt_len:]
            new = new[new != self.tokenizer.pad_token_id]
            replies.append(ChatReply(
                text=self.tokenizer.decode(new, skip_special_tokens=True).strip(),
                prompt_tokens=int(mask.sum()),
                completion_tokens=int(len(new)),
                latency_s=latency,
            ))
        return replies

    def chat(self, messages: list[dict], **kwargs) -> ChatReply:
        return self.chat_batch([messages], **kwargs)[0]


class EndpointChatModel(ChatModel):
    """An OpenAI-compatible chat-completions endpoint (`POST {base_url}/chat/completions`).

    Requests go through a plain HTTP client of its own, not huggingface_hub's shared session: that session refuses
    every request while `HF_HUB_OFFLINE=1` (the setting that makes cached Hub repos load offline), and an endpoint
    the user names (a local TGI, vLLM or Ollama server, or a provider) is not the Hub.

    Args:
        base_url: e.g. "http://localhost:8080/v1" (TGI, vLLM), "http://localhost:11434/v1" (Ollama) or
            "https://router.huggingface.co/v1" (HF Inference Providers). A URL without "/v1" gets
            "/v1/chat/completions", one ending in "/v1" gets "/chat/completions", as huggingface_hub's client does.
        model: Model name the endpoint expects (needed by routers and Ollama; TGI ignores it); not sent when None.
        token: Bearer token (default: none; HF_TOKEN is not sent to third-party URLs implicitly; `endpoint_token()`
            reads the project's $TOOLBRAIN_ENDPOINT_TOKEN).
        timeout: Seconds before a request counts as timed out.
    """

    def __init__(self, base_url: str, *, model: str | None = None, token: str | None = None, timeout: float = 120):
        import httpx2

        self.base_url = base_url
        self.url = chat_completions_url(base_url)
        self.model_name = model
        self.model_id = redact_url(f"{base_url}#{model}" if model else base_url)
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx2.Client(follow_redirects=True)  # thread-safe: parallel generator workers share it

    def chat(self, messages: list[dict], *, tools: list[dict] | None = None, max_new_tokens: int = 256,
             temperature: float = 0.0, seed: int | None = None, timeout: float | None = None) -> ChatReply:
        import httpx2

        payload = {"model": self.model_name, "messages": messages, "tools": tools or None,
                   "max_tokens": max_new_tokens, "temperature": temperature, "seed": seed}
        payload = {key: value for key, value in payload.items() if value is not None}
        limit = timeout or self.timeout
        start = time.perf_counter()
        try:
            response = self._client.post(self.url, json=payload, headers=self._headers, timeout=limit)
        except httpx2.TimeoutException:
            raise ChatTimeout(f"{redact_url(self.base_url)} did not answer within {limit} s") from None
        except httpx2.HTTPError as e:
            raise ChatError(redact_url(f"{self.base_url}: {type(e).__name__}: {_first_line(e)}")) from None
        if response.status_code >= 400:
            raise ChatError(redact_url(f"{self.base_url}: HTTP {response.status_code}: {_error_detail(response)}"))
        try:
            out = response.json()
            message = out["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError(redact_url(f"{self.base_url}: the reply is not an OpenAI chat completion: "
                                       f"{response.text[:200]!r}")) from None
        text = message.get("content") or ""
        # Endpoints that parse tool calls server-side return them structured: re-render them in the tagged form
        # so one parser handles local and remote replies alike.
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            args = function.get("arguments")
            try:
                args = json.loads(args) if isinstance(args, str) else args
            except json.JSONDecodeError:
                pass  # kept as the text the endpoint sent: the tool-call parser reports it as invalid
            text += "\n<tool_call>\n" + json.dumps({"name": function.get("name"), "arguments": args}) + "\n</tool_call>"
        usage = out.get("usage") or {}
        return ChatReply(
            text=text.strip(),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=time.perf_counter() - start,
        )


def chat_completions_url(base_url: str) -> str:
    """The chat-completions URL of an OpenAI-compatible base URL (the rule huggingface_hub's client applies)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return urlunsplit(parts._replace(path=path))


def _error_detail(response) -> str:
    """An error reply's own message (OpenAI's {"error": {"message": ...}}, TGI's {"error": "..."}), or its text."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        error = error.get("message")
    return _first_line(RuntimeError(error if isinstance(error, str) and error else response.text or
                                    response.reason_phrase))


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def get_chat_model(spec: str | ChatModel = DEFAULT_MODEL, *, token: str | None = None, timeout: float = 120,
                   **local_kwargs) -> ChatModel:
    """A ChatModel from a spec.

    Args:
        spec: A ChatModel (returned as is); an http(s) URL of an OpenAI-compatible endpoint, optionally with the
            model name after "#" ("https://router.huggingface.co/v1#Qwen/Qwen2.5-7B-Instruct"); or a built-in
            model name, a local folder or a Hub repo id, run locally.
        token: Bearer token for an endpoint.
        timeout: Endpoint timeout in seconds.
        **local_kwargs: Passed to `LocalChatModel` (device, dtype, quantization, threads, loaded).
    """
    if isinstance(spec, ChatModel):
        return spec
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        return EndpointChatModel(url, model=model or None, token=token, timeout=timeout)
    return LocalChatModel(spec, **local_kwargs)

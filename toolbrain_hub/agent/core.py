"""The agent spec ("train what you deploy") and the smolagents agent that runs it.

An `AgentSpec` records everything that shapes what the model sees and how its replies are read: the base model (its
Hub commit, or for a built-in model the packages and GGUF file it was made from, and a fingerprint), the system
prompt, the tool schemas exactly as the chat template rendered them in training, the chat template itself, the
parser, the turn limit and the generation settings. Training writes it next to the adapter; inference reads it, so
the deployed agent prompts the model token for token as in training:

- `render_prompt_ids(spec, tokenizer, messages)` builds the ids the way TRL's GRPO tool loop does: the prompt is
  rendered once with the tools and the generation prompt, each assistant turn contributes the ids the model
  generated, and each run of tool results contributes the template's suffix for it (TRL's `_get_tool_suffix_ids`).
- `SpecModel` is a smolagents `Model` that renders with that function, generates with a local transformers model,
  and reads the reply with `toolbrain_hub.traces.parse_tool_calls`.
- `build_agent` returns a smolagents `ToolCallingAgent` (`SpecAgent`) whose system prompt is the spec's (not
  smolagents' 2.3k-token default), whose memory is replayed to the model in the training format (raw assistant
  turns, one tool message per result), and whose tools run in the same `ToolEnvironment` used in training, so results
  and errors read the same.

- `load_agent(repo_or_folder, tools=...)` is the one call for a published agent: it reads the spec, loads the base
  model and the LoRA adapter (optionally merged or on a 4-bit base), and builds the `SpecAgent` with the caller's tool
  implementations (schema-only stand-ins for the others). It never runs code from the repo unless told to.

Final answers: in training an episode ends when the model replies without a tool call; that reply is the answer.
`SpecModel` maps such a reply to smolagents' `final_answer` tool call, so `agent.run(...)` returns that text.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from smolagents.agents import ToolCallingAgent, ToolOutput
from smolagents.memory import ActionStep, TaskStep
from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole, Model
from smolagents.monitoring import TokenUsage
from smolagents.utils import AgentGenerationError, AgentMaxStepsError

from ..environment.environment import (
    EnvironmentFactory,
    ToolCallRecord,
    ToolEnvironment,
    environment_class,
    make_environment_factory,
)
from ..errors import ToolBrainError
from ..runs.folder import ADAPTER_DIR
from ..stopping import Stopped, stopping_criteria
from ..stopping import check as check_stop
from ..tools.schemas import ToolSpec, load_tools
from ..traces.trace import parse_tool_calls

__all__ = [
    "PARSER_NAME",
    "SPEC_FILE",
    "TOOLS_FILE",
    "AgentError",
    "AgentSpec",
    "AgentSpecError",
    "SpecAgent",
    "SpecModel",
    "build_agent",
    "load_agent",
    "read_agent_spec",
    "render_prompt_ids",
    "training_chat_template",
]

logger = logging.getLogger(__name__)

PARSER_NAME = "toolbrain-json"  # toolbrain_hub.traces.parse_tool_calls: tagged, fenced or bare JSON calls
PARSERS = (PARSER_NAME,)
SPEC_FILE = "agent_spec.json"
SPEC_VERSION = 1  # the spec format's major version: a spec with a higher one needs a newer toolbrain-hub
TOOLS_FILE = "tools.py"  # tool implementations an agent repo may ship; imported only with trust_remote_code=True


class AgentError(ToolBrainError, ValueError):
    """An agent cannot be loaded: not a ToolBrain Hub agent, a missing base model or adapter, a spec from a newer
    toolbrain-hub, or tools that do not match the agent's. The message names the cause and says what to do."""


class AgentSpecError(AgentError):
    """An agent spec is missing, malformed, or from a newer version; the message names the file and field."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(problem)


@dataclass
class AgentSpec:
    """What a trained agent needs to be prompted and read exactly as in training.

    Args:
        base_model: Base model name, folder or Hub repo id.
        base_model_revision: Hub commit of the base model (None for built-in models and folders); `load_agent`
            loads the base at this commit.
        base_model_source: Exactly what the agent was trained on (`models.model_provenance`): kind ("builtin",
            "hub", "folder"), fingerprint, and the Hub repo and commit, or the built-in model's upstream repo,
            packages, GGUF file, sha256 and quantization. None in specs written before it was recorded.
        system_prompt: The system message, or None for none (the chat template may then add its own default).
        tools: Tool schemas in the chat-template (OpenAI) format, exactly as rendered in training.
        tool_definitions: The full ToolSpecs (`ToolSpec.to_dict()`): their JSON Schemas validate calls.
        chat_template: The exact Jinja chat template used in training.
        chat_template_kwargs: Extra template variables used in training (e.g. `enable_thinking`).
        parser: How replies are read; "toolbrain-json" is `toolbrain_hub.traces.parse_tool_calls`.
        max_turns: Model turns per episode (TRL's `max_tool_calling_iterations` is `max_turns - 1`).
        max_new_tokens: Tokens per model turn at inference.
        temperature: Sampling temperature at inference (0: greedy).
        top_p: Nucleus sampling at inference.
        tool_top_k: When set, only the k tools most relevant to the task are shown (embedding retrieval).
        retrieval_model: Embedder for `tool_top_k` (default: the offline all-MiniLM-L6-v2).
        version: Format version of this spec.
    """

    base_model: str
    base_model_revision: str | None = None
    base_model_source: dict | None = None
    system_prompt: str | None = None
    tools: list[dict] = field(default_factory=list)
    tool_definitions: list[dict] = field(default_factory=list)
    chat_template: str = ""
    chat_template_kwargs: dict = field(default_factory=dict)
    parser: str = PARSER_NAME
    max_turns: int = 4
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    tool_top_k: int | None = None
    retrieval_model: str | None = None
    version: int = SPEC_VERSION

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise AgentSpecError naming the field of the first problem."""

        def fail(field_name: str, problem: str):
            raise AgentSpecError(f"field '{field_name}': {problem}")

        if not isinstance(self.base_model, str) or not self.base_model:
            fail("base_model", "must be a non-empty string")
        if self.base_model_revision is not None and not isinstance(self.base_model_revision, str):
            fail("base_model_revision", "must be a string or null")
        if self.base_model_source is not None and not (
                isinstance(self.base_model_source, dict)
                and self.base_model_source.get("kind") in ("builtin", "hub", "folder")):
            fail("base_model_source", 'must be null or an object whose "kind" is "builtin", "hub" or "folder"')
        if not isinstance(self.version, int) or isinstance(self.version, bool) or not 1 <= self.version <= SPEC_VERSION:
            fail("version", f"{self.version!r} is not a version this toolbrain-hub understands ({SPEC_VERSION})")
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            fail("system_prompt", "must be a string or null")
        if self.parser not in PARSERS:
            fail("parser", f"unknown parser {self.parser!r} (known: {list(PARSERS)})")
        if not isinstance(self.chat_template, str) or not self.chat_template.strip():
            fail("chat_template", "must be the chat template text")
        if not isinstance(self.chat_template_kwargs, dict):
            fail("chat_template_kwargs", "must be an object")
        if not isinstance(self.tools, list):
            fail("tools", "must be a list of tool schemas")
        for i, tool in enumerate(self.tools):
            if not (isinstance(tool, dict) and isinstance(tool.get("function"), dict)
                    and isinstance(tool["function"].get("name"), str)):
                fail(f"tools[{i}]", 'must be {"type": "function", "function": {"name": ...}}')
        if not isinstance(self.tool_definitions, list):
            fail("tool_definitions", "must be a list")
        defined = [d.get("name") if isinstance(d, dict) else None for d in self.tool_definitions]
        if self.tool_definitions and sorted(map(str, defined)) != sorted(self.tool_names):
            fail("tool_definitions", f"names {sorted(map(str, defined))} differ from tools {sorted(self.tool_names)}")
        if not isinstance(self.max_turns, int) or self.max_turns < 1:
            fail("max_turns", "must be an integer >= 1")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            fail("max_new_tokens", "must be an integer >= 1")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            fail("temperature", "must be a number >= 0")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            fail("top_p", "must be a number in (0, 1]")
        if self.tool_top_k is not None and (not isinstance(self.tool_top_k, int) or self.tool_top_k < 1):
            fail("tool_top_k", "must be null or an integer >= 1")
        if self.retrieval_model is not None and not isinstance(self.retrieval_model, str):
            fail("retrieval_model", "must be a string or null")

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.tools]

    @property
    def max_tool_calling_iterations(self) -> int:
        """The value for TRL's `GRPOConfig(max_tool_calling_iterations=...)`."""
        return self.max_turns - 1

    def tool_specs(self) -> list[ToolSpec]:
        """The full ToolSpecs (from `tool_definitions`; from the rendered `tools` if the spec has none)."""
        return load_tools(self.tool_definitions or self.tools, name="agent spec tools")

    def initial_messages(self, task: str) -> list[dict]:
        """The conversation an episode starts from: the training dataset's `prompt` and the agent's first input."""
        messages = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        return messages + [{"role": "user", "content": task}]

    def to_dict(self) -> dict:
        return {f.name: json.loads(json.dumps(getattr(self, f.name))) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict, source: str = "agent spec") -> AgentSpec:
        """Build and validate a spec; errors name `source` (e.g. the file) and the field."""
        if not isinstance(data, dict):
            raise AgentSpecError(f"{source}: must be a JSON object, got {type(data).__name__}")
        major = _major_version(data.get("version"))
        if major is not None and major > SPEC_VERSION:
            from .. import __version__

            raise AgentSpecError(f"{source}: field 'version': {data['version']} is newer than this toolbrain-hub "
                                 f"({__version__}) understands (agent spec format {SPEC_VERSION}); upgrade it: "
                                 "pip install -U toolbrain-hub")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise AgentSpecError(f"{source}: unknown fields {unknown}")
        if "base_model" not in data:
            raise AgentSpecError(f"{source}: field 'base_model': missing")
        try:
            return cls(**data)
        except AgentSpecError as e:
            raise AgentSpecError(f"{source}: {e.problem}") from None

    def save(self, folder: str | Path) -> Path:
        """Write `agent_spec.json` into `folder` (created if missing) and return its path."""
        path = Path(folder) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path, *, source: str | None = None) -> AgentSpec:
        """Read `agent_spec.json` from a folder (or the file itself).

        Args:
            folder: The folder holding `agent_spec.json`, or the file.
            source: How errors name the file (default: its path), e.g. "user/repo/agent_spec.json".
        """
        path = Path(folder)
        if path.is_dir():
            path = path / SPEC_FILE
        source = source or str(path)
        if not path.is_file():
            raise AgentSpecError(f"{source}: no agent spec here (expected {SPEC_FILE} written by a ToolBrain Hub run)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise AgentSpecError(f"{source}: line {e.lineno}: not valid JSON ({e.msg})") from e
        except UnicodeDecodeError:
            raise AgentSpecError(f"{source}: not UTF-8 text") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def for_training(cls, base_model: str, tokenizer: Any, tools: Any, *, revision: str | None = None,
                     base_model_source: dict | None = None, system_prompt: str | None = None, max_turns: int = 4,
                     max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                     chat_template_kwargs: dict | None = None, tool_top_k: int | None = None,
                     retrieval_model: str | None = None) -> AgentSpec:
        """The spec of a training run: the chat template TRL will train with and the tools as TRL renders them.

        Args:
            base_model: Base model name, folder or Hub id.
            tokenizer: The training tokenizer.
            tools: An EnvironmentFactory, a dict of them (`make_routed_environments`), an environment class, or
                ToolSpecs / anything `load_tools` reads.
            revision: Base model revision (the Hub commit).
            base_model_source: What exactly the base model is (`models.model_provenance`).
            system_prompt: System message of every episode (None: none).
            max_turns: Model turns per episode.
            max_new_tokens, temperature, top_p: Inference generation settings.
            chat_template_kwargs: The `GRPOConfig.chat_template_kwargs` of the run.
            tool_top_k, retrieval_model: Tool retrieval settings of the run.
        """
        specs = _training_tool_specs(tools)
        env_cls = environment_class(specs)
        return cls(base_model=base_model, base_model_revision=revision, base_model_source=base_model_source,
                   system_prompt=system_prompt,
                   tools=json.loads(json.dumps(env_cls.tool_schemas)),
                   tool_definitions=[s.to_dict() for s in env_cls.tool_specs],
                   chat_template=training_chat_template(tokenizer),
                   chat_template_kwargs=dict(chat_template_kwargs or {}),
                   max_turns=max_turns, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                   tool_top_k=tool_top_k, retrieval_model=retrieval_model)


def _major_version(version: Any) -> int | None:
    """The major number of a spec version (1, "1", "2.1"...), or None when it is not one."""
    if isinstance(version, bool):
        return None
    if isinstance(version, int):
        return version
    if isinstance(version, (str, float)):
        head = str(version).strip().split(".")[0]
        return int(head) if head.isdigit() else None
    return None


def training_chat_template(tokenizer: Any) -> str:
    """The chat template TRL's GRPOTrainer trains with for this tokenizer: its own if prefix-preserving, else TRL's
    patched training template (same rule as `GRPOTrainer.__init__`)."""
    from trl.chat_template_utils import get_training_chat_template, is_chat_template_prefix_preserving

    if not tokenizer.chat_template:
        raise AgentSpecError("the tokenizer has no chat template")
    if is_chat_template_prefix_preserving(tokenizer):
        return tokenizer.chat_template
    return get_training_chat_template(tokenizer) or tokenizer.chat_template


def _training_tool_specs(tools: Any) -> list[ToolSpec]:
    if isinstance(tools, EnvironmentFactory):
        return list(tools.tool_specs)
    if isinstance(tools, type) and issubclass(tools, ToolEnvironment):
        return list(tools.tool_specs)
    if isinstance(tools, ToolEnvironment):
        return list(tools.tool_specs)
    if isinstance(tools, dict) and tools and all(isinstance(f, EnvironmentFactory) for f in tools.values()):
        # Routed environments: keep every tool a row could be given, so retrieval at inference has the same pool.
        union: dict[str, ToolSpec] = {}
        for factory in tools.values():
            for spec in factory.tool_pool:
                union.setdefault(spec.name, spec)
        return list(union.values())
    if isinstance(tools, (list, tuple)) and tools and all(isinstance(t, ToolSpec) for t in tools):
        return list(tools)
    return load_tools(tools)


# ------------------------------------------------------------------------------------------------------- rendering


def render_prompt_ids(spec: AgentSpec, tokenizer: Any, messages: list[dict], *, tools: list[dict] | None = None,
                      add_generation_prompt: bool = True) -> list[int]:
    """Token ids of a conversation, built exactly as TRL's GRPO tool loop builds them in training.

    The leading messages up to the first assistant turn are rendered once with the tools (and the generation prompt);
    each assistant message adds its `completion_ids` if it carries them (the ids the model generated, as TRL keeps
    them), else the template's rendering of it up to its end-of-turn token; each run of tool (or user) messages adds
    the template's suffix for them, which ends with the next generation prompt.

    Args:
        spec: The agent spec (chat template, template kwargs, tools).
        tokenizer: The model's tokenizer.
        messages: Dicts with "role" and "content"; assistant messages may carry "completion_ids" or "tool_calls";
            tool messages should carry "name".
        tools: Tool schemas to show instead of `spec.tools` (a retrieved subset).
        add_generation_prompt: End with the assistant generation prompt when the last message is not the assistant's
            (ignored after an assistant message, as in TRL).

    Raises:
        ValueError: no message before the first assistant turn, or a template that is not prefix-preserving.
    """
    tools = spec.tools if tools is None else tools
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    if first == 0:
        raise ValueError("a conversation must start with a system or user message, not an assistant one")
    head = [_template_message(m) for m in messages[:first]]
    ids = list(_apply(spec, tokenizer, head, tools=tools or None,
                      add_generation_prompt=add_generation_prompt or first < len(messages)))
    i = first
    while i < len(messages):
        message = messages[i]
        if message["role"] == "assistant":
            completion = message.get("completion_ids")
            ids += list(completion) if completion is not None else _assistant_ids(spec, tokenizer, message)
            i += 1
            continue
        j = i
        while j < len(messages) and messages[j]["role"] != "assistant":
            j += 1
        ids += _suffix_ids(spec, tokenizer, [_template_message(m) for m in messages[i:j]])
        i = j
    return ids


def _template_message(message: dict) -> dict:
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message["role"] == "tool":
        out["name"] = message.get("name") or "tool"
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def _apply(spec: AgentSpec, tokenizer: Any, messages: list[dict], **kwargs) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, chat_template=spec.chat_template, tokenize=True, return_dict=False,
                                        **kwargs, **spec.chat_template_kwargs)
    if hasattr(ids, "keys"):  # some processors return a dict even with return_dict=False
        ids = ids["input_ids"]
    return list(ids)


def _eos_trimmed(tokenizer: Any, ids: list[int]) -> list[int]:
    # Templates render "<|im_end|>\n" after a turn; a generated turn ends at the end-of-turn token itself.
    positions = [k for k, token in enumerate(ids) if token == tokenizer.eos_token_id]
    return ids[: positions[-1] + 1] if positions else ids


def _suffix_ids(spec: AgentSpec, tokenizer: Any, run: list[dict]) -> list[int]:
    # Same construction as TRL's `GRPOTrainer._get_tool_suffix_ids`: render a dummy turn with and without the new
    # messages and keep the difference, so the ids match TRL's even for templates that look back at earlier turns.
    assistant: dict = {"role": "assistant", "content": ""}
    if run[0]["role"] == "tool":
        assistant["tool_calls"] = [{"type": "function", "function": {"name": run[0]["name"], "arguments": {}}}]
    dummy = [{"role": "user", "content": "dummy"}, assistant]
    prefix = _eos_trimmed(tokenizer, _apply(spec, tokenizer, dummy, add_generation_prompt=False))
    full = _apply(spec, tokenizer, dummy + run, add_generation_prompt=True)
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template is not prefix-preserving: the rendered turn does not extend the "
                         "conversation; use training_chat_template(tokenizer)")
    return full[len(prefix):]


def _assistant_ids(spec: AgentSpec, tokenizer: Any, message: dict) -> list[int]:
    # What the model would have generated for this turn: the template's rendering of it, up to end-of-turn.
    dummy = [{"role": "user", "content": "dummy"}]
    prefix = _apply(spec, tokenizer, dummy, add_generation_prompt=True)
    full = _apply(spec, tokenizer, dummy + [_template_message(message)], add_generation_prompt=False)
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template is not prefix-preserving for assistant turns")
    turn = full[len(prefix):]
    end = next((k for k, token in enumerate(turn) if token == tokenizer.eos_token_id), None)
    return turn if end is None else turn[: end + 1]


# --------------------------------------------------------------------------------------------------- smolagents


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def _spec_messages(messages: list[Any]) -> list[dict]:
    """smolagents ChatMessages (or dicts) -> the template messages `render_prompt_ids` takes."""
    out = []
    for message in messages:
        if isinstance(message, dict):
            role, content, raw = message["role"], message.get("content"), message.get("raw")
        else:
            role, content, raw = message.role, message.content, message.raw
        role = getattr(role, "value", role)
        raw = raw if isinstance(raw, dict) else {}
        if role == "tool-call":
            continue  # smolagents' own summary of the calls; they are already in the assistant's text
        if role == "tool-response":
            role = "tool"
        item = {"role": role, "content": _text(content)}
        if role == "tool":
            item["name"] = raw.get("name") or (message.get("name") if isinstance(message, dict) else None) or "tool"
        if role == "assistant" and raw.get("completion_ids") is not None:
            item["completion_ids"] = list(raw["completion_ids"])
        if isinstance(message, dict) and message.get("completion_ids") is not None:
            item["completion_ids"] = list(message["completion_ids"])
        out.append(item)
    return out


class SpecModel(Model):
    """A smolagents Model that prompts a local transformers model exactly as in training.

    Rendering: `render_prompt_ids` with the spec's chat template, system prompt and tools (a top-k subset when the
    spec asks for retrieval). Generation: the spec's settings, up to the first end-of-turn token. Reading:
    `parse_tool_calls`; a reply without a tool call becomes a `final_answer` call holding its text. smolagents'
    stop sequences and `tools_to_call_from` are ignored: training used neither.

    Args:
        spec: The agent spec.
        model: A transformers causal LM (not needed with `generate_fn`).
        tokenizer: Its tokenizer.
        generate_fn: Replaces the model's generation: `generate_fn(prompt_ids) -> new token ids` (scripted runs,
            tests, or a custom backend).
    """

    def __init__(self, spec: AgentSpec, model: Any = None, tokenizer: Any = None, *, generate_fn=None):
        super().__init__(model_id=spec.base_model)
        if tokenizer is None:
            raise ValueError("SpecModel needs the model's tokenizer")
        if model is None and generate_fn is None:
            raise ValueError("SpecModel needs a model or a generate_fn")
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.generate_fn = generate_fn
        self.should_stop = None  # set by SpecAgent.run(should_stop=...): checked per turn and per token
        self.last_prompt_ids: list[int] = []
        self.last_completion_ids: list[int] = []
        self._calls_made = 0
        self._retriever = None
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.eos_token_ids = list(dict.fromkeys([tokenizer.eos_token_id, *eos]))

    def select_tools(self, task: str) -> list[dict]:
        """The tool schemas shown for a task: all of them, or with `spec.tool_top_k` the k most relevant, in the
        order TRL renders an environment's tools (by name)."""
        if self.spec.tool_top_k is None or self.spec.tool_top_k >= len(self.spec.tools):
            return self.spec.tools
        if self._retriever is None:
            from ..tools.retrieval import DEFAULT_EMBEDDER, ToolRetriever

            self._retriever = ToolRetriever(self.spec.tool_specs(), model=self.spec.retrieval_model or DEFAULT_EMBEDDER)
        names = {tool.name for tool in self._retriever.top_k(task, self.spec.tool_top_k)}
        return sorted((t for t in self.spec.tools if t["function"]["name"] in names),
                      key=lambda t: t["function"]["name"])

    def render(self, messages: list[Any]) -> list[int]:
        """The prompt ids for smolagents messages (or template dicts)."""
        conversation = _spec_messages(messages)
        task = next((m["content"] for m in conversation if m["role"] == "user"), "")
        return render_prompt_ids(self.spec, self.tokenizer, conversation, tools=self.select_tools(task))

    def _generate_ids(self, prompt_ids: list[int]) -> list[int]:
        if self.generate_fn is not None:
            new = list(self.generate_fn(list(prompt_ids)))
        else:
            import torch

            sampling = ({"do_sample": True, "temperature": self.spec.temperature, "top_p": self.spec.top_p}
                        if self.spec.temperature > 0 else
                        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None})
            device = getattr(self.model, "device", "cpu")
            input_ids = torch.tensor([prompt_ids], device=device)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0]
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                          max_new_tokens=self.spec.max_new_tokens, eos_token_id=self.eos_token_ids,
                                          pad_token_id=pad, stopping_criteria=stopping_criteria(self.should_stop),
                                          **sampling)
            new = out[0, len(prompt_ids):].tolist()
        end = next((k for k, token in enumerate(new) if token in self.eos_token_ids), None)
        return new if end is None else new[: end + 1]  # a turn ends at its end-of-turn token, kept as in TRL

    def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs):
        stopped = "the answer was stopped before it was complete"
        check_stop(self.should_stop, stopped)
        prompt_ids = self.render(messages)
        completion_ids = self._generate_ids(prompt_ids)
        check_stop(self.should_stop, stopped)  # a reply cut short by the stop is no reply
        self.last_prompt_ids, self.last_completion_ids = prompt_ids, completion_ids
        body = completion_ids[:-1] if completion_ids and completion_ids[-1] in self.eos_token_ids else completion_ids
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        parsed = parse_tool_calls(text)
        calls = [(call.name, call.arguments) for call in parsed.calls]
        if not calls:
            calls = [("final_answer", {"answer": text.strip()})]
        tool_calls = []
        for name, arguments in calls:
            self._calls_made += 1
            tool_calls.append(ChatMessageToolCall(
                function=ChatMessageToolCallFunction(name=name, arguments=arguments),
                id=f"call_{self._calls_made:06d}", type="function"))
        return ChatMessage(role=MessageRole.ASSISTANT, content=text, tool_calls=tool_calls,
                           raw={"completion_ids": completion_ids, "parsed": parsed.to_dict()},
                           token_usage=TokenUsage(input_tokens=len(prompt_ids), output_tokens=len(completion_ids)))


class SpecAgent(ToolCallingAgent):
    """A smolagents ToolCallingAgent that talks to its model exactly as the model was trained.

    - The system prompt is the spec's (smolagents' default prompt templates are not used).
    - Memory is replayed in the training format: the raw assistant turns (with their generated ids) and one tool
      message per call holding the environment's result text.
    - Tools run in a ToolEnvironment, without smolagents' own argument checks or state substitution: invalid
      arguments, unknown tools and exceptions come back as the same `{"error": ...}` text as in training.
    - Calls run one after another in the order the model wrote them, as in TRL.
    - Hitting `max_turns` ends the run without an answer (None), as an episode ends in training; an empty reply
      ends it with the answer "". `no_answer_reason(answer)` says which happened.

    Args:
        spec: The agent spec.
        model: A SpecModel for this spec.
        environment: The ToolEnvironment running the tools (`env.calls` records them).
        **kwargs: Passed to `ToolCallingAgent` (e.g. `verbosity_level`).
    """

    def __init__(self, spec: AgentSpec, model: SpecModel, environment: ToolEnvironment, **kwargs):
        missing = [name for name in spec.tool_names if name not in environment.tool_names]
        if missing:
            raise AgentSpecError(f"the tools {missing} of the agent spec have no implementation in the environment "
                                 f"(it has {list(environment.tool_names)})")
        self.spec = spec
        self.environment = environment
        self._active_tools: set[str] = set(spec.tool_names)
        specs = {s.name: s for s in environment.tool_specs}
        tools = [specs[name].to_smolagents_tool(function=self._dispatcher(name)) for name in spec.tool_names]
        kwargs.setdefault("max_steps", spec.max_turns)
        kwargs.setdefault("max_tool_threads", 1)
        super().__init__(tools=tools, model=model, **kwargs)

    def _dispatcher(self, name: str):
        def call(**arguments):
            return self.environment(name, arguments)

        return call

    def initialize_system_prompt(self) -> str:
        return self.spec.system_prompt or ""

    def run(self, task: str, *args, reset: bool = True, should_stop: Callable[[], bool] | None = None, **kwargs):
        """Answer `task` (smolagents' `run`; extra arguments go to it).

        Args:
            task: The request.
            reset: Start from an empty memory and a fresh environment.
            should_stop: Checked before every model turn and between generated tokens; once it returns True the run
                ends with `stopping.Stopped`.
        """
        if reset:
            self.environment.reset(query=task, prompt=self.spec.initial_messages(task))
            self._active_tools = {t["function"]["name"] for t in self.model.select_tools(task)} \
                if isinstance(self.model, SpecModel) else set(self.spec.tool_names)
        if kwargs.get("stream"):  # a generator: the caller drives it step by step
            return super().run(task, *args, reset=reset, **kwargs)
        model = self.model if isinstance(self.model, SpecModel) else None
        if model is not None:
            model.should_stop = should_stop
        try:
            return super().run(task, *args, reset=reset, **kwargs)
        except AgentGenerationError as e:
            if isinstance(e.__cause__, Stopped):  # smolagents wraps whatever the model raised
                raise e.__cause__ from None
            raise
        finally:
            if model is not None:
                model.should_stop = None

    def no_answer_reason(self, answer: Any) -> str | None:
        """Why the last `run` returned no answer (None when `answer` is one): the model's reply was empty, or the
        turn limit was reached with the model still calling tools.

        Args:
            answer: What `run` returned.
        """
        if answer is not None and answer != "":
            return None
        steps = [step for step in self.memory.steps if isinstance(step, ActionStep)]
        turns = sum(1 for step in steps if step.model_output_message is not None)
        if answer == "":
            return "the model returned an empty reply"
        if any(isinstance(step.error, AgentMaxStepsError) for step in steps):
            return f"no final answer within {self.spec.max_turns} model turns: the model kept calling tools"
        return f"the model gave no answer (after {turns} model turn{'s' if turns != 1 else ''})"

    def write_memory_to_messages(self, summary_mode: bool = False):
        messages = []
        if self.spec.system_prompt is not None:
            messages.append(ChatMessage(role=MessageRole.SYSTEM,
                                        content=[{"type": "text", "text": self.spec.system_prompt}]))
        for step in self.memory.steps:
            if isinstance(step, TaskStep):
                messages.append(ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": step.task}]))
            elif isinstance(step, ActionStep):
                output = step.model_output_message
                if output is not None:
                    messages.append(ChatMessage(role=MessageRole.ASSISTANT, content=output.content, raw=output.raw))
                results = getattr(step, "_toolbrain_results", [])
                for name, call_id, observation in results:
                    if name != "final_answer":
                        messages.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                                                    content=[{"type": "text", "text": observation}],
                                                    raw={"name": name, "tool_call_id": call_id}))
                if step.error is not None and output is not None and not results:
                    error = json.dumps({"error": str(step.error)}, ensure_ascii=False)
                    messages.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                                                content=[{"type": "text", "text": error}], raw={"name": "error"}))
        return messages

    def process_tool_calls(self, chat_message, memory_step):
        outputs = {}
        for output in super().process_tool_calls(chat_message, memory_step):
            if isinstance(output, ToolOutput):
                outputs[output.id] = output
            yield output
        # One result per call, in the order the model wrote them (smolagents' memory only keeps them joined).
        memory_step._toolbrain_results = [(call.function.name, call.id, outputs[call.id].observation)
                                          for call in chat_message.tool_calls if call.id in outputs]

    def execute_tool_call(self, tool_name: str, arguments: Any) -> Any:
        if tool_name == "final_answer":
            return super().execute_tool_call(tool_name, arguments)
        if tool_name not in self._active_tools:
            # Not shown to the model for this task (retrieval): in training TRL answers such calls itself.
            error = f"Tool {tool_name} not found."
            text = str({"error": error})
            self.environment.calls.append(ToolCallRecord(name=tool_name, arguments=arguments, result=text,
                                                         error=error))
            return text
        return self.environment(tool_name, arguments)

    def provide_final_answer(self, task: str):
        # Training never asks for a forced answer after the last turn: the episode just ends unanswered.
        return ChatMessage(role=MessageRole.ASSISTANT, content=None)


def build_agent(spec: AgentSpec, model: Any = None, tokenizer: Any = None, tools: Any = None, *,
                generate_fn=None, **agent_kwargs) -> SpecAgent:
    """A smolagents ToolCallingAgent that runs `spec` with a local model and real tools.

    Args:
        spec: The agent spec (e.g. `AgentSpec.load(run_dir)`).
        model: A transformers causal LM, or a ready SpecModel (then `tokenizer` may be omitted).
        tokenizer: The model's tokenizer.
        tools: The implementations: a ToolEnvironment, an EnvironmentFactory, a dict `{name: callable}`, or a list of
            functions / smolagents Tools (named as in the spec). Calls are validated against the spec's schemas.
        generate_fn: Scripted generation instead of the model (see SpecModel).
        **agent_kwargs: Passed to the agent (`verbosity_level`, `max_steps`...).

    Raises:
        AgentSpecError: no tools given, or tools missing for some of the spec's tools.
    """
    if isinstance(model, SpecModel):
        spec_model = model
    else:
        spec_model = SpecModel(spec, model, tokenizer, generate_fn=generate_fn)
    if isinstance(tools, ToolEnvironment):
        environment = tools
    elif isinstance(tools, EnvironmentFactory):
        environment = tools()
    elif tools is None:
        raise AgentSpecError(f"pass tools= with implementations for {spec.tool_names} (a dict name -> callable, a "
                             "list of functions or smolagents Tools, or a ToolEnvironment)")
    else:
        implementations = _named_implementations(tools)
        missing = [name for name in spec.tool_names if name not in implementations]
        if missing:
            raise AgentSpecError(f"no implementation for the spec's tools {missing}")
        specs = [s for s in spec.tool_specs() if s.name in implementations]
        implementations = {s.name: implementations[s.name] for s in specs}
        environment = make_environment_factory(specs, implementations=implementations)()
    return SpecAgent(spec, spec_model, environment, **agent_kwargs)


def _named_implementations(tools: Any) -> dict[str, Any]:
    """`{tool name: implementation}` from a dict, or from a list of functions / smolagents Tools (named by `.name`,
    else `__name__`)."""
    if isinstance(tools, dict):
        items = list(tools.items())
    else:
        if callable(tools) or isinstance(tools, (str, bytes)):
            tools = [tools]
        try:
            tools = list(tools)
        except TypeError:
            raise AgentSpecError(f"tools= must be a dict name -> callable or a list of functions / smolagents Tools, "
                                 f"got {type(tools).__name__}") from None
        items = []
        for i, tool in enumerate(tools):
            name = getattr(tool, "name", None) if isinstance(getattr(tool, "name", None), str) else None
            name = name or getattr(tool, "__name__", None)
            if not callable(tool) or not isinstance(name, str):
                raise AgentSpecError(f"tools[{i}] ({type(tool).__name__}) is not a named function or smolagents Tool: "
                                     "pass a dict {tool name: callable} to name it")
            items.append((name, tool))
    for name, tool in items:
        if not callable(tool):
            raise AgentSpecError(f"tools[{name!r}] is a {type(tool).__name__}, not a callable")
    return dict(items)


# ---------------------------------------------------------------------------------------------------- load_agent

# What load_agent fetches from a Hub repo: the spec, the LoRA adapter and the training tokenizer. Never pickles, and
# never code unless the caller trusts it.
_AGENT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
# What it fetches of a Hub base model (safetensors weights, configs, tokenizer).
_MODEL_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
_ADAPTER_CONFIG = "adapter_config.json"
_ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _fetch_agent(repo_or_folder: str | os.PathLike, *, revision: str | None, token: str | None,
                 spec_only: bool = False, trust_remote_code: bool = False) -> tuple[Path, str]:
    """(the agent's folder, how messages name it). A repo is fetched into the HF cache (the spec first, so a repo
    that is no agent is refused before any weights are downloaded); a run folder stands for its `adapter/`."""
    from .. import hub

    label = str(repo_or_folder)
    if hub.is_local(repo_or_folder):
        folder = Path(repo_or_folder).expanduser()
        if not folder.exists():
            raise AgentError(f"{label}: no such folder. Pass an agent folder (with {SPEC_FILE}), a training run "
                             "folder, or a Hub repo id 'user/name'.")
        if folder.is_file():
            folder = folder.parent if folder.name == SPEC_FILE else folder
        if not (folder / _ADAPTER_CONFIG).is_file() and (folder / ADAPTER_DIR / SPEC_FILE).is_file():
            folder = folder / ADAPTER_DIR  # a training run: its final adapter is the agent
        if not (folder / SPEC_FILE).is_file():
            raise AgentError(_not_an_agent(label, folder))
        return folder, label
    if revision is not None and not isinstance(revision, str):
        raise AgentError(f"revision must be a branch name or commit id, got {type(revision).__name__}")
    folder = hub.download(label, revision=revision, token=token, allow_patterns=[SPEC_FILE])
    if not (folder / SPEC_FILE).is_file():
        raise AgentError(_not_an_agent(label, None))
    if spec_only:
        return folder, label
    # Pin the commit the spec came from, so the adapter and the spec are from the same revision.
    patterns = _AGENT_PATTERNS + ([TOOLS_FILE] if trust_remote_code else [])
    return hub.download(label, revision=folder.name, token=token, allow_patterns=patterns), label


def _spec_source(repo_or_folder: str | os.PathLike, folder: Path) -> str:
    """How errors name the spec file: its path for a folder, "user/name/agent_spec.json" for a repo (not the cache)."""
    from .. import hub

    return str(folder / SPEC_FILE) if hub.is_local(repo_or_folder) else f"{repo_or_folder}/{SPEC_FILE}"


def _not_an_agent(label: str, folder: Path | None) -> str:
    what = ""
    if folder is not None and (folder / _ADAPTER_CONFIG).is_file():
        what = " It holds a peft adapter without the prompt and tool format it was trained with."
    elif folder is not None and (folder / "config.json").is_file():
        what = " It looks like a plain model: load it with toolbrain_hub.load_model."
    return (f"{label} is not a ToolBrain Hub agent: it has no {SPEC_FILE} (the prompt and tool format the agent was "
            f"trained with).{what} Agents are published from a training run with `toolbrain-hub publish RUN_DIR`.")


def read_agent_spec(repo_or_folder: str | os.PathLike, *, revision: str | None = None,
                    token: str | None = None) -> AgentSpec:
    """The agent spec of a published agent (a Hub repo id, an agent folder or a run folder), without its weights.

    Args:
        repo_or_folder: "user/name", or a local folder.
        revision: Branch or commit of the Hub repo.
        token: Token for a private repo (default: HF_TOKEN or the saved login).

    Raises:
        AgentError: not an agent, or a malformed spec or one from a newer toolbrain-hub.
        toolbrain_hub.hub.HubError: the repo cannot be reached or read.
    """
    folder, label = _fetch_agent(repo_or_folder, revision=revision, token=token, spec_only=True)
    return AgentSpec.load(folder, source=_spec_source(repo_or_folder, folder))


def _schema_only(tool: ToolSpec, label: str):
    """The stand-in for a tool loaded without an implementation: calling it says what to pass, and how."""
    signature = str(inspect.signature(tool.to_callable()))

    def schema_only(**arguments):
        raise NotImplementedError(
            f"the tool '{tool.name}' has no implementation in this agent (only its schema was published). Pass one "
            f"when loading the agent: load_agent({label!r}, tools={{'{tool.name}': {tool.name}}}) with "
            f"def {tool.name}{signature}; it was called with {json.dumps(arguments, ensure_ascii=False)}")

    schema_only.__name__ = tool.name
    return schema_only


def _tool_implementations(spec: AgentSpec, folder: Path, label: str, tools: Any, trust_remote_code: bool):
    """What `build_agent` runs the tools with: the caller's implementations by name, then (if trusted) the repo's
    tools.py, then schema-only stand-ins. A ToolEnvironment or factory passes through unchanged."""
    if isinstance(tools, (ToolEnvironment, EnvironmentFactory)):
        return tools
    given = _named_implementations(tools) if tools is not None else {}
    unknown = [name for name in given if name not in spec.tool_names]
    if unknown:
        import difflib

        hints = [f"{name!r} -> did you mean {close[0]!r}?" for name in unknown
                 if (close := difflib.get_close_matches(name, spec.tool_names, n=1))]
        raise AgentError(f"tools=: {unknown} are not tools of the agent {label} (its tools: {spec.tool_names})"
                         + (f"; {', '.join(hints)}" if hints else ""))
    code = folder / TOOLS_FILE
    if code.is_file():
        missing = [name for name in spec.tool_names if name not in given]
        if not trust_remote_code:
            logger.warning("%s ships %s with tool implementations; it was NOT run. Pass trust_remote_code=True to "
                           "load_agent to use it (it runs that file's code), or pass tools=.", label, TOOLS_FILE)
        elif missing:
            from ..errors import ConfigError
            from ..tools.implementations import load_implementations

            try:
                given.update(load_implementations(str(code), missing))
            except ConfigError as e:
                raise AgentError(f"{label}/{TOOLS_FILE}: {e}") from None
    specs = {s.name: s for s in spec.tool_specs()}
    return {name: given[name] if name in given else _schema_only(specs[name], label) for name in spec.tool_names}


def _load_base_model(spec: AgentSpec, label: str, base_model: str | None, token: str | None, **load_kwargs):
    """(model, tokenizer) of the agent's base model: a built-in name, a local folder, or a Hub id (at the spec's
    commit, from the HF cache or the Hub). Logs a warning when it is not the model the agent was trained on."""
    from .. import hub
    from ..models.loading import BUILTIN_MODELS, ModelError, ModelSource, load_model, locate_model

    base = base_model or spec.base_model
    builtin = ", ".join(BUILTIN_MODELS)
    try:
        if base in BUILTIN_MODELS or Path(base).expanduser().is_dir():
            source = locate_model(base if base in BUILTIN_MODELS else str(Path(base).expanduser()))
        elif hub.is_local(base):
            raise AgentError(f"{label}: its base model {base!r} is not a folder on this machine. Pass "
                             f"base_model='path/to/model' to load_agent, or use a built-in model ({builtin}).")
        else:
            revision = hub.resolve_revision(base, spec.base_model_revision if base_model is None else None,
                                            token=token)
            folder = hub.download(base, revision=revision, token=token, allow_patterns=_MODEL_PATTERNS)
            source = ModelSource(base, str(folder), revision)
        _check_base_model(spec, source, label)
        return load_model(source.path, **load_kwargs)
    except ModelError as e:
        if base in BUILTIN_MODELS:
            raise AgentError(f"{label}: its base model {base!r} is a built-in model that cannot be prepared here: "
                             f"{e}") from None
        raise AgentError(f"{label}: its base model {base!r} could not be loaded: {e}") from None
    except hub.HubError as e:
        raise AgentError(
            f"{label}: its base model {base!r} is not available: {e} It is not a built-in model ({builtin}: those "
            f"are prepared offline) nor a folder on this machine, and a Hub model id needs the Hugging Face cache or "
            f"the network: download it once while online (`hf download {base}`), or pass "
            "base_model='path/to/model' to load_agent.") from None


def _check_base_model(spec: AgentSpec, source, label: str) -> None:
    """Warn when the base model about to be loaded (a `models.ModelSource`) is not the one the spec says the agent
    was trained on."""
    from .. import hub
    from ..models.loading import ModelError, describe_provenance, model_provenance, provenance_difference

    recorded = spec.base_model_source
    if recorded is None and spec.base_model_revision:  # a spec from before base_model_source was recorded
        recorded = {"kind": "hub", "repo": spec.base_model, "revision": spec.base_model_revision}
    if recorded is None:
        logger.info("%s: its agent spec does not record what its base model was exactly (written by an older "
                    "toolbrain-hub): the base model %s is loaded unchecked", label, source.ref)
        return
    try:
        loaded = model_provenance(source)
    except (ModelError, hub.HubError, OSError, ValueError) as e:  # the check never stops a load
        logger.warning("%s: could not check that the base model %s is the one the agent was trained on: %s", label,
                       source.ref, e)
        return
    difference = provenance_difference(recorded, loaded)
    if difference:
        logger.warning("%s: the base model loaded, %s, is not the one this agent was trained on, %s (%s). The "
                       "adapter was trained on other weights: its answers may differ from the published results. "
                       "Load the recorded base model to reproduce them.", label, describe_provenance(loaded),
                       describe_provenance(recorded), difference)


def load_agent(repo_or_folder: str | os.PathLike, *, tools: Any = None, revision: str | None = None,
               token: str | None = None, merge: bool = False, quantization: str | None = None, device: str = "auto",
               dtype: str = "auto", trust_remote_code: bool = False, max_steps: int | None = None,
               base_model: str | None = None, **agent_kwargs) -> SpecAgent:
    """A ready smolagents agent from a published ToolBrain Hub agent, in one call.

    Reads `agent_spec.json`, loads the base model it names (a built-in name, a folder or a Hub id), applies the LoRA
    adapter with peft (optionally merged, optionally on a 4-bit base), and returns a `SpecAgent` that prompts the model
    exactly as in training. Tools run with the implementations you pass; the others are schema-only: calling one
    returns an error that says what to pass. Works from a folder, a Hub repo, or offline from the Hugging Face cache
    (`HF_HUB_OFFLINE=1`).

    No code from the repo runs unless `trust_remote_code=True`: only then is a `tools.py` shipped with the agent
    imported for the tools you did not pass. Models load without remote code, adapters from safetensors only.

    Args:
        repo_or_folder: A Hub repo id ("user/name"), an agent folder (`publish(..., out_dir=...)`), or a training run
            folder (its `adapter/`).
        tools: Tool implementations, matched by name to the agent's tools: a dict `{name: callable}`, a list of
            functions / smolagents Tools, or a ToolEnvironment / EnvironmentFactory.
        revision: Branch or commit of the Hub repo.
        token: Token for a private repo and base model (default: HF_TOKEN or the saved login); never logged.
        merge: Merge the adapter into the base weights (faster inference; the adapter can no longer be switched off).
        quantization: None, "4bit" (nf4, bitsandbytes; also on CPU) or "8bit".
        device: "auto", "cpu" or "cuda[:N]".
        dtype: "auto" (bf16 on a capable GPU, else float32), "float32", "bfloat16" or "float16".
        trust_remote_code: Import the agent's `tools.py` (runs its code). Off by default.
        max_steps: Model turns per run (default: the spec's `max_turns`, as in training).
        base_model: Load this base model (name, folder or Hub id) instead of the spec's, e.g. a local copy.
        **agent_kwargs: Passed to the smolagents agent (`verbosity_level`...).

    Raises:
        AgentError: not a ToolBrain Hub agent, a spec from a newer toolbrain-hub, a missing base model or adapter,
            tools that are not the agent's.
        toolbrain_hub.hub.HubError: the repo cannot be reached, is private, or is not in the cache offline.
    """
    folder, label = _fetch_agent(repo_or_folder, revision=revision, token=token, trust_remote_code=trust_remote_code)
    spec = AgentSpec.load(folder, source=_spec_source(repo_or_folder, folder))
    implementations = _tool_implementations(spec, folder, label, tools, trust_remote_code)
    if not (folder / _ADAPTER_CONFIG).is_file() or not (folder / _ADAPTER_WEIGHTS).is_file():
        pickled = " (an adapter_model.bin pickle is never loaded: it can run code)" \
            if (folder / "adapter_model.bin").is_file() else ""
        raise AgentError(f"{label}: the LoRA adapter is missing: {SPEC_FILE} is there but not {_ADAPTER_CONFIG} and "
                         f"{_ADAPTER_WEIGHTS}{pickled}. Publish the run again with `toolbrain-hub publish`.")
    if max_steps is not None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise AgentError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        agent_kwargs["max_steps"] = max_steps

    model, tokenizer = _load_base_model(spec, label, base_model, token, device=device, dtype=dtype,
                                        quantization=quantization)
    if (folder / "tokenizer_config.json").is_file():
        from ..models.loading import load_tokenizer

        tokenizer = load_tokenizer(folder)  # the tokenizer the run trained with, saved next to the adapter
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():
        # peft 0.21 calls transformers' renamed gradient-checkpointing check: noise for an inference load.
        warnings.filterwarnings("ignore", message=r"`\w*gradient_checkpointing\w*` is deprecated",
                                category=FutureWarning)
        model = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    if merge:
        model = model.merge_and_unload()
    model.eval()
    return build_agent(spec, model, tokenizer, implementations, **agent_kwargs)

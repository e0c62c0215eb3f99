"""The agent spec ("train what you deploy"): `AgentSpec`, its file `agent_spec.json`, its versions and errors.

An `AgentSpec` records everything that shapes what the model sees and how its replies are read: the base model (its
Hub commit, or for a built-in model the packages and GGUF file it was made from, and a fingerprint), the system
prompt, the tool schemas exactly as the chat template rendered them in training, the chat template itself, the
parser, the turn limit and the generation settings. Training writes it next to the adapter; inference reads it, so
the deployed agent prompts the model token for token as in training (`agent.prompt.render_prompt_ids`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..environment.environment import ToolEnvironment, environment_class
from ..environment.factories import EnvironmentFactory
from ..errors import ToolBrainError
from ..tools.implementations import BUILTIN_TOOL_MODULES
from ..tools.schemas import ToolSpec, load_tools

__all__ = [
    "PARSER_NAME",
    "SPEC_FILE",
    "TOOLS_FILE",
    "AgentError",
    "AgentSpec",
    "AgentSpecError",
    "training_chat_template",
]

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
        builtin_tools: A module of toolbrain_hub itself whose functions run the tools (e.g.
            "toolbrain_hub.email.tools"): `load_agent` uses it without `trust_remote_code`, because that code ships
            with the library, not with the agent. None for every other agent (its own implementations are never
            recorded here).
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
    builtin_tools: str | None = None
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
        if self.builtin_tools is not None and not is_builtin_tools(self.builtin_tools):
            fail("builtin_tools", f"{self.builtin_tools!r} is not one of toolbrain_hub's tool modules "
                                  f"{list(BUILTIN_TOOL_MODULES)}")

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
        out = {f.name: json.loads(json.dumps(getattr(self, f.name))) for f in fields(self)}
        if out["builtin_tools"] is None:
            del out["builtin_tools"]  # specs without it stay readable by toolbrain-hub versions before the field
        return out

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
                     retrieval_model: str | None = None, builtin_tools: str | None = None) -> AgentSpec:
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
            builtin_tools: The run's `implementations` when it is one of toolbrain_hub's own tool modules.
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
                   tool_top_k=tool_top_k, retrieval_model=retrieval_model,
                   builtin_tools=builtin_tools if builtin_tools and is_builtin_tools(builtin_tools) else None)


def is_builtin_tools(implementations: str) -> bool:
    """Whether `implementations` (a config's .py file or module name) is one of toolbrain_hub's own tool modules.

    An allowlist, not a prefix test: a spec comes from a repo, and binding tools by name to any library module would
    let a spec expose e.g. `publish` to the model as a tool.
    """
    return implementations in BUILTIN_TOOL_MODULES


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

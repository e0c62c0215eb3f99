"""`load_agent`: a published agent (a Hub repo, an agent folder or a run folder) as a ready smolagents agent.

`load_agent(repo_or_folder, tools=...)` is the one call for a published agent: it reads the spec, loads the base model
and the LoRA adapter (optionally merged or on a 4-bit base), and builds the `SpecAgent` with the caller's tool
implementations (schema-only stand-ins for the others). It never runs code from the repo unless told to.
`read_agent_spec` reads only the spec.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..environment.environment import ToolEnvironment
from ..environment.factories import EnvironmentFactory
from ..runs.folder import ADAPTER_DIR
from ..tools.schemas import ToolSpec
from .runtime import SpecAgent, _named_implementations, build_agent
from .spec import SPEC_FILE, TOOLS_FILE, AgentError, AgentSpec

__all__ = ["load_agent", "read_agent_spec"]

logger = logging.getLogger(__name__)

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
    """What `build_agent` runs the tools with: the caller's implementations by name, then the library's own tool
    module the agent was trained with (`spec.builtin_tools`), then (if trusted) the repo's tools.py, then schema-only
    stand-ins. A ToolEnvironment or factory passes through unchanged."""
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
    if spec.builtin_tools:
        # The library's own tool module (validated against the allowlist when the spec was read): no remote code.
        from ..tools.implementations import load_implementations

        missing = [name for name in spec.tool_names if name not in given]
        if missing:
            given.update(load_implementations(spec.builtin_tools, missing, partial=True))
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
    from ..models.builtin import BUILTIN_MODELS, ModelError
    from ..models.loading import ModelSource, load_model, locate_model

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
    from ..models.builtin import ModelError
    from ..models.loading import describe_provenance, model_provenance, provenance_difference

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
    imported for the tools you did not pass. An agent trained with one of the library's own tool modules (the email
    agent's `toolbrain_hub.email.tools`) gets those functions, since that code ships with toolbrain-hub. Models load
    without remote code, adapters from safetensors only.

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

"""What generates an evaluation's replies: `load_policy` resolves a model name, a folder (model, adapter or run), a
loaded model, an agent or an endpoint into a policy, and `source_spec` reads the agent spec it would prompt with
without loading any weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runs.folder import ADAPTER_DIR, CONFIG_FILE, STATUS_FILE, read_status
from .metrics import EvalError

__all__ = ["load_policy", "source_spec"]


@dataclass
class _Policy:
    """A loaded model to evaluate: a local model with its agent spec (token-exact), or a ChatModel (text level)."""

    name: str
    model: Any = None
    tokenizer: Any = None
    spec: Any = None  # AgentSpec: from the adapter folder, or None to build one for the tasks
    chat_model: Any = None
    generate_fn: Any = None  # a SpecModel's scripted generation: prompt ids -> new ids


def _is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def load_policy(model_or_agent: Any, *, device: str = "auto", dtype: str = "auto", threads: int | None = None
                ) -> _Policy:
    """Resolve what `evaluate` was given into something that generates.

    Args:
        model_or_agent: A `ChatModel`; a loaded `(model, tokenizer)`; a `SpecModel` or `SpecAgent` (its spec, model
            and tokenizer, or its scripted `generate_fn`); a run folder (its `adapter/`), an adapter folder with
            `agent_spec.json` (base model + LoRA adapter via peft); a folder with only an agent spec (its base model);
            a built-in model name, a model folder or a Hub id; or an OpenAI-compatible endpoint URL.
        device: "auto", "cpu" or "cuda" for local models.
        dtype: Weights' dtype for models loaded here (`models.load_model`): evaluate in the dtype you trained in.
        threads: torch threads (None: torch's default).

    Raises:
        EvalError: a folder that is neither a model, an adapter nor a run (or a run without its final adapter).
    """
    from ..models.chat import ChatModel, LocalChatModel, get_chat_model
    from ..models.loading import load_model, set_threads

    set_threads(threads)
    from ..agent.runtime import SpecAgent, SpecModel

    if isinstance(model_or_agent, SpecAgent):
        model_or_agent = model_or_agent.model
    if isinstance(model_or_agent, SpecModel):
        return _Policy(name=model_or_agent.model_id, model=model_or_agent.model, tokenizer=model_or_agent.tokenizer,
                       spec=model_or_agent.spec, generate_fn=model_or_agent.generate_fn)
    if isinstance(model_or_agent, LocalChatModel):
        return _Policy(name=model_or_agent.model_id, model=model_or_agent.model, tokenizer=model_or_agent.tokenizer)
    if isinstance(model_or_agent, ChatModel):
        return _Policy(name=model_or_agent.model_id or type(model_or_agent).__name__, chat_model=model_or_agent)
    if isinstance(model_or_agent, tuple) and len(model_or_agent) == 2:
        model, tokenizer = model_or_agent
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
        return _Policy(name=str(name), model=model, tokenizer=tokenizer)
    if not isinstance(model_or_agent, (str, Path)):
        raise EvalError(f"cannot evaluate a {type(model_or_agent).__name__}: give a model name or folder, a run or "
                        "adapter folder, a (model, tokenizer) pair or a ChatModel")
    text = str(model_or_agent)
    if text.startswith(("http://", "https://")):
        return _Policy(name=text.split("#")[0], chat_model=get_chat_model(text))
    path = _local_folder(text)
    if path is not None:
        return _load_folder(path, device=device, dtype=dtype)
    model, tokenizer = load_model(text, device=device, dtype=dtype)
    return _Policy(name=text, model=model, tokenizer=tokenizer)


def source_spec(model_or_agent: Any) -> Any:
    """The agent spec `load_policy` would prompt `model_or_agent` with, read without loading weights.

    Args:
        model_or_agent: What `load_policy` takes.

    Returns:
        The `AgentSpec` of an agent, a run, an adapter or a model folder that has one; None for anything else (a model
        name, an endpoint, a loaded model), whose episodes use the training defaults.

    Raises:
        EvalError: as `load_policy`, for a path that is no model, adapter or run folder.
    """
    from ..agent.runtime import SpecAgent, SpecModel

    if isinstance(model_or_agent, SpecAgent):
        model_or_agent = model_or_agent.model
    if isinstance(model_or_agent, SpecModel):
        return model_or_agent.spec
    if not isinstance(model_or_agent, (str, Path)) or str(model_or_agent).startswith(("http://", "https://")):
        return None
    path = _local_folder(str(model_or_agent))
    return _folder_parts(path)[1] if path is not None else None


def _local_folder(text: str) -> Path | None:
    """The folder a model argument names, None for a model name or Hub id; EvalError for a path that is no folder."""
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise EvalError(f"{text}: no such model, adapter or run folder")
    return None


def _folder_parts(path: Path) -> tuple[Path | None, Any]:
    """(the LoRA adapter to apply or None, the agent spec or None) of a model, adapter or run folder.

    Raises:
        EvalError: a folder that is none of them, or a run without its final adapter.
    """
    from ..agent.spec import SPEC_FILE, AgentSpec

    adapter = path if _is_adapter(path) else path / ADAPTER_DIR if _is_adapter(path / ADAPTER_DIR) else None
    if adapter is not None:  # an adapter folder, or a run folder whose final adapter lives in <run>/adapter
        if not (adapter / SPEC_FILE).is_file() and not (path / SPEC_FILE).is_file():
            raise EvalError(f"{adapter}: a LoRA adapter without {SPEC_FILE}: the base model and the prompt format it "
                            "was trained with are unknown (a ToolBrain Hub run writes both)")
        return adapter, AgentSpec.load(adapter if (adapter / SPEC_FILE).is_file() else path)
    if (path / "config.json").is_file():  # a model folder, with the spec it was trained with or without one
        return None, AgentSpec.load(path) if (path / SPEC_FILE).is_file() else None
    if (path / STATUS_FILE).is_file() or ((path / CONFIG_FILE).is_file() and not (path / SPEC_FILE).is_file()):
        state = read_status(path).get("state") or "unknown"
        raise EvalError(f"{path}: this run has no final adapter yet (status: {state}); evaluate it once it has "
                        "completed")
    if (path / SPEC_FILE).is_file():  # an agent spec alone: its base model
        return None, AgentSpec.load(path)
    raise EvalError(f"{path}: not a model folder (config.json), an adapter folder (adapter_config.json + "
                    "agent_spec.json) or a run folder (adapter/)")


def _load_folder(path: Path, *, device: str, dtype: str) -> _Policy:
    from ..models.loading import load_model

    adapter, spec = _folder_parts(path)
    if adapter is not None:
        model, tokenizer = load_model(spec.base_model, device=device, dtype=dtype)
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        model.eval()
    elif (path / "config.json").is_file():
        model, tokenizer = load_model(str(path), device=device, dtype=dtype)
    else:
        model, tokenizer = load_model(spec.base_model, device=device, dtype=dtype)
    return _Policy(name=str(path), model=model, tokenizer=tokenizer, spec=spec)

"""Publish a finished training run as an agent folder: a Hub model repo, or a local folder (the offline default).

The folder is what `load_agent` reads, and what a person reads on the Hub:

    adapter_model.safetensors, adapter_config.json   the LoRA adapter (peft)
    tokenizer files, chat_template.jinja             the training tokenizer, as the run saved it with the adapter
    agent_spec.json                                  base model and revision, system prompt, chat template, tool
                                                     schemas, parser, turn limit, generation settings
    training_config.yaml                             the run's config, local paths replaced by their names
    eval.json                                        before/after evaluation (when the run was evaluated)
    reward_curve.png, eval_comparison.png            the reward curves and the before/after bars
    README.md                                        the model card (`datasets_cards/model_card.md`)

Nothing private leaves the machine: only whitelisted adapter files are copied (never pickles such as
`training_args.bin`), absolute local paths in JSON/YAML are replaced by names, and before anything is written out
or pushed every file is scanned for the token, other secrets from the environment, and local paths; a hit stops the
publish and names the file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hub
from ..evaluation.comparison import Comparison
from ..runs.folder import EVAL_FILE, EVAL_PLOT
from .card import _ALGORITHM_NAMES, CONFIG_OUT, CURVE_PNG, _evaluation_rows, _is_repo_id, render_model_card
from .run import PublishError, RunSummary, read_run
from .sanitize import _forbidden_strings, _local, _strip_paths, check_no_secrets, public_ref, sanitize_config

logger = logging.getLogger(__name__)

__all__ = ["AgentExistsError", "PublishResult", "build_agent_folder", "preview_card", "publish"]

DEFAULT_OUT = "agent"  # <run>/agent: where an offline publish goes when no folder is given
# Adapter-folder files that are published. Everything else (optimizer state, pickled training args, peft's own
# README) stays behind: pickles can execute code when loaded and may hold local paths.
_ADAPTER_PATTERNS = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
# JSON configs whose absolute paths become names. Other files (tokenizer.json: its vocabulary holds "/" and "~"
# pieces that are not paths) are copied as they are; the final scan still refuses any local path in them.
_CONFIG_JSON = {"adapter_config.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}
_ADAPTER_SKIP = {"agent_spec.json", "training_args.json", "trainer_state.json"}


@dataclass
class PublishResult:
    """Where the agent went and what it holds.

    Args:
        url_or_path: The Hub repo's URL, or the local folder.
        files: The published files, relative to the folder, sorted.
        repo_id: The full Hub repo id ("user/name"), or None for a local publish.
        folder: The local folder written (None when only pushed from a temporary folder).
        replaced: Whether it went over an existing agent: an update of an existing Hub repo (its commit history keeps
            the earlier versions), or a local agent folder written over.
    """

    url_or_path: str
    files: list[str] = field(default_factory=list)
    repo_id: str | None = None
    folder: str | None = None
    replaced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"url_or_path": self.url_or_path, "files": list(self.files), "repo_id": self.repo_id,
                "folder": self.folder, "replaced": self.replaced}


# ---------------------------------------------------------------------------------------------------------------------
# the agent folder


def build_agent_folder(run: RunSummary, folder: str | os.PathLike, *, repo_ref: str = "path/to/this/folder",
                       license: str | None = None) -> list[str]:
    """Write the publishable agent folder of a run (see the module docstring) and return its files.

    Args:
        run: What `read_run` returned.
        folder: An empty or new folder.
        repo_ref: How the card's usage snippet names the agent ("user/repo", or a folder placeholder).
        license: The card's license (default: the base model's for built-in models, else "other").
    """
    import yaml

    from ..models.builtin import BUILTIN_MODELS
    from ..runs import plots

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    base = run.spec.base_model
    builtin = BUILTIN_MODELS.get(base)
    base_public = public_ref(base)
    hub_base = (builtin.upstream or None) if builtin else (base if _is_repo_id(base) else None)

    # The adapter: weights, peft config and the tokenizer the run saved; paths in JSON become names.
    for path in sorted(p for pattern in _ADAPTER_PATTERNS for p in run.adapter_dir.glob(pattern)):
        if not path.is_file() or path.name in _ADAPTER_SKIP:
            continue
        if path.name in _CONFIG_JSON:
            data = json.loads(path.read_text(encoding="utf-8"))
            if path.name == "adapter_config.json":
                data = _strip_paths(data)
            elif isinstance(data, dict):  # only its top-level settings (name_or_path...), not token contents
                data = {k: _strip_paths(v) if isinstance(v, str) else v for k, v in data.items()}
            if path.name == "adapter_config.json" and isinstance(data, dict):
                # The Hub links an adapter to its base model by this field.
                data["base_model_name_or_path"] = hub_base or base_public
            (out / path.name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            shutil.copy2(path, out / path.name)

    spec = run.spec.to_dict()
    spec["base_model"] = base_public
    if spec.get("retrieval_model"):
        spec["retrieval_model"] = public_ref(spec["retrieval_model"])
    (out / "agent_spec.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    config = sanitize_config(run.config)
    config_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    (out / CONFIG_OUT).write_text(config_yaml, encoding="utf-8")

    train_rows = [r for r in run.metrics if r.get("kind", "train") == "train"]
    has_curve = False
    if train_rows:
        try:
            name = _ALGORITHM_NAMES.get(run.config.algorithm, run.config.algorithm)
            plots.plot_reward_curves(train_rows, out / CURVE_PNG, title=f"{name} training rewards")
            has_curve = True
        except ValueError as e:
            logger.warning("no reward curve: %s", e)

    evaluation = _evaluation_rows(run.evaluation)
    has_comparison = False
    if run.evaluation is not None:
        (out / EVAL_FILE).write_text(json.dumps(_strip_paths(run.evaluation), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
        comparable = [r for r in evaluation if r["before"] is not None and r["after"] is not None]
        if (run.root / EVAL_PLOT).is_file():
            shutil.copy2(run.root / EVAL_PLOT, out / EVAL_PLOT)
            has_comparison = True
        elif comparable:
            plots.plot_comparison(comparable, out / EVAL_PLOT, labels=Comparison.from_dict(run.evaluation).labels)
            has_comparison = True

    card = render_model_card(run, config=config, config_yaml=config_yaml, repo_ref=repo_ref, license=license,
                             evaluation=evaluation, has_curve=has_curve, has_comparison=has_comparison,
                             files=sorted(p.name for p in out.iterdir() if p.is_file()))
    (out / "README.md").write_text(card, encoding="utf-8")
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------------------------
# publish


class AgentExistsError(PublishError):
    """`publish(..., replace=False)` found a published agent in the folder. `folder` is the folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(f"{folder} already holds a published agent; choose another folder, or replace it")


def _prepare_out_dir(out: Path, replace: bool) -> bool:
    """An empty folder to write into: a previous agent folder is replaced (only with `replace`), any other non-empty
    folder refused. Returns whether an agent was replaced."""
    if out.exists() and not out.is_dir():
        raise PublishError(f"Cannot write the agent to {out}: it is a file")
    replaced = False
    if out.is_dir() and any(out.iterdir()):
        if not ((out / "agent_spec.json").is_file() and (out / "README.md").is_file()):
            raise PublishError(f"Cannot write the agent to {out}: the folder is not empty and does not hold a "
                               "published agent. Choose a new or empty folder.")
        if not replace:
            raise AgentExistsError(out)
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        replaced = True
    out.mkdir(parents=True, exist_ok=True)
    return replaced


def publish(run_dir: str | os.PathLike, repo_id: str | None = None, *, out_dir: str | os.PathLike | None = None,
            private: bool = False, token: str | None = None, license: str | None = None,
            commit_message: str | None = None, replace: bool = True) -> PublishResult:
    """Publish a finished run as an agent: to a Hub model repo, and/or into a local folder.

    With neither `repo_id` nor `out_dir`, the agent is written to `<run_dir>/agent` (the offline default).

    Args:
        run_dir: The run folder (config.yaml, status.json "completed", adapter/ with agent_spec.json).
        repo_id: "user/name" (or "name" for the token's user) to push to; None for a local publish only.
        out_dir: A local folder to write the agent into (new, empty, or a previous agent folder, which is replaced).
        private: Create the Hub repo as private (an existing repo keeps its visibility).
        token: A Hub token with write access (default: HF_TOKEN or the saved login).
        license: The card's license id (default: the base model's for built-in models, else "other").
        commit_message: The Hub commit title.
        replace: Write over a previous agent in `out_dir`; with False that raises `AgentExistsError`. (A Hub repo
            that exists is updated either way: its commit history keeps the earlier versions; `replaced` says so.)

    Returns:
        A `PublishResult` with the repo URL (or the folder), the published files, and whether it replaced an agent.

    Raises:
        PublishError: the run is incomplete or malformed, or a file would publish a secret or a local path.
        AgentExistsError: `replace` is False and `out_dir` holds a published agent.
        FileNotFoundError: `run_dir` does not exist.
        toolbrain_hub.hub.HubError: the push failed (no token, permission, network...).
    """
    run = read_run(run_dir)
    if repo_id is None and out_dir is None:
        out_dir = run.root / DEFAULT_OUT
    full_id = None
    if repo_id is not None:
        token = hub.resolve_token(token)
        if hub.is_local(repo_id) or not repo_id.strip():
            raise PublishError(f"{repo_id!r} is not a Hub repo id ('user/name' or 'name'); to write a local folder "
                               "use out_dir")
        full_id = hub.full_repo_id(repo_id, token)
    repo_ref = full_id or "path/to/this/folder"
    # Local folders the run used (task data, model): their full paths must not leak either.
    extra_paths = [_local(str(p)).absolute() for p in (run.config.tasks, run.config.model, run.spec.base_model)
                   if p and _local(str(p))]

    if out_dir is not None:
        staging = Path(out_dir).expanduser().absolute()
        replaced = _prepare_out_dir(staging, replace)
        cleanup = None
    else:
        cleanup = tempfile.mkdtemp(prefix="toolbrain-publish-")
        staging = Path(cleanup) / "agent"
        replaced = False
    try:
        try:
            files = build_agent_folder(run, staging, repo_ref=repo_ref, license=license)
            check_no_secrets(staging, _forbidden_strings(run, hub.resolve_token(token), extra_paths + [staging]))
        except BaseException:
            if out_dir is not None:
                shutil.rmtree(staging, ignore_errors=True)  # never leave a half-written or leaking folder behind
            raise
        if full_id is None:
            logger.info("Wrote the agent to %s", staging)
            return PublishResult(url_or_path=str(staging), files=files, folder=str(staging), replaced=replaced)
        message = commit_message or f"Upload {run.config.algorithm} agent with toolbrain-hub"
        existed = hub.repo_exists(full_id, token=token)
        url = hub.push_folder(staging, full_id, token=token, private=private, commit_message=message)
        return PublishResult(url_or_path=url, files=files, repo_id=full_id,
                             folder=str(staging) if out_dir is not None else None, replaced=existed or replaced)
    finally:
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)


def preview_card(run_dir: str | Path, *, repo_ref: str = "path/to/this/folder") -> tuple[str, list[str]]:
    """The model card and the files `publish` would write for a run, written nowhere: the card's images are embedded,
    for a page that shows it away from its folder.

    Args:
        run_dir: The run folder.
        repo_ref: How the card's usage snippet names the agent (the repo id it will get).

    Returns:
        (the card, YAML header included; the files' names).

    Raises:
        PublishError: the run cannot be published; the message names what is missing.
    """
    from ..hub.cards import inline_images

    with tempfile.TemporaryDirectory(prefix="toolbrain-card-") as tmp:
        folder = Path(tmp) / "agent"
        files = build_agent_folder(read_run(run_dir), folder, repo_ref=repo_ref)
        return inline_images((folder / "README.md").read_text(encoding="utf-8"), folder), files

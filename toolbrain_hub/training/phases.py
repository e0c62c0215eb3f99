"""Running a training phase and what it leaves: `run_trainer` (one phase, resumable), `run_single_phase` (the GRPO,
DPO and SFT skeleton), the trained agent's spec and adapter, the eval cadence's evaluator, and `TrainResult`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..models.loading import locate_model, model_provenance
from ..runs.folder import RunFolder, checkpoint_step
from ..tools.implementations import load_implementations
from .policy import Policy, load_policy, load_policy_tokenizer
from .task_data import TaskData, _mcp_arg, load_task_data, prompt_budget, tools_only_data

logger = logging.getLogger("toolbrain_hub.training")


@dataclass
class TrainResult:
    """Where a finished run put things.

    Args:
        output_dir: The run folder.
        adapter_dir: The final adapter (with the tokenizer and agent_spec.json).
        steps: Optimizer steps over all phases.
        metrics: The last metrics row.
        pushed_to: The Hub repo the agent was published to (`push_to`), if any.
    """

    output_dir: Path
    adapter_dir: Path
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    pushed_to: str | None = None


def run_trainer(trainer, config: TrainConfig, run: RunFolder, *, phase: str, checkpoints: str | None = None,
                step_offset: int = 0) -> int:
    """Train one phase, resuming from its last checkpoint when the config says so; returns the phase's steps.

    Args:
        trainer: A TRL trainer with the run callbacks installed.
        config: The run's config (`resume`).
        run: The run folder (phase bookkeeping in phases.json).
        phase: The phase name.
        checkpoints: Its checkpoint sub-folder (None: <run>/checkpoints).
        step_offset: Run steps before this phase.
    """
    checkpoint = run.last_checkpoint(checkpoints) if config.resume else None
    run.mark_phase(phase, offset=step_offset, checkpoints=checkpoints, done=False)
    if checkpoint is not None:
        logger.info("phase %s: resuming from %s (step %d)", phase, checkpoint, checkpoint_step(checkpoint))
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    steps = int(trainer.state.global_step)
    run.mark_phase(phase, done=True, end_step=step_offset + steps)
    return steps


def run_single_phase(config: TrainConfig, run: RunFolder, build, *, progress: bool = True):
    """The one-phase algorithms' skeleton (GRPO, DPO, SFT): load the policy and the tasks, build the trainer, train
    (resuming when asked), save the adapter with its agent spec.

    Args:
        config: The run's config.
        run: The run folder.
        build: `build(policy, data, evaluate) -> (trainer, run_callback)`: the algorithm's own part (its dataset and
            TRL trainer); `evaluate` is the held-out evaluation for the eval cadence (or None).
        progress: Show progress bars.

    Returns:
        The run's `TrainResult`.
    """
    source = locate_model(config.model, progress=progress)  # a Hub model: one commit for the whole run
    # The tasks first, with the tokenizer alone: a prompt-length or dataset problem is reported before the model loads.
    tokenizer = load_policy_tokenizer(source)
    data = load_task_data(config, tokenizer) if config.tasks else tools_only_data(config)
    try:
        policy = Policy(*load_policy(config, progress=progress, tokenizer=tokenizer,
                                     prompt_tokens=prompt_budget(config, data), source=source))
        spec = make_agent_spec(config, policy.tokenizer, data, source)
        trainer, callback = build(policy, data, make_evaluator(config, run, data, policy.tokenizer, spec))
        steps = run_trainer(trainer, config, run, phase="train")
        adapter = save_adapter(trainer, run, spec)
    finally:
        data.close()
    return TrainResult(output_dir=run.root, adapter_dir=adapter, steps=steps, metrics=callback.last_row)


def make_agent_spec(config: TrainConfig, tokenizer, data: TaskData, source):
    """The agent spec of this run: the base model exactly (`source`, from `models.locate_model`: its commit and
    `models.model_provenance`), and the prompt, tools, template, parser and limits the rollouts use."""
    from ..agent.spec import AgentSpec

    return AgentSpec.for_training(
        config.model, tokenizer, data.environment_factory, revision=source.revision,
        base_model_source=model_provenance(source), system_prompt=data.system_prompt,
        max_turns=config.max_turns + 1, max_new_tokens=config.max_completion_length, temperature=0.0,
        top_p=1.0, tool_top_k=config.tool_top_k, builtin_tools=config.implementations)


def save_adapter(trainer, run: RunFolder, spec) -> Path:
    """Save the final adapter and tokenizer to <run>/adapter, with agent_spec.json there and in the run folder."""
    trainer.save_model(str(run.adapter_dir))
    if run.main_process:
        spec.save(run.adapter_dir)
        spec.save(run.root)
    return run.adapter_dir


def make_evaluator(config: TrainConfig, run: RunFolder, data: TaskData, tokenizer, spec):
    """`evaluate(model, step) -> metrics` on the held-out tasks for the eval cadence, or None when off.

    Runs `toolbrain_hub.evaluation.evaluate` on the model being trained, prompted with the run's agent spec (the
    same prompt, tools and parser as the rollouts), greedy. The step-0 result is the run's "before", each later one
    its "after", kept by `evaluation.save_before_after` (<run>/eval/before, <run>/eval/after, and their comparison in
    <run>/eval.json, which `publish` puts on the model card).
    """
    if not config.eval_steps:
        return None
    if data.eval is None or len(data.eval) == 0:
        logger.warning("eval_steps is %d but the tasks have no test split: no evaluation during training",
                       config.eval_steps)
        return None
    from ..evaluation.evaluator import evaluate

    rows = [dict(row) for row in data.eval]
    names = [s.name for s in data.tool_specs]
    # Loading the tasks checked the implementations; tools of imported tasks may have none (run schema-only).
    implementations = load_implementations(config.implementations, names, partial=True) \
        if config.implementations else None
    mcp = _mcp_arg(config.mcp_server) if config.mcp_server else None

    def run_evaluation(model, step: int) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        try:
            result = evaluate((model, tokenizer), rows, spec=spec, progress=False, implementations=implementations,
                              mcp=mcp, batch_size=config.eval_batch_size)
        finally:
            if was_training:
                model.train()
        if run.main_process:
            _save_evaluation(run, result, step)
        return {k: v for k, v in result.metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool)}

    return run_evaluation


def _save_evaluation(run: RunFolder, result, step: int) -> None:
    from ..evaluation.comparison import save_before_after

    # The step-0 evaluation (the base model with the untrained adapter) is the run's "before"; later ones its "after".
    save_before_after(run_dir=run.root, **({"before": result} if step == 0 else {"after": result}))

"""GRPO on TRL's `GRPOTrainer`, with the tool environment and the run's rewards.

TRL runs the multi-turn loop on exact token ids (generate, parse calls, run tools, append results, generate again)
and masks tool results out of the loss. Added here (`prepare_tokenizer` does the first two to the tokenizer):

- **The prompt shows each tool's full JSON schema.** TRL renders the environment's tool methods, which transformers
  would reduce to what type hints say (`get_json_schema`: no nested properties, array items, defaults, formats or
  ranges); `tools.rendering.install_tool_schemas` makes the tokenizer render each as its ToolSpec's schema, the
  one the agent spec stores and evaluation and the deployed agent render.

- **Calls in every form are recognized.** TRL parses calls with the tokenizer's `parse_response`, which only reads
  the template's `<tool_call>` tags; the default model writes bare or fenced JSON (FACTS.md), so no tool would ever
  run and every reward in a group would be equal. `install_tool_call_parser` makes the tokenizer parse with
  `traces.parse_tool_calls` (tags, fences, bare JSON), the same parser the deployed agent uses, and records how each
  call was written so the `format` reward can pay the tagged form more.
- **Zero-variance groups are reported loudly** (`callbacks.ZeroVarianceMonitor`): a warning and a metric when most
  groups have identical rewards, instead of a run that silently learns nothing.
- **Only completion tokens go through the LM head on CPU** (`score_completion_positions_only`): TRL's fused head
  projects every position (prompt included) onto the vocabulary unless Triton runs, which doubled the loss pass here.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..config.base import TrainConfig
from ..runs.folder import RunFolder
from ..tools.rendering import install_tool_schemas
from ..traces.parsing import parse_tool_calls
from .callbacks import ProgressBar, RunCallback, ZeroVarianceMonitor, install_callbacks
from .phases import run_single_phase
from .policy import trainer_args
from .reward_setup import RewardSetup, audit_answer_judge, build_rewards
from .task_data import TaskData

logger = logging.getLogger("toolbrain_hub.training")

# A response template that only tells TRL "this tokenizer can parse responses", for chat templates TRL does not
# know; the parsing itself is ours (`install_tool_call_parser`).
_GENERIC_RESPONSE_TEMPLATE = {"defaults": {"role": "assistant"}, "fields": {}}


def install_tool_call_parser(tokenizer):
    """Make TRL (and anything calling `tokenizer.parse_response`) read tool calls with `traces.parse_tool_calls`.

    TRL's GRPO loop calls `tokenizer.parse_response(ids, prefix=..., tools=...)` on every generated turn when the
    tokenizer has a response template; the returned message's `tool_calls` are what it executes. This sets TRL's
    template for known chat templates (a generic one otherwise) and overrides `parse_response` on this tokenizer
    instance: the turn's text is decoded and parsed for tagged, fenced and bare-JSON calls. The message also carries
    `tool_call_format` ("tagged", "fenced", "bare") and `tool_call_errors`, which traces and rewards read.

    Args:
        tokenizer: A tokenizer (or a processor with `.tokenizer`).

    Returns:
        The same tokenizer.
    """
    inner = getattr(tokenizer, "tokenizer", tokenizer)
    if getattr(inner, "_toolbrain_parser", False):
        return tokenizer
    if getattr(inner, "response_template", None) is None and getattr(inner, "response_schema", None) is None:
        from trl.chat_template_utils import add_response_schema

        try:
            add_response_schema(tokenizer)
        except ValueError:
            logger.info("chat template unknown to TRL: tool calls are parsed by toolbrain_hub's parser alone")
            inner.response_template = dict(_GENERIC_RESPONSE_TEMPLATE)

    def parse_response(ids, prefix=None, tools=None, **kwargs) -> dict[str, Any]:
        text = inner.decode(list(ids), skip_special_tokens=True)
        return parse_tool_calls(text).to_message()

    inner.parse_response = parse_response
    inner._toolbrain_parser = True
    return tokenizer


def prepare_tokenizer(tokenizer):
    """Everything the GRPO trainer's tokenizer needs before TRL sees it: calls read in every form
    (`install_tool_call_parser`) and each tool rendered as its full JSON schema
    (`tools.rendering.install_tool_schemas`), so rollouts prompt the model token for token as inference does.

    Args:
        tokenizer: A tokenizer (or a processor with `.tokenizer`).

    Returns:
        The same tokenizer.
    """
    return install_tool_schemas(install_tool_call_parser(tokenizer))


def score_completion_positions_only() -> bool:
    """Make TRL's fused LM head score only the positions the loss reads (the completion), on CPU too.

    TRL 1.16's `add_fused_lm_head` projects hidden states onto the vocabulary for exactly the labelled positions
    ("compact") only when its Triton kernels run (CUDA/XPU); elsewhere it projects every position and masks afterwards,
    so that compiled devices (Neuron) see fixed shapes. On an eager CPU that is pure waste: with ~500-token prompts
    and ~60-token completions it is ~9x the head's useful work, forward and backward, plus the softmax statistics
    over 152k logits per position (bench/RESULTS.md: the loss pass went from 30.7 s to ~15 s per step). The compact
    path is TRL's own and gives the same log-probabilities (tests/test_training.py checks it).

    Returns:
        True when TRL's switch was found (and is now patched), False when this TRL has no such switch.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        return False
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        return False
    if getattr(original, "_toolbrain_compact", False):
        return True

    def compact(device) -> bool:
        return device.type == "cpu" or original(device)

    compact._toolbrain_compact = True
    trl_utils._use_triton = compact
    return True


def grpo_args(config: TrainConfig, run: RunFolder, rewards: RewardSetup, *, phase: str | None = None,
              max_steps: int | None = None):
    """The GRPOConfig of a run."""
    from trl import GRPOConfig

    return trainer_args(
        GRPOConfig, config, run, phase=phase, max_steps=max_steps,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        max_tool_calling_iterations=config.max_turns,
        temperature=config.temperature,
        top_p=config.top_p,
        beta=config.beta,
        reward_weights=rewards.weights,
        log_completions=False,
        remove_unused_columns=False,
        shuffle_dataset=True,
    )


def build_trainer(config: TrainConfig, run: RunFolder, *, model, tokenizer, peft_config, data: TaskData,
                  rewards: RewardSetup, phase: str = "train", checkpoint_phase: str | None = None,
                  max_steps: int | None = None, step_offset: int = 0, total_steps: int | None = None,
                  evaluate=None, progress: bool = True):
    """A GRPOTrainer wired to the run folder: metrics, sampled traces, status, zero-variance alarm, progress bar.

    Args:
        config: The run's config.
        run: The run folder.
        model: The policy (a PEFT model when `peft_config` is None).
        tokenizer: Its tokenizer; gets the lenient tool-call parser and full tool schemas (`prepare_tokenizer`).
        peft_config: LoRA config for TRL to apply, or None.
        data: Tasks and environment.
        rewards: Reward functions and weights.
        phase: Name in the metrics rows.
        checkpoint_phase: Checkpoint sub-folder (multi-phase runs).
        max_steps: Steps of this phase.
        step_offset: Steps of earlier phases.
        total_steps: Steps of the whole run.
        evaluate: `evaluate(model, step) -> dict` for the eval cadence (`phases.make_evaluator`), or None.
        progress: Show the progress bar.

    Returns:
        (trainer, run_callback)
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental in TRL 1.16
    from trl import GRPOTrainer

    prepare_tokenizer(tokenizer)
    score_completion_positions_only()
    args = grpo_args(config, run, rewards, phase=checkpoint_phase, max_steps=max_steps)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=rewards.funcs, args=args,
                          train_dataset=data.train, peft_config=peft_config,
                          environment_factory=data.environment_factory)
    steps = max_steps or config.max_steps
    callback = RunCallback(run, phase=phase, step_offset=step_offset, total_steps=total_steps or steps,
                           zero_variance=ZeroVarianceMonitor(config.zero_variance_threshold,
                                                             config.zero_variance_window),
                           trace_samples=config.trace_samples, evaluate=evaluate, eval_steps=config.eval_steps,
                           task_ids=_task_ids(data.train))
    bar = ProgressBar(total_steps or steps, step_offset=step_offset, desc=f"grpo {phase}" if phase != "train"
                      else "grpo", disable=not progress or None)
    install_callbacks(trainer, callback, bar)
    return trainer, callback


def run_grpo(config: TrainConfig, run: RunFolder, *, extra_rewards: dict | None = None, progress: bool = True):
    """Train with GRPO: load the policy, tasks and rewards, train (resuming if asked), save the adapter and spec.
    (With `native_format_steps`, `training.native_format.run_grpo_with_warmup` runs instead.)"""
    rewards = build_rewards(config, extra_rewards)

    def build(policy, data, evaluate):
        logger.info("GRPO: %d tasks, %d tools, rewards %s (weights %s), backend %s", len(data.train),
                    len(data.tool_specs), rewards.names, rewards.weights, policy.backend)
        audit_answer_judge(rewards, config, data.train, run)
        return build_trainer(config, run, model=policy.model, tokenizer=policy.tokenizer,
                             peft_config=policy.peft_config, data=data, rewards=rewards, evaluate=evaluate,
                             progress=progress)

    return run_single_phase(config, run, build, progress=progress)


def _task_ids(dataset) -> dict[str, str]:
    if "query" not in dataset.column_names or "id" not in dataset.column_names:
        return {}
    return {str(q): str(i) for q, i in zip(dataset["query"], dataset["id"], strict=True)}

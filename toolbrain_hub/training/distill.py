"""Distillation (the ToolBrain paper's path for small students): a teacher runs the tasks, its good traces train the
student, optionally followed by GRPO.

1. **teacher**: the teacher (a local model or an OpenAI-compatible endpoint, `TrainConfig.teacher`) runs every
   training task in the tool environment, greedily, with the same prompt, tools and turn limit as the student.
   The run's rewards score each trace; traces with a total reward >= `reward_threshold` are kept. All traces go to
   traces.jsonl (with `kept`), the kept ones to <run>/teacher_traces.jsonl.
2. **sft**: the student is trained on the kept traces (assistant tokens only), `max_steps` steps.
3. **grpo** (when `distill_grpo_steps` > 0): GRPO continues from the SFT adapter.

The phases after the teacher's are `sft_then_grpo`'s, shared with GRPO's native-format warm-up. Each phase is
resumable: a resumed run skips finished phases and continues the current one from its checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config.base import TrainConfig
from ..environment.rollouts import run_episodes, score_episodes
from ..errors import ConfigError
from ..runs.folder import TEACHER_FILE, RunFolder
from .policy import load_policy_tokenizer
from .reward_setup import build_rewards, config_token
from .sft_then_grpo import data_phase, run_sft_then_grpo
from .task_data import load_task_data

logger = logging.getLogger("toolbrain_hub.training")


def teacher_rows(config: TrainConfig, run: RunFolder, data, rewards, *, progress: bool) -> list[dict[str, Any]]:
    """Run the teacher on the training tasks; returns the rows {"messages", "tools"} of the kept traces."""
    from ..models.chat import get_chat_model
    from .sft import episodes_to_rows

    if config.teacher.startswith(("http://", "https://")):
        teacher = get_chat_model(config.teacher, token=config_token(config.teacher_token_env, "teacher_token_env"))
    else:
        teacher = get_chat_model(config.teacher, threads=config.threads)
    rows = list(data.train)
    episodes = run_episodes(teacher, rows, data.environment_for, tools_for=data.tools_for,
                            max_turns=config.max_turns, max_new_tokens=config.max_completion_length, temperature=0.0,
                            seed=config.seed, batch_size=config.per_device_train_batch_size, progress=progress,
                            desc="teacher")
    del teacher
    score_episodes(episodes, rewards.funcs, rewards.weights)
    kept = [e for e in episodes if e.total >= config.reward_threshold]
    run.append_jsonl(run.traces_file, [
        {"step": 0, "phase": "teacher", "kind": "teacher", "index": i, "kept": e.total >= config.reward_threshold,
         **e.to_dict()} for i, e in enumerate(episodes)])
    totals = [e.total for e in episodes]
    logger.info("teacher %s: %d traces, reward %.3f..%.3f (mean %.3f); %d kept at reward_threshold %.3g",
                config.teacher, len(episodes), min(totals), max(totals), sum(totals) / len(totals), len(kept),
                config.reward_threshold)
    if not kept:
        raise ConfigError(f"reward_threshold: none of the teacher's {len(episodes)} traces reached "
                          f"{config.reward_threshold} (best total reward {max(totals):.3g}); lower reward_threshold "
                          "or use a stronger teacher")
    return episodes_to_rows(kept, data)


def run_distill(config: TrainConfig, run: RunFolder, *, extra_rewards: dict | None = None, progress: bool = True):
    """Teacher traces -> SFT -> optional GRPO (`sft_then_grpo`); saves the final adapter and spec."""
    from ..models.loading import locate_model

    rewards = build_rewards(config, extra_rewards)
    source = locate_model(config.model, progress=progress)  # a Hub model: one commit for the whole run
    tokenizer = load_policy_tokenizer(source)
    data = load_task_data(config, tokenizer)
    try:
        rows = data_phase(config, run, phase="teacher", file=TEACHER_FILE, what="teacher traces",
                          make=lambda: teacher_rows(config, run, data, rewards, progress=progress))
        return run_sft_then_grpo(config, run, rows=rows, data=data, tokenizer=tokenizer, source=source,
                                 rewards=rewards, sft_phase="sft", sft_steps=config.max_steps,
                                 grpo_steps=config.distill_grpo_steps, progress=progress)
    finally:
        data.close()

"""Distillation (the ToolBrain paper's path for small students): a teacher runs the tasks, its good traces train the
student, optionally followed by GRPO.

1. **teacher**: the teacher (a local model or an OpenAI-compatible endpoint, `TrainConfig.teacher`) runs every
   training task in the tool environment, greedily, with the same prompt, tools and turn limit as the student.
   The run's rewards score each trace; traces with a total reward >= `reward_threshold` are kept. All traces go to
   traces.jsonl (with `kept`), the kept ones to <run>/teacher_traces.jsonl.
2. **sft**: the student is trained on the kept traces (assistant tokens only), `max_steps` steps.
3. **grpo** (when `distill_grpo_steps` > 0): GRPO continues from the SFT adapter.

Each phase is resumable: a resumed run skips finished phases and continues the current one from its checkpoint.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..config.base import TrainConfig
from ..environment.rollouts import run_episodes, score_episodes
from ..errors import ConfigError
from ..jsonl import read_jsonl
from ..runs.folder import TEACHER_FILE, RunFolder
from .phases import TrainResult, make_agent_spec, make_evaluator, run_trainer, save_adapter
from .policy import load_policy, load_policy_tokenizer
from .reward_setup import build_rewards, config_token
from .task_data import load_task_data, prompt_budget

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


def _sft_phase(config: TrainConfig, run: RunFolder, rows, data, sft_adapter, total: int, *, keep: bool,
               evaluate, progress: bool, source):
    """Train the student on the teacher's traces; returns (steps, last metrics row, trainer if `keep`)."""
    from . import sft

    model, tokenizer, peft_config, backend = load_policy(config, progress=progress, source=source,
                                                         prompt_tokens=prompt_budget(config, data))
    trainer, callback = sft.build_trainer(
        config, run, model=model, tokenizer=tokenizer, peft_config=peft_config,
        dataset=sft.sft_dataset(rows, data.tool_schemas), phase="sft", checkpoint_phase="sft",
        max_steps=config.max_steps, total_steps=total, evaluate=evaluate, progress=progress,
        prompt_tokens=prompt_budget(config, data))
    logger.info("distill: SFT on %d teacher traces, backend %s", len(rows), backend)
    steps = run_trainer(trainer, config, run, phase="sft", checkpoints="sft")
    trainer.save_model(str(sft_adapter))
    return steps, callback.last_row, trainer if keep else None


def run_distill(config: TrainConfig, run: RunFolder, *, extra_rewards: dict | None = None, progress: bool = True):
    """Teacher traces -> SFT -> optional GRPO; saves the final adapter and spec."""
    import shutil

    from ..models.loading import locate_model
    from . import grpo

    rewards = build_rewards(config, extra_rewards)
    source = locate_model(config.model, progress=progress)  # a Hub model: one commit for the whole run
    tokenizer = load_policy_tokenizer(source)
    data = load_task_data(config, tokenizer)
    teacher_file = run.root / TEACHER_FILE
    sft_adapter = run.root / "phases" / "sft"
    total = config.max_steps + config.distill_grpo_steps
    try:
        # 1. teacher traces (a resumed run reuses them)
        if config.resume and run.phase_done("teacher") and teacher_file.is_file():
            rows = read_jsonl(teacher_file)
            logger.info("distill: %d teacher traces from the interrupted run", len(rows))
        else:
            run.mark_phase("teacher", offset=0, done=False)
            rows = teacher_rows(config, run, data, rewards, progress=progress)
            if run.main_process:
                teacher_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                        encoding="utf-8")
            run.mark_phase("teacher", done=True, end_step=0)
        spec = make_agent_spec(config, tokenizer, data, source)

        # 2. supervised phase (skipped when a resumed run had finished it)
        final, last_row = None, {}
        if config.resume and run.phase_done("sft") and (sft_adapter / "adapter_config.json").is_file():
            sft_steps = int(run.phases()["sft"]["end_step"])
            logger.info("distill: SFT phase already done (%d steps)", sft_steps)
        else:
            sft_steps, last_row, final = _sft_phase(config, run, rows, data, sft_adapter, total,
                                                    keep=not config.distill_grpo_steps,
                                                    evaluate=make_evaluator(config, run, data, tokenizer, spec),
                                                    progress=progress, source=source)

        # 3. optional GRPO from the SFT adapter
        grpo_steps = 0
        if config.distill_grpo_steps:
            model, tokenizer, _, backend = load_policy(config, adapter=sft_adapter, progress=progress,
                                                       prompt_tokens=prompt_budget(config, data), source=source)
            final, callback = grpo.build_trainer(
                config, run, model=model, tokenizer=tokenizer, peft_config=None, data=data, rewards=rewards,
                phase="grpo", checkpoint_phase="grpo", max_steps=config.distill_grpo_steps, step_offset=sft_steps,
                total_steps=total, evaluate=make_evaluator(config, run, data, tokenizer, spec), progress=progress)
            grpo_steps = run_trainer(final, config, run, phase="grpo", checkpoints="grpo", step_offset=sft_steps)
            last_row = callback.last_row

        if final is not None:
            adapter = save_adapter(final, run, spec)
        else:  # SFT finished in an earlier run and nothing followed it: its adapter is the result
            shutil.copytree(sft_adapter, run.adapter_dir, dirs_exist_ok=True)
            if run.main_process:
                spec.save(run.adapter_dir)
                spec.save(run.root)
            adapter = run.adapter_dir
    finally:
        data.close()
    return TrainResult(output_dir=run.root, adapter_dir=adapter, steps=sft_steps + grpo_steps, metrics=last_row)

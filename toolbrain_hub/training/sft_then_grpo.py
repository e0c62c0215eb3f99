"""Two-phase training: supervised steps on rows a data phase produced, then GRPO from that adapter.

Distillation (`training.distill`: the teacher's kept traces) and GRPO's native-format warm-up
(`training.native_format`: the policy's own right episodes, re-rendered in the chat template's call form) share it:

1. **data** (`data_phase`): the rows, kept in a file of the run folder, so a resumed run trains on the same ones.
2. **SFT** (`sft_steps`, assistant tokens only; skipped at 0): the adapter lands in <run>/phases/<sft_phase>.
3. **GRPO** (`grpo_steps`; none at 0): continues from that adapter (from the base model when SFT was skipped).

Each phase is resumable: a resumed run skips finished phases and continues the current one from its checkpoint.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..jsonl import read_jsonl
from ..runs.folder import RunFolder
from .phases import TrainResult, make_agent_spec, make_evaluator, run_trainer, save_adapter
from .policy import Policy, load_policy
from .reward_setup import RewardSetup
from .task_data import TaskData, prompt_budget

logger = logging.getLogger("toolbrain_hub.training")


def data_phase(config: TrainConfig, run: RunFolder, *, phase: str, file: str, make: Callable[[], list[dict]],
               what: str) -> list[dict[str, Any]]:
    """The rows of a data phase: read back from <run>/<file> when a resumed run had finished the phase, else built
    by `make()` and written there.

    Args:
        config: The run's config (`resume`).
        run: The run folder (phase bookkeeping in phases.json).
        phase: The phase name.
        file: The rows' file name in the run folder.
        make: Builds the rows.
        what: What the rows are, for the log ("teacher traces").
    """
    path = run.root / file
    if config.resume and run.phase_done(phase) and path.is_file():
        rows = read_jsonl(path)
        logger.info("%s: %d %s from the interrupted run", phase, len(rows), what)
        return rows
    run.mark_phase(phase, offset=0, done=False)
    rows = make()
    if run.main_process:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    run.mark_phase(phase, done=True, end_step=0)
    return rows


def run_sft_then_grpo(config: TrainConfig, run: RunFolder, *, rows: list[dict[str, Any]], data: TaskData, tokenizer,
                      source, rewards: RewardSetup, sft_phase: str, sft_steps: int, grpo_steps: int,
                      sft_learning_rate: float | None = None, policy: Policy | None = None,
                      progress: bool = True) -> TrainResult:
    """SFT on `rows` for `sft_steps`, then GRPO for `grpo_steps` from that adapter; saves the final adapter and spec.

    Args:
        config: The run's config.
        run: The run folder.
        rows: The supervised rows ({"messages", "tools"}).
        data: Tasks and environment.
        tokenizer: The policy's tokenizer.
        source: The run's model as `models.locate_model` pinned it.
        rewards: GRPO's rewards.
        sft_phase: The supervised phase's name (metrics rows, checkpoints, <run>/phases/<name>).
        sft_steps: Its steps (0: no supervised phase; GRPO starts from the base model).
        grpo_steps: GRPO's steps (0: none).
        sft_learning_rate: The supervised phase's learning rate (None: the config's).
        policy: The policy already loaded (base model, no adapter yet) for the first phase; None: loaded here.
        progress: Show progress bars.
    """
    from . import grpo, sft

    if not sft_steps and not grpo_steps:
        raise ValueError("run_sft_then_grpo needs steps in at least one phase")
    spec = make_agent_spec(config, tokenizer, data, source)
    budget = prompt_budget(config, data)
    sft_adapter = run.root / "phases" / sft_phase
    total = sft_steps + grpo_steps
    final, last_row, sft_done = None, {}, 0
    if sft_steps and config.resume and run.phase_done(sft_phase) and (sft_adapter / "adapter_config.json").is_file():
        sft_done = int(run.phases()[sft_phase]["end_step"])
        logger.info("%s: supervised phase already done (%d steps)", sft_phase, sft_done)
    elif sft_steps:
        policy = policy or Policy(*load_policy(config, progress=progress, tokenizer=tokenizer, prompt_tokens=budget,
                                               source=source))
        trainer, callback = sft.build_trainer(
            config, run, model=policy.model, tokenizer=policy.tokenizer, peft_config=policy.peft_config,
            dataset=sft.sft_dataset(rows, data.tool_schemas), phase=sft_phase, checkpoint_phase=sft_phase,
            max_steps=sft_steps, total_steps=total, evaluate=make_evaluator(config, run, data, policy.tokenizer, spec),
            progress=progress, prompt_tokens=budget, learning_rate=sft_learning_rate)
        logger.info("%s: SFT on %d traces, %d steps, learning rate %g, backend %s", sft_phase, len(rows), sft_steps,
                    trainer.args.learning_rate, policy.backend)
        policy = None  # the trainer holds the model now; freed with it before GRPO loads its own
        sft_done = run_trainer(trainer, config, run, phase=sft_phase, checkpoints=sft_phase)
        trainer.save_model(str(sft_adapter))
        last_row = callback.last_row
        if grpo_steps:
            del trainer, callback
            gc.collect()  # trainers hold reference cycles: free the SFT model before the GRPO one loads
        else:
            final = trainer

    if grpo_steps:
        if sft_steps:
            policy = Policy(*load_policy(config, adapter=sft_adapter, progress=progress, prompt_tokens=budget,
                                         source=source))
        else:
            policy = policy or Policy(*load_policy(config, progress=progress, tokenizer=tokenizer,
                                                   prompt_tokens=budget, source=source))
        final, callback = grpo.build_trainer(
            config, run, model=policy.model, tokenizer=policy.tokenizer, peft_config=policy.peft_config, data=data,
            rewards=rewards, phase="grpo", checkpoint_phase="grpo", max_steps=grpo_steps, step_offset=sft_done,
            total_steps=sft_done + grpo_steps, evaluate=make_evaluator(config, run, data, policy.tokenizer, spec),
            progress=progress)
        grpo_done = run_trainer(final, config, run, phase="grpo", checkpoints="grpo", step_offset=sft_done)
        last_row = callback.last_row
    else:
        grpo_done = 0

    if final is not None:
        adapter = save_adapter(final, run, spec)
    else:  # SFT finished in an earlier run and nothing followed it: its adapter is the result
        adapter = _copy_adapter(sft_adapter, run, spec)
    return TrainResult(output_dir=run.root, adapter_dir=adapter, steps=sft_done + grpo_done, metrics=last_row)


def _copy_adapter(adapter: Path, run: RunFolder, spec) -> Path:
    shutil.copytree(adapter, run.adapter_dir, dirs_exist_ok=True)
    if run.main_process:
        spec.save(run.adapter_dir)
        spec.save(run.root)
    return run.adapter_dir

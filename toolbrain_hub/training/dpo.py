"""DPO with TRL's `DPOTrainer`: on-policy preference pairs from group rollouts, or a given preference dataset.

On-policy pairs: the policy (the base model before training) runs every task `num_generations` times in the tool
environment; the run's rewards score the episodes; the best and the worst episode of a task form a pair when their
totals differ by at least `dpo_margin`. Tasks whose rollouts all score alike give no pair (they would teach
nothing), and are counted in the log. Every rollout, with its rewards and whether it was chosen or rejected, goes to
traces.jsonl; the pairs are kept in <run>/dpo_pairs.jsonl so a resumed run trains on the same pairs.

Chosen and rejected are whole episodes (assistant turns and tool results) rendered by the chat template, so tool
calls are trained in the template's canonical (tagged) form. With LoRA, the reference model is the base model with
the adapter disabled (`ref_model=None`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..environment.rollouts import Episode, run_episodes, score_episodes
from ..errors import ConfigError
from ..jsonl import JsonlError, read_jsonl
from ..runs.folder import PAIRS_FILE, RunFolder
from .callbacks import ProgressBar, RunCallback, install_callbacks
from .phases import run_single_phase
from .policy import trainer_args
from .reward_setup import build_rewards
from .sft import clean_messages, sft_max_length
from .task_data import prompt_budget

logger = logging.getLogger("toolbrain_hub.training")


def make_pairs(episodes: list[Episode], *, num_samples: int, margin: float) -> list[tuple[Episode, Episode]]:
    """(chosen, rejected) per task: its best and worst episode, when their totals differ by >= margin (and > 0)."""
    pairs = []
    for start in range(0, len(episodes), num_samples):
        group = episodes[start:start + num_samples]
        ranked = sorted(group, key=lambda e: e.total, reverse=True)
        best, worst = ranked[0], ranked[-1]
        gap = best.total - worst.total
        if gap > 0 and gap >= margin:
            pairs.append((best, worst))
    return pairs


def pair_row(chosen: Episode, rejected: Episode, tools: list[dict]) -> dict[str, Any]:
    return {"prompt": clean_messages(chosen.prompt), "chosen": clean_messages(chosen.completion),
            "rejected": clean_messages(rejected.completion), "tools": json.dumps(tools),
            "task_id": chosen.row.get("id"), "chosen_reward": chosen.total, "rejected_reward": rejected.total}


def preference_dataset(rows: list[dict[str, Any]]):
    """A DPOTrainer dataset: conversational prompt/chosen/rejected stored as JSON values, tools as JSON text."""
    from datasets import Dataset, Features, Json, Value

    records = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                "tools": r["tools"] if isinstance(r.get("tools"), str) else json.dumps(r.get("tools") or [])}
               for r in rows]
    return Dataset.from_list(records, features=Features({"prompt": Json(), "chosen": Json(), "rejected": Json(),
                                                         "tools": Value("string")}))


def load_preferences(source: str, default_tools: list[dict]) -> list[dict[str, Any]]:
    """Rows of a given preference dataset (folder, Hub repo or JSONL) with prompt/chosen/rejected columns."""
    path = Path(source).expanduser()
    if path.is_file():
        try:
            rows = read_jsonl(path)
        except JsonlError as e:
            raise ConfigError(f"preferences: {e}") from None
    else:
        from datasets import load_dataset, load_from_disk

        try:
            dataset = load_from_disk(str(path)) if (path / "dataset_info.json").is_file() else load_dataset(
                source, split="train")
        except Exception as e:  # noqa: BLE001 - any loading problem is a bad config value
            raise ConfigError(f"preferences: cannot read {source!r}: {type(e).__name__}: {e}") from None
        rows = list(dataset)
    for n, row in enumerate(rows):
        missing = [k for k in ("prompt", "chosen", "rejected") if not isinstance(row, dict) or k not in row]
        if missing:
            raise ConfigError(f"preferences: {source}, row {n}: missing {', '.join(missing)} (a preference dataset "
                              "has prompt, chosen and rejected)")
        for key in ("prompt", "chosen", "rejected"):
            if isinstance(row[key], str):  # plain-text preferences: make them chat turns
                row[key] = [{"role": "user" if key == "prompt" else "assistant", "content": row[key]}]
        row["tools"] = row.get("tools") or default_tools
    return rows


def on_policy_pairs(config: TrainConfig, run: RunFolder, *, model, tokenizer, data, rewards,
                    progress: bool) -> list[dict[str, Any]]:
    """Roll out the policy on every task, score, pair best vs worst; log rollouts; returns the pair rows."""
    from ..models.chat import LocalChatModel

    policy = LocalChatModel(config.model, loaded=(model, tokenizer))
    rows = list(data.train)
    episodes = run_episodes(policy, rows, data.environment_for, tools_for=data.tools_for, max_turns=config.max_turns,
                            max_new_tokens=config.max_completion_length, temperature=config.temperature,
                            num_samples=config.num_generations, seed=config.seed,
                            batch_size=max(config.per_device_train_batch_size, config.num_generations),
                            progress=progress, desc="dpo rollouts")
    score_episodes(episodes, rewards.funcs, rewards.weights)
    pairs = make_pairs(episodes, num_samples=config.num_generations, margin=config.dpo_margin)
    chosen = {id(c): "chosen" for c, _ in pairs} | {id(r): "rejected" for _, r in pairs}
    run.append_jsonl(run.traces_file, [
        {"step": 0, "phase": "rollouts", "kind": "rollout", "index": i, "role": chosen.get(id(e)), **e.to_dict()}
        for i, e in enumerate(episodes)])
    totals = [e.total for e in episodes]
    logger.info("DPO rollouts: %d episodes over %d tasks, reward %.3f..%.3f; %d pairs (margin %.3g), %d tasks without "
                "a pair", len(episodes), len(rows), min(totals), max(totals), len(pairs), config.dpo_margin,
                len(rows) - len(pairs))
    if not pairs:
        raise ConfigError(
            f"dpo_margin: no task had rollouts whose rewards differ by at least {config.dpo_margin} (all "
            f"{config.num_generations} rollouts of each task scored alike, rewards {min(totals):.3g}..{max(totals):.3g}"
            "): raise num_generations or temperature, lower dpo_margin, or use rewards with partial credit")
    return [pair_row(c, r, data.tools_for(c.row)) for c, r in pairs]


def build_trainer(config: TrainConfig, run: RunFolder, *, model, tokenizer, peft_config, dataset, evaluate=None,
                  progress: bool = True, prompt_tokens: int | None = None):
    """A DPOTrainer (reference = the adapter-disabled base with LoRA) wired to the run folder; `prompt_tokens` (the
    prompt budget, `task_data.prompt_budget`) sizes `max_length`."""
    from trl import DPOConfig, DPOTrainer

    args = trainer_args(DPOConfig, config, run, beta=config.dpo_beta,
                        max_length=sft_max_length(config, prompt_tokens))
    trainer = DPOTrainer(model=model, ref_model=None, processing_class=tokenizer, args=args, train_dataset=dataset,
                         peft_config=peft_config)
    callback = RunCallback(run, phase="train", total_steps=config.max_steps, evaluate=evaluate,
                           eval_steps=config.eval_steps)
    install_callbacks(trainer, callback, ProgressBar(config.max_steps, desc="dpo", disable=not progress or None))
    return trainer, callback


def run_dpo(config: TrainConfig, run: RunFolder, *, extra_rewards: dict | None = None, progress: bool = True):
    """DPO on on-policy pairs (or `config.preferences`); saves the adapter and spec."""
    pairs_file = run.root / PAIRS_FILE

    def build(policy, data, evaluate):
        if config.preferences:
            rows = load_preferences(config.preferences, data.tool_schemas)
            logger.info("DPO: %d preference pairs from %s", len(rows), config.preferences)
        elif config.resume and run.phase_done("rollouts") and pairs_file.is_file():
            rows = read_jsonl(pairs_file)
            logger.info("DPO: %d on-policy pairs from the interrupted run (%s)", len(rows), pairs_file)
        else:
            run.mark_phase("rollouts", offset=0, done=False)
            rows = on_policy_pairs(config, run, model=policy.model, tokenizer=policy.tokenizer, data=data,
                                   rewards=build_rewards(config, extra_rewards), progress=progress)
            if run.main_process:
                pairs_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                      encoding="utf-8")
            run.mark_phase("rollouts", done=True, end_step=0)
        logger.info("DPO: %d pairs, backend %s", len(rows), policy.backend)
        return build_trainer(config, run, model=policy.model, tokenizer=policy.tokenizer,
                             peft_config=policy.peft_config, dataset=preference_dataset(rows), evaluate=evaluate,
                             progress=progress, prompt_tokens=prompt_budget(config, data))

    return run_single_phase(config, run, build, progress=progress)

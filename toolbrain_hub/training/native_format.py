"""GRPO's native tool-call warm-up (`native_format_steps`): before GRPO, the policy learns to write its calls in its
chat template's own form.

Small instruct models often write a call as bare or ```json-fenced JSON instead of their template's form (the
default model wrote `<tool_call>` tags in 0 of 160 human-written requests: fenced JSON 112, bare 33). Our parser
reads every form, but the tool parsers of vLLM, TGI or Ollama read only the template's, and would see no call from
the trained agent. The warm-up is a short self-distillation:

1. **rollouts** (phase "native_rollouts"): the policy runs every training task once, greedily, in the tool
   environment, with the prompt, tools and turn limit GRPO uses.
2. **keep the right ones**: an episode is kept when the `expected_calls` reward is 1 (every expected call made once,
   right and valid; on a no-tool task, no call) and no call is malformed, whatever form the calls were written in.
3. **rewrite**: a kept episode's calls are stored as structured `tool_calls` (the model's own names and arguments)
   and the chat template renders them, in its native form (`<tool_call>` tags for Qwen2.5); the text around the
   calls, the tool results and the answer stay as they were. Only the surface form of the calls changes.
4. **SFT** (phase "native_format"): `native_format_steps` supervised steps on those rows (assistant tokens only, tool
   results masked; at `native_format_learning_rate`, or the run's `learning_rate`), then `max_steps` of GRPO from
   that adapter; its `format` reward (tagged 1.0, fenced or bare 0.3) keeps the form. Both phases are
   `sft_then_grpo`'s, shared with distillation.

When no episode holds a right call, or the chat template does not write calls at all, the warm-up is skipped with a
warning and GRPO starts from the base model. The counts go to train.log and to a metrics row (kind "native_format");
every rollout goes to traces.jsonl (with `kept`), the kept rows to <run>/native_format_traces.jsonl, so a resumed
run trains on the same ones.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..config.base import TrainConfig
from ..environment.rollouts import Episode, run_episodes, score_episodes
from ..errors import ConfigError
from ..evaluation.metrics import NATIVE_FORMATS
from ..models.loading import locate_model
from ..runs.folder import NATIVE_FILE, RunFolder
from ..traces.trace import Trace
from .policy import Policy, load_policy, load_policy_tokenizer
from .reward_setup import build_rewards
from .sft import clean_messages, episodes_to_rows
from .sft_then_grpo import data_phase, run_sft_then_grpo
from .task_data import TaskData, load_task_data, prompt_budget

logger = logging.getLogger("toolbrain_hub.training")

ROLLOUTS_PHASE = "native_rollouts"
SFT_PHASE = "native_format"


@dataclass
class WarmupCounts:
    """What the warm-up's rollouts held.

    Args:
        episodes: Rollouts (one per training task).
        kept: Episodes whose calls are right (expected_calls 1, no malformed call), with or without calls.
        kept_with_calls: Kept episodes that make at least one call (what teaches the form).
        rewritten: Kept episodes with a call not written natively (their calls change form in the rows).
        calls: Calls over all rollouts, by the form they were written in ({"tagged": n, "fenced": n, "bare": n}).
    """

    episodes: int
    kept: int
    kept_with_calls: int
    rewritten: int
    calls: dict[str, int]

    @property
    def native_rate(self) -> float | None:
        """Share of the rollouts' calls written in the native form (as evaluation's `native_format_rate` counts
        them; None without calls)."""
        total = sum(self.calls.values())
        return sum(n for form, n in self.calls.items() if form in NATIVE_FORMATS) / total if total else None

    def metrics(self, *, skipped: bool) -> dict[str, Any]:
        """The metrics row's values, `native_format/` keys (no rate when the rollouts made no call)."""
        rate = self.native_rate
        return {"native_format/episodes": self.episodes, "native_format/kept": self.kept,
                "native_format/kept_with_calls": self.kept_with_calls, "native_format/rewritten": self.rewritten,
                "native_format/calls": sum(self.calls.values()),
                **({} if rate is None else {"native_format/rate_before": rate}),
                "native_format/skipped": 1.0 if skipped else 0.0}


def call_forms(trace: Trace) -> Counter:
    """The trace's well-formed calls counted by the form they were written in ("tagged", "fenced", "bare")."""
    forms: Counter = Counter()
    for turn in trace.model_turns:
        if turn.calls:
            forms[turn.format] += len(turn.calls)
    return forms


def is_right(episode: Episode, trace: Trace) -> bool:
    """The episode's calls are right: the `expected_calls` reward is 1 and no call attempt was malformed."""
    return episode.rewards.get("expected_calls") == 1.0 and trace.totals()["invalid_calls"] == 0


def keep_right_episodes(episodes: list[Episode]) -> tuple[list[Episode], WarmupCounts]:
    """Score episodes with `expected_calls` and keep the right ones; returns (kept, counts).

    Args:
        episodes: The policy's rollouts (rows with `expected_calls`).
    """
    from ..rewards.registry import to_trl_reward

    score_episodes(episodes, [to_trl_reward("expected_calls", name="expected_calls")], [1.0])
    kept, calls, with_calls, rewritten = [], Counter(), 0, 0
    for episode in episodes:
        trace = episode.trace()
        forms = call_forms(trace)
        calls.update(forms)
        if not is_right(episode, trace):
            continue
        kept.append(episode)
        with_calls += bool(forms)
        rewritten += any(form not in NATIVE_FORMATS for form in forms)
    counts = WarmupCounts(episodes=len(episodes), kept=len(kept), kept_with_calls=with_calls, rewritten=rewritten,
                          calls=dict(calls))
    return kept, counts


def template_writes_calls(tokenizer, row: dict[str, Any]) -> bool:
    """Whether the chat template writes a row's calls: every call's name appears in the rendered assistant turns.

    A template without tool support drops `tool_calls`: training on its rendering would teach the model to answer
    without calling (SmolLM2's template is one).

    Args:
        tokenizer: The policy's tokenizer.
        row: An SFT row ({"messages", "tools"}) with at least one call.
    """
    messages = clean_messages(row["messages"])
    first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    render = tokenizer.apply_chat_template
    prompt = render(messages[:first], tools=row.get("tools") or None, tokenize=False)
    full = render(messages, tools=row.get("tools") or None, tokenize=False)
    completion = full[len(prompt):] if full.startswith(prompt) else full
    names = [c["function"]["name"] for m in messages for c in m.get("tool_calls") or []]
    return all(name in completion for name in names)


def warmup_rows(config: TrainConfig, run: RunFolder, policy: Policy, data: TaskData, *,
                progress: bool) -> list[dict[str, Any]]:
    """Run the policy on the training tasks, keep its right episodes, and return them as SFT rows (the chat template
    renders their calls natively); [] when the warm-up has nothing to train on (said in the log and metrics).

    Args:
        config: The run's config (max_turns, max_completion_length, seed, per_device_train_batch_size).
        run: The run folder (traces.jsonl, metrics.jsonl).
        policy: The loaded policy (base model).
        data: Tasks and environment.
        progress: Show a progress bar.

    Raises:
        ConfigError: the tasks have no `expected_calls` column to tell right calls from wrong ones.
    """
    from ..models.chat import LocalChatModel

    if "expected_calls" not in data.train.column_names:
        raise ConfigError("native_format_steps: the tasks have no expected_calls column, so the policy's right calls "
                          "cannot be told from wrong ones (use a task set with expected calls, or set it to 0)")
    chat = LocalChatModel(config.model, loaded=(policy.model, policy.tokenizer))
    padding_side = policy.tokenizer.padding_side  # generation pads on the left; the trainers get it back as it was
    try:
        episodes = run_episodes(chat, list(data.train), data.environment_for, tools_for=data.tools_for,
                                max_turns=config.max_turns, max_new_tokens=config.max_completion_length,
                                temperature=0.0, seed=config.seed, batch_size=config.per_device_train_batch_size,
                                progress=progress, desc="native-format rollouts")
    finally:
        policy.tokenizer.padding_side = padding_side
    kept, counts = keep_right_episodes(episodes)
    kept_ids = {id(e) for e in kept}
    run.append_jsonl(run.traces_file, [
        {"step": 0, "phase": ROLLOUTS_PHASE, "kind": "native_rollout", "index": i, "kept": id(e) in kept_ids,
         **e.to_dict()} for i, e in enumerate(episodes)])
    rows = episodes_to_rows(kept, data)
    reason = _skip_reason(counts, rows, policy.tokenizer)
    run.append_jsonl(run.metrics_file, [{"step": 0, "phase": ROLLOUTS_PHASE, "kind": "native_format",
                                         "time": time.time(), **counts.metrics(skipped=reason is not None)}])
    forms = ", ".join(f"{form} {n}" for form, n in sorted(counts.calls.items())) or "none"
    rate = counts.native_rate
    logger.info("native-format warm-up: %d rollouts on the training tasks, calls by form: %s (native-format rate %s); "
                "%d right (expected_calls 1, no malformed call), %d of them with calls, %d rewritten into the chat "
                "template's call form", counts.episodes, forms, "n/a" if rate is None else f"{rate:.2f}", counts.kept,
                counts.kept_with_calls, counts.rewritten)
    if reason is not None:
        logger.warning("native-format warm-up SKIPPED: %s; GRPO starts from the base model", reason)
        return []
    logger.info("native-format warm-up: SFT on %d of the policy's own episodes, %d steps, then GRPO", len(rows),
                config.native_format_steps)
    return rows


def _skip_reason(counts: WarmupCounts, rows: list[dict[str, Any]], tokenizer) -> str | None:
    if not counts.kept_with_calls:
        return (f"none of the policy's {counts.episodes} rollouts on the training tasks made right calls "
                "(expected_calls reward 1 with no malformed call), so there is nothing of its own to rewrite")
    with_calls = next(r for r in rows if any(m.get("tool_calls") for m in r["messages"]))
    if not template_writes_calls(tokenizer, with_calls):
        return "the model's chat template does not write tool calls, so it has no native call form to train"
    return None


def run_grpo_with_warmup(config: TrainConfig, run: RunFolder, *, extra_rewards: dict | None = None,
                         progress: bool = True):
    """The native-format warm-up (when it finds anything to train on), then GRPO; saves the final adapter and spec.

    Args:
        config: A GRPO config with `native_format_steps` > 0.
        run: The run folder.
        extra_rewards: More rewards from Python, added to the config's (as `run_grpo` takes them).
        progress: Show progress bars.
    """
    rewards = build_rewards(config, extra_rewards)
    source = locate_model(config.model, progress=progress)  # a Hub model: one commit for the whole run
    tokenizer = load_policy_tokenizer(source)
    data = load_task_data(config, tokenizer)
    loaded: list[Policy] = []

    def make() -> list[dict[str, Any]]:
        loaded.append(Policy(*load_policy(config, progress=progress, tokenizer=tokenizer,
                                          prompt_tokens=prompt_budget(config, data), source=source)))
        return warmup_rows(config, run, loaded[0], data, progress=progress)

    try:
        rows = data_phase(config, run, phase=ROLLOUTS_PHASE, file=NATIVE_FILE, make=make,
                          what="episodes of the native-format warm-up")
        sft_steps = config.native_format_steps if rows else 0
        if not sft_steps:
            run.write_status(total=config.max_steps)
        # The rollouts' model is handed over, not kept here, so the phases can free it before GRPO loads its own.
        return run_sft_then_grpo(config, run, rows=rows, data=data, tokenizer=tokenizer, source=source,
                                 rewards=rewards, sft_phase=SFT_PHASE, sft_steps=sft_steps,
                                 grpo_steps=config.max_steps, sft_learning_rate=config.native_format_learning_rate,
                                 policy=loaded.pop() if loaded else None, progress=progress)
    finally:
        data.close()

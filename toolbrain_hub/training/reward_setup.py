"""The run's rewards: built-in, "module:function" and Python rewards and the LLM judge as TRL reward functions with
their weights (`build_rewards`), the answer judge's audit before training (`audit_answer_judge`), and the tokens of
the endpoints a config names (`config_token`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..config.base import TrainConfig
from ..errors import ConfigError

logger = logging.getLogger("toolbrain_hub.training")


@dataclass
class RewardSetup:
    """The run's reward functions in TRL's signature, their weights, and the judge (if any)."""

    funcs: list[Any]
    weights: list[float]
    judge: Any = None

    @property
    def names(self) -> list[str]:
        return [getattr(f, "__name__", "reward") for f in self.funcs]


def _import_reward(name: str):
    import importlib

    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"rewards.{name}: cannot import module {module_name!r}: {e}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(f"rewards.{name}: module {module_name!r} has no function {attr!r}")
    return func


def build_rewards(config: TrainConfig, extra: dict[Any, float] | None = None) -> RewardSetup:
    """Built-in rewards by name, "module:function" rewards, Python callables, and the judge, with weights.

    Each becomes its own TRL reward function (TRL logs `rewards/<name>/mean` and `/std` for each) and the weights
    go to `GRPOConfig.reward_weights`.

    Args:
        config: The run's config (rewards, judge).
        extra: More rewards from Python: {f(trace, **row) or batch reward: weight}.
    """
    from ..rewards.registry import get_reward, reward_name, to_trl_reward

    funcs, weights, seen = [], [], set()

    def add(func, name: str, weight: float):
        if name in seen:
            raise ConfigError(f"rewards: two rewards are named {name!r}")
        seen.add(name)
        funcs.append(to_trl_reward(func, name=name))
        weights.append(float(weight))

    for name, weight in config.rewards.items():
        if ":" in name:
            func = _import_reward(name)
            add(func, reward_name(func), weight)
        else:
            add(get_reward(name), name, weight)
    for func, weight in (extra or {}).items():
        add(func, reward_name(func), weight)
    judge = None
    if config.judge is not None:
        from ..models.chat import get_chat_model

        settings = config.judge
        model = get_chat_model(settings.model, token=config_token(settings.token_env, "judge.token_env"),
                               timeout=settings.timeout)
        judge = _make_judge(settings, model)
        funcs.append(judge.as_reward_func("llm_judge" if settings.kind == "group" else "answer_judge"))
        weights.append(float(settings.weight))
    if not funcs:
        raise ConfigError("rewards: no reward function (give rewards or a judge)")
    return RewardSetup(funcs=funcs, weights=weights, judge=judge)


def _make_judge(settings, model):
    """The judge a config's `judge` section asks for (`JudgeSettings` checked that its fallback fits its kind)."""
    if settings.kind == "answer":
        from ..rewards.answer_judge import AnswerJudge

        return AnswerJudge(model, max_retries=settings.max_retries, fallback=settings.fallback,
                           timeout=settings.timeout)
    from ..rewards.judge import GroupJudge

    return GroupJudge(model, settings.rubric, max_retries=settings.max_retries, fallback=settings.fallback,
                      timeout=settings.timeout)


def audit_answer_judge(rewards: RewardSetup, config: TrainConfig, rows: Any, run: Any) -> None:
    """Before an answer judge becomes a reward: check it on `judge.audit` training questions whose right labels are
    known (`rewards.answer_judge.audit_judge`), log the agreement (a warning when it is low) and keep the audit in
    the run folder. Once per run: a resumed run keeps its first audit."""
    from ..rewards.answer_judge import AnswerJudge, audit_judge
    from ..runs.folder import JUDGE_AUDIT_FILE

    path = run.root / JUDGE_AUDIT_FILE
    if not isinstance(rewards.judge, AnswerJudge) or not config.judge.audit or path.exists():
        return
    records = [{"query": row["query"], "gold_answer": row["gold_answer"]} for row in rows
               if str(row.get("gold_answer") or "").strip()][: config.judge.audit]
    if len(records) < 2:  # a wrong-answer case borrows another question's answer
        logger.warning("judge.audit: fewer than 2 training tasks with a gold answer; the answer judge is not audited")
        return
    audit = audit_judge(rewards.judge, records)
    logger.info("answer judge audit on %d questions: agreement %.2f (%s)", len(records), audit.agreement or 0.0,
                ", ".join(f"{label} {share:.2f}" for label, share in audit.per_label.items()
                          if share is not None))
    if run.main_process:
        path.write_text(json.dumps(audit.to_dict(), indent=2) + "\n", encoding="utf-8")


def config_token(env: str | None, field: str) -> str | None:
    """`chat.endpoint_token` for a config field: a named variable that is unset is a config error."""
    from ..models.chat import ChatError, endpoint_token

    try:
        return endpoint_token(env, field=field)
    except ChatError as e:
        raise ConfigError(str(e)) from None

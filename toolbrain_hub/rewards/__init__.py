"""Rewards: Python callables over execution traces (`rewards.functions`) and the LLM group judge (`rewards.judge`)."""

from __future__ import annotations

from .functions import (
    FORMAT_SCORES,
    REWARDS,
    RewardError,
    answer_exact,
    answer_match,
    batch_reward,
    call_similarity,
    calls_ran_validly,
    combine,
    expected_calls_match,
    format_reward,
    get_reward,
    invented_tool_penalty,
    normalize_answer,
    register_reward,
    reward_name,
    reward_range,
    schema_valid_rate,
    score,
    step_efficiency,
    to_trl_reward,
    to_trl_rewards,
    tool_success_rate,
    traces_from_trl,
    unneeded_tool_penalty,
)

__all__ = [
    "FORMAT_SCORES", "REWARDS", "RewardError", "answer_exact", "answer_match", "batch_reward", "call_similarity",
    "calls_ran_validly", "combine", "expected_calls_match", "format_reward", "get_reward", "invented_tool_penalty",
    "normalize_answer", "register_reward", "reward_name", "reward_range", "schema_valid_rate", "score",
    "step_efficiency", "to_trl_reward", "to_trl_rewards", "tool_success_rate", "traces_from_trl",
    "unneeded_tool_penalty"
]

"""Rewards: the registry, scoring, combining and TRL adapters (`rewards.registry`), the built-in reward functions over
execution traces (`rewards.builtin`), and the LLM group judge (`rewards.judge`).
"""

from __future__ import annotations

from .builtin import (
    FORMAT_SCORES,
    answer_exact,
    answer_match,
    call_similarity,
    calls_ran_validly,
    expected_calls_match,
    format_reward,
    invented_tool_penalty,
    normalize_answer,
    schema_valid_rate,
    step_efficiency,
    tool_success_rate,
    unneeded_tool_penalty,
)
from .registry import (
    REWARDS,
    RewardError,
    batch_reward,
    combine,
    get_reward,
    register_reward,
    reward_name,
    reward_range,
    score,
    to_trl_reward,
    to_trl_rewards,
    traces_from_trl,
)

__all__ = [
    "FORMAT_SCORES", "REWARDS", "RewardError", "answer_exact", "answer_match", "batch_reward", "call_similarity",
    "calls_ran_validly", "combine", "expected_calls_match", "format_reward", "get_reward", "invented_tool_penalty",
    "normalize_answer", "register_reward", "reward_name", "reward_range", "schema_valid_rate", "score",
    "step_efficiency", "to_trl_reward", "to_trl_rewards", "tool_success_rate", "traces_from_trl",
    "unneeded_tool_penalty"
]

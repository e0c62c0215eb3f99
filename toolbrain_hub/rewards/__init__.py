"""Rewards: the registry, scoring, combining and TRL adapters (`rewards.registry`), calls compared with expected
calls by the exact and the standard (AST) rule (`rewards.matching`), the built-in reward functions over execution
traces (`rewards.builtin`), and the LLM group judge (`rewards.judge`).
"""

from __future__ import annotations

from .builtin import (
    FORMAT_SCORES,
    answer_exact,
    answer_match,
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
from .matching import ast_match, ast_similarity, call_similarity, match_calls, same_typed_value
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
    "FORMAT_SCORES", "REWARDS", "RewardError", "answer_exact", "answer_match", "ast_match", "ast_similarity",
    "batch_reward", "call_similarity", "calls_ran_validly", "combine", "expected_calls_match", "format_reward",
    "get_reward", "invented_tool_penalty", "match_calls", "normalize_answer", "register_reward", "reward_name",
    "reward_range", "same_typed_value", "schema_valid_rate", "score", "step_efficiency", "to_trl_reward",
    "to_trl_rewards", "tool_success_rate", "traces_from_trl", "unneeded_tool_penalty",
]

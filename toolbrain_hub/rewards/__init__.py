"""Rewards: the registry, scoring, combining and TRL adapters (`rewards.registry`), calls compared with expected
calls by the exact and the standard (AST) rule (`rewards.matching`), the built-in reward functions over execution
traces (`rewards.builtin`), the LLM group judge (`rewards.judge`), and for agents that answer questions with tools
(the email-search agent) the answer ladder (`rewards.answer_ladder`) and the answer judge with its audit
(`rewards.answer_judge`).

Registered by name, so a config's `rewards:` map can name them: answer_exact, answer_match, expected_calls,
schema_valid, tool_success, step_efficiency, format, invented_tool, unneeded_tool (`rewards.builtin`) and
answer_ladder (format error < wrong answer < no answer < right answer; `rewards.answer_ladder`).
"""

from __future__ import annotations

from .answer_judge import LABELS, AnswerJudge, AnswerLabel, JudgeAudit, audit_judge, parse_label
from .answer_ladder import (
    FINAL_ANSWER_TOOL,
    LADDER_SCORES,
    AnswerGrade,
    answer_ladder,
    answer_matches,
    grade_answer,
    says_no_answer,
    submitted_answer,
)
from .builtin import (
    FORMAT_SCORES,
    OPEN_ENDED_KINDS,
    answer_contains,
    answer_exact,
    answer_match,
    calls_ran_validly,
    expected_calls_match,
    format_reward,
    invented_tool_penalty,
    is_open_ended,
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
    rows_from_trl,
    score,
    to_trl_reward,
    to_trl_rewards,
    traces_from_trl,
)

__all__ = [
    "FINAL_ANSWER_TOOL", "FORMAT_SCORES", "LABELS", "LADDER_SCORES", "OPEN_ENDED_KINDS", "REWARDS", "AnswerGrade",
    "AnswerJudge", "AnswerLabel", "JudgeAudit", "RewardError", "answer_contains", "answer_exact", "answer_ladder",
    "answer_match", "answer_matches", "ast_match", "ast_similarity", "audit_judge", "batch_reward", "call_similarity",
    "calls_ran_validly", "combine", "expected_calls_match", "format_reward", "get_reward", "grade_answer",
    "invented_tool_penalty", "is_open_ended", "match_calls", "normalize_answer", "parse_label", "register_reward",
    "reward_name", "reward_range", "rows_from_trl", "same_typed_value", "says_no_answer", "schema_valid_rate", "score",
    "step_efficiency", "submitted_answer", "to_trl_reward", "to_trl_rewards", "tool_success_rate", "traces_from_trl",
    "unneeded_tool_penalty",
]

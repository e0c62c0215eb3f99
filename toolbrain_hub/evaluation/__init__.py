"""Evaluation: metrics of a model, adapter or agent on held-out tasks, and before/after comparisons."""

from __future__ import annotations

from .evaluator import METRICS, Comparison, EvalError, EvalResult, aggregate, compare, evaluate, load_policy, score_task

__all__ = [
    "Comparison", "EvalError", "EvalResult", "METRICS", "aggregate", "compare", "evaluate", "load_policy",
    "score_task"
]

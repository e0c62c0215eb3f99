"""Evaluation: metrics of a model, adapter or agent on held-out tasks, and before/after comparisons.

`metrics` (scoring, EvalResult), `policies` (what generates the replies), `evaluator` (`evaluate`: the episodes),
`comparison` (`compare`, and the one before/after evaluation: `evaluate_before_after`, `save_before_after`).
"""

from __future__ import annotations

from .comparison import Comparison, compare, evaluate_before_after, load_comparison, save_before_after
from .evaluator import evaluate
from .metrics import METRICS, EvalError, EvalResult, aggregate, score_task
from .policies import load_policy, source_spec

__all__ = [
    "Comparison", "EvalError", "EvalResult", "METRICS", "aggregate", "compare", "evaluate", "evaluate_before_after",
    "load_comparison", "load_policy", "save_before_after", "score_task", "source_spec"
]

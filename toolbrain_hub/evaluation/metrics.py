"""Evaluation metrics: each episode scored against its task (`score_task`), averaged (`aggregate`), and kept with
the traces as an `EvalResult` (saved as eval.json, traces.jsonl and eval.md).

Metrics (per task, then averaged; see `score_task` and `aggregate`):

- correctness (exact match): tool tasks: every expected call made with the right name and exactly its reference
  arguments (normalized), and no wrong or malformed call (repeating a right call is tolerated: it shows in
  avg_turns); no-tool tasks: no call attempted, an answer given, and it contains the gold answer when there is one.
- ast_accuracy (the standard rule of the field, the "AST" check of the Berkeley Function-Calling Leaderboard,
  `rewards.matching.ast_match`): tool tasks: each expected call matched by exactly one call, in any order, with the
  right tool, every needed argument, only acceptable values (any listed value; an optional argument left out or given
  a valid value), no unknown argument, and no other call attempted; no-tool tasks: no call attempted.
- hallucination_rate: wrong / attempted (attempted: a call was attempted or an answer given).
- no_answer_rate: tasks with neither a call attempt nor an answer.
- avg_turns: model turns per episode; avg_tool_calls: well-formed calls per episode.
- tool_call_accuracy: expected calls matched by name and arguments / expected calls (tool tasks).
- tool_name_accuracy: expected calls matched by tool name / expected calls (tool tasks).
- call_match_score: the `expected_calls` reward (1 only when every expected call is right and valid; else partial
  credit of at most 0.5; extra, repeated and malformed calls cost).
- invalid_call_rate: malformed, unknown-tool or schema-invalid calls / call attempts.
- no_tool_precision: negatives (no-tool tasks) answered without attempting a call / negatives.
- answer_accuracy: answers containing the gold answer / tasks with a gold answer.
- native_format_rate: well-formed calls written in the chat template's native form (`<tool_call>` tags, "tagged" in
  the traces; not a ```json fence or bare JSON, which only the lenient parser reads) / well-formed calls.

Open-ended tasks (kind email_search, `rewards.builtin.OPEN_ENDED_KINDS`: they need tools but name no reference calls)
are tool tasks scored by their answer: the answer is the one `return_final_answer` submitted
(`rewards.answer_ladder.submitted_answer`), correct (both rules) when the answer ladder's text match calls it right,
attempted unless it gave no answer (said it could not find it, or ended without one); they add nothing to the
expected-call counts and have no call_match_score. Per task, a row also holds `answer_rung` (the ladder's rung).

With an answer judge (`evaluate(..., judge=...)`), each task with a gold answer is labelled CORRECT, INCORRECT or
NO_ANSWER (the per-task row's `judge_label`, and the trace's `metadata["judge_label"]`), and over the labelled tasks:
- judged_correct_rate: CORRECT / labelled; judged_no_answer_rate: NO_ANSWER / labelled;
- judged_hallucination_rate: INCORRECT / (CORRECT + INCORRECT): confident wrong answers among the answers given;
- judged_tasks: how many were labelled.
Without a judge these keys are absent and nothing else changes.

A metric with no denominator (e.g. no negatives in the tasks) is None. The same metrics are broken down by task kind
(the rows' `kind`: single, multi, parallel, multi_turn, no_tool... each its own group) and difficulty. Per task, a row
holds `correct` and `ast_correct` side by side.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..runs.folder import EVAL_FILE, EVAL_MARKDOWN, TRACES_FILE
from ..traces.parsing import read_calls
from ..traces.trace import Trace, load_traces, save_traces

__all__ = ["BREAKDOWN_METRICS", "JUDGED_METRICS", "METRICS", "NATIVE_FORMATS", "RENAMED_METRICS", "EvalError",
           "EvalResult", "aggregate", "current_metrics", "fmt_value", "md_table", "metric_direction", "read_eval_file",
           "score_task"]

# How the traces name the chat template's native tool-call form (`traces.parsing.ParsedReply.format`).
NATIVE_FORMATS = ("tagged",)
# Metrics renamed since results were first saved: {old name: new name}, read under the new name.
RENAMED_METRICS = {"tagged_call_rate": "native_format_rate"}

# Headline metrics in table order, with the direction that is better.
METRICS: dict[str, str] = {
    "correctness": "higher",
    "ast_accuracy": "higher",
    "tool_call_accuracy": "higher",
    "tool_name_accuracy": "higher",
    "call_match_score": "higher",
    "no_tool_precision": "higher",
    "answer_accuracy": "higher",
    "hallucination_rate": "lower",
    "no_answer_rate": "lower",
    "invalid_call_rate": "lower",
    "native_format_rate": "higher",
    "avg_turns": "lower",
    "avg_tool_calls": "neutral",
}
# With an answer judge (`evaluate(..., judge=...)`), also these, over the tasks it labelled (those with a gold answer).
JUDGED_METRICS: dict[str, str] = {
    "judged_correct_rate": "higher",
    "judged_hallucination_rate": "lower",
    "judged_no_answer_rate": "lower",
}
# The metrics the tables by kind and by difficulty show, both rules side by side.
BREAKDOWN_METRICS = ("correctness", "ast_accuracy", "tool_call_accuracy", "no_tool_precision", "invalid_call_rate",
                     "native_format_rate")


def metric_direction(name: str) -> str:
    """Which way a metric is better: "higher", "lower" or "neutral" (`METRICS`, `JUDGED_METRICS`; else neutral)."""
    return METRICS.get(name) or JUDGED_METRICS.get(name) or "neutral"


class EvalError(ToolBrainError, ValueError):
    """Evaluation cannot run: a model path that is neither a model nor a run, unusable tasks, a bad saved result."""



# ---------------------------------------------------------------------------------------------------------------------
# Scoring


def _needs_tools(row: dict[str, Any], expected: list) -> bool:
    from ..rewards.builtin import is_open_ended

    kind = str(row.get("kind") or "").replace("-", "_").lower()
    if kind in ("no_tool", "no_tools", "none"):
        return False
    return bool(expected) or is_open_ended(row)


def _open_ended_rung(trace: Trace, row: dict[str, Any]) -> str:
    """Where an open-ended task's episode lands on the answer ladder by the text match (never a judge's label):
    "format_error", "wrong", "no_answer" or "right"; "wrong" for an answer to a task without a gold answer."""
    from ..rewards.answer_ladder import grade_answer
    from ..rewards.registry import RewardError

    try:
        return grade_answer(trace, {k: v for k, v in row.items() if k != "judge_label"}).rung
    except RewardError:  # no gold answer: an answer cannot be shown right
        return "wrong"


def score_task(trace: Trace, row: dict[str, Any]) -> dict[str, Any]:
    """Score one episode against its task.

    Args:
        trace: The episode.
        row: The task's columns (`expected_calls`, `tools`, `gold_answer`, `kind`, `difficulty`, `id`).

    Returns:
        A per-task row: id, kind, difficulty, needs_tools, expected, calls, attempts, invalid, exact_matched,
        name_matched, wrong_calls, call_match_score, answer_correct, attempted, correct, ast_matched, ast_correct,
        turns, native_calls, final_answer.
    """
    from ..rewards.answer_ladder import submitted_answer
    from ..rewards.builtin import answer_contains, expected_calls_match, is_open_ended, schema_valid_rate
    from ..rewards.matching import ast_match, call_similarity, match_calls, tool_specs

    try:
        expected = read_calls(row.get("expected_calls"), where=f"task {row.get('id')!r} expected_calls")
    except ValueError as e:
        raise EvalError(str(e)) from None
    calls = trace.calls
    totals = trace.totals()
    malformed = totals["invalid_calls"]
    attempts = len(calls) + malformed
    # Unknown tools and schema-invalid arguments, from the reward that checks them (share valid x attempts).
    valid = round(schema_valid_rate(trace, **row) * attempts) if "tools" in row else len(calls)
    # Exact matching is an equivalence, so greedy pairing finds the most matches.
    unmatched = list(range(len(expected)))
    exact = 0
    for call in calls:
        hit = next((j for j in unmatched if call_similarity(call, expected[j]) == 1.0), None)
        if hit is not None:
            unmatched.remove(hit)
            exact += 1
    wrong = sum(1 for c in calls if not any(call_similarity(c, e) == 1.0 for e in expected))
    made_names, want_names = Counter(c.name for c in calls), Counter(e.name for e in expected)
    name_matched = sum(min(n, made_names[name]) for name, n in want_names.items())
    try:
        specs = tool_specs(row.get("tools"))
    except ValueError as e:
        raise EvalError(f"task {row.get('id')!r}: bad tools column: {e}") from None
    # The standard rule: each expected call matched by exactly one call, in any order.
    ast_matched = len(match_calls(len(calls), len(expected), lambda i, j: ast_match(
        calls[i], expected[j], specs.get(expected[j].name))))
    needs_tools = _needs_tools(row, expected)
    open_ended = is_open_ended(row)
    gold = str(row.get("gold_answer") or "").strip()
    answer = submitted_answer(trace)[0] if open_ended else trace.final_answer
    answer_correct = answer_contains(answer, gold) if gold else None
    has_answer = answer is not None and bool(answer.strip())
    attempted = attempts > 0 or has_answer
    rung = None
    if open_ended:  # no reference calls: the answer decides (the ladder's text match; a judge's label apart)
        rung = _open_ended_rung(trace, row)
        correct = ast_correct = rung == "right"
        attempted = rung != "no_answer"
        match_score = None
    elif needs_tools:
        correct = exact == len(expected) and wrong == 0 and malformed == 0
        ast_correct = ast_matched == len(expected) == attempts
        match_score = expected_calls_match(trace, **row)
    else:
        correct = attempts == 0 and has_answer and answer_correct is not False
        ast_correct = attempts == 0
        match_score = None
    return {
        "id": row.get("id"),
        "kind": row.get("kind") or ("multi" if len(expected) > 1 else "single" if expected else "no_tool"),
        "difficulty": row.get("difficulty") or "",
        "needs_tools": needs_tools,
        "expected": len(expected),
        "calls": len(calls),
        "attempts": attempts,
        "invalid": attempts - valid,
        "exact_matched": exact,
        "name_matched": name_matched,
        "wrong_calls": wrong,
        "call_match_score": match_score,
        "answer_correct": answer_correct,
        "attempted": attempted,
        "correct": correct,
        "ast_matched": ast_matched,
        "ast_correct": ast_correct,
        "turns": totals["turns"],
        "native_calls": sum(len(t.calls) for t in trace.model_turns if t.format in NATIVE_FORMATS),
        "final_answer": answer,
        **({"answer_rung": rung} if open_ended else {}),
        **({"judge_label": trace.metadata.get("judge_label")} if "judge_label" in trace.metadata else {}),
    }


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics over per-task rows from `score_task` (see the module docstring for each definition).

    Args:
        rows: Per-task rows.

    Returns:
        {"tasks": n, metric: value or None}.
    """
    tool_rows = [r for r in rows if r["needs_tools"]]
    negatives = [r for r in rows if not r["needs_tools"]]
    gold_rows = [r for r in rows if r["answer_correct"] is not None]
    attempted = [r for r in rows if r["attempted"]]
    calls = sum(r["calls"] for r in rows)
    return {
        "tasks": len(rows),
        "correctness": _mean([float(r["correct"]) for r in rows]),
        "ast_accuracy": _mean([float(r["ast_correct"]) for r in rows]),
        "tool_call_accuracy": _ratio(sum(r["exact_matched"] for r in tool_rows), sum(r["expected"] for r in tool_rows)),
        "tool_name_accuracy": _ratio(sum(r["name_matched"] for r in tool_rows), sum(r["expected"] for r in tool_rows)),
        "call_match_score": _mean([r["call_match_score"] for r in tool_rows if r["call_match_score"] is not None]),
        "no_tool_precision": _mean([float(r["attempts"] == 0) for r in negatives]),
        "answer_accuracy": _mean([float(r["answer_correct"]) for r in gold_rows]),
        "hallucination_rate": _ratio(sum(1 for r in attempted if not r["correct"]), len(attempted)),
        "no_answer_rate": _mean([float(not r["attempted"]) for r in rows]),
        "invalid_call_rate": _ratio(sum(r["invalid"] for r in rows), sum(r["attempts"] for r in rows)),
        "native_format_rate": _ratio(sum(r["native_calls"] for r in rows), calls),
        "avg_turns": _mean([float(r["turns"]) for r in rows]),
        "avg_tool_calls": _mean([float(r["calls"]) for r in rows]),
        **_judged(rows),
    }


def _judged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`JUDGED_METRICS` over the rows an answer judge labelled; {} when no judge ran (no row has a `judge_label`)."""
    if not any("judge_label" in r for r in rows):
        return {}
    labels = Counter(r["judge_label"] for r in rows if r.get("judge_label"))
    judged = sum(labels.values())
    return {"judged_tasks": judged,
            "judged_correct_rate": _ratio(labels["CORRECT"], judged),
            "judged_hallucination_rate": _ratio(labels["INCORRECT"], labels["CORRECT"] + labels["INCORRECT"]),
            "judged_no_answer_rate": _ratio(labels["NO_ANSWER"], judged)}


def _breakdown(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(key) or "unknown"), []).append(row)
    return {name: aggregate(group) for name, group in sorted(groups.items())}


# ---------------------------------------------------------------------------------------------------------------------
# Results


def fmt_value(value: Any) -> str:
    """A metric as a table shows it: 3 decimals, "n/a" for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table of values (`fmt_value`), pipes escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt_value(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class EvalResult:
    """An evaluation: metrics, per-task rows and the episodes' traces.

    Args:
        metrics: Overall metrics (`aggregate`): flat, numbers or None.
        rows: One row per task (`score_task`).
        traces: One trace per task, in the same order.
        breakdown: {"kind": {kind: metrics}, "difficulty": {difficulty: metrics}}.
        info: What was evaluated: model, tasks, split, settings, time.
    """

    metrics: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    breakdown: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_traces(cls, traces: list[Trace], rows: list[dict[str, Any]], info: dict[str, Any] | None = None
                    ) -> EvalResult:
        """Score traces against their task rows (one row per trace, same order).

        Args:
            traces: The episodes.
            rows: The tasks' columns.
            info: Stored as `info`.
        """
        if len(traces) != len(rows):
            raise EvalError(f"{len(traces)} traces for {len(rows)} tasks")
        scored = [score_task(trace, row) for trace, row in zip(traces, rows, strict=True)]
        return cls(metrics=aggregate(scored), rows=scored, traces=list(traces),
                   breakdown={"kind": _breakdown(scored, "kind"), "difficulty": _breakdown(scored, "difficulty")},
                   info=dict(info or {}))

    def to_dict(self) -> dict[str, Any]:
        """eval.json's content (traces go to traces.jsonl)."""
        return {"metrics": self.metrics, "breakdown": self.breakdown, "num_tasks": len(self.rows),
                **{k: v for k, v in self.info.items() if k not in ("metrics", "breakdown", "num_tasks", "rows")},
                "rows": self.rows}

    def to_markdown(self, title: str | None = None) -> str:
        """The metrics table, then `BREAKDOWN_METRICS` by kind and by difficulty."""
        parts = [f"### {title}\n"] if title else []
        model = self.info.get("model")
        if model:
            parts.append(f"Model: `{model}` · tasks: {len(self.rows)}"
                         f"{' (' + str(self.info['split']) + ')' if self.info.get('split') else ''}\n")
        if self.info.get("tools_source"):  # whose tools the tasks were run with, and where their calls ran
            parts.append(f"Tools: from the {self.info['tools_source']} · calls: {self.info.get('tools')}\n")
        shown = [*METRICS, *(name for name in JUDGED_METRICS if name in self.metrics)]
        parts.append(md_table(["metric", "value"], [[name, self.metrics.get(name)] for name in shown]))
        for key, groups in self.breakdown.items():
            if len(groups) < 2:
                continue
            parts.append(f"\nBy {key}:\n")
            parts.append(md_table([key, "tasks", *BREAKDOWN_METRICS],
                                  [[name, m.get("tasks"), *(m.get(metric) for metric in BREAKDOWN_METRICS)]
                                   for name, m in groups.items()]))
        return "\n".join(parts) + "\n"

    def save(self, folder: str | Path) -> Path:
        """Write eval.json (metrics, breakdown, info, per-task rows), traces.jsonl and eval.md into `folder`.

        Returns:
            The folder.
        """
        out = write_eval_file(folder, self.to_dict())
        save_traces(self.traces, str(out / TRACES_FILE))
        (out / EVAL_MARKDOWN).write_text(self.to_markdown(title="Evaluation"), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> EvalResult:
        """Read a result written by `save` (a folder, or its eval.json).

        Raises:
            EvalError: naming the file when it is missing or not an evaluation.
        """
        path, data = read_eval_file(folder)
        if not isinstance(data.get("metrics"), dict):
            raise EvalError(f"{path}: not an evaluation result (no 'metrics' object)")
        traces_path = path.parent / TRACES_FILE
        traces = load_traces(str(traces_path)) if traces_path.is_file() else []
        info = {k: v for k, v in data.items() if k not in ("metrics", "breakdown", "rows", "num_tasks")}
        breakdown = {key: {name: current_metrics(m) for name, m in groups.items() if isinstance(m, dict)}
                     for key, groups in (data.get("breakdown") or {}).items() if isinstance(groups, dict)}
        return cls(metrics=current_metrics(data["metrics"]), rows=list(data.get("rows") or []), traces=traces,
                   breakdown=breakdown, info=info)


def current_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics saved under an older name (`RENAMED_METRICS`) under their current one, so old results still compare.

    Args:
        metrics: A metrics dict as saved.
    """
    out = dict(metrics)
    for old, new in RENAMED_METRICS.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    return out



def write_eval_file(folder: str | Path, data: dict[str, Any]) -> Path:
    """Write `data` as `folder`/eval.json (the file `read_eval_file` and `publish` read), creating the folder.

    Returns:
        The folder.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / EVAL_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return out


def read_eval_file(folder: str | Path) -> tuple[Path, dict[str, Any]]:
    """The eval.json of a folder (or the file itself) as a JSON object: an `EvalResult` or a `Comparison` saved.

    Returns:
        (the file, its content).

    Raises:
        EvalError: naming the file when it is missing, not valid JSON or not a JSON object.
    """
    path = Path(folder)
    if path.is_dir():
        path = path / EVAL_FILE
    if not path.is_file():
        raise EvalError(f"{path}: no evaluation here (expected {EVAL_FILE} written by EvalResult.save)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise EvalError(f"{path}: not an evaluation result (not a JSON object)")
    return path, data

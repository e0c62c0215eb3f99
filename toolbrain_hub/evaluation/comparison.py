"""Before/after: two evaluations side by side (`compare`, `Comparison`), and the one way a before/after evaluation is
run (`evaluate_before_after`) and kept (`save_before_after`) by the CLI, the Space and training alike.

```python
from toolbrain_hub.evaluation import evaluate_before_after

table = evaluate_before_after("runs/grpo-20261125", "qwen2.5-coder-0.5b-instruct", "./my_tasks",
                              run_dir="runs/grpo-20261125")   # also saved where `publish` reads it
print(table.to_markdown())
```

In a run folder, each evaluation is kept whole in <run>/eval/before and <run>/eval/after, and their comparison in
<run>/eval.json (+ eval.md, eval_comparison.png), which `publish` puts on the model card (the file names are
`runs.folder`'s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runs.folder import EVAL_AFTER, EVAL_BEFORE, EVAL_DIR, EVAL_FILE, EVAL_MARKDOWN, EVAL_PLOT, metric_value
from ..stopping import Stopped
from .evaluator import answer_judge, evaluate
from .metrics import (
    BREAKDOWN_METRICS,
    JUDGED_METRICS,
    METRICS,
    RENAMED_METRICS,
    EvalError,
    EvalResult,
    current_metrics,
    fmt_value,
    md_table,
    metric_direction,
    read_eval_file,
    write_eval_file,
)
from .policies import source_spec

__all__ = ["Comparison", "compare", "evaluate_before_after", "load_comparison", "save_before_after"]


@dataclass
class Comparison:
    """A before/after table.

    Args:
        rows: `{"metric", "before", "after", "delta", "better"}` per metric ("better": "higher", "lower" or
            "neutral"; delta is after - before, None when either is missing).
        labels: Names of the two evaluations.
        before: The first evaluation (when built from EvalResults).
        after: The second.
    """

    rows: list[dict[str, Any]]
    labels: tuple[str, str] = ("before", "after")
    before: EvalResult | None = None
    after: EvalResult | None = None

    @property
    def complete(self) -> bool:
        """Whether some metric has both a before and an after value (what the bar chart needs)."""
        return any(r["before"] is not None and r["after"] is not None for r in self.rows)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """A comparison back from an eval.json: one `save` wrote (its rows and labels), or a single evaluation's
        (`EvalResult.save`: its metrics are the "after" column, without a "before").

        Args:
            data: The eval.json content.
        """
        labels = data.get("labels")
        if not (isinstance(labels, list) and len(labels) == 2 and all(isinstance(x, str) for x in labels)):
            labels = ("before", "after")
        saved = data.get("comparison")
        rows = saved.get("rows") if isinstance(saved, dict) else saved
        if isinstance(rows, list) and rows:
            return cls(rows=[_row(RENAMED_METRICS.get(str(r["metric"]), str(r["metric"])),
                                  metric_value(r.get("before")), metric_value(r.get("after")), r.get("better"))
                             for r in rows if isinstance(r, dict) and r.get("metric")], labels=tuple(labels))
        after = data.get("after") if "after" in data else data
        return compare(_metric_values(data.get("before")), _metric_values(after), labels=tuple(labels))

    def to_markdown(self) -> str:
        arrows = {"higher": "↑", "lower": "↓", "neutral": ""}
        return md_table(
            ["metric", self.labels[0], self.labels[1], "delta"],
            [[f"{r['metric']} {arrows.get(r['better'], '')}".strip(), r["before"], r["after"],
              None if r["delta"] is None else f"{r['delta']:+.3f}"] for r in self.rows]) + "\n"

    def breakdown_markdown(self, key: str = "kind") -> str | None:
        """`BREAKDOWN_METRICS` by task kind (or difficulty), before -> after, as a Markdown table; None unless both
        evaluations are here with that breakdown.

        Args:
            key: "kind" or "difficulty".
        """
        if self.before is None or self.after is None:
            return None
        before, after = self.before.breakdown.get(key) or {}, self.after.breakdown.get(key) or {}
        if not before and not after:
            return None
        rows = []
        for name in sorted(set(before) | set(after)):
            b, a = before.get(name) or {}, after.get(name) or {}
            rows.append([name, a.get("tasks", b.get("tasks")),
                         *(f"{fmt_value(b.get(m))} → {fmt_value(a.get(m))}" for m in BREAKDOWN_METRICS)])
        return md_table([key, "tasks", *BREAKDOWN_METRICS], rows) + "\n"

    def figure(self, title: str | None = None):
        """The before/after bar chart as a matplotlib Figure (for `gr.Plot`)."""
        from ..runs.plots import comparison_figure

        return comparison_figure(self, labels=self.labels, title=title)

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Write the before/after bar chart as a PNG; returns its path."""
        from ..runs.plots import plot_comparison

        return plot_comparison(self, path, labels=self.labels, title=title)

    def to_dict(self) -> dict[str, Any]:
        """The run's eval.json: both evaluations' metrics and info, the comparison rows, the task count and split."""
        out: dict[str, Any] = {"labels": list(self.labels), "comparison": {"rows": self.rows}}
        for name, result in (("before", self.before), ("after", self.after)):
            if result is not None:
                out[name] = {"metrics": result.metrics, "breakdown": result.breakdown, "num_tasks": len(result.rows),
                             **{k: v for k, v in result.info.items() if k not in ("metrics", "breakdown")}}
        reference = self.after or self.before
        if reference is not None:
            out["num_tasks"] = len(reference.rows)
            for key in ("split", "dataset"):
                if reference.info.get(key) is not None:
                    out[key] = reference.info[key]
        return out

    def save(self, folder: str | Path) -> Path:
        """Write eval.json (`to_dict`, the form `publish` reads), eval.md and eval_comparison.png into `folder`.

        Returns:
            The folder.
        """
        out = write_eval_file(folder, self.to_dict())
        text = "## Evaluation: before vs after\n\n" + self.to_markdown()
        for key in ("kind", "difficulty"):
            table = self.breakdown_markdown(key)
            if table is not None:
                text += f"\nBy {key} ({self.labels[0]} → {self.labels[1]}):\n\n" + table
        for result, label in ((self.before, self.labels[0]), (self.after, self.labels[1])):
            if result is not None:
                text += "\n" + result.to_markdown(title=label)
        (out / EVAL_MARKDOWN).write_text(text, encoding="utf-8")
        if self.complete:
            self.plot(out / EVAL_PLOT)
        return out


def _metrics_of(item: Any) -> tuple[dict[str, Any], EvalResult | None]:
    if isinstance(item, EvalResult):
        return item.metrics, item
    if isinstance(item, (str, Path)):
        result = EvalResult.load(item)
        return result.metrics, result
    if isinstance(item, dict):
        return _metric_values(item), None
    raise EvalError(f"cannot compare a {type(item).__name__}: give an EvalResult, its metrics dict or a saved folder")


def _metric_values(data: Any) -> dict[str, Any]:
    """The metrics of an evaluation's dict: its "metrics" object, or the dict itself ({} for anything else)."""
    if not isinstance(data, dict):
        return {}
    metrics = data.get("metrics", data)
    return current_metrics(metrics) if isinstance(metrics, dict) else {}


def _row(name: str, before: float | None, after: float | None, better: Any = None) -> dict[str, Any]:
    return {"metric": name, "before": before, "after": after,
            "delta": None if after is None or before is None else after - before,
            "better": better if better in ("higher", "lower", "neutral") else metric_direction(name)}


def compare(before: Any, after: Any, *, labels: tuple[str, str] = ("before", "after"),
            metrics: list[str] | None = None) -> Comparison:
    """Before/after table of two evaluations.

    Args:
        before: An EvalResult, its metrics dict, or a folder written by `EvalResult.save`.
        after: The same for the second evaluation.
        labels: Column names.
        metrics: Metric names to include (default: `METRICS` and `JUDGED_METRICS`, those present in either).

    Returns:
        A Comparison: `.rows`, `.to_markdown()`, `.plot(path)`, `.figure()`, `.save(folder)`.
    """
    before_metrics, before_result = _metrics_of(before)
    after_metrics, after_result = _metrics_of(after)
    names = metrics or [m for m in (*METRICS, *JUDGED_METRICS) if m in before_metrics or m in after_metrics]
    rows = [_row(name, metric_value(before_metrics.get(name)), metric_value(after_metrics.get(name))) for name in names]
    return Comparison(rows=rows, labels=labels, before=before_result, after=after_result)



def load_comparison(folder: str | Path) -> Comparison | None:
    """The before/after comparison saved in a folder (a run's eval.json), or None when it holds no evaluation.

    Args:
        folder: A run folder or any folder `Comparison.save` wrote to (or its eval.json). A single evaluation's
            eval.json comes back with its metrics as the "after" column.

    Raises:
        EvalError: naming the file when its eval.json is not valid JSON or not an evaluation.
    """
    path = Path(folder)
    if not (path.is_file() or (path / EVAL_FILE).is_file()):
        return None
    return Comparison.from_dict(read_eval_file(path)[1])


def save_before_after(folder: str | Path | None = None, *, before: EvalResult | None = None,
                      after: EvalResult | None = None, labels: tuple[str, str] = ("before", "after"),
                      run_dir: str | Path | None = None) -> Comparison | None:
    """Keep a before/after evaluation: the one layout the CLI, the Space and training share.

    Each evaluation goes whole (eval.json, traces.jsonl, eval.md) into <folder>/before and <folder>/after; once there
    are both, their comparison (eval.json, eval.md, eval_comparison.png) goes into <folder> and into the run folder,
    whose eval.json `publish` puts on the model card.

    Args:
        folder: Where the evaluations go (default: <run_dir>/eval).
        before: The baseline's evaluation (e.g. the base model, or a run's model before its first update).
        after: The evaluated agent's. Given alone, it is compared with the before saved in `folder` earlier
            (training saves its before at step 0 and an after at each later evaluation).
        labels: The names of the two evaluations.
        run_dir: The run folder that also gets the comparison.

    Returns:
        The comparison, or None while there is no before and after to compare.
    """
    if folder is None and run_dir is None:
        raise ValueError("save_before_after needs a folder or a run folder")
    out = Path(folder) if folder is not None else Path(run_dir) / EVAL_DIR
    if before is not None:
        before.save(out / EVAL_BEFORE)
    if after is None:
        return None
    after.save(out / EVAL_AFTER)
    if before is None:
        if not (out / EVAL_BEFORE / EVAL_FILE).is_file():
            return None
        before = EvalResult.load(out / EVAL_BEFORE)
    comparison = compare(before, after, labels=labels)
    comparison.save(out)
    if run_dir is not None and Path(run_dir).resolve() != out.resolve():
        comparison.save(run_dir)
    return comparison


def evaluate_before_after(agent: Any, baseline: Any, tasks: Any, *, labels: tuple[str, str] = ("before", "after"),
                          folder: str | Path | None = None, run_dir: str | Path | None = None,
                          on_start: Callable[[int, str], None] | None = None, **settings: Any) -> Comparison:
    """Evaluate a baseline (e.g. the base model) and an agent (e.g. a trained run) on the same tasks with the same
    episode limits, compare them, and keep both (`save_before_after`) when told where.

    Args:
        agent: What was trained (`evaluate`'s `model_or_agent`: a run or adapter folder, a model...): the "after".
        baseline: What it is measured against: the "before", evaluated first.
        tasks: `evaluate`'s tasks (a task dataset folder or repo, a Dataset, rows).
        labels: The names of the baseline and the agent, in tables, plots and a stopped evaluation's message.
        folder: Save the evaluations and their comparison here (see `save_before_after`).
        run_dir: Save into this run folder (<run>/eval, and the comparison in <run>/eval.json).
        on_start: Called before each evaluation with its index (0: the baseline, 1: the agent) and label.
        **settings: `evaluate`'s keyword arguments, the same for both (split, limit, max_turns, max_new_tokens,
            batch_size, progress, implementations, mcp, device, dtype, threads, should_stop, judge). Turn and token
            limits not given are the agent's spec's, for both; a judge given as a name is made once for both.

    Raises:
        EvalError: a bad agent path is refused before the baseline runs; see `evaluate` for the rest.
        stopping.Stopped: `should_stop` asked to stop; the message starts with the label of the evaluation it
            stopped ("base model: evaluation stopped after 3 of 40 tasks"). Nothing is saved.
    """
    spec = source_spec(agent)  # read without loading weights: the baseline runs with the agent's limits
    if settings.get("judge") is not None:  # one judge for both: a local judge model loads once, its cache is shared
        settings["judge"] = answer_judge(settings["judge"], **{k: settings[k] for k in ("device", "dtype", "threads")
                                                               if k in settings})
    if spec is not None:
        settings["max_turns"] = settings.get("max_turns") or spec.max_turns
        settings["max_new_tokens"] = settings.get("max_new_tokens") or spec.max_new_tokens
    results = []
    for index, (label, source) in enumerate(zip(labels, (baseline, agent), strict=True)):
        if on_start is not None:
            on_start(index, label)
        try:
            results.append(evaluate(source, tasks, **settings))
        except Stopped as e:
            raise Stopped(f"{label}: {e}") from None
    before, after = results
    if folder is not None or run_dir is not None:
        return save_before_after(folder, before=before, after=after, labels=labels, run_dir=run_dir)
    return compare(before, after, labels=labels)

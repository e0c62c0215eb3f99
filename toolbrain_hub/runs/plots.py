"""Training and evaluation plots (matplotlib, headless Agg backend).

- Reward curves from a run's metrics (`runs.folder.read_metrics`): each reward's mean with a +/- std band, the loss
  and the KL on their own axes below. Reward keys are read the way TRL logs them (`reward`/`reward_std` for the
  total, `rewards/<name>/mean` and `rewards/<name>/std` per reward function; DPO's `rewards/chosen` etc. without a
  band).
- Before/after bars for an evaluation comparison (`toolbrain_hub.evaluation.compare`).

Each plot comes two ways: `*_figure(...)` returns a matplotlib Figure (for Gradio's `gr.Plot`), `plot_*(..., path)`
writes a PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: Spaces, CI and servers have no display

from matplotlib.figure import Figure  # noqa: E402

from .folder import metric_value, read_metrics  # noqa: E402

__all__ = [
    "comparison_figure",
    "load_metrics",
    "plot_comparison",
    "plot_reward_curves",
    "reward_curve_data",
    "reward_curve_figure",
]

_STEP_KEYS = ("step", "global_step")
_TOTAL_REWARD = "reward"
# Logged per step besides the rewards: what goes on the second and third axes.
_LOSS_KEYS = ("loss", "train_loss")
_KL_KEYS = ("kl",)


def load_metrics(source: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metric rows of a run, read strictly (`runs.folder.read_metrics`): a plot of a broken file says why.

    Args:
        source: a run folder (its metrics file is read), a JSONL file, or rows already loaded.

    Raises:
        FileNotFoundError: when the folder has no metrics file or the file does not exist.
        ValueError: naming the file and line of a row that is not a JSON object.
    """
    if isinstance(source, list):
        return [dict(row) for row in source]
    return read_metrics(source, strict=True)



def _series(rows: list[dict[str, Any]], key: str, std_key: str | None = None) -> dict[str, list[float]]:
    """Steps and values of one metric over the rows that have it (rows without it, e.g. eval rows, are skipped)."""
    steps, values, stds = [], [], []
    for i, row in enumerate(rows):
        value = metric_value(row.get(key))
        if value is None:
            continue
        step = next((metric_value(row.get(k)) for k in _STEP_KEYS if metric_value(row.get(k)) is not None), None)
        steps.append(step if step is not None else float(i + 1))
        values.append(value)
        if std_key is not None:
            std = metric_value(row.get(std_key))
            stds.append(std if std is not None else 0.0)
    out = {"steps": steps, "mean": values}
    if std_key is not None:
        out["std"] = stds
    return out


def reward_curve_data(source: str | Path | list[dict[str, Any]]) -> dict[str, Any]:
    """The data the reward-curve plot draws.

    Args:
        source: a run folder, a metrics file, or metric rows.

    Returns:
        `{"rewards": {name: {"steps", "mean", "std"}}, "loss": {"steps", "mean"} | None, "kl": ... | None}`.
        The total reward is named "reward"; each reward function keeps its logged name.
    """
    rows = load_metrics(source)
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    rewards: dict[str, dict[str, list[float]]] = {}
    if _TOTAL_REWARD in keys:
        rewards[_TOTAL_REWARD] = _series(rows, _TOTAL_REWARD, f"{_TOTAL_REWARD}_std")
    for key in keys:
        if not key.startswith("rewards/") or key.endswith("/std"):
            continue
        if key.endswith("/mean"):
            name = key[len("rewards/") : -len("/mean")]
            rewards[name] = _series(rows, key, f"rewards/{name}/std")
        else:  # e.g. DPO's rewards/chosen, rewards/margins: no std logged
            rewards[key[len("rewards/") :]] = _series(rows, key)
    rewards = {name: s for name, s in rewards.items() if s["steps"]}

    def first(candidates: tuple[str, ...]) -> dict[str, list[float]] | None:
        for key in candidates:
            series = _series(rows, key)
            if series["steps"]:
                return series
        return None

    return {"rewards": rewards, "loss": first(_LOSS_KEYS), "kl": first(_KL_KEYS)}


_SMOOTH_FROM = 20  # steps from which the total reward also gets a moving average


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over the last `window` values (fewer at the start), one output per input."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def reward_curve_figure(source: str | Path | list[dict[str, Any]], *, title: str | None = None) -> Figure:
    """A figure of a run's reward curves (mean with std band), with loss and KL on separate axes below.

    Args:
        source: a run folder, a metrics file, or metric rows.
        title: figure title (default: "Training rewards").

    Raises:
        ValueError: when the metrics hold no reward, loss or KL values to draw.
    """
    data = reward_curve_data(source)
    extra = [(name, data[name]) for name in ("loss", "kl") if data[name] is not None]
    if not data["rewards"] and not extra:
        raise ValueError("the metrics hold no reward, loss or KL values to plot")
    n_axes = (1 if data["rewards"] else 0) + len(extra)
    heights = ([3] if data["rewards"] else []) + [1.6] * len(extra)
    fig = Figure(figsize=(8, 2.2 + 2.0 * n_axes), layout="constrained")
    axes = fig.subplots(n_axes, 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    i = 0
    if data["rewards"]:
        ax = axes[0]
        for name, series in data["rewards"].items():
            line = ax.plot(series["steps"], series["mean"], marker="o" if len(series["steps"]) < 30 else None,
                           markersize=3, label=name, linewidth=2.2 if name == _TOTAL_REWARD else 1.4)[0]
            if "std" in series and any(series["std"]):
                lo = [m - s for m, s in zip(series["mean"], series["std"], strict=True)]
                hi = [m + s for m, s in zip(series["mean"], series["std"], strict=True)]
                ax.fill_between(series["steps"], lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        total = data["rewards"].get(_TOTAL_REWARD)
        if total and len(total["steps"]) >= _SMOOTH_FROM:
            # One task per step makes the raw curve jump with each task's difficulty: the trend is what a reader wants.
            window = max(5, len(total["steps"]) // 10)
            ax.plot(total["steps"], moving_average(total["mean"], window), color="black", linestyle="--",
                    linewidth=2.0, label=f"reward, mean of last {window} steps")
        ax.set_ylabel("reward (mean ± std)")
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        i = 1
    for name, series in extra:
        ax = axes[i]
        ax.plot(series["steps"], series["mean"], color="tab:red" if name == "loss" else "tab:purple",
                marker="o" if len(series["steps"]) < 30 else None, markersize=3, label=name)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        i += 1
    axes[-1].set_xlabel("step")
    fig.suptitle(title or "Training rewards")
    return fig


def plot_reward_curves(source: str | Path | list[dict[str, Any]], path: str | Path, *, title: str | None = None,
                       dpi: int = 110) -> Path:
    """Write the reward-curve figure as a PNG.

    Args:
        source: a run folder, a metrics file, or metric rows.
        path: the PNG to write (parent folders are created).
        title: figure title.
        dpi: resolution.

    Returns:
        The PNG's path.
    """
    return _save(reward_curve_figure(source, title=title), path, dpi)


def _comparison_rows(comparison: Any) -> list[dict[str, Any]]:
    rows = getattr(comparison, "rows", comparison)
    out = []
    for row in rows:
        row = row.to_dict() if hasattr(row, "to_dict") else dict(row)
        out.append(row)
    return out


def comparison_figure(comparison: Any, *, labels: tuple[str, str] = ("before", "after"),
                      title: str | None = None) -> Figure:
    """Grouped before/after bars, one group per metric.

    Rates (values in [0, 1]) share the main axes; other metrics (e.g. average turns) get their own axes to the right.

    Args:
        comparison: a `Comparison` from `toolbrain_hub.evaluation.compare`, or its rows (dicts with metric, before,
            after).
        labels: the legend names of the two evaluations.
        title: figure title.

    Raises:
        ValueError: when no row has both values.
    """
    rows = [r for r in _comparison_rows(comparison)
            if metric_value(r.get("before")) is not None and metric_value(r.get("after")) is not None]
    if not rows:
        raise ValueError("nothing to plot: no metric has both a before and an after value")
    rates = [r for r in rows if 0.0 <= r["before"] <= 1.0 and 0.0 <= r["after"] <= 1.0]
    others = [r for r in rows if r not in rates]
    groups = [g for g in (rates, others) if g]
    widths = [max(len(g), 1) for g in groups]
    fig = Figure(figsize=(2.0 + 0.9 * sum(widths), 4.2), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False, width_ratios=widths)[0]
    for ax, group in zip(axes, groups, strict=True):
        xs = list(range(len(group)))
        before = [r["before"] for r in group]
        after = [r["after"] for r in group]
        b1 = ax.bar([x - 0.2 for x in xs], before, width=0.4, label=labels[0], color="tab:gray")
        b2 = ax.bar([x + 0.2 for x in xs], after, width=0.4, label=labels[1], color="tab:blue")
        ax.bar_label(b1, fmt="%.2f", fontsize="x-small")
        ax.bar_label(b2, fmt="%.2f", fontsize="x-small")
        ax.set_xticks(xs, [r["metric"].replace("_", "\n") for r in group], fontsize="small")
        if group is rates:
            ax.set_ylim(0, 1.12)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small")
    fig.suptitle(title or f"Evaluation: {labels[0]} vs {labels[1]}")
    return fig


def plot_comparison(comparison: Any, path: str | Path, *, labels: tuple[str, str] = ("before", "after"),
                    title: str | None = None, dpi: int = 110) -> Path:
    """Write the before/after bar chart as a PNG.

    Args:
        comparison: a `Comparison` or its rows.
        path: the PNG to write (parent folders are created).
        labels: the legend names of the two evaluations.
        title: figure title.
        dpi: resolution.

    Returns:
        The PNG's path.
    """
    return _save(comparison_figure(comparison, labels=labels, title=title), path, dpi)


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi)
    return out

"""Plots: reward curves from metrics rows (the points drawn are the rows logged), before/after bars, PNG output."""

from __future__ import annotations

import json

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from toolbrain_hub.runs.plots import (
    comparison_figure,
    load_metrics,
    plot_comparison,
    plot_reward_curves,
    reward_curve_data,
    reward_curve_figure,
)


def _rows(steps: int = 12) -> list[dict]:
    rows = []
    for step in range(1, steps + 1):
        rows.append({"step": step, "phase": "train", "kind": "train", "reward": 0.1 * step, "reward_std": 0.05,
                     "rewards/expected_calls/mean": 0.05 * step, "rewards/expected_calls/std": 0.1,
                     "rewards/format/mean": -0.5 + 0.05 * step, "rewards/format/std": 0.2,
                     "loss": 1.0 / step, "kl": 0.01 * step})
        if step % 4 == 0:  # eval rows have no reward: they must not add points
            rows.append({"step": step, "phase": "train", "kind": "eval", "eval/correctness": 0.5})
    del rows[2]["kl"]  # a row without KL: one point fewer on that curve
    return rows


def test_curve_data_has_one_point_per_logged_row(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()) + "\n")
    data = reward_curve_data(tmp_path)  # a run folder
    assert set(data["rewards"]) == {"reward", "expected_calls", "format"}
    assert data["rewards"]["reward"]["steps"] == [float(s) for s in range(1, 13)]
    assert data["rewards"]["format"]["std"] == [0.2] * 12
    assert data["rewards"]["expected_calls"]["mean"][-1] == pytest.approx(0.6)
    assert len(data["loss"]["steps"]) == 12 and len(data["kl"]["steps"]) == 11
    assert reward_curve_data(path) == data  # the file itself works too


def test_reward_figure_draws_the_data(tmp_path):
    rows = _rows()
    fig = reward_curve_figure(rows, title="GRPO")
    assert isinstance(fig, Figure)  # what gr.Plot takes
    rewards_ax, loss_ax, kl_ax = fig.axes
    lines = {line.get_label(): line for line in rewards_ax.get_lines()}
    assert set(lines) == {"reward", "expected_calls", "format"}
    assert all(len(line.get_xdata()) == 12 for line in lines.values())
    assert list(lines["reward"].get_ydata()) == pytest.approx([0.1 * s for s in range(1, 13)])
    assert sum(isinstance(c, PolyCollection) for c in rewards_ax.collections) == 3  # one std band per reward
    assert len(loss_ax.get_lines()[0].get_xdata()) == 12 and loss_ax.get_ylabel() == "loss"
    assert len(kl_ax.get_lines()[0].get_xdata()) == 11 and kl_ax.get_ylabel() == "kl"

    png = plot_reward_curves(rows, tmp_path / "plots" / "curve.png", dpi=100)
    assert png == tmp_path / "plots" / "curve.png" and png.stat().st_size > 10_000
    height, width = imread(png).shape[:2]
    assert (width, height) == (800, 820)  # 8 x (2.2 + 2 x 3 axes) inches at 100 dpi


def test_long_runs_also_show_the_reward_trend():
    from toolbrain_hub.runs.plots import moving_average

    assert moving_average([1, 2, 3, 4, 5, 6], 3) == pytest.approx([1, 1.5, 2, 3, 4, 5])
    rows = [{"step": s, "kind": "train", "reward": float(s % 2)} for s in range(1, 61)]  # 0/1 zigzag: trend 0.5
    lines = {line.get_label(): line for line in reward_curve_figure(rows).axes[0].get_lines()}
    trend = lines["reward, mean of last 6 steps"]
    assert list(trend.get_xdata()) == list(lines["reward"].get_xdata())
    assert list(trend.get_ydata())[5:] == pytest.approx([0.5] * 55)


def test_dpo_style_rewards_and_loss_only():
    rows = [{"step": s, "loss": 0.7 - 0.1 * s, "rewards/chosen": 0.1 * s, "rewards/rejected": -0.1 * s}
            for s in range(1, 5)]
    data = reward_curve_data(rows)
    assert set(data["rewards"]) == {"chosen", "rejected"} and "std" not in data["rewards"]["chosen"]
    assert data["kl"] is None
    fig = reward_curve_figure(rows)
    assert len(fig.axes) == 2 and not fig.axes[0].collections  # no std logged: no band
    sft = reward_curve_figure([{"step": s, "loss": 1.0 / s} for s in range(1, 4)])  # supervised: only the loss
    assert len(sft.axes) == 1 and len(sft.axes[0].get_lines()[0].get_xdata()) == 3


def test_comparison_bars(tmp_path):
    rows = [{"metric": "correctness", "before": 0.25, "after": 0.75},
            {"metric": "invalid_call_rate", "before": 0.5, "after": 0.1},
            {"metric": "answer_accuracy", "before": None, "after": 0.5},  # missing on one side: not drawn
            {"metric": "avg_turns", "before": 1.5, "after": 2.0}]
    fig = comparison_figure(rows, labels=("base", "trained"))
    rates_ax, other_ax = fig.axes
    heights = [bar.get_height() for bar in rates_ax.patches]
    assert heights == pytest.approx([0.25, 0.5, 0.75, 0.1])  # before bars, then after bars
    assert [t.get_text() for t in rates_ax.get_xticklabels()] == ["correctness", "invalid\ncall\nrate"]
    assert [bar.get_height() for bar in other_ax.patches] == pytest.approx([1.5, 2.0])
    assert [t.get_text() for t in rates_ax.get_legend().get_texts()] == ["base", "trained"]
    png = plot_comparison(rows, tmp_path / "cmp.png", dpi=100)
    assert png.stat().st_size > 5_000 and imread(png).shape[2] in (3, 4)
    with pytest.raises(ValueError, match="no metric has both"):
        comparison_figure([{"metric": "x", "before": None, "after": 1.0}])


def test_metrics_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics file"):
        load_metrics(tmp_path)
    bad = tmp_path / "metrics.jsonl"
    bad.write_text('{"step": 1, "reward": 0.1}\n{"step": 2, "rew\n')
    with pytest.raises(ValueError, match="metrics.jsonl, line 2: not valid JSON"):
        load_metrics(bad)
    bad.write_text('[1, 2]\n')
    with pytest.raises(ValueError, match="line 1: a metrics row must be a JSON object"):
        load_metrics(bad)
    with pytest.raises(ValueError, match="no reward, loss or KL"):
        reward_curve_figure([{"step": 1, "eval/correctness": 0.5}])

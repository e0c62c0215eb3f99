"""Evaluate an agent on held-out tasks: multi-turn episodes in the tool environment, then metrics over the traces.

```python
from toolbrain_hub.evaluation import compare, evaluate

before = evaluate("qwen2.5-coder-0.5b-instruct", "./my_tasks")   # the base model, prompted as training prompts it
after = evaluate("runs/grpo-20261125", "./my_tasks")             # the run's adapter + agent spec
table = compare(before, after)
print(table.to_markdown()); table.plot("comparison.png")
```

Episodes are run the way the model is trained and deployed. For a local transformers model the prompt is built with
the agent spec (`agent.render_prompt_ids`: the training chat template, system prompt and tool schemas; each assistant
turn replays the exact ids the model generated, as TRL's GRPO loop and the deployed `SpecAgent` do). Generation is
greedy and batched over the episodes still running. Replies are read with `traces.parse_tool_calls`; calls run in the
`environment` module's tool environment (schema-only by default: validated, recorded and answered from the task's
recorded results, or by real implementations / an MCP server when given). An episode ends with a reply without a
well-formed call, or after the spec's `max_turns` model turns (the last turn's calls are not run, as in TRL). Any
other `ChatModel` (an endpoint, a scripted policy) runs through `training.rollouts.run_episodes` at the text level.

Metrics (per task, then averaged; see `score_task` and `aggregate`):

- correctness: tool tasks: every expected call made with the right name and arguments (normalized), and no wrong or
  malformed call (repeating a right call is tolerated: it shows in avg_turns); no-tool tasks: no call attempted, an
  answer given, and it contains the gold answer when there is one.
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
- tagged_call_rate: well-formed calls written in the chat template's `<tool_call>` form / well-formed calls.

A metric with no denominator (e.g. no negatives in the tasks) is None. The same metrics are broken down by task kind
and difficulty.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..traces.parsing import read_calls
from ..traces.trace import Trace, save_traces

logger = logging.getLogger(__name__)

__all__ = [
    "METRICS",
    "Comparison",
    "EvalError",
    "EvalResult",
    "aggregate",
    "compare",
    "evaluate",
    "load_policy",
    "score_task",
]

EVAL_FILE = "eval.json"
TRACES_FILE = "traces.jsonl"
MARKDOWN_FILE = "eval.md"
COMPARISON_PNG = "eval_comparison.png"

# Headline metrics in table order, with the direction that is better.
METRICS: dict[str, str] = {
    "correctness": "higher",
    "tool_call_accuracy": "higher",
    "tool_name_accuracy": "higher",
    "call_match_score": "higher",
    "no_tool_precision": "higher",
    "answer_accuracy": "higher",
    "hallucination_rate": "lower",
    "no_answer_rate": "lower",
    "invalid_call_rate": "lower",
    "tagged_call_rate": "higher",
    "avg_turns": "lower",
    "avg_tool_calls": "neutral",
}


class EvalError(ToolBrainError, ValueError):
    """Evaluation cannot run: a model path that is neither a model nor a run, unusable tasks, a bad saved result."""


# ---------------------------------------------------------------------------------------------------------------------
# Scoring


def _answer_contains(answer: str | None, gold: str) -> bool:
    """The answer states the gold answer: equal after normalization (numbers as numbers, as `rewards.answer_match`),
    or the normalized gold appears in it as a whole-word sequence ("The capital of Italy is Rome." holds "Rome")."""
    from ..rewards.builtin import answer_match, normalize_answer

    if answer is None or not answer.strip():
        return False
    if answer_match(Trace(final_answer=answer), gold_answer=gold) == 1.0:
        return True
    words, want = normalize_answer(answer).split(), normalize_answer(gold).split()
    return bool(want) and any(words[i : i + len(want)] == want for i in range(len(words) - len(want) + 1))


def _needs_tools(row: dict[str, Any], expected: list) -> bool:
    kind = str(row.get("kind") or "").replace("-", "_").lower()
    if kind in ("no_tool", "no_tools", "none"):
        return False
    return bool(expected)


def score_task(trace: Trace, row: dict[str, Any]) -> dict[str, Any]:
    """Score one episode against its task.

    Args:
        trace: The episode.
        row: The task's columns (`expected_calls`, `tools`, `gold_answer`, `kind`, `difficulty`, `id`).

    Returns:
        A per-task row: id, kind, difficulty, needs_tools, expected, calls, attempts, invalid, exact_matched,
        name_matched, wrong_calls, call_match_score, answer_correct, attempted, correct, turns, tagged_calls,
        final_answer.
    """
    from ..rewards.builtin import call_similarity, expected_calls_match, schema_valid_rate

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
    needs_tools = _needs_tools(row, expected)
    gold = str(row.get("gold_answer") or "").strip()
    answer = trace.final_answer
    answer_correct = _answer_contains(answer, gold) if gold else None
    has_answer = answer is not None and bool(answer.strip())
    attempted = attempts > 0 or has_answer
    if needs_tools:
        correct = exact == len(expected) and wrong == 0 and malformed == 0
        match_score = expected_calls_match(trace, **row)
    else:
        correct = attempts == 0 and has_answer and answer_correct is not False
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
        "turns": totals["turns"],
        "tagged_calls": sum(len(t.calls) for t in trace.model_turns if t.format == "tagged"),
        "final_answer": answer,
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
        "tool_call_accuracy": _ratio(sum(r["exact_matched"] for r in tool_rows), sum(r["expected"] for r in tool_rows)),
        "tool_name_accuracy": _ratio(sum(r["name_matched"] for r in tool_rows), sum(r["expected"] for r in tool_rows)),
        "call_match_score": _mean([r["call_match_score"] for r in tool_rows]),
        "no_tool_precision": _mean([float(r["attempts"] == 0) for r in negatives]),
        "answer_accuracy": _mean([float(r["answer_correct"]) for r in gold_rows]),
        "hallucination_rate": _ratio(sum(1 for r in attempted if not r["correct"]), len(attempted)),
        "no_answer_rate": _mean([float(not r["attempted"]) for r in rows]),
        "invalid_call_rate": _ratio(sum(r["invalid"] for r in rows), sum(r["attempts"] for r in rows)),
        "tagged_call_rate": _ratio(sum(r["tagged_calls"] for r in rows), calls),
        "avg_turns": _mean([float(r["turns"]) for r in rows]),
        "avg_tool_calls": _mean([float(r["calls"]) for r in rows]),
    }


def _breakdown(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(key) or "unknown"), []).append(row)
    return {name: aggregate(group) for name, group in sorted(groups.items())}


# ---------------------------------------------------------------------------------------------------------------------
# Results


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
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
        """The metrics table, then correctness and tool-call accuracy by kind and by difficulty."""
        parts = [f"### {title}\n"] if title else []
        model = self.info.get("model")
        if model:
            parts.append(f"Model: `{model}` · tasks: {len(self.rows)}"
                         f"{' (' + str(self.info['split']) + ')' if self.info.get('split') else ''}\n")
        parts.append(_md_table(["metric", "value"], [[name, self.metrics.get(name)] for name in METRICS]))
        for key, groups in self.breakdown.items():
            if len(groups) < 2:
                continue
            parts.append(f"\nBy {key}:\n")
            parts.append(_md_table(
                [key, "tasks", "correctness", "tool_call_accuracy", "no_tool_precision", "invalid_call_rate"],
                [[name, m["tasks"], m["correctness"], m["tool_call_accuracy"], m["no_tool_precision"],
                  m["invalid_call_rate"]] for name, m in groups.items()]))
        return "\n".join(parts) + "\n"

    def save(self, folder: str | Path) -> Path:
        """Write eval.json (metrics, breakdown, info, per-task rows), traces.jsonl and eval.md into `folder`.

        Returns:
            The folder.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / EVAL_FILE).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
                                     encoding="utf-8")
        save_traces(self.traces, str(out / TRACES_FILE))
        (out / MARKDOWN_FILE).write_text(self.to_markdown(title="Evaluation"), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> EvalResult:
        """Read a result written by `save` (a folder, or its eval.json).

        Raises:
            EvalError: naming the file when it is missing or not an evaluation.
        """
        from ..traces.trace import load_traces

        path = Path(folder)
        if path.is_dir():
            path = path / EVAL_FILE
        if not path.is_file():
            raise EvalError(f"{path}: no evaluation here (expected {EVAL_FILE} written by EvalResult.save)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise EvalError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            raise EvalError(f"{path}: not an evaluation result (no 'metrics' object)")
        traces_path = path.parent / TRACES_FILE
        traces = load_traces(str(traces_path)) if traces_path.is_file() else []
        info = {k: v for k, v in data.items() if k not in ("metrics", "breakdown", "rows", "num_tasks")}
        return cls(metrics=data["metrics"], rows=list(data.get("rows") or []), traces=traces,
                   breakdown=dict(data.get("breakdown") or {}), info=info)


# ---------------------------------------------------------------------------------------------------------------------
# Before / after


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

    def to_markdown(self) -> str:
        arrows = {"higher": "↑", "lower": "↓", "neutral": ""}
        return _md_table(
            ["metric", self.labels[0], self.labels[1], "delta"],
            [[f"{r['metric']} {arrows.get(r['better'], '')}".strip(), r["before"], r["after"],
              None if r["delta"] is None else f"{r['delta']:+.3f}"] for r in self.rows]) + "\n"

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
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / EVAL_FILE).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
                                     encoding="utf-8")
        text = "## Evaluation: before vs after\n\n" + self.to_markdown()
        for result, label in ((self.before, self.labels[0]), (self.after, self.labels[1])):
            if result is not None:
                text += "\n" + result.to_markdown(title=label)
        (out / MARKDOWN_FILE).write_text(text, encoding="utf-8")
        if any(r["before"] is not None and r["after"] is not None for r in self.rows):
            self.plot(out / COMPARISON_PNG)
        return out


def _metrics_of(item: Any) -> tuple[dict[str, Any], EvalResult | None]:
    if isinstance(item, EvalResult):
        return item.metrics, item
    if isinstance(item, (str, Path)):
        result = EvalResult.load(item)
        return result.metrics, result
    if isinstance(item, dict):
        return dict(item.get("metrics", item)), None
    raise EvalError(f"cannot compare a {type(item).__name__}: give an EvalResult, its metrics dict or a saved folder")


def compare(before: Any, after: Any, *, labels: tuple[str, str] = ("before", "after"),
            metrics: list[str] | None = None) -> Comparison:
    """Before/after table of two evaluations.

    Args:
        before: An EvalResult, its metrics dict, or a folder written by `EvalResult.save`.
        after: The same for the second evaluation.
        labels: Column names.
        metrics: Metric names to include (default: `METRICS`, those present in either).

    Returns:
        A Comparison: `.rows`, `.to_markdown()`, `.plot(path)`, `.figure()`, `.save(folder)`.
    """
    before_metrics, before_result = _metrics_of(before)
    after_metrics, after_result = _metrics_of(after)
    names = metrics or [m for m in METRICS if m in before_metrics or m in after_metrics]
    rows = []
    for name in names:
        b, a = _number(before_metrics.get(name)), _number(after_metrics.get(name))
        rows.append({"metric": name, "before": b, "after": a,
                     "delta": None if a is None or b is None else a - b, "better": METRICS.get(name, "neutral")})
    return Comparison(rows=rows, labels=labels, before=before_result, after=after_result)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------------------------------
# Policies: what generates the replies


@dataclass
class _Policy:
    """A loaded model to evaluate: a local model with its agent spec (token-exact), or a ChatModel (text level)."""

    name: str
    model: Any = None
    tokenizer: Any = None
    spec: Any = None  # AgentSpec: from the adapter folder, or None to build one for the tasks
    chat_model: Any = None
    generate_fn: Any = None  # a SpecModel's scripted generation: prompt ids -> new ids


def _is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def load_policy(model_or_agent: Any, *, device: str = "auto", dtype: str = "auto", threads: int | None = None
                ) -> _Policy:
    """Resolve what `evaluate` was given into something that generates.

    Args:
        model_or_agent: A `ChatModel`; a loaded `(model, tokenizer)`; a `SpecModel` or `SpecAgent` (its spec, model
            and tokenizer, or its scripted `generate_fn`); a run folder (its `adapter/`), an adapter folder with
            `agent_spec.json` (base model + LoRA adapter via peft); a folder with only an agent spec (its base model);
            a built-in model name, a model folder or a Hub id; or an OpenAI-compatible endpoint URL.
        device: "auto", "cpu" or "cuda" for local models.
        dtype: Weights' dtype for models loaded here (`models.load_model`): evaluate in the dtype you trained in.
        threads: torch threads (None: torch's default).

    Raises:
        EvalError: a folder that is neither a model, an adapter nor a run (or a run without its final adapter).
    """
    from ..models.chat import ChatModel, LocalChatModel, get_chat_model
    from ..models.loading import load_model, set_threads

    set_threads(threads)
    from ..agent.runtime import SpecAgent, SpecModel

    if isinstance(model_or_agent, SpecAgent):
        model_or_agent = model_or_agent.model
    if isinstance(model_or_agent, SpecModel):
        return _Policy(name=model_or_agent.model_id, model=model_or_agent.model, tokenizer=model_or_agent.tokenizer,
                       spec=model_or_agent.spec, generate_fn=model_or_agent.generate_fn)
    if isinstance(model_or_agent, LocalChatModel):
        return _Policy(name=model_or_agent.model_id, model=model_or_agent.model, tokenizer=model_or_agent.tokenizer)
    if isinstance(model_or_agent, ChatModel):
        return _Policy(name=model_or_agent.model_id or type(model_or_agent).__name__, chat_model=model_or_agent)
    if isinstance(model_or_agent, tuple) and len(model_or_agent) == 2:
        model, tokenizer = model_or_agent
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
        return _Policy(name=str(name), model=model, tokenizer=tokenizer)
    if not isinstance(model_or_agent, (str, Path)):
        raise EvalError(f"cannot evaluate a {type(model_or_agent).__name__}: give a model name or folder, a run or "
                        "adapter folder, a (model, tokenizer) pair or a ChatModel")
    text = str(model_or_agent)
    if text.startswith(("http://", "https://")):
        return _Policy(name=text.split("#")[0], chat_model=get_chat_model(text))
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_folder(path, device=device, dtype=dtype)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise EvalError(f"{text}: no such model, adapter or run folder")
    model, tokenizer = load_model(text, device=device, dtype=dtype)
    return _Policy(name=text, model=model, tokenizer=tokenizer)


def _load_folder(path: Path, *, device: str, dtype: str) -> _Policy:
    from ..agent.spec import SPEC_FILE, AgentSpec
    from ..models.loading import load_model

    adapter = None
    if _is_adapter(path):
        adapter = path
    elif _is_adapter(path / "adapter"):  # a run folder: the final adapter lives in <run>/adapter
        adapter = path / "adapter"
    if adapter is not None:
        if not (adapter / SPEC_FILE).is_file() and not (path / SPEC_FILE).is_file():
            raise EvalError(f"{adapter}: a LoRA adapter without {SPEC_FILE}: the base model and the prompt format it "
                            "was trained with are unknown (a ToolBrain Hub run writes both)")
        spec = AgentSpec.load(adapter if (adapter / SPEC_FILE).is_file() else path)
        model, tokenizer = load_model(spec.base_model, device=device, dtype=dtype)
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        model.eval()
        return _Policy(name=str(path), model=model, tokenizer=tokenizer, spec=spec)
    if (path / "config.json").is_file():
        model, tokenizer = load_model(str(path), device=device, dtype=dtype)
        spec = AgentSpec.load(path) if (path / SPEC_FILE).is_file() else None
        return _Policy(name=str(path), model=model, tokenizer=tokenizer, spec=spec)
    if (path / SPEC_FILE).is_file():
        status = path / "status.json"
        if status.is_file():
            state = _read_state(status)
            raise EvalError(f"{path}: this run has no final adapter yet (status: {state}); evaluate it once it "
                            "has completed")
        spec = AgentSpec.load(path)
        model, tokenizer = load_model(spec.base_model, device=device, dtype=dtype)
        return _Policy(name=str(path), model=model, tokenizer=tokenizer, spec=spec)
    if (path / "status.json").is_file() or (path / "config.yaml").is_file():
        raise EvalError(f"{path}: this run has no final adapter yet (status: {_read_state(path / 'status.json')}); "
                        "evaluate it once it has completed")
    raise EvalError(f"{path}: not a model folder (config.json), an adapter folder (adapter_config.json + "
                    "agent_spec.json) or a run folder (adapter/)")


def _read_state(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("state", "unknown"))
    except (OSError, json.JSONDecodeError, AttributeError):
        return "unknown"


# ---------------------------------------------------------------------------------------------------------------------
# Tasks and environments


def _task_rows(tasks: Any, split: str | None, limit: int | None) -> tuple[list[dict[str, Any]], str | None]:
    """Task rows as dicts, and a name for the source."""
    from ..tasks.taskset import load_tasks

    source = None
    if isinstance(tasks, (str, Path)):
        source = str(tasks)
        path = Path(source).expanduser()
        if (source.startswith((".", "/", "~")) or path.exists()) and not path.is_dir():
            raise EvalError(f"{source}: no such task dataset folder")
        tasks = load_tasks(str(path) if path.is_dir() else source, split=split)
    elif isinstance(tasks, dict) and tasks and all(hasattr(v, "column_names") for v in tasks.values()):  # DatasetDict
        if split not in tasks:
            raise EvalError(f"the tasks have no split {split!r} (they have {', '.join(tasks)})")
        tasks = tasks[split]
    if limit is not None:
        if limit < 1:
            raise EvalError(f"limit must be at least 1, got {limit}")
        tasks = tasks.select(range(min(limit, len(tasks)))) if hasattr(tasks, "select") else list(tasks)[:limit]
    rows = [dict(row) for row in tasks]
    if not rows:
        raise EvalError(f"no tasks to evaluate{' in ' + source if source else ''}")
    for i, row in enumerate(rows):
        missing = [c for c in ("expected_calls",) if c not in row]
        if not row.get("prompt") and not row.get("query"):
            missing.append("prompt or query")
        if missing:
            raise EvalError(f"task {row.get('id', i)!r} lacks {', '.join(missing)}")
        if not row.get("prompt"):
            row["prompt"] = [{"role": "user", "content": str(row["query"])}]
    return rows, source


def _environments(rows: list[dict[str, Any]], spec: Any, *, implementations: Any, mcp: Any
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Route each row to a tool environment (schema-only, implementations or MCP), as training does."""
    from ..environment.factories import make_routed_environments
    from ..tools.schemas import load_tools

    if spec is not None:
        tools = spec.tool_specs()
    else:
        pooled: dict[str, Any] = {}
        for text in dict.fromkeys(r.get("tools") for r in rows if r.get("tools")):
            for tool in load_tools(text, name="tasks' tools column"):
                pooled.setdefault(tool.name, tool)
        tools = list(pooled.values()) or None
    if tools is None and implementations is None and mcp is None:
        raise EvalError("the tasks carry no tools (no 'tools' column) and no agent spec names any")
    retriever = None
    top_k = getattr(spec, "tool_top_k", None)
    if top_k is not None:
        from ..tools.retrieval import DEFAULT_EMBEDDER, ToolRetriever

        retriever = ToolRetriever(tools, model=spec.retrieval_model or DEFAULT_EMBEDDER)
    if isinstance(implementations, (str, Path)):
        from ..tools.implementations import load_implementations  # a .py file or module, as in a training config

        if tools is None:
            raise EvalError("implementations given as a file need the tools' names: the tasks carry no tools")
        implementations = load_implementations(str(implementations), [t.name for t in tools])
    if isinstance(implementations, dict) and tools is not None:
        names = {t.name for t in tools}
        implementations = {k: v for k, v in implementations.items() if k in names}
    routed, factories = make_routed_environments(rows, tools, top_k=top_k, retriever=retriever,
                                                 implementations=implementations, mcp=mcp)
    return routed, factories


def _spec_for(policy: _Policy, rows: list[dict[str, Any]], factories: dict[str, Any], max_turns: int | None,
              max_new_tokens: int | None):
    """The agent spec episodes run with: the adapter's, or the one training would write for these tasks."""
    from dataclasses import replace

    from ..agent.spec import AgentSpec
    from ..config.base import TrainConfig

    spec = policy.spec
    if spec is None:
        defaults = TrainConfig()
        system = next((m.get("content") for m in rows[0]["prompt"] if m.get("role") == "system"), None)
        spec = AgentSpec.for_training(policy.name, policy.tokenizer, factories, system_prompt=system,
                                      max_turns=defaults.max_turns + 1,
                                      max_new_tokens=defaults.max_completion_length)
    changes = {}
    if max_turns is not None:
        changes["max_turns"] = max_turns
    if max_new_tokens is not None:
        changes["max_new_tokens"] = max_new_tokens
    return replace(spec, **changes) if changes else spec


# ---------------------------------------------------------------------------------------------------------------------
# Episodes


def _generate(model: Any, prompts: list[list[int]], *, max_new_tokens: int, eos: list[int], pad: int,
              should_stop: Callable[[], bool] | None = None) -> list[list[int]]:
    """Greedy generation for a batch of prompt ids (left-padded); each result ends at its first end-of-turn token.
    `should_stop` ends it at the next token (the caller then raises `stopping.Stopped`)."""
    import torch

    from ..stopping import stopping_criteria

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    device = getattr(model, "device", "cpu")
    with torch.inference_mode():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=False, temperature=None, top_p=None, top_k=None, eos_token_id=eos,
                             pad_token_id=pad, stopping_criteria=stopping_criteria(should_stop))
    return [_cut_at_eos(row, eos) for row in out[:, width:].tolist()]


def _cut_at_eos(ids: list[int], eos: list[int]) -> list[int]:
    # A turn ends at its end-of-turn token, which is kept (TRL and the deployed SpecModel keep it too).
    end = next((k for k, token in enumerate(ids) if token in eos), None)
    return list(ids) if end is None else list(ids[: end + 1])


def _run_spec_episodes(policy: _Policy, spec: Any, rows: list[dict[str, Any]], factories: dict[str, Any], *,
                       batch_size: int, progress: bool, should_stop: Callable[[], bool] | None = None
                       ) -> list[Trace]:
    """Episodes with a local model, prompted token for token as in training (see the module docstring)."""
    from tqdm.auto import tqdm

    from ..agent.prompt import render_prompt_ids
    from ..agent.runtime import SpecModel
    from ..environment.backends import row_query
    from ..stopping import check
    from ..traces.parsing import parse_tool_calls

    tokenizer = policy.tokenizer
    # The end-of-turn ids the deployed agent stops at.
    eos = SpecModel(spec, policy.model, tokenizer, generate_fn=policy.generate_fn).eos_token_ids
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    envs, messages, tools, counts = [], [], [], []
    for row in rows:
        factory = factories[row["environment"]]
        env = factory()
        env.reset(**row)
        envs.append(env)
        start = spec.initial_messages(row_query(row)) if spec.system_prompt is not None else \
            [dict(m) for m in row["prompt"]]
        messages.append(start)
        tools.append(factory.tool_schemas)
        counts.append([])
    active = list(range(len(rows)))
    turn = finished = 0
    with tqdm(total=len(rows), desc="eval", unit="task", disable=not progress) as bar:
        while active:
            turn += 1
            prompts = {i: render_prompt_ids(spec, tokenizer, messages[i], tools=tools[i]) for i in active}
            order = sorted(active, key=lambda i: len(prompts[i]))  # similar lengths together: less padding
            still = []
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                stopped = f"evaluation stopped after {finished} of {len(rows)} tasks"
                check(should_stop, stopped)
                if policy.generate_fn is not None:
                    outputs = [_cut_at_eos(policy.generate_fn(list(prompts[i])), eos) for i in chunk]
                else:
                    outputs = _generate(policy.model, [prompts[i] for i in chunk],
                                        max_new_tokens=spec.max_new_tokens, eos=eos, pad=pad, should_stop=should_stop)
                check(should_stop, stopped)  # a generation cut short by the stop is no result
                for i, ids in zip(chunk, outputs, strict=True):
                    body = ids[:-1] if ids and ids[-1] in eos else ids
                    text = tokenizer.decode(body, skip_special_tokens=True)
                    messages[i].append({"role": "assistant", "content": text, "completion_ids": ids})
                    counts[i].append((len(prompts[i]), len(ids)))
                    calls = parse_tool_calls(text).calls
                    if calls and turn < spec.max_turns:
                        for call in calls:
                            messages[i].append({"role": "tool", "name": call.name,
                                                "content": envs[i](call.name, call.arguments)})
                        still.append(i)
                    else:
                        finished += 1
                        bar.update(1)
            active = still
    traces = []
    for row, conversation, per_turn in zip(rows, messages, counts, strict=True):
        plain = [{k: v for k, v in m.items() if k != "completion_ids"} for m in conversation]
        trace = Trace.from_messages(plain, task_id=_str(row.get("id")), query=row_query(row))
        for turn_obj, (prompt_tokens, completion_tokens) in zip(trace.model_turns, per_turn, strict=True):
            turn_obj.prompt_tokens, turn_obj.completion_tokens = prompt_tokens, completion_tokens
        traces.append(trace)
    return traces


def _run_chat_episodes(policy: _Policy, rows: list[dict[str, Any]], factories: dict[str, Any], *, max_turns: int,
                       max_new_tokens: int, batch_size: int, progress: bool,
                       should_stop: Callable[[], bool] | None = None) -> list[Trace]:
    """Episodes with a ChatModel (endpoint, scripted policy): the text-level loop shared with DPO and distillation."""
    from ..environment.backends import row_query
    from ..environment.rollouts import run_episodes

    episodes = run_episodes(policy.chat_model, rows, lambda row: factories[row["environment"]](),
                            tools_for=lambda row: factories[row["environment"]].tool_schemas,
                            max_turns=max_turns - 1, max_new_tokens=max_new_tokens, temperature=0.0,
                            batch_size=batch_size, progress=progress, desc="eval", should_stop=should_stop)
    traces = []
    for episode in episodes:
        trace = episode.trace()
        trace.query = row_query(episode.row)
        traces.append(trace)
    return traces


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def evaluate(model_or_agent: Any, tasks: Any, *, split: str = "test", limit: int | None = None,
             max_turns: int | None = None, max_new_tokens: int | None = None, batch_size: int = 8,
             progress: bool = True, implementations: dict[str, Any] | str | None = None, mcp: Any = None,
             spec: Any = None, device: str = "auto", dtype: str = "auto", threads: int | None = None,
             should_stop: Callable[[], bool] | None = None) -> EvalResult:
    """Run every task as a multi-turn episode and score the traces.

    Args:
        model_or_agent: What to evaluate (see `load_policy`): a model name/folder/Hub id, a run or adapter folder
            with agent_spec.json, a loaded `(model, tokenizer)`, or a `ChatModel`.
        tasks: A task dataset folder or Hub dataset repo id (`tasks.load_tasks`), a Dataset / DatasetDict, or a list
            of task rows.
        split: The split to read from a folder, repo or DatasetDict.
        limit: Evaluate only the first N tasks.
        max_turns: Model turns per episode (default: the agent spec's; for a model without one, the training
            default, `TrainConfig.max_turns + 1`).
        max_new_tokens: Tokens per model turn (default: the agent spec's).
        batch_size: Episodes generated together.
        progress: Show a tqdm bar.
        implementations: Run the tools for real (default: schema-only): `{tool name: callable}`, or a .py file or
            module defining functions named as the tools (this runs its code: only for your own tools).
        mcp: An MCP server to run the tools (see `environment.make_environment_factory`).
        spec: An `AgentSpec` to prompt with, overriding the one from the folder (e.g. a run's spec for an in-training
            evaluation of its model).
        device: Device for models loaded here.
        dtype: Weights' dtype for models loaded here ("auto", "float32", "bfloat16", "float16").
        threads: torch threads (None: torch's default).
        should_stop: Checked after loading the model, between generation batches and between generated tokens; once
            it returns True the evaluation ends with `stopping.Stopped` (nothing is scored or saved).

    Returns:
        An EvalResult (metrics, per-task rows, traces, breakdown by kind and difficulty).

    Raises:
        EvalError: unusable model path or tasks; `tasks.TaskError` for a folder or repo that is not a task dataset.
        stopping.Stopped: `should_stop` asked to stop; the message says how many tasks had been run.
    """
    from ..stopping import check

    if batch_size < 1:
        raise EvalError(f"batch_size must be at least 1, got {batch_size}")
    if max_turns is not None and max_turns < 1:
        raise EvalError(f"max_turns must be at least 1, got {max_turns}")
    rows, source = _task_rows(tasks, split, limit)  # tasks first: a bad path fails before a model loads
    policy = load_policy(model_or_agent, device=device, dtype=dtype, threads=threads)
    check(should_stop, f"evaluation stopped after loading the model, before the first of {len(rows)} tasks")
    if spec is not None:
        policy.spec = spec
    start = time.perf_counter()
    routed, factories = _environments(rows, policy.spec, implementations=implementations, mcp=mcp)
    try:
        if policy.chat_model is not None:
            turns = max_turns or (policy.spec.max_turns if policy.spec is not None else _default_turns())
            tokens = max_new_tokens or (policy.spec.max_new_tokens if policy.spec is not None else _default_tokens())
            traces = _run_chat_episodes(policy, routed, factories, max_turns=turns, max_new_tokens=tokens,
                                        batch_size=batch_size, progress=progress, should_stop=should_stop)
        else:
            run_spec = _spec_for(policy, rows, factories, max_turns, max_new_tokens)
            turns, tokens = run_spec.max_turns, run_spec.max_new_tokens
            traces = _run_spec_episodes(policy, run_spec, routed, factories, batch_size=batch_size,
                                        progress=progress, should_stop=should_stop)
    finally:
        for factory in {id(f.backend): f for f in factories.values()}.values():  # factories share a backend
            factory.close()
    elapsed = time.perf_counter() - start
    for trace, row in zip(traces, rows, strict=True):
        trace.metadata.update({"model": policy.name, "kind": row.get("kind"), "difficulty": row.get("difficulty")})
    info = {"model": policy.name, "dataset": source, "split": split if source or not isinstance(tasks, list) else None,
            "max_turns": turns, "max_new_tokens": tokens, "greedy": True,
            "tools": "implementations" if implementations else "mcp" if mcp else "schema-only",
            "elapsed_s": round(elapsed, 3), "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    result = EvalResult.from_traces(traces, rows, info=info)
    logger.info("evaluated %s on %d tasks in %.1f s: correctness %s", policy.name, len(rows), elapsed,
                _fmt(result.metrics["correctness"]))
    return result


def _default_turns() -> int:
    from ..config.base import TrainConfig

    return TrainConfig().max_turns + 1


def _default_tokens() -> int:
    from ..config.base import TrainConfig

    return TrainConfig().max_completion_length

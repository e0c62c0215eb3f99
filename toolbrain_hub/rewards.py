"""Rewards over execution traces, and their wrapping into TRL reward functions.

A reward is `f(trace, **row) -> float`: it reads one `Trace` and the task's dataset columns (`expected_calls`,
`tools`, `gold_answer`, `kind`, ...). A batch reward is `f(traces, **rows) -> list[float]` (mark it with
`@batch_reward`, or name its first parameter `traces`), for rewards that compare the traces of a group.

```python
from toolbrain_hub.rewards import combine, to_trl_rewards

total = combine({"expected_calls": 1.0, "format": 0.2, "unneeded_tool": 0.5})
trainer = GRPOTrainer(..., reward_funcs=to_trl_rewards(["expected_calls", "format", total]))
```

`to_trl_reward` turns any reward into TRL's `(prompts, completions, **kwargs) -> list[float]`: TRL's completions
(lists of messages with tool calls and tool results) become Traces, the dataset columns become each row's keyword
arguments, and the function's `__name__` is the reward's name, so TRL logs every reward under its own key. A reward
that raises, or returns NaN or something that is not a number, raises `RewardError` naming the reward and the row:
never a silent 0.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import re
import string
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .traces import ToolCall, Trace, read_calls

__all__ = [
    "FORMAT_SCORES",
    "REWARDS",
    "RewardError",
    "answer_exact",
    "answer_match",
    "batch_reward",
    "call_similarity",
    "combine",
    "expected_calls_match",
    "format_reward",
    "get_reward",
    "invented_tool_penalty",
    "normalize_answer",
    "register_reward",
    "reward_name",
    "schema_valid_rate",
    "score",
    "step_efficiency",
    "to_trl_reward",
    "to_trl_rewards",
    "tool_success_rate",
    "traces_from_trl",
    "unneeded_tool_penalty",
]

# Per well-formed call, by how it was written. The tagged form is what the chat template parses at inference (and
# what TRL executes); bare or fenced JSON only works with our lenient parser, so it earns less (FACTS.md: GRPO needs
# this gap to learn the tags). A malformed call scores MALFORMED_SCORE.
FORMAT_SCORES = {"tagged": 1.0, "fenced": 0.3, "bare": 0.3}
MALFORMED_SCORE = -1.0

# Keyword arguments TRL passes to reward functions that are not dataset columns.
_TRL_EXTRAS = {"trainer_state", "log_extra", "log_metric", "environments", "completion_ids", "prompts", "completions"}


class RewardError(ValueError):
    """A reward function failed or returned something that is not a finite number."""


# ---------------------------------------------------------------------------------------------------------------------
# Reading the task's columns


def _require(row: dict[str, Any], column: str, reward: str, what: str) -> Any:
    if column not in row:
        raise RewardError(
            f"reward {reward!r} needs the dataset column {column!r} ({what}); the row has: {sorted(row) or 'nothing'}"
        )
    return row[column]


def _expected(row: dict[str, Any], reward: str) -> list[ToolCall]:
    value = _require(row, "expected_calls", reward, "the calls that solve the task, as JSON")
    try:
        return read_calls(value, where="expected_calls")
    except ValueError as e:
        raise RewardError(f"reward {reward!r}: bad expected_calls in task {row.get('id')!r}: {e}") from None


@lru_cache(maxsize=256)
def _tool_specs_from_json(text: str) -> dict[str, Any]:
    from .tools import load_tools

    return {spec.name: spec for spec in load_tools(text, name="tools column")}


def _tools(row: dict[str, Any], reward: str) -> dict[str, Any]:
    """The row's tools as {name: ToolSpec}; parsed once per distinct tools JSON."""
    value = _require(row, "tools", reward, "the task's tool schemas, as JSON")
    if value is None or (isinstance(value, str) and not value.strip()) or value == []:
        return {}
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    try:
        return _tool_specs_from_json(text)
    except ValueError as e:
        raise RewardError(f"reward {reward!r}: bad tools column in task {row.get('id')!r}: {e}") from None


def _needs_no_tool(row: dict[str, Any]) -> bool | None:
    """True for a task that should be answered without tools, False if it needs tools, None if the row can't say."""
    kind = row.get("kind")
    if isinstance(kind, str) and kind:
        return kind.replace("-", "_").lower() in ("no_tool", "none", "no_tools")
    if "expected_calls" in row:
        try:
            return not read_calls(row["expected_calls"])
        except ValueError:
            return None
    return None


def _gold(row: dict[str, Any], reward: str) -> str | None:
    if "gold_answer" not in row and "answer" in row:
        return None if row["answer"] is None else str(row["answer"])
    value = _require(row, "gold_answer", reward, "the reference answer")
    # The task schema writes "" for "no gold answer": never let an empty reply "match" it.
    return None if value is None or not str(value).strip() else str(value)


# ---------------------------------------------------------------------------------------------------------------------
# Comparing answers and arguments

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace (the usual QA normalization)."""
    text = _ARTICLES.sub(" ", str(text).casefold().translate(_PUNCT))
    return " ".join(text.split())


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _same_value(a: Any, b: Any) -> bool:
    """Equal up to what a model cannot be blamed for: case and spacing of strings, 7 vs 7.0 vs "7"."""
    na, nb = _as_number(a), _as_number(b)
    if na is not None and nb is not None:
        return math.isclose(na, nb, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def call_similarity(call: ToolCall, expected: ToolCall) -> float:
    """0 for another tool; otherwise 0.5 for the name plus 0.5 x the share of argument keys (expected or given)
    whose values match, so missing, wrong and invented arguments all cost."""
    if call.name != expected.name:
        return 0.0
    keys = set(call.arguments) | set(expected.arguments)
    if not keys:
        return 1.0
    both = [k for k in keys if k in call.arguments and k in expected.arguments]
    matched = sum(1 for k in both if _same_value(call.arguments[k], expected.arguments[k]))
    return 0.5 + 0.5 * matched / len(keys)


# ---------------------------------------------------------------------------------------------------------------------
# Built-in rewards

REWARDS: dict[str, Callable[..., Any]] = {}


def register_reward(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make a reward available by name (in `combine`, `to_trl_rewards` and configs).

    Args:
        name: the name; also the key TRL logs the reward under.
    """

    def decorate(func: Callable) -> Callable:
        if name in REWARDS and REWARDS[name] is not func:
            raise ValueError(f"a reward named {name!r} is already registered")
        func.reward_name = name
        REWARDS[name] = func
        return func

    return decorate


def batch_reward(func: Callable) -> Callable:
    """Decorator: `func(traces, **rows) -> list[float]` scores a whole batch (each row column is a list)."""
    func.is_batch_reward = True
    return func


def get_reward(name_or_func: str | Callable) -> Callable:
    """A reward by registered name, or the function itself.

    Raises:
        KeyError: for an unknown name, listing the known ones.
    """
    if callable(name_or_func):
        return name_or_func
    if name_or_func not in REWARDS:
        raise KeyError(f"unknown reward {name_or_func!r}; known rewards: {', '.join(sorted(REWARDS))}")
    return REWARDS[name_or_func]


@register_reward("answer_exact")
def answer_exact(trace: Trace, **row: Any) -> float:
    """1.0 if the final answer equals `gold_answer` exactly (outer whitespace ignored), else 0.0.
    0.0 when the task has no gold answer (a constant: it does not move GRPO's group advantages)."""
    gold = _gold(row, "answer_exact")
    if gold is None or trace.final_answer is None:
        return 0.0
    return float(trace.final_answer.strip() == gold.strip())


@register_reward("answer_match")
def answer_match(trace: Trace, **row: Any) -> float:
    """1.0 if the final answer equals `gold_answer` after normalization (case, punctuation, articles, spacing; numbers
    compared as numbers), else 0.0. 0.0 when the task has no gold answer."""
    gold = _gold(row, "answer_match")
    if gold is None or trace.final_answer is None:
        return 0.0
    got, want = _as_number(trace.final_answer), _as_number(gold)
    if got is not None and want is not None:
        return float(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9))
    got_text = normalize_answer(trace.final_answer)
    return float(bool(got_text) and got_text == normalize_answer(gold))


@register_reward("expected_calls")
def expected_calls_match(trace: Trace, **row: Any) -> float:
    """How well the calls made match `expected_calls`, in [0, 1], with partial credit.

    Each expected call is paired with the most similar call made (`call_similarity`: the right tool earns half, the
    arguments the other half); the sum is divided by the larger of the expected and made counts, so missing calls,
    extra or repeated calls and malformed attempts all lower the score. A task with no expected calls scores 1.0
    when no call was attempted, else 0.0.
    """
    expected = _expected(row, "expected_calls")
    made = trace.calls
    attempts = len(made) + trace.totals()["invalid_calls"]
    if not expected:
        return float(attempts == 0)
    if attempts == 0:
        return 0.0
    pairs = sorted(
        ((call_similarity(c, e), i, j) for i, c in enumerate(made) for j, e in enumerate(expected)), reverse=True
    )
    used_made: set[int] = set()
    used_expected: set[int] = set()
    total = 0.0
    for score, i, j in pairs:  # greedy best-first pairing; tasks have a handful of calls
        if score <= 0 or i in used_made or j in used_expected:
            continue
        used_made.add(i)
        used_expected.add(j)
        total += score
    return total / max(len(expected), attempts)


@register_reward("schema_valid")
def schema_valid_rate(trace: Trace, **row: Any) -> float:
    """Share of call attempts that name a task tool and whose arguments validate against its JSON schema.
    Malformed attempts count as invalid. 1.0 when no call was attempted (nothing invalid)."""
    specs = _tools(row, "schema_valid")
    calls = trace.calls
    attempts = len(calls) + trace.totals()["invalid_calls"]
    if attempts == 0:
        return 1.0
    valid = sum(1 for c in calls if c.name in specs and not specs[c.name].validate_arguments(c.arguments))
    return valid / attempts


@register_reward("tool_success")
def tool_success_rate(trace: Trace, **row: Any) -> float:
    """Share of calls that ran and returned without error (an unexecuted call counts as a failure).
    1.0 when no call was made."""
    outcomes = [o for t in trace.turns for o in t.call_outcomes()]
    if not outcomes:
        return 1.0
    return sum(1 for o in outcomes if o) / len(outcomes)


@register_reward("step_efficiency")
def step_efficiency(trace: Trace, **row: Any) -> float:
    """1 / (1 + wasted calls), in (0, 1]. With `expected_calls`, wasted = attempts beyond the expected number (the
    default model's habit of repeating a call after its result); without, the score is 1 / number of model turns."""
    attempts = len(trace.calls) + trace.totals()["invalid_calls"]
    if "expected_calls" in row:
        extra = max(0, attempts - len(_expected(row, "step_efficiency")))
        return 1.0 / (1 + extra)
    return 1.0 / max(1, len(trace.model_turns))


@register_reward("format")
def format_reward(trace: Trace, **row: Any) -> float:
    """How the calls were written, in [-1, 1]: averaged over the turns that attempt calls, each well-formed call earns
    `FORMAT_SCORES[format]` (tagged 1.0, bare or fenced JSON 0.3) and each malformed one `MALFORMED_SCORE` (-1).
    0.0 when no call was attempted."""
    turn_scores = []
    for turn in trace.model_turns:
        n = len(turn.calls) + len(turn.errors)
        if n == 0:
            continue
        good = FORMAT_SCORES.get(turn.format, 0.0) * len(turn.calls)
        turn_scores.append((good + MALFORMED_SCORE * len(turn.errors)) / n)
    return sum(turn_scores) / len(turn_scores) if turn_scores else 0.0


@register_reward("invented_tool")
def invented_tool_penalty(trace: Trace, **row: Any) -> float:
    """Minus the share of calls naming a tool the task does not have, in [-1, 0]."""
    specs = _tools(row, "invented_tool")
    calls = trace.calls
    if not calls:
        return 0.0
    return -sum(1 for c in calls if c.name not in specs) / len(calls)


@register_reward("unneeded_tool")
def unneeded_tool_penalty(trace: Trace, **row: Any) -> float:
    """-1.0 when the task needs no tool (`kind == "no_tool"`, or empty `expected_calls`) and a call was attempted,
    else 0.0."""
    needs_none = _needs_no_tool(row)
    if needs_none is None and "kind" not in row and "expected_calls" not in row:
        raise RewardError("reward 'unneeded_tool' needs the dataset column 'kind' or 'expected_calls'")
    attempted = bool(trace.calls) or trace.totals()["invalid_calls"] > 0
    return -1.0 if needs_none and attempted else 0.0


# ---------------------------------------------------------------------------------------------------------------------
# Calling rewards safely, combining them


def reward_name(func: Callable) -> str:
    """The name a reward is logged under: its registered name, else its `__name__`."""
    name = getattr(func, "reward_name", None) or getattr(func, "__name__", None)
    if not name or name == "<lambda>":
        raise ValueError(f"reward {func!r} has no name: use a named function or pass name=")
    return name


def _is_batch(func: Callable) -> bool:
    if getattr(func, "is_batch_reward", False):
        return True
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "traces"


def _accepted(func: Callable, row: dict[str, Any]) -> dict[str, Any]:
    """The row's columns the function can take: all of them if it has **kwargs, else the ones it names."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return row
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return row
    return {k: v for k, v in row.items() if k in params}


def _check(name: str, value: Any, index: int, row: dict[str, Any]) -> float:
    task = f" (task {row['id']!r})" if row.get("id") is not None else ""
    if not isinstance(value, numbers.Real) and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # a 0-d tensor or array
    if not isinstance(value, numbers.Real):
        raise RewardError(
            f"reward {name!r} returned {value!r} ({type(value).__name__}) for trace {index}{task}: a reward must be "
            "a finite number"
        )
    value = float(value)
    if not math.isfinite(value):
        raise RewardError(f"reward {name!r} returned {value} for trace {index}{task}: a reward must be finite")
    return value


def score(
    func: str | Callable, traces: list[Trace], rows: list[dict[str, Any]], name: str | None = None
) -> list[float]:
    """Run one reward (per-trace or batch) over traces, checking every value.

    Args:
        func: a reward or a registered reward name.
        traces: the traces.
        rows: one dict of dataset columns per trace.
        name: the reward's name in errors (default: `reward_name(func)`).

    Raises:
        RewardError: naming the reward and the trace when it raises or returns a non-finite or non-number value.
    """
    func = get_reward(func)
    name = name or reward_name(func)
    if len(rows) != len(traces):
        raise ValueError(f"reward {name!r}: {len(traces)} traces but {len(rows)} rows")
    if _is_batch(func):
        columns = {k: [r.get(k) for r in rows] for k in (rows[0] if rows else {})}
        try:
            values = func(traces, **_accepted(func, columns))
        except RewardError:
            raise
        except Exception as e:
            raise RewardError(f"reward {name!r} failed on a batch of {len(traces)}: {type(e).__name__}: {e}") from e
        try:
            values = list(values)
        except TypeError:
            raise RewardError(f"batch reward {name!r} returned {type(values).__name__}, not a list") from None
        if len(values) != len(traces):
            raise RewardError(f"batch reward {name!r} returned {len(values)} values for {len(traces)} traces")
        return [_check(name, v, i, r) for i, (v, r) in enumerate(zip(values, rows, strict=True))]
    out = []
    for i, (trace, row) in enumerate(zip(traces, rows, strict=True)):
        try:
            value = func(trace, **_accepted(func, row))
        except RewardError:
            raise
        except Exception as e:
            task = f" (task {row['id']!r})" if row.get("id") is not None else ""
            raise RewardError(f"reward {name!r} failed on trace {i}{task}: {type(e).__name__}: {e}") from e
        out.append(_check(name, value, i, row))
    return out


def combine(weights: dict[str | Callable, float], name: str = "combined") -> Callable:
    """A weighted sum of rewards, itself a reward (a batch one if any part is).

    Args:
        weights: {reward or registered name: weight}.
        name: the combination's name (logged by TRL under it).

    Raises:
        KeyError: for an unknown reward name; ValueError for an empty or non-numeric weighting.
    """
    if not weights:
        raise ValueError("combine() needs at least one reward")
    parts = []
    for key, weight in weights.items():
        func = get_reward(key)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ValueError(f"weight of reward {reward_name(func)!r} must be a finite number, got {weight!r}")
        parts.append((reward_name(func) if not isinstance(key, str) else key, func, float(weight)))

    @batch_reward
    def combined(traces: list[Trace], **rows: Any) -> list[float]:
        keys = list(rows)
        row_dicts = [{k: rows[k][i] for k in keys} for i in range(len(traces))]
        totals = [0.0] * len(traces)
        for part_name, func, weight in parts:
            for i, value in enumerate(score(func, traces, row_dicts, name=f"{name}/{part_name}")):
                totals[i] += weight * value
        return totals

    combined.__name__ = combined.__qualname__ = name
    combined.reward_name = name
    combined.parts = {part_name: weight for part_name, _, weight in parts}
    return combined


# ---------------------------------------------------------------------------------------------------------------------
# TRL


def traces_from_trl(prompts: list, completions: list, **kwargs: Any) -> list[Trace]:
    """TRL's reward inputs as Traces, one per completion.

    Args:
        prompts: TRL's prompts: lists of chat messages, or strings for non-chat datasets.
        completions: lists of messages (with tools: assistant tool calls, `role: "tool"` results, final text), or
            strings.
        **kwargs: TRL's other reward arguments; `id`/`task_id` name the task and `completion_ids` give the episode's
            generated token count (stored as `metadata["completion_ids"]`, tool-result tokens included).
    """
    ids = kwargs.get("id") or kwargs.get("task_id")
    completion_ids = kwargs.get("completion_ids")
    traces = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        task_id = None if ids is None else (None if ids[i] is None else str(ids[i]))
        if isinstance(completion, str):
            query = prompt if isinstance(prompt, str) else ""
            trace = Trace.from_text(query, completion, task_id=task_id)
        else:
            prompt_messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
            trace = Trace.from_messages(prompt_messages + list(completion), task_id=task_id)
        if completion_ids is not None:
            trace.metadata["completion_ids"] = len(completion_ids[i])
        traces.append(trace)
    return traces


def to_trl_reward(func: str | Callable, name: str | None = None) -> Callable[..., list[float]]:
    """Wrap a reward into TRL's reward-function signature `(prompts, completions, **kwargs) -> list[float]`.

    Completions become Traces (`traces_from_trl`); the dataset columns TRL passes become each row's keyword
    arguments. The wrapper's `__name__` is the reward's name, which TRL logs as `rewards/<name>/mean`.

    Args:
        func: a reward `f(trace, **row)`, a batch reward `f(traces, **rows)`, or a registered name.
        name: the logged name (default: the registered name or the function's `__name__`).
    """
    func = get_reward(func)
    name = name or reward_name(func)

    def reward(prompts: list, completions: list, **kwargs: Any) -> list[float]:
        n = len(completions)
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_EXTRAS and isinstance(v, list) and len(v) == n}
        rows = [{k: v[i] for k, v in columns.items()} for i in range(n)]
        return score(func, traces_from_trl(prompts, completions, **kwargs), rows, name=name)

    reward.__name__ = reward.__qualname__ = name
    reward.reward = func
    return reward


def to_trl_rewards(rewards: list[str | Callable]) -> list[Callable[..., list[float]]]:
    """`to_trl_reward` over a list, making the names distinct (a repeated name gets `_2`, `_3`...) so that TRL logs
    each reward separately.

    Args:
        rewards: rewards or registered names.
    """
    out, seen = [], {}
    for item in rewards:
        func = get_reward(item)
        base = reward_name(func)
        seen[base] = seen.get(base, 0) + 1
        out.append(to_trl_reward(func, name=base if seen[base] == 1 else f"{base}_{seen[base]}"))
    return out

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

The built-in rewards are in `rewards.builtin`; they register themselves here by name (`register_reward`).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any

from ..errors import ToolBrainError
from ..traces.trace import Trace

__all__ = [
    "REWARDS",
    "RewardError",
    "batch_reward",
    "combine",
    "get_reward",
    "register_reward",
    "reward_name",
    "reward_range",
    "rows_from_trl",
    "score",
    "to_trl_reward",
    "to_trl_rewards",
    "traces_from_trl",
]

# Keyword arguments TRL passes to reward functions that are not dataset columns.
_TRL_EXTRAS = {"trainer_state", "log_extra", "log_metric", "environments", "completion_ids", "prompts", "completions"}


class RewardError(ToolBrainError, ValueError):
    """A reward function failed or returned something that is not a finite number."""


# ---------------------------------------------------------------------------------------------------------------------
# The registry

REWARDS: dict[str, Callable[..., Any]] = {}


def register_reward(name: str, value_range: tuple[float, float] | None = None) -> Callable[[Callable], Callable]:
    """Decorator: make a reward available by name (in `combine`, `to_trl_rewards` and configs).

    Args:
        name: the name; also the key TRL logs the reward under.
        value_range: the lowest and highest value the reward can return (stored as `func.value_range`; see
            `reward_range`).
    """

    def decorate(func: Callable) -> Callable:
        if name in REWARDS and REWARDS[name] is not func:
            raise ValueError(f"a reward named {name!r} is already registered")
        func.reward_name = name
        if value_range is not None:
            func.value_range = (float(value_range[0]), float(value_range[1]))
        REWARDS[name] = func
        return func

    return decorate


def reward_range(weights: dict[str | Callable, float]) -> tuple[float, float]:
    """The lowest and highest weighted total a weighting can give (e.g. `config.DEFAULT_REWARDS`: [-1.2, 1.7]).

    Args:
        weights: {reward or registered name: weight}; every reward must declare its `value_range`.

    Raises:
        ValueError: naming a reward that declares no range.
    """
    low = high = 0.0
    for key, weight in weights.items():
        func = get_reward(key)
        bounds = getattr(func, "value_range", None)
        if bounds is None:
            raise ValueError(f"reward {reward_name(func)!r} declares no value_range")
        ends = (weight * bounds[0], weight * bounds[1])
        low, high = low + min(ends), high + max(ends)
    return low, high


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


def rows_from_trl(n: int, **kwargs: Any) -> list[dict[str, Any]]:
    """The dataset rows of a batch of `n` completions from TRL's reward arguments: each column TRL passes (a list of
    `n` values) split by row, without TRL's own arguments (trainer_state, log_metric, completion_ids...).

    Args:
        n: The number of completions.
        **kwargs: TRL's reward keyword arguments.
    """
    columns = {k: v for k, v in kwargs.items() if k not in _TRL_EXTRAS and isinstance(v, list) and len(v) == n}
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


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
        rows = rows_from_trl(len(completions), **kwargs)
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

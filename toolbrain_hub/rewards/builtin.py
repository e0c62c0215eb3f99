"""The built-in rewards over execution traces, registered by name (`rewards.registry.register_reward`), and the
helpers they share: reading a task's columns, comparing answers and call arguments.

## How the default rewards rank an episode

With the default weights (`config.DEFAULT_REWARDS`: expected_calls 1.0, answer_match 0.5, format 0.2,
invented_tool 0.5, unneeded_tool 0.5), on every task and for the same final answer, the total ranks episodes in
three strict tiers:

1. right: every expected call made once, right, and run validly, in any accepted form (bare JSON, a ```json fence,
   `<tool_call>` tags; in one turn or several, in any order); on a no-tool task, an answer with no call. "Right" is
   the exact rule for an expected call in the plain form, and the standard rule (any acceptable value; an optional
   argument left out or given a valid value) for one that lists `acceptable` values or `optional` arguments
   (`rewards.matching`);
2. flawed, with real tools only: a call the environment rejects (enum, range, pattern, format, missing or unknown
   argument, wrong type), a valid call with wrong values, the wrong tool, a repeated, missing or extra call, or any
   call at all on a no-tool task;
3. only calls to tools that do not exist, or calls that do not parse.

A call "ran validly" when the environment did not answer it with an error and, where the row lists its tools, it
names one of them with arguments its schema accepts (`calls_ran_validly`). The argument, reward by reward:
- `expected_calls` pays 1.0 only for tier 1. Anything else earns at most `PARTIAL_CREDIT` (0.5), however many
  arguments are right (a rejected call keeps `REJECTED_SHARE` of its similarity), and 0 when none of the expected
  tools was called.
- `format` pays only calls that ran validly (tagged 1.0, fenced or bare 0.3; x 0.2: at most +0.2), 0 for a rejected
  call or a tool that does not exist, -1 for a call that does not parse (x 0.2: -0.2).
- `invented_tool` costs up to 0.5; `unneeded_tool` costs 0.5 for any attempt on a no-tool task.

On a task that needs tools: tier 1 >= 1 + 0.2 x 0.3 = 1.06; tier 2 lies in [0, 0.5 + 0.2] = [0, 0.7] (no term is
negative there); tier 3 <= -0.2 (a broken call; an invented tool: -0.5). On a no-tool task: tier 1 = 1.0; tier 2 lies
in [-0.5, -0.3]; tier 3 <= -0.7. `answer_match` adds the same 0 or 0.5 to episodes with the same final answer.
Every default total lies in [-1.2, 1.7] (`reward_range`). tests/test_reward_ranking.py checks the tiers on generated
tasks, for every call form, through the environment and the reward functions as GRPO calls them.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

from ..traces.parsing import ExpectedCall, ToolCall, read_calls
from ..traces.trace import Trace, Turn
from .matching import as_number, ast_match, ast_similarity, call_similarity, match_calls, tool_specs
from .registry import RewardError, register_reward

__all__ = [
    "FORMAT_SCORES",
    "OPEN_ENDED_KINDS",
    "answer_contains",
    "answer_exact",
    "answer_match",
    "calls_ran_validly",
    "expected_calls_match",
    "format_reward",
    "invented_tool_penalty",
    "is_open_ended",
    "normalize_answer",
    "schema_valid_rate",
    "step_efficiency",
    "tool_success_rate",
    "unneeded_tool_penalty",
]

# Per call that ran validly, by how it was written. The tagged form is what the chat template parses at inference;
# bare or fenced JSON only works with our lenient parser, so it earns less (FACTS.md: GRPO needs this gap to learn the
# tags). A call the environment rejected earns nothing here (a bonus on it would pay for invalid calls); a malformed
# call scores MALFORMED_SCORE.
FORMAT_SCORES = {"tagged": 1.0, "fenced": 0.3, "bare": 0.3}
MALFORMED_SCORE = -1.0
# `expected_calls` for anything short of every expected call made once, right and valid: at most this, so that no
# partial match plus the largest format bonus reaches a right call written in the least-paid format.
PARTIAL_CREDIT = 0.5
# A call the environment rejected keeps this share of its similarity to the expected call it resembles most, so it
# never earns more than a valid call of the same tool, whatever the arguments of either.
REJECTED_SHARE = 0.5
# Task kinds whose calls are open-ended: the task needs tools, but the right searches are many, so it names no
# reference calls (`expected_calls` "[]") and is scored by its answer (`answer_ladder`, the answer judge).
# `expected_calls` and `step_efficiency` do not read its empty expected calls as "use no tool".
OPEN_ENDED_KINDS = frozenset({"email_search"})


# ---------------------------------------------------------------------------------------------------------------------
# Reading the task's columns


def _require(row: dict[str, Any], column: str, reward: str, what: str) -> Any:
    if column not in row:
        raise RewardError(
            f"reward {reward!r} needs the dataset column {column!r} ({what}); the row has: {sorted(row) or 'nothing'}"
        )
    return row[column]


def _expected(row: dict[str, Any], reward: str) -> list[ExpectedCall]:
    value = _require(row, "expected_calls", reward, "the calls that solve the task, as JSON")
    try:
        return read_calls(value, where="expected_calls")
    except ValueError as e:
        raise RewardError(f"reward {reward!r}: bad expected_calls in task {row.get('id')!r}: {e}") from None


def _tools(row: dict[str, Any], reward: str) -> dict[str, Any]:
    """The row's tools as {name: ToolSpec}; parsed once per distinct tools JSON."""
    value = _require(row, "tools", reward, "the task's tool schemas, as JSON")
    try:
        return tool_specs(value)
    except ValueError as e:
        raise RewardError(f"reward {reward!r}: bad tools column in task {row.get('id')!r}: {e}") from None


def _tools_if_given(row: dict[str, Any], reward: str) -> dict[str, Any] | None:
    """The row's tools as {name: ToolSpec}, or None when the row does not list any (then calls are judged by their
    results alone)."""
    return (_tools(row, reward) or None) if "tools" in row else None


def calls_ran_validly(turn: Turn, specs: dict[str, Any] | None) -> list[bool]:
    """Per well-formed call of a turn: did it run validly? Not when the environment answered it with an error (a
    rejected call, an unknown tool, a tool that failed), nor, when the tools are known, when it names none of them or
    its arguments break the tool's JSON schema (which also judges calls that were never run).

    Args:
        turn: a model turn.
        specs: the task's tools as {name: ToolSpec}, or None when unknown.
    """
    out = []
    for call, outcome in zip(turn.calls, turn.call_outcomes(), strict=True):
        if outcome is False:
            out.append(False)
        elif specs is None:
            out.append(True)
        else:
            spec = specs.get(call.name)
            out.append(spec is not None and not spec.validate_arguments(call.arguments))
    return out


def _kind(row: dict[str, Any]) -> str:
    kind = row.get("kind")
    return kind.replace("-", "_").lower() if isinstance(kind, str) else ""


def is_open_ended(row: dict[str, Any]) -> bool:
    """Whether the task's tool calls are open-ended (its kind is one of `OPEN_ENDED_KINDS`): it needs tools, but
    names no reference calls (its `expected_calls` is "[]"), and is scored by its answer, never as a no-tool task.

    Args:
        row: The task's columns.
    """
    return _kind(row) in OPEN_ENDED_KINDS


def _needs_no_tool(row: dict[str, Any]) -> bool | None:
    """True for a task that should be answered without tools, False if it needs tools, None if the row can't say."""
    kind = _kind(row)
    if kind:
        return kind in ("no_tool", "none", "no_tools")
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
# Comparing answers (calls are compared in `rewards.matching`)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace (the usual QA normalization)."""
    text = _ARTICLES.sub(" ", str(text).casefold().translate(_PUNCT))
    return " ".join(text.split())


def answer_contains(answer: str | None, gold: str) -> bool:
    """Whether an answer states the gold answer: equal after normalization (numbers as numbers, as `answer_match`),
    or the normalized gold appears in it as a whole-word sequence ("The capital of Italy is Rome." holds "Rome").

    Args:
        answer: The answer given (None: no answer).
        gold: The reference answer.
    """
    if answer is None or not answer.strip():
        return False
    if answer_match(Trace(final_answer=answer), gold_answer=gold) == 1.0:
        return True
    words, want = normalize_answer(answer).split(), normalize_answer(gold).split()
    return bool(want) and any(words[i : i + len(want)] == want for i in range(len(words) - len(want) + 1))


# ---------------------------------------------------------------------------------------------------------------------
# Built-in rewards


@register_reward("answer_exact", value_range=(0.0, 1.0))
def answer_exact(trace: Trace, **row: Any) -> float:
    """1.0 if the final answer equals `gold_answer` exactly (outer whitespace ignored), else 0.0.
    0.0 when the task has no gold answer (a constant: it does not move GRPO's group advantages)."""
    gold = _gold(row, "answer_exact")
    if gold is None or trace.final_answer is None:
        return 0.0
    return float(trace.final_answer.strip() == gold.strip())


@register_reward("answer_match", value_range=(0.0, 1.0))
def answer_match(trace: Trace, **row: Any) -> float:
    """1.0 if the final answer equals `gold_answer` after normalization (case, punctuation, articles, spacing; numbers
    compared as numbers), else 0.0. 0.0 when the task has no gold answer."""
    gold = _gold(row, "answer_match")
    if gold is None or trace.final_answer is None:
        return 0.0
    got, want = as_number(trace.final_answer), as_number(gold)
    if got is not None and want is not None:
        return float(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9))
    got_text = normalize_answer(trace.final_answer)
    return float(bool(got_text) and got_text == normalize_answer(gold))


@register_reward("expected_calls", value_range=(0.0, 1.0))
def expected_calls_match(trace: Trace, **row: Any) -> float:
    """How well the calls made match `expected_calls`, in [0, 1]: 1.0 only when every expected call was made once,
    right, and ran validly (`calls_ran_validly`, with the row's `tools` when it has them), with no other attempt;
    anything else earns partial credit of at most `PARTIAL_CREDIT`.

    "Right" is the exact rule for an expected call in the plain form (`call_similarity` 1: its reference arguments,
    no more, no less) and the standard rule for one in the extended form (`ast_match`: any acceptable value, an
    optional argument left out or given a valid value). The calls may come in one turn (parallel) or in several, in
    any order: each expected call is paired with exactly one call (`match_calls`).

    Partial credit: each expected call is paired with the most similar call made (the right tool earns half, the
    arguments the other half; a call that did not run validly keeps `REJECTED_SHARE` of that); the sum is divided
    by the larger of the expected and attempted counts, so missing, extra or repeated calls and malformed attempts
    all lower it. The gap between partial and full credit is what keeps a rejected or wrong call, in its best format,
    below a right one in any format. A task with no expected calls scores 1.0 when no call was attempted, else 0.0;
    an open-ended task (`is_open_ended`: its calls are not known in advance) scores 0.0 whatever it does.
    """
    expected = _expected(row, "expected_calls")
    made = trace.calls
    attempts = len(made) + trace.totals()["invalid_calls"]
    if not expected and is_open_ended(row):
        return 0.0  # no reference calls to compare with: a constant, which moves no GRPO advantage
    if not expected:
        return float(attempts == 0)
    if attempts == 0:
        return 0.0
    specs = _tools_if_given(row, "expected_calls") or {}
    valid = [ok for turn in trace.turns for ok in calls_ran_validly(turn, specs or None)]

    def right(i: int, j: int) -> bool:  # made call i is right for expected call j, and ran validly
        want = expected[j]
        if not valid[i]:
            return False
        if want.extended:
            return ast_match(made[i], want, specs.get(want.name))
        return call_similarity(made[i], want) == 1.0

    if attempts == len(expected) and len(match_calls(len(made), len(expected), right)) == len(expected):
        return 1.0

    def similarity(call: ToolCall, want: ExpectedCall) -> float:
        return ast_similarity(call, want, specs.get(want.name)) if want.extended else call_similarity(call, want)

    pairs = sorted(
        (
            (similarity(c, e) * (1.0 if valid[i] else REJECTED_SHARE), i, j)
            for i, c in enumerate(made)
            for j, e in enumerate(expected)
        ),
        reverse=True,
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
    return PARTIAL_CREDIT * total / max(len(expected), attempts)


@register_reward("schema_valid", value_range=(0.0, 1.0))
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


@register_reward("tool_success", value_range=(0.0, 1.0))
def tool_success_rate(trace: Trace, **row: Any) -> float:
    """Share of calls that ran and returned without error (an unexecuted call counts as a failure).
    1.0 when no call was made."""
    outcomes = [o for t in trace.turns for o in t.call_outcomes()]
    if not outcomes:
        return 1.0
    return sum(1 for o in outcomes if o) / len(outcomes)


@register_reward("step_efficiency", value_range=(0.0, 1.0))
def step_efficiency(trace: Trace, **row: Any) -> float:
    """1 / (1 + wasted calls), in (0, 1]. With `expected_calls`, wasted = attempts beyond the expected number (the
    default model's habit of repeating a call after its result); without (or on an open-ended task, whose calls are
    not known in advance), the score is 1 / number of model turns."""
    attempts = len(trace.calls) + trace.totals()["invalid_calls"]
    if "expected_calls" in row and not is_open_ended(row):
        extra = max(0, attempts - len(_expected(row, "step_efficiency")))
        return 1.0 / (1 + extra)
    return 1.0 / max(1, len(trace.model_turns))


@register_reward("format", value_range=(MALFORMED_SCORE, max(FORMAT_SCORES.values())))
def format_reward(trace: Trace, **row: Any) -> float:
    """How the calls were written, in [-1, 1], paid only for calls that ran validly: averaged over the turns that
    attempt calls, each call that ran validly (`calls_ran_validly`, with the row's `tools` when it has them) earns
    `FORMAT_SCORES[format]` (tagged 1.0, bare or fenced JSON 0.3), each call the environment rejected or that names
    no tool of the task 0, and each malformed one `MALFORMED_SCORE` (-1). 0.0 when no call was attempted."""
    specs = _tools_if_given(row, "format")
    turn_scores = []
    for turn in trace.model_turns:
        n = len(turn.calls) + len(turn.errors)
        if n == 0:
            continue
        good = FORMAT_SCORES.get(turn.format, 0.0) * sum(calls_ran_validly(turn, specs))
        turn_scores.append((good + MALFORMED_SCORE * len(turn.errors)) / n)
    return sum(turn_scores) / len(turn_scores) if turn_scores else 0.0


@register_reward("invented_tool", value_range=(-1.0, 0.0))
def invented_tool_penalty(trace: Trace, **row: Any) -> float:
    """Minus the share of calls naming a tool the task does not have, in [-1, 0]."""
    specs = _tools(row, "invented_tool")
    calls = trace.calls
    if not calls:
        return 0.0
    return -sum(1 for c in calls if c.name not in specs) / len(calls)


@register_reward("unneeded_tool", value_range=(-1.0, 0.0))
def unneeded_tool_penalty(trace: Trace, **row: Any) -> float:
    """-1.0 when the task needs no tool (`kind == "no_tool"`, or empty `expected_calls`) and a call was attempted,
    else 0.0."""
    needs_none = _needs_no_tool(row)
    if needs_none is None and "kind" not in row and "expected_calls" not in row:
        raise RewardError("reward 'unneeded_tool' needs the dataset column 'kind' or 'expected_calls'")
    attempted = bool(trace.calls) or trace.totals()["invalid_calls"] > 0
    return -1.0 if needs_none and attempted else 0.0

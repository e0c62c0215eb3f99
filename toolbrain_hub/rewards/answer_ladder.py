"""The answer ladder: the reward of an agent that answers questions with tools and says where it found the answer
(the email-search agent: `search_emails`, `read_email`, `return_final_answer(answer, sources)`).

Each episode lands on one rung, and every value of a rung is above every value of the rung below it:

| rung | value | when |
| --- | --- | --- |
| format error | `LADDER_SCORES["format_error"]` (-1.0) | a malformed call, invalid arguments, or no output at all |
| wrong answer | -0.5 + up to `SOURCES_BONUS` (0.3) | an answer that is not the gold answer |
| no answer | 0.0 | the agent says it could not find it, or ends without an answer |
| right answer | 1.0 + up to `SOURCES_BONUS` + `TURNS_BONUS` (0.1) | the gold answer |

So a confident wrong answer (a hallucination) costs more than an honest "I could not find it", which earns less than
a right answer: the order the paper's email agent is trained with. Within a rung, citing the right emails (the row's
`message_ids`: `SOURCES_BONUS` x the F1 of the cited ids against them) and, for a right answer, using fewer model
turns (`TURNS_BONUS`, all of it for one turn, none from `TURN_BUDGET` turns on) earn a little more. All values lie in
[-1.0, 1.4] (`answer_ladder.value_range`).

The answer and its sources are the `answer` and `sources` arguments of the episode's last `return_final_answer` call
(`submitted_answer`); without one, the episode's final text. Right or wrong is decided by, in order:
0. a format error stays one, and an episode that submitted no answer (or an empty one) has none, whatever else;
1. the row's `judge_label` (CORRECT, INCORRECT or NO_ANSWER), when an answer judge labelled it
   (`rewards.answer_judge.AnswerJudge.as_reward_func` sets it);
2. a refusal (`says_no_answer`: "I don't know", "could not find", "no information", "unable to find" ...): no answer;
3. a text match against `gold_answer` (`answer_matches`): the normalized gold answer inside the answer as whole words
   (or the same number), or in other words or order: all its numbers, at least `ANSWER_RECALL_THRESHOLD` (0.75) of
   its words and a token F1 of at least `ANSWER_F1_THRESHOLD` (0.5). A hedged answer that lists several candidates
   holding the gold one passes this match; the judge does not let it pass.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..traces.trace import Trace
from .builtin import _tools_if_given, answer_contains, normalize_answer
from .registry import RewardError, register_reward

__all__ = [
    "ANSWER_F1_THRESHOLD", "ANSWER_RECALL_THRESHOLD", "FINAL_ANSWER_TOOL", "JUDGE_LABELS", "LADDER_SCORES",
    "SOURCES_BONUS", "TURNS_BONUS", "TURN_BUDGET", "AnswerGrade", "answer_f1", "answer_ladder", "answer_matches",
    "format_problem", "grade_answer", "says_no_answer", "submitted_answer",
]

# The tool an agent ends its episode with (the email tools' `return_final_answer(answer, sources)`).
FINAL_ANSWER_TOOL = "return_final_answer"
# The base value of each rung; the bonuses below fit in the gaps, so the rungs never overlap.
LADDER_SCORES = {"format_error": -1.0, "wrong": -0.5, "no_answer": 0.0, "right": 1.0}
# A right or a wrong answer: this much more for citing exactly the row's `message_ids` (x the F1 of the cited ids).
# A wrong answer that cites the right email found it and misread it: progress the group advantage can see.
SOURCES_BONUS = 0.3
# A right answer: this much more for one model turn, less per turn, none from TURN_BUDGET turns on. Only a right
# answer earns it: paying a quick wrong answer or a quick "not found" would teach the agent to stop searching.
TURNS_BONUS = 0.1
TURN_BUDGET = 10  # the default; a row's `max_turns` column replaces it
# An answer that does not hold the gold answer word for word still matches it with every number of it, this share
# of its (normalized) words and this token F1 ("14 May 2001" for "May 14, 2001"; "Shackleton, Sara" for "Sara
# Shackleton"). One word off in a short answer is another answer: "Sara Smith" has F1 0.5 but recall 0.5.
ANSWER_RECALL_THRESHOLD = 0.75
ANSWER_F1_THRESHOLD = 0.5
# The answer judge's labels and the rung each one puts an answer on.
JUDGE_LABELS = {"CORRECT": "right", "INCORRECT": "wrong", "NO_ANSWER": "no_answer"}

# How agents say they found no answer. Matched on the casefolded answer with straight apostrophes.
_NEGATION = (r"(?:could\s*not|couldn't|can\s*not|cannot|can't|unable\s+to|(?:was|am|were)\s+not\s+able\s+to|"
             r"wasn't\s+able\s+to|not\s+able\s+to|did\s*not|didn't|failed\s+to)")
_REFUSALS = re.compile(r"\b(?:" + "|".join([
    r"i\s+(?:do\s+not|don't|dont)\s+know",
    _NEGATION + r"\s+(?:find|locate|determine|identify)",
    r"(?:cannot|can't|unable\s+to)\s+answer",
    r"no\s+(?:relevant\s+)?(?:information|emails?|messages?|records?|mention|details?|data)\s+(?:about|on|regarding|"
    r"found|available|was|were|that|in|is|mentions?)",
    r"(?:there\s+is|i\s+found|i\s+have|with)\s+no\s+(?:relevant\s+)?(?:information|emails?|mention|record)",
    r"(?:is|was|are|were)\s+not\s+(?:found|mentioned|available)",
    r"none\s+of\s+the\s+(?:emails|messages)",
    r"no\s+answer|not\s+enough\s+information|insufficient\s+information",
]) + r")\b")
_BARE_REFUSALS = {"unknown", "n/a", "na", "none", "nothing found", "not found", "no idea"}


def says_no_answer(text: str | None) -> bool:
    """Whether an answer is a refusal: the agent says it could not find the answer ("I don't know", "I could not
    find ...", "There is no information about ...", "unable to find", "not mentioned", "unknown"). None or empty
    text counts too.

    Args:
        text: The answer.
    """
    if text is None or not text.strip():
        return True
    lowered = text.casefold().replace("\u2019", "'").strip()
    return lowered.strip(" .!") in _BARE_REFUSALS or _REFUSALS.search(lowered) is not None


def _overlap(answer: str, gold: str) -> tuple[float, float]:
    """(token F1, recall of the gold tokens) of two answers after `normalize_answer`."""
    got, want = normalize_answer(answer).split(), normalize_answer(gold).split()
    common = sum((Counter(got) & Counter(want)).values())
    if not common:
        return 0.0, 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall), recall


def answer_f1(answer: str, gold: str) -> float:
    """Token F1 between two answers after `normalize_answer` (SQuAD's measure), in [0, 1].

    Args:
        answer: The answer given.
        gold: The reference answer.
    """
    return _overlap(answer, gold)[0]


def answer_matches(answer: str | None, gold: str) -> bool:
    """Whether an answer gives the gold answer: it holds it (`builtin.answer_contains`: whole words after
    normalization, or the same number); or, in other words or order, it has every number of the gold answer, at
    least `ANSWER_RECALL_THRESHOLD` of its words (all of them for an answer of up to 3 words) and a token F1 of at
    least `ANSWER_F1_THRESHOLD` ("14 May 2001" for "May 14, 2001", not "May 15, 2001"; "Shackleton, Sara" for
    "Sara Shackleton", not "Sara Smith").

    Args:
        answer: The answer given (None: no answer).
        gold: The reference answer.
    """
    if answer is None or not answer.strip() or not normalize_answer(gold):
        return False
    if answer_contains(answer, gold):
        return True
    f1, recall = _overlap(answer, gold)
    words = set(normalize_answer(answer).split())
    numbers = all(w in words for w in normalize_answer(gold).split() if any(ch.isdigit() for ch in w))
    return numbers and recall >= ANSWER_RECALL_THRESHOLD and f1 >= ANSWER_F1_THRESHOLD


def _id_list(value: Any) -> list[str]:
    """Message ids from a list, a JSON list or a comma/whitespace-separated string, stripped of space and <>."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = re.split(r"[\s,]+", text.strip("[]"))
        else:
            value = re.split(r"[\s,]+", text)
    if not isinstance(value, list | tuple):
        value = [value]
    ids = (str(item).strip().strip("\"'").strip().strip("<>").strip() for item in value if item is not None)
    return list(dict.fromkeys(i for i in ids if i))


def submitted_answer(trace: Trace) -> tuple[str | None, list[str]]:
    """The answer an episode ends with, and the message ids it cites.

    The `answer` and `sources` arguments of the last `return_final_answer` call (sources as a list, a JSON list or a
    comma-separated string); without such a call, the episode's final text and no sources.

    Args:
        trace: The episode.
    """
    finals = [c for c in trace.calls if c.name == FINAL_ANSWER_TOOL]
    if finals:
        arguments = finals[-1].arguments
        answer = arguments.get("answer")
        return (None if answer is None else str(answer)), _id_list(arguments.get("sources"))
    return trace.final_answer, []


def format_problem(trace: Trace, row: dict[str, Any]) -> str | None:
    """Why the episode is a format error, or None: a malformed call, a call of a tool the task does not have or with
    arguments its schema rejects (when the row lists its tools), a final-answer call without a text `answer`, or no
    output at all. A tool that answered with an error (nothing found, a refused search) is no format error.

    Args:
        trace: The episode.
        row: The task's columns (`tools`, when given, to check the calls against).
    """
    turns = trace.model_turns
    if not any(t.text.strip() or t.calls or t.errors for t in turns):
        return "no output"
    malformed = sum(len(t.errors) for t in trace.turns)
    if malformed:
        return f"{malformed} malformed call(s)"
    specs = _tools_if_given(row, "answer_ladder")
    for call in trace.calls:
        if specs is not None:
            spec = specs.get(call.name)
            if spec is None:
                return f"call of {call.name!r}, which the task does not have"
            problems = spec.validate_arguments(call.arguments)
            if problems:
                return f"invalid arguments for {call.name!r}: {problems[0]}"
        if call.name == FINAL_ANSWER_TOOL and not isinstance(call.arguments.get("answer"), str):
            return f"{FINAL_ANSWER_TOOL} without a text 'answer'"
    return None


@dataclass
class AnswerGrade:
    """Where an episode landed on the ladder, and why (`grade_answer`).

    Args:
        rung: "format_error", "wrong", "no_answer" or "right".
        value: The reward.
        decided_by: What placed it: "format", "missing" (no answer), "judge", "refusal" or "match".
        answer: The answer submitted (None when none).
        sources: The message ids it cites.
        sources_f1: F1 of the cited ids against the row's `message_ids` (None when the row has none).
        turns: Model turns.
        reason: One line for logs.
    """

    rung: str
    value: float
    decided_by: str
    answer: str | None = None
    sources: list[str] = field(default_factory=list)
    sources_f1: float | None = None
    turns: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerGrade:
        return cls(**data)


def _sources_f1(cited: list[str], gold: list[str]) -> float | None:
    if not gold:
        return None
    want = {g.casefold() for g in gold}
    hits = len({c.casefold() for c in cited} & want)
    return 2 * hits / (len(set(c.casefold() for c in cited)) + len(want)) if hits else 0.0


def _judge_label(row: dict[str, Any]) -> str | None:
    label = row.get("judge_label")
    if label is None or (isinstance(label, str) and not label.strip()):
        return None
    name = str(label).strip().upper().replace(" ", "_").replace("-", "_")
    if name not in JUDGE_LABELS:
        raise RewardError(f"reward 'answer_ladder': task {row.get('id')!r} has judge_label {label!r}; expected one of "
                          f"{', '.join(JUDGE_LABELS)}")
    return name


def _turn_budget(row: dict[str, Any]) -> int:
    budget = row.get("max_turns")
    return budget if isinstance(budget, int) and not isinstance(budget, bool) and budget > 1 else TURN_BUDGET


def grade_answer(trace: Trace, row: dict[str, Any]) -> AnswerGrade:
    """Place one episode on the ladder (see the module docstring).

    Args:
        trace: The episode.
        row: The task's columns: `gold_answer` (or `answer`), and optionally `message_ids` (JSON list), `judge_label`,
            `tools` (then calls are checked against their schemas) and `max_turns`.

    Raises:
        RewardError: a row with neither a gold answer nor a judge label for an episode that answered (right and
            wrong cannot be told apart), or a judge label that is not one of `JUDGE_LABELS`.
    """
    turns = len(trace.model_turns)
    answer, sources = submitted_answer(trace)
    problem = format_problem(trace, row)
    if problem is not None:
        return AnswerGrade("format_error", LADDER_SCORES["format_error"], "format", answer, sources, None, turns,
                           problem)
    gold_ids = _id_list(row.get("message_ids"))
    sources_f1 = _sources_f1(sources, gold_ids)
    label = _judge_label(row)
    if answer is None or not answer.strip():
        rung, decided_by, reason = "no_answer", "missing", "ended without an answer"
    elif label is not None:
        rung, decided_by, reason = JUDGE_LABELS[label], "judge", f"judge label {label}"
    elif says_no_answer(answer):
        rung, decided_by, reason = "no_answer", "refusal", "says it found no answer"
    else:
        gold = row.get("gold_answer", row.get("answer"))
        if gold is None or not str(gold).strip():
            raise RewardError(f"reward 'answer_ladder': task {row.get('id')!r} has no gold_answer and no judge_label: "
                              "a right answer cannot be told from a wrong one")
        right = answer_matches(answer, str(gold))
        rung, decided_by = ("right" if right else "wrong"), "match"
        f1 = answer_f1(answer, str(gold))
        reason = f"{'matches' if right else 'does not match'} the gold answer (token F1 {f1:.2f})"
    value = LADDER_SCORES[rung]
    if rung in ("right", "wrong") and sources_f1 is not None:
        value += SOURCES_BONUS * sources_f1
    if rung == "right":
        budget = _turn_budget(row)
        value += TURNS_BONUS * max(0.0, (budget - max(turns, 1)) / (budget - 1))
    return AnswerGrade(rung, value, decided_by, answer, sources, sources_f1, turns, reason)


@register_reward("answer_ladder", value_range=(LADDER_SCORES["format_error"],
                                               LADDER_SCORES["right"] + SOURCES_BONUS + TURNS_BONUS))
def answer_ladder(trace: Trace, **row: Any) -> float:
    """The answer ladder (module docstring): format error -1.0 < wrong answer [-0.5, -0.2] < no answer 0.0 < right
    answer [1.0, 1.4], with bonuses for citing the row's `message_ids` and, for a right answer, for fewer turns.
    Reads `gold_answer`, `message_ids`, `judge_label`, `tools` and `max_turns` from the row (see `grade_answer`)."""
    return grade_answer(trace, row).value

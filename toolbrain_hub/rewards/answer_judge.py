"""The answer judge: an LLM labels an agent's answer to a question, against the gold answer, as CORRECT, INCORRECT or
NO_ANSWER (the paper's email-agent judge, and ART-E's), and the audit that says whether to trust it.

A text match cannot tell "May 14" from "the meeting was moved from May 14", or a guess that lists three names from
an answer; a judge reading the question, the gold answer and the agent's answer can. Its labels feed the answer ladder
(`rewards.answer_ladder`: INCORRECT is a wrong answer, NO_ANSWER no answer) in training, and `evaluate(...,
judge=...)`'s judged correctness, hallucination and no-answer rates.

It asks as the group judge does (`rewards.judge.ask_with_retries`: any `ChatModel`, a local model or an endpoint;
an invalid reply is shown back and retried; a timeout is retried; after the last attempt `JudgeError`, or a configured
fallback label that is logged and counted), and caches each labelled (question, gold, answer) by the exact prompt.

```python
judge = AnswerJudge("https://router.huggingface.co/v1#Qwen/Qwen2.5-72B-Instruct")
judge.label("When is the Q3 review?", "May 14, 2001", "It was moved to May 14.")   # "CORRECT"
audit = audit_judge(judge, questions)          # agreement with known labels; warns below 0.8
trainer = GRPOTrainer(..., reward_funcs=[judge.as_reward_func()])   # the ladder with the judge's labels
```
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..models.chat import ChatModel, get_chat_model
from ..traces.json_reply import extract_json, strip_think
from ..traces.trace import Trace
from .answer_ladder import JUDGE_LABELS, answer_ladder, answer_matches, format_problem, submitted_answer
from .judge import JudgeError, JudgeStats, ask_with_retries, judgment_key, log_judge_stats, task_query
from .registry import rows_from_trl, score, traces_from_trl

logger = logging.getLogger(__name__)

__all__ = ["LABELS", "AnswerJudge", "AnswerLabel", "JudgeAudit", "audit_judge", "parse_label"]

LABELS = tuple(JUDGE_LABELS)  # "CORRECT", "INCORRECT", "NO_ANSWER"
# Bump when the prompt or reply format changes, so cached labels of the old prompt are not reused.
PROMPT_VERSION = "1"

_SYSTEM = """\
You grade the answer an AI agent gave to a question, against the reference answer, which is right.
Give exactly one label:
- CORRECT: the agent's answer states the reference answer's fact. Wording, word order, format and extra detail may
  differ; names, numbers, dates and amounts must agree.
- INCORRECT: the agent gives an answer that is not the reference answer: another fact, another name, number or date,
  a guess among several options, or only part of the answer.
- NO_ANSWER: the agent gives no answer: it says it could not find it or does not know, or asks for more information.
Reply with only a JSON object, no other text:
{"label": "CORRECT" | "INCORRECT" | "NO_ANSWER", "explanation": "<one short sentence>"}"""

_LABEL_WORD = re.compile(r"\b(NO[ _-]?ANSWER|INCORRECT|CORRECT)\b")


@dataclass
class AnswerLabel:
    """One judged answer.

    Args:
        label: "CORRECT", "INCORRECT" or "NO_ANSWER".
        explanation: The judge's reason (empty for an answer that was not asked about).
        attempts: Requests this label cost (0: from the cache, or no answer to judge).
        cached: Whether it came from the cache.
        fallback_used: Whether every attempt failed and the configured fallback label was used.
        error: Why the fallback was used.
        model_id: The judge model.
    """

    label: str
    explanation: str = ""
    attempts: int = 1
    cached: bool = False
    fallback_used: bool = False
    error: str | None = None
    model_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerLabel:
        return cls(**data)


def _label_name(value: Any) -> str | None:
    name = re.sub(r"[\s-]+", "_", str(value).strip().upper())
    return "NO_ANSWER" if name == "NOANSWER" else name if name in LABELS else None


def parse_label(text: str) -> tuple[str, str]:
    """Read a judge reply into (label, explanation).

    The reply should be `{"label": ..., "explanation": ...}` (alone, in a fence, after a <think> block or amid
    prose); the label's case, spaces and hyphens do not matter ("no answer"). A reply without such an object is read
    as text: it must name exactly one label, in capitals ("INCORRECT: the date is wrong").

    Raises:
        ValueError: naming the problem (no label, an unknown label, several labels), to show the judge on retry.
    """
    try:
        data = extract_json(text, kind=dict)
    except ValueError:
        data = None
    if isinstance(data, dict):
        key = next((k for k in ("label", "verdict", "grade") if k in data), None)
        if key is not None:
            label = _label_name(data[key])
            if label is None:
                raise ValueError(f"label {data[key]!r} is not one of {', '.join(LABELS)}")
            return label, str(data.get("explanation") or data.get("reason") or "")
    found = {_label_name(m.group(1)) for m in _LABEL_WORD.finditer(strip_think(text or ""))}
    if len(found) == 1:
        return found.pop(), ""
    if not found:
        raise ValueError(f'the reply holds no label: give {{"label": ...}} with one of {", ".join(LABELS)}')
    raise ValueError(f"the reply names several labels ({', '.join(sorted(found))}); give exactly one")


class AnswerJudge:
    """Labels answers CORRECT, INCORRECT or NO_ANSWER against gold answers, with an LLM, strictly.

    Args:
        model: A `ChatModel`, or a spec for `chat.get_chat_model`: an http(s) endpoint URL (optionally
            "url#model-name"), a built-in model name, a folder or a Hub id.
        max_retries: Extra attempts after an invalid reply, a timeout or an endpoint error.
        fallback: The label to give when every attempt failed (logged as a warning and counted in `stats`); None
            raises `JudgeError`.
        cache: Reuse the label of an identical (judge, question, gold, answer) instead of asking again.
        timeout: Seconds per judge request (endpoints).
        max_new_tokens: Reply budget.
        temperature: Judge sampling temperature (0: greedy).
        max_answer_chars: Longer answers are cut in the middle to this many characters.
        token: Bearer token for an endpoint spec (never logged or cached).
    """

    def __init__(self, model: ChatModel | str, *, max_retries: int = 2, fallback: str | None = None,
                 cache: bool = True, timeout: float = 120.0, max_new_tokens: int = 128, temperature: float = 0.0,
                 max_answer_chars: int = 2000, token: str | None = None):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if fallback is not None and _label_name(fallback) is None:
            raise ValueError(f"fallback must be None or one of {', '.join(LABELS)}, got {fallback!r}")
        self.model = get_chat_model(model, token=token, timeout=timeout)
        self.max_retries = max_retries
        self.fallback = None if fallback is None else _label_name(fallback)
        self.cache_enabled = cache
        self.timeout = timeout
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_answer_chars = max_answer_chars
        self.stats = JudgeStats()  # `groups` counts the answers labelled
        self.label_counts: Counter[str] = Counter()
        self._cache: dict[str, AnswerLabel] = {}

    @property
    def model_id(self) -> str:
        return getattr(self.model, "model_id", "") or type(self.model).__name__

    def build_messages(self, question: str, gold: str, answer: str) -> list[dict]:
        """The judge's prompt for one answer: system (labels, reply format) and user (question, gold, answer)."""
        if len(answer) > self.max_answer_chars:
            half = self.max_answer_chars // 2
            answer = f"{answer[:half]} [... {len(answer) - 2 * half} characters cut ...] {answer[-half:]}"
        user = (f"Question: {question.strip()}\nReference answer: {gold.strip()}\nAgent's answer: {answer.strip()}\n\n"
                "Label the agent's answer. Reply with the JSON object only.")
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]

    def grade(self, question: str, gold: str, answer: str | None) -> AnswerLabel:
        """Label one answer, with the judge's explanation and what it cost.

        An empty answer (or None: the agent ended without one) is NO_ANSWER without asking the judge.

        Args:
            question: The question the agent was asked.
            gold: The reference answer.
            answer: The agent's answer.

        Raises:
            ValueError: an empty gold answer (there is nothing to judge against).
            JudgeError: no valid reply after `1 + max_retries` attempts and no fallback configured.
        """
        if gold is None or not str(gold).strip():
            raise ValueError(f"the answer judge needs a gold answer to judge against (question {question!r})")
        self.stats.groups += 1
        if answer is None or not str(answer).strip():
            self.label_counts["NO_ANSWER"] += 1
            return AnswerLabel("NO_ANSWER", "no answer was given", attempts=0, model_id=self.model_id)
        messages = self.build_messages(str(question), str(gold), str(answer))
        key = judgment_key(PROMPT_VERSION, self.model_id, self.temperature, messages)
        if self.cache_enabled and key in self._cache:
            self.stats.cache_hits += 1
            self.label_counts[self._cache[key].label] += 1
            return replace(self._cache[key], attempts=0, cached=True)

        def retry_prompt(problem: str) -> str:
            return (f"Your reply was rejected: {problem}. Reply again with only the JSON object, its label one of "
                    f"{', '.join(LABELS)}.")

        asked = ask_with_retries(self.model, messages, parse_label, retry_prompt, stats=self.stats,
                                 max_retries=self.max_retries, max_new_tokens=self.max_new_tokens,
                                 temperature=self.temperature, timeout=self.timeout, model_id=self.model_id)
        if asked.ok:
            label, explanation = asked.value
            result = AnswerLabel(label, explanation, attempts=asked.attempts, model_id=self.model_id)
            if self.cache_enabled:
                self._cache[key] = result
        else:
            self.stats.failures += 1
            summary = (f"Judge {self.model_id} gave no valid label after {asked.attempts} attempt(s): "
                       + " | ".join(asked.errors))
            if self.fallback is None:
                raise JudgeError(summary)
            self.stats.fallbacks += 1
            logger.warning("%s. Using the configured fallback label %s (fallback #%d).", summary, self.fallback,
                           self.stats.fallbacks)
            result = AnswerLabel(self.fallback, "fallback: judge failed", attempts=asked.attempts,
                                 fallback_used=True, error=summary, model_id=self.model_id)
        self.label_counts[result.label] += 1
        return result

    def label(self, question: str, gold: str, answer: str | None) -> str:
        """The label of one answer: "CORRECT", "INCORRECT" or "NO_ANSWER" (see `grade`)."""
        return self.grade(question, gold, answer).label

    def label_many(self, questions: list[str], golds: list[str], answers: list[str | None]) -> list[str]:
        """`label` over parallel lists, in order (repeated answers come from the cache).

        Raises:
            ValueError: lists of different lengths; see `grade`.
        """
        if not len(questions) == len(golds) == len(answers):
            raise ValueError(f"label_many needs lists of one length, got {len(questions)} questions, {len(golds)} "
                             f"gold answers and {len(answers)} answers")
        return [self.label(q, g, a) for q, g, a in zip(questions, golds, answers, strict=True)]

    def label_trace(self, trace: Trace, row: dict[str, Any], prompt: Any = None) -> AnswerLabel | None:
        """Label the answer an episode submitted (`submitted_answer`) against its task's gold answer.

        Args:
            trace: The episode.
            row: The task's columns: `gold_answer` (or `answer`), and the question as `query` or `question` (else
                `prompt`, a chat prompt whose last user message is the question).
            prompt: The prompt to read the question from when the row has no query or question column.

        Returns:
            The label, or None when the task has no gold answer (there is nothing to judge against).

        Raises:
            JudgeError: see `grade`.
        """
        gold = row.get("gold_answer", row.get("answer"))
        if gold is None or not str(gold).strip():
            return None
        source = row if any(row.get(k) for k in ("query", "question")) or prompt is None else {"prompt": prompt}
        return self.grade(task_query(source), str(gold), submitted_answer(trace)[0])

    def as_reward_func(self, name: str = "answer_judge") -> Callable[..., list[float]]:
        """A TRL reward function: the answer ladder (`rewards.answer_ladder`) with this judge's labels.

        Each completion's answer (`submitted_answer`) is labelled against the row's `gold_answer` (the question: the
        row's query/question column, else the prompt's last user message) and the label goes to the ladder as the
        row's `judge_label`; an episode the ladder calls a format error is not sent to the judge. The labels go to
        TRL's completions table (`<name>_label`), their shares and the judge's cost to its metrics (`<name>/...`).

        Args:
            name: The function's `__name__`, under which TRL logs its reward.
        """

        def reward(prompts: list, completions: list, **kwargs: Any) -> list[float]:
            traces = traces_from_trl(prompts, completions, **kwargs)
            rows = rows_from_trl(len(completions), **kwargs)
            before = self.stats.snapshot()
            labels: list[str | None] = []
            for trace, row, prompt in zip(traces, rows, prompts, strict=True):
                graded = None if format_problem(trace, row) is not None else self.label_trace(trace, row, prompt)
                labels.append(None if graded is None else graded.label)
            values = score(answer_ladder, traces, [{**row, "judge_label": label} for row, label in
                                                   zip(rows, labels, strict=True)], name=name)
            log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
            log_judge_stats(log_metric, name, before, self.stats)
            judged = [label for label in labels if label is not None]
            if callable(log_metric) and judged:
                for label in LABELS:
                    log_metric(f"{name}/{label.lower()}", judged.count(label) / len(judged))
            if callable(log_extra):
                log_extra(f"{name}_label", [label or "" for label in labels])
            return values

        reward.__name__ = reward.__qualname__ = name
        return reward


# ---------------------------------------------------------------------------------------------------------------------
# The audit

# Light rewordings of a gold answer: still CORRECT.
REWORDINGS = ("The answer is {gold}.", "According to the emails: {gold}", "It's {gold}, as the email says.")
# Refusals: NO_ANSWER.
REFUSALS = ("I could not find this information in the emails.", "I don't know.",
            "There is no email in the inbox that answers this question.",
            "I was unable to find the answer, sorry.")


@dataclass
class JudgeAudit:
    """How often a judge's labels agree with labels known to be right (`audit_judge`).

    Args:
        cases: Answers judged.
        agreement: Share of cases whose label is the known one (None without cases).
        per_label: Agreement among the cases of each known label (None for a label without cases).
        by_case: Agreement per kind of case: "gold" (the gold answer itself), "reworded", "other_answer" (another
            question's answer), "refusal", "given" (labelled records).
        confusion: {known label: {judge's label: count}}; "ERROR" counts cases the judge gave no label for.
        trusted: Whether agreement reached `warn_below`.
        warn_below: The threshold.
        model_id: The judge model.
        disagreements: Up to 20 cases the judge got wrong: question, gold, answer, case, expected, got.
    """

    cases: int
    agreement: float | None
    per_label: dict[str, float | None]
    by_case: dict[str, float | None]
    confusion: dict[str, dict[str, int]]
    trusted: bool
    warn_below: float
    model_id: str = ""
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeAudit:
        return cls(**data)

    def to_markdown(self) -> str:
        """The agreement, per label, and the confusion table, as Markdown."""
        share = "n/a" if self.agreement is None else f"{self.agreement:.1%}"
        verdict = "trusted" if self.trusted else f"NOT trusted (agreement below {self.warn_below:.0%})"
        lines = [f"Judge `{self.model_id}`: agreement {share} on {self.cases} cases: {verdict}", "",
                 "| known \\ judge | " + " | ".join([*LABELS, "ERROR"]) + " | agreement |", "|---" * 6 + "|"]
        for label in LABELS:
            row = self.confusion.get(label, {})
            agree = self.per_label.get(label)
            lines.append(f"| {label} | " + " | ".join(str(row.get(k, 0)) for k in [*LABELS, "ERROR"])
                         + f" | {'n/a' if agree is None else f'{agree:.1%}'} |")
        return "\n".join(lines) + "\n"


def _field(record: dict[str, Any], *names: str) -> str | None:
    value = next((record[n] for n in names if record.get(n) not in (None, "")), None)
    return None if value is None else str(value)


def _audit_cases(records: list[Any]) -> list[dict[str, str]]:
    """The audit's cases: (question, gold, answer, expected label, case kind), from labelled records as given and
    four cases per unlabelled record whose label is known by construction."""
    rows = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in records]
    plain = []
    cases = []
    for i, row in enumerate(rows):
        question, gold = _field(row, "question", "query"), _field(row, "gold_answer", "answer")
        if question is None or gold is None:
            raise ValueError(f"audit record {i} needs a question (question/query) and a gold answer "
                             f"(gold_answer/answer); it has {sorted(row)}")
        if row.get("label") not in (None, ""):
            label = _label_name(row["label"])
            if label is None:
                raise ValueError(f"audit record {i}: label {row['label']!r} is not one of {', '.join(LABELS)}")
            answer = _field(row, "agent_answer", "response", "prediction")
            if answer is None:
                raise ValueError(f"audit record {i} has a label but no agent_answer to judge")
            cases.append({"question": question, "gold": gold, "answer": answer, "expected": label, "case": "given"})
        else:
            plain.append((question, gold))
    for i, (question, gold) in enumerate(plain):
        cases.append({"question": question, "gold": gold, "answer": gold, "expected": "CORRECT", "case": "gold"})
        cases.append({"question": question, "gold": gold, "answer": REWORDINGS[i % len(REWORDINGS)].format(gold=gold),
                      "expected": "CORRECT", "case": "reworded"})
        # Another question's answer that is not (and does not hold) this one: INCORRECT.
        others = [g for _, g in plain[i + 1:] + plain[:i]
                  if not answer_matches(g, gold) and not answer_matches(gold, g)]
        if others:
            cases.append({"question": question, "gold": gold, "answer": others[0], "expected": "INCORRECT",
                          "case": "other_answer"})
        cases.append({"question": question, "gold": gold, "answer": REFUSALS[i % len(REFUSALS)],
                      "expected": "NO_ANSWER", "case": "refusal"})
    return cases


def audit_judge(judge: AnswerJudge | ChatModel | str, records: list[Any], *, warn_below: float = 0.8,
                limit: int | None = None) -> JudgeAudit:
    """Check an answer judge on answers whose right label is known, before trusting it as a reward or a metric.

    From each record with a question and a gold answer (`question`/`query`, `gold_answer`/`answer`: ART-E records or
    email task rows) come four cases: the gold answer itself and a light rewording of it (CORRECT), another question's
    answer (INCORRECT), and a refusal (NO_ANSWER). A record that also has a `label` and an `agent_answer` is one case
    of its own with that label. The judge labels every case; the audit reports how often it agrees with the known
    label, overall, per label and per kind of case, with a confusion table. Below `warn_below` it logs a warning and
    says `trusted=False`. A case the judge gives no label for (`JudgeError`) counts as a disagreement ("ERROR").

    Args:
        judge: An `AnswerJudge`, or a model or endpoint spec to make one from.
        records: Dicts (or objects with `to_dict`) as above.
        warn_below: The agreement below which the judge is not to be trusted.
        limit: Use only the first `limit` records.

    Raises:
        ValueError: a record without a question or a gold answer, or with a label that is not one of `LABELS`.
    """
    if not isinstance(judge, AnswerJudge):
        judge = AnswerJudge(judge)
    cases = _audit_cases(list(records)[:limit] if limit is not None else list(records))
    confusion = {label: dict.fromkeys([*LABELS, "ERROR"], 0) for label in LABELS}
    outcomes: list[tuple[dict[str, str], bool]] = []
    for case in cases:
        try:
            got = judge.label(case["question"], case["gold"], case["answer"])
        except JudgeError as e:
            logger.warning("Judge audit: no label for a %s case: %s", case["case"], e)
            got = "ERROR"
        confusion[case["expected"]][got] += 1
        outcomes.append(({**case, "got": got}, got == case["expected"]))

    def share(key: str, value: str | None = None) -> float | None:
        oks = [ok for case, ok in outcomes if value is None or case[key] == value]
        return sum(oks) / len(oks) if oks else None

    agreement = share("expected")
    trusted = agreement is not None and agreement >= warn_below
    audit = JudgeAudit(cases=len(cases), agreement=agreement,
                       per_label={label: share("expected", label) for label in LABELS},
                       by_case={kind: share("case", kind) for kind in dict.fromkeys(c["case"] for c in cases)},
                       confusion=confusion, trusted=trusted, warn_below=warn_below, model_id=judge.model_id,
                       disagreements=[case for case, ok in outcomes if not ok][:20])
    if not trusted:
        logger.warning("Judge %s agrees with the known labels on %s of %d cases, below %.0f%%: do not trust its "
                       "labels as a reward or a metric (per label: %s)", judge.model_id,
                       "no" if agreement is None else f"{agreement:.0%}", len(cases), warn_below * 100,
                       ", ".join(f"{k} {'n/a' if v is None else f'{v:.0%}'}" for k, v in audit.per_label.items()))
    else:
        logger.info("Judge %s agrees with the known labels on %.0f%% of %d cases", judge.model_id, agreement * 100,
                    len(cases))
    return audit

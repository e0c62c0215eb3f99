"""Questions about an inbox (OpenPipe ART-E's layout): records read and checked, and turned into a task set.

A record: `question`, `answer` (a short fact), `message_ids` (the messages that state it), `inbox_address` (whose
mail), `query_date` (the day the question is asked: only mail sent before it may be read), `how_realistic` (0..1,
default 1), and, when present, `id` and `split`. Sources: a .jsonl/.json/.parquet file, a folder of them (a folder
holding `questions.jsonl`, such as the demo corpus's, reads that file), or a Hub dataset repo (ART-E's own is
`corbt/enron_emails_sample_questions`).

As a task set (`tasks.taskset`'s columns plus `EXTRA_COLUMNS`): `query` is the question; `prompt` a system message
naming the inbox and today's date (the query date) and saying how to use the tools, then the question; `tools` the
three email tools; `gold_answer` the answer; `expected_calls` "[]" (the right searches are open-ended: email tasks are
scored by the answer, never by calls); `kind` "email_search"; `difficulty` from the number of cited messages (one
easy, two medium, more hard); `id` "email-<record id>".
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..tasks.taskset import GenerationReport, TaskError, TaskSet, coverage, task_features, task_row
from ..tools.schemas import ToolSpec

__all__ = ["EMAIL_KIND", "EMAIL_SYSTEM_PROMPT", "EXTRA_COLUMNS", "EmailQuestion", "QuestionError", "email_request",
           "email_task_features", "import_questions", "load_questions", "normalize_date", "question_prompt",
           "questions_to_tasks", "save_questions"]

EMAIL_KIND = "email_search"
EXTRA_COLUMNS = ["inbox_address", "query_date", "message_ids", "how_realistic"]
REQUIRED = ("question", "answer", "message_ids", "inbox_address", "query_date")
QUESTIONS_FILE = "questions.jsonl"  # what a folder of questions (the demo corpus) holds
# One system prompt for every question: an agent has one (its spec stores it, and `load_agent` prompts with it), so
# what differs per question (the inbox, today's date) is said in the user's message, `email_request`.
EMAIL_SYSTEM_PROMPT = (
    "You are an email research assistant. The user's message names their inbox and today's date, then asks a "
    "question. Answer it from the emails in that inbox sent before today. Search with search_emails (pass the inbox "
    "address and a few keywords; from_addr, to_addr, sent_after and sent_before narrow it down), read a promising "
    "email in full with read_email, and when you know the answer call return_final_answer with a short answer and "
    "the message ids of the emails that state it. If the emails do not say, call return_final_answer with \"I don't "
    "know\" and no sources rather than guessing.")
_TEST_SPLITS = {"test", "validation", "valid", "eval", "dev"}


class QuestionError(TaskError):
    """A question record, file or setting is not usable; the message names the file, the row and the field."""


@dataclass
class EmailQuestion:
    """One question about an inbox.

    Args:
        question: What the inbox owner asks.
        answer: The short fact that answers it.
        message_ids: The messages that state the answer.
        inbox_address: The inbox (its owner's address).
        query_date: When it is asked (ISO date or UTC date-time, `normalize_date`): mail sent before it is visible.
        how_realistic: How likely a real person asks it, 0..1.
        id: A stable id (the record's, else a hash of question, inbox and date).
        split: "train", "test" or "" (not given).
    """

    question: str
    answer: str
    message_ids: list[str]
    inbox_address: str
    query_date: str
    how_realistic: float = 1.0
    id: str = ""
    split: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # a generated question's provenance (model, emails)

    def __post_init__(self):
        if not self.id:
            key = f"{self.question}\n{self.inbox_address}\n{self.query_date}"
            self.id = hashlib.sha1(key.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["extra"]:
            del out["extra"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "a question record") -> EmailQuestion:
        """A checked record.

        Args:
            data: The record (ART-E's fields; unknown ones are ignored).
            where: Where it comes from, for errors ("questions.jsonl, line 3").

        Raises:
            QuestionError: naming `where` and the field.
        """
        if not isinstance(data, dict):
            raise QuestionError(f"{where}: a question record must be an object, got {type(data).__name__}")
        missing = [name for name in REQUIRED if data.get(name) is None]
        if missing:
            raise QuestionError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                f"(a record needs {', '.join(REQUIRED)})")
        values: dict[str, Any] = {}
        for name in ("question", "answer", "inbox_address"):
            text = data[name]
            if not isinstance(text, str) or not text.strip():
                raise QuestionError(f"{where}: field {name!r} must be non-empty text, got {text!r:.60}")
            values[name] = text.strip()
        if "@" not in values["inbox_address"]:
            raise QuestionError(f"{where}: field 'inbox_address' must be an email address, got "
                                f"{values['inbox_address']!r:.60}")
        values["message_ids"] = _message_ids(data["message_ids"], where)
        try:
            values["query_date"] = normalize_date(data["query_date"])
        except ValueError as e:
            raise QuestionError(f"{where}: field 'query_date': {e}") from None
        realistic = data.get("how_realistic")
        if realistic is not None:
            if isinstance(realistic, bool) or not isinstance(realistic, int | float) or not 0 <= realistic <= 1:
                raise QuestionError(f"{where}: field 'how_realistic' must be a number from 0 to 1, got "
                                    f"{realistic!r:.40}")
            values["how_realistic"] = float(realistic)
        if data.get("id") is not None:
            if not isinstance(data["id"], str | int) or isinstance(data["id"], bool) or not str(data["id"]).strip():
                raise QuestionError(f"{where}: field 'id' must be text or a whole number, got {data['id']!r:.40}")
            values["id"] = str(data["id"]).strip()
        if data.get("split") is not None:
            if not isinstance(data["split"], str):
                raise QuestionError(f"{where}: field 'split' must be text, got {data['split']!r:.40}")
            values["split"] = data["split"].strip().lower()
        if isinstance(data.get("extra"), dict):
            values["extra"] = data["extra"]
        return cls(**values)


def _message_ids(value: Any, where: str) -> list[str]:
    if isinstance(value, str):  # a task row's JSON list, or one id
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [text]
        except json.JSONDecodeError:
            raise QuestionError(f"{where}: field 'message_ids' is not a JSON list ({text[:60]!r})") from None
    if hasattr(value, "tolist"):  # a numpy array from a parquet reader
        value = value.tolist()
    if not isinstance(value, list | tuple) or not value:
        raise QuestionError(f"{where}: field 'message_ids' must be a non-empty list of message ids, got {value!r:.60}")
    ids = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise QuestionError(f"{where}: field 'message_ids' must hold message ids (text), got {item!r:.60}")
        ids.append(item.strip())
    return ids


def normalize_date(value: Any) -> str:
    """A date as the email index compares it: "2001-05-14" for a day, "2001-05-14T16:39:00Z" (UTC) for a moment.

    Args:
        value: A `date`, a `datetime` (naive: UTC), or ISO 8601 text ("2001-05-14", "2001-05-14 16:39:00",
            "2001-05-14T16:39:00-05:00", "...Z").

    Raises:
        ValueError: not a date.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO date such as 2001-05-14 or 2001-05-14T16:39:00Z: {text[:40]!r}") from None
    else:
        raise ValueError(f"not an ISO date such as 2001-05-14: {value!r:.40}")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_questions(source: str | Path, *, min_realistic: float = 0.0, limit: int | None = None,
                   token: str | None = None, revision: str | None = None) -> list[EmailQuestion]:
    """Read and check question records.

    Args:
        source: A .jsonl/.json/.parquet file, a folder of them (one holding questions.jsonl reads just that), or a
            Hub dataset repo id.
        min_realistic: Keep only records whose `how_realistic` is at least this.
        limit: Keep at most this many (in file order).
        token: A token for a private or gated Hub repo.
        revision: A branch or commit of the Hub repo.

    Raises:
        QuestionError: a bad record (naming the file, the row or line, and the field), two records with one id, or
            no record at all. A file that is not JSON, JSON Lines or parquet raises TaskError naming it.
    """
    from ..tasks.importers import read_rows

    path = Path(str(source)).expanduser()
    if path.is_dir() and (path / QUESTIONS_FILE).is_file():
        source = path / QUESTIONS_FILE
    questions: list[EmailQuestion] = []
    seen: dict[str, str] = {}
    for where, row in read_rows(source, token=token, revision=revision):
        if limit is not None and len(questions) >= limit:
            break
        question = EmailQuestion.from_dict(row, where=where)
        if question.id in seen:
            raise QuestionError(f"{where}: field 'id': {question.id!r} is already the id of {seen[question.id]}")
        seen[question.id] = where
        if question.how_realistic >= min_realistic:
            questions.append(question)
    if not questions:
        raise QuestionError(f"{source}: no question records" + (f" with how_realistic >= {min_realistic}"
                                                                 if min_realistic > 0 else ""))
    return questions


def save_questions(questions: list[EmailQuestion], path: str | Path) -> Path:
    """Write questions as JSON Lines, one record a line (what `load_questions` reads back).

    Args:
        questions: The questions.
        path: The .jsonl file (its folder is created).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(q.to_dict(), ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------
# Task sets


def email_task_features():
    """The `datasets.Features` of an email task set: the task columns, then `EXTRA_COLUMNS`."""
    from datasets import Features, Value

    return Features({**task_features(), "inbox_address": Value("string"), "query_date": Value("string"),
                     "message_ids": Value("string"), "how_realistic": Value("float64")})


def email_request(question: EmailQuestion) -> str:
    """The user's message of a question: their inbox and today's date, then the question (the task's `query`)."""
    return f"Inbox: {question.inbox_address}\nToday's date: {question.query_date}\n\n{question.question}"


def question_prompt(question: EmailQuestion, system_prompt: str = EMAIL_SYSTEM_PROMPT) -> list[dict[str, str]]:
    """The chat prompt of a question: the system message, then the user's message (`email_request`).

    Args:
        question: The question.
        system_prompt: The agent's system message (the same for every question).
    """
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": email_request(question)}]


def questions_to_tasks(questions: list[EmailQuestion], *, test_size: float | None = None, seed: int = 0,
                       system_prompt: str = EMAIL_SYSTEM_PROMPT, tools: list[ToolSpec] | None = None,
                       generator: str = "import:art-e", settings: dict[str, Any] | None = None,
                       report: GenerationReport | None = None) -> TaskSet:
    """Questions as a task set that training and evaluation load like any other (`tasks.save_tasks`).

    Args:
        questions: The questions (`load_questions`, `generate_questions`).
        test_size: Fraction in "test", drawn with `seed`. None: the records' own splits when every record has one
            ("validation", "eval" and "dev" count as test), else 0.2.
        seed: Seed of the drawn split.
        system_prompt: The system message of every task (the inbox and date are in each user message).
        tools: The tools the tasks are run with (default: the three email tools, `email.tools.email_tool_specs`).
        generator: What made the questions (the report's and the rows' `generator`).
        settings: More to record in the report's settings (the source...).
        report: The report of the generation that made the questions (`generate_questions`): its attempts,
            rejections and settings are kept in the task set's report.

    Raises:
        QuestionError: no questions or a bad test_size.
    """
    from datasets import Dataset, DatasetDict

    if not questions:
        raise QuestionError("no questions to turn into tasks")
    if test_size is not None and not 0 <= test_size < 1:
        raise QuestionError(f"test_size must be in [0, 1), got {test_size}")
    if tools is None:
        from .tools import email_tool_specs

        tools = email_tool_specs()
    start = time.perf_counter()
    rows = [_row(q, tools, system_prompt, generator) for q in questions]
    own = test_size is None and all(q.split for q in questions)
    share = 0.2 if test_size is None else test_size
    if own:
        for row, q in zip(rows, questions, strict=True):
            row["split"] = "test" if q.split in _TEST_SPLITS else "train"
    else:
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        for i in order[: round(len(rows) * share)]:
            rows[i]["split"] = "test"
    features = email_task_features()
    splits = {}
    for name in ("train", "test"):
        part = [r for r in rows if r["split"] == name]
        if part or name == "train":
            splits[name] = Dataset.from_dict({c: [r[c] for r in part] for c in features}, features=features)
    dataset = DatasetDict(splits)
    if report is None:
        report = GenerationReport(generator=generator, seed=seed, requested=len(questions), attempts=len(rows))
    else:
        report = GenerationReport.from_dict(report.to_dict())  # a copy: the generation's own report stays as it was
    report.kept = len(rows)
    report.settings.update({"system_prompt": system_prompt, "kind": EMAIL_KIND,
                            "split": "records" if own else f"drawn, test_size {share}", **(settings or {})})
    report.coverage = coverage(dataset, tools)
    report.elapsed_s = round(report.elapsed_s + time.perf_counter() - start, 3)
    return TaskSet(dataset=dataset, tools=tools, report=report)


def _row(q: EmailQuestion, tools: list[ToolSpec], system_prompt: str, generator: str) -> dict[str, Any]:
    row = task_row(email_request(q), [], tools, kind=EMAIL_KIND, generator=generator, gold_answer=q.answer,
                   difficulty="easy" if len(q.message_ids) == 1 else "medium" if len(q.message_ids) == 2 else "hard")
    row.update(id=f"email-{q.id}", prompt=question_prompt(q, system_prompt), inbox_address=q.inbox_address,
               query_date=q.query_date, message_ids=json.dumps(q.message_ids, ensure_ascii=False),
               how_realistic=q.how_realistic)
    return row


def import_questions(source: str | Path, *, test_size: float | None = None, seed: int = 0,
                     min_realistic: float = 0.0, limit: int | None = None, system_prompt: str = EMAIL_SYSTEM_PROMPT,
                     tools: list[ToolSpec] | None = None, check: Any = None, search: bool = True,
                     token: str | None = None, revision: str | None = None) -> TaskSet:
    """`load_questions` then `questions_to_tasks`: question records (a file, a folder, a Hub repo) as a task set.

    Args:
        source: See `load_questions`.
        test_size: See `questions_to_tasks`.
        seed: Seed of a drawn split.
        min_realistic: Keep only records whose `how_realistic` is at least this.
        limit: Keep at most this many records.
        system_prompt: The system message template.
        tools: The tools (default: the three email tools).
        check: An email index (an `EmailIndex` or its file): keep only the questions it confirms
            (`email.checks.check_question`: cited messages in the inbox, sent before the date, stating the answer);
            the others are counted by reason in the report.
        search: With `check`, also require a keyword search on the question to find a cited email.
        token: A token for a private or gated Hub repo.
        revision: A branch or commit of the Hub repo.

    Raises:
        QuestionError: see `load_questions`; or no question passed the check.
    """
    questions = load_questions(source, min_realistic=min_realistic, limit=limit, token=token, revision=revision)
    settings = {"source": str(source), **({"min_realistic": min_realistic} if min_realistic else {})}
    report = GenerationReport(generator="import:art-e", seed=seed, requested=len(questions),
                              attempts=len(questions))
    if check is not None:
        from .checks import check_question
        from .index import EmailIndex

        index = check if isinstance(check, EmailIndex) else EmailIndex(check)
        kept = []
        for q in questions:
            problem = check_question(index, q, search=search)
            if problem is None:
                kept.append(q)
                continue
            reason = problem.split(":", 1)[0]
            report.rejected[reason] = report.rejected.get(reason, 0) + 1
            if len(report.examples) < 10:
                report.examples.append(f"question {q.id}: {problem}"[:300])
        if not kept:
            reasons = ", ".join(f"{k} {v}" for k, v in report.rejected.items())
            raise QuestionError(f"{source}: no question is confirmed by the email index {index.path} ({reasons}); "
                                f"first: {report.examples[0]}")
        questions = kept
        settings["checked_against"] = str(index.path)
    return questions_to_tasks(questions, test_size=test_size, seed=seed, system_prompt=system_prompt, tools=tools,
                              settings=settings, report=report)

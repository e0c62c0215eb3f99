"""ART-E question records (toolbrain_hub.email.questions): read from files, folders and a Hub dataset repo, checked
with errors naming the file, the row and the field, turned into an email_search task set that loads like any other,
and the `toolbrain-hub email demo` / `email questions` commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from toolbrain_hub.email.demo import make_demo_corpus
from toolbrain_hub.email.questions import (
    EMAIL_KIND,
    EMAIL_SYSTEM_PROMPT,
    EXTRA_COLUMNS,
    EmailQuestion,
    QuestionError,
    import_questions,
    load_questions,
    normalize_date,
    questions_to_tasks,
)
from toolbrain_hub.tasks.taskset import COLUMNS, TaskError, load_tasks, load_taskset, save_tasks

ROOT = Path(__file__).resolve().parents[1]
RECORDS = [
    {"id": 7, "question": "When is the quarterly review with Sara scheduled?", "answer": "Thursday, May 17 at 2:00 PM",
     "message_ids": ["<1.1075840007919.JavaMail.evans@thyme>"], "inbox_address": "kay.mann@enron.com",
     "query_date": "2001-05-14", "how_realistic": 0.9, "split": "train"},
    {"id": 8, "question": "What price did we agree for the Houston Pipe Line capacity?", "answer": "$0.245/MMBtu",
     "message_ids": ["<2.1075840015838.JavaMail.evans@thyme>", "<3.1075840023757.JavaMail.evans@thyme>"],
     "inbox_address": "kay.mann@enron.com", "query_date": "2001-06-02T15:30:00-05:00", "how_realistic": 0.95,
     "split": "test"},
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_demo_corpus(tmp_path_factory.mktemp("demo"), seed=1)


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_demo_corpus_questions_load_through_the_loader(corpus):
    questions = load_questions(corpus.root)  # the folder: its questions.jsonl, not demo_corpus.json
    assert len(questions) == corpus.questions
    raw = [json.loads(line) for line in corpus.questions_path.read_text().splitlines()]
    assert [q.question for q in questions] == [r["question"] for r in raw]
    assert [q.id for q in questions] == [str(r["id"]) for r in raw]
    assert {q.inbox_address for q in questions} == set(corpus.inboxes.values())
    assert load_questions(corpus.questions_path, limit=5) == questions[:5]
    realistic = load_questions(corpus.root, min_realistic=0.9)
    assert realistic and all(q.how_realistic >= 0.9 for q in realistic) and len(realistic) < len(questions)


def test_jsonl_json_parquet_and_folders_read_the_same_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = load_questions(_write_jsonl(tmp_path / "q.jsonl", RECORDS))
    (tmp_path / "q.json").write_text(json.dumps({"questions": RECORDS}))
    assert load_questions(tmp_path / "q.json") == jsonl
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(RECORDS[:1]), repo / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(RECORDS[1:]), repo / "test-00000-of-00001.parquet")
    assert sorted(load_questions(tmp_path / "repo"), key=lambda q: q.id) == jsonl
    first = jsonl[0]
    assert first.id == "7" and first.split == "train" and first.message_ids == RECORDS[0]["message_ids"]
    assert jsonl[1].query_date == "2001-06-02T20:30:00Z"  # a moment, in UTC


def test_a_hub_dataset_repo_is_a_source(hub_server, tmp_path):
    from toolbrain_hub import hub

    folder = tmp_path / "upload"
    (folder / "data").mkdir(parents=True)
    _write_jsonl(folder / "data" / "train.jsonl", RECORDS)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# questions\n")
    repo = f"{hub_server.user}/enron-questions-{uuid.uuid4().hex[:8]}"
    hub.push_folder(folder, repo, repo_type="dataset", token=hub_server.token)
    questions = load_questions(repo, token=hub_server.token)
    assert [q.answer for q in questions] == [r["answer"] for r in RECORDS]


@pytest.mark.parametrize("change, expected", [
    ({"question": None}, r"q.jsonl, line 2: missing field question \(a record needs question, answer"),
    ({"answer": "  "}, r"q.jsonl, line 2: field 'answer' must be non-empty text"),
    ({"message_ids": []}, r"q.jsonl, line 2: field 'message_ids' must be a non-empty list"),
    ({"message_ids": [3]}, r"q.jsonl, line 2: field 'message_ids' must hold message ids"),
    ({"message_ids": "[broken"}, r"q.jsonl, line 2: field 'message_ids' is not a JSON list"),
    ({"inbox_address": "kay"}, r"q.jsonl, line 2: field 'inbox_address' must be an email address"),
    ({"query_date": "last Tuesday"}, r"q.jsonl, line 2: field 'query_date': not an ISO date such as 2001-05-14"),
    ({"query_date": 20010514}, r"q.jsonl, line 2: field 'query_date': not an ISO date"),
    ({"how_realistic": 7}, r"q.jsonl, line 2: field 'how_realistic' must be a number from 0 to 1"),
    ({"how_realistic": "high"}, r"q.jsonl, line 2: field 'how_realistic' must be a number from 0 to 1"),
    ({"id": 7}, r"q.jsonl, line 2: field 'id': '7' is already the id of q.jsonl, line 1"),
    ({"split": 1}, r"q.jsonl, line 2: field 'split' must be text"),
])
def test_bad_records_name_the_file_the_line_and_the_field(tmp_path, change, expected):
    bad = {**RECORDS[1], **change}
    source = _write_jsonl(tmp_path / "q.jsonl", [RECORDS[0], {k: v for k, v in bad.items() if v is not None}])
    with pytest.raises(QuestionError, match=expected):
        load_questions(source)


def test_bad_sources_say_what_is_wrong(tmp_path):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([RECORDS[0], "not a record"]))
    with pytest.raises(QuestionError, match=r"rows.json, row 1: a question record must be an object, got str"):
        load_questions(rows)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(RECORDS[0]) + "\n{\"question\": \n")
    with pytest.raises(TaskError, match=r"broken.jsonl, line 2: not valid JSON"):
        load_questions(broken)
    empty = _write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(QuestionError, match="empty.jsonl: no question records"):
        load_questions(empty)
    with pytest.raises(QuestionError, match=r"no question records with how_realistic >= 0.99"):
        load_questions(_write_jsonl(tmp_path / "q.jsonl", RECORDS), min_realistic=0.99)
    with pytest.raises(TaskError, match="no such file or folder"):
        load_questions(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("value, expected", [
    ("2001-05-14", "2001-05-14"), (" 2001-05-14T00:00:00Z", "2001-05-14"), ("2001-05-14T16:39:00Z",
                                                                            "2001-05-14T16:39:00Z"),
    ("2001-05-14 11:39:00-05:00", "2001-05-14T16:39:00Z"), ("2001-05-14T16:39:00", "2001-05-14T16:39:00Z"),
    (date(2001, 5, 14), "2001-05-14"), (datetime(2001, 5, 14, 16, 39, tzinfo=UTC), "2001-05-14T16:39:00Z"),
])
def test_dates_are_normalized_the_way_the_index_compares_them(value, expected):
    assert normalize_date(value) == expected


def test_questions_become_an_email_task_set_that_loads_like_any_other(tmp_path, corpus):
    from toolbrain_hub.email.tools import email_tool_specs

    questions = load_questions(corpus.root)
    taskset = questions_to_tasks(questions)
    assert list(taskset.dataset) == ["train", "test"]
    assert len(taskset.test) == corpus.splits["test"] and len(taskset.train) == corpus.splits["train"]
    assert taskset.train.column_names == COLUMNS + EXTRA_COLUMNS
    assert [t.name for t in taskset.tools] == [t.name for t in email_tool_specs()]
    row, question = taskset.train[0], next(q for q in questions if q.split == "train")
    assert row["kind"] == EMAIL_KIND and row["expected_calls"] == "[]" and row["gold_answer"] == question.answer
    assert row["id"] == f"email-{question.id}" and json.loads(row["message_ids"]) == question.message_ids
    assert row["inbox_address"] == question.inbox_address and row["query_date"] == question.query_date
    system, user = row["prompt"]
    assert user == {"role": "user", "content": row["query"]} and row["query"].endswith(question.question)
    assert f"Inbox: {question.inbox_address}" in user["content"]
    assert f"Today's date: {question.query_date}" in user["content"]
    assert system["content"] == EMAIL_SYSTEM_PROMPT and "return_final_answer" in system["content"]
    assert json.loads(row["tools"]) == [t.to_openai() for t in email_tool_specs()]
    assert taskset.report.coverage["kind"][EMAIL_KIND] == len(questions)
    folder = save_tasks(taskset, tmp_path / "tasks")
    loaded = load_tasks(folder)
    assert loaded["test"].column_names == COLUMNS + EXTRA_COLUMNS
    assert loaded["train"][0] == row
    again = load_taskset(folder)
    assert again.report.settings["kind"] == EMAIL_KIND and len(again) == len(questions)
    assert "email_search" in (folder / "README.md").read_text()


def test_a_drawn_split_and_a_custom_prompt(tmp_path):
    questions = [EmailQuestion.from_dict({**RECORDS[0], "id": i, "split": None}) for i in range(10)]
    first = questions_to_tasks(questions, seed=3)  # no record splits: 20% drawn
    assert len(first.test) == 2 and first.report.settings["split"] == "drawn, test_size 0.2"
    assert questions_to_tasks(questions, seed=3).test["id"] == first.test["id"]
    assert questions_to_tasks(questions, seed=4).test["id"] != first.test["id"]
    tasks = questions_to_tasks(questions, test_size=0, system_prompt="Answer from the emails.")
    assert "test" not in tasks.dataset and tasks.report.settings["split"] == "drawn, test_size 0"
    # One system prompt for all (an agent has one); the inbox and date are in the user's message, which is the query
    # an evaluation with the agent's spec prompts with.
    system, user = tasks.train[0]["prompt"]
    assert system["content"] == "Answer from the emails."
    assert user["content"] == tasks.train[0]["query"] == (
        f"Inbox: kay.mann@enron.com\nToday's date: 2001-05-14\n\n{questions[0].question}")
    with pytest.raises(QuestionError, match="test_size must be in"):
        questions_to_tasks(questions, test_size=1.5)
    with pytest.raises(QuestionError, match="no questions"):
        questions_to_tasks([])


# ----------------------------------------------------------------------------------------------------------------
# The commands


def run_cli(*args: str):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_cli_email_demo_then_questions(tmp_path):
    done = run_cli("email", "demo", str(tmp_path / "demo"), "--seed", "2", "--users", "4", "--per-user", "45")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "demo" / "demo_corpus.json").read_text())
    assert f"wrote {manifest['emails']} emails in 4 inboxes (7 malformed on purpose) and {manifest['questions']} " \
           "questions" in done.stdout
    assert all(address in done.stdout for address in manifest["inboxes"].values())
    done = run_cli("email", "questions", str(tmp_path / "demo"), "--out", str(tmp_path / "tasks"))
    assert done.returncode == 0, done.stderr
    tasks = import_questions(tmp_path / "demo")
    assert f"{len(tasks)} questions over 4 inboxes (train {len(tasks.train)}, test {len(tasks.test)})" in done.stdout
    assert load_tasks(tmp_path / "tasks")["train"]["id"] == tasks.train["id"]


@pytest.mark.parametrize("args, expected", [
    (["email", "questions", "no/such/file.jsonl", "--out", "x"], "no such file or folder"),
    (["email", "questions", str(ROOT / "tests" / "data" / "weather_openai.json"), "--out", "x"],
     "weather_openai.json, row 0: missing fields"),
    (["email", "demo", "x", "--users", "2"], "users must be between 4 and 8"),
    (["email", "demo", str(ROOT / "README.md")], "exists and is not a folder"),
])
def test_cli_bad_input_exits_2_with_one_line(args, expected):
    done = run_cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr

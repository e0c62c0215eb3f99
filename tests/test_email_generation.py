"""New questions from emails (toolbrain_hub.email.generation), against the demo corpus's real SQLite index and a real
OpenAI-compatible server (tests/openai_server.py) scripted to propose good and bad questions: every rejection reason
fires and is counted, the good ones are kept and become tasks.
"""

from __future__ import annotations

import json
import re

import pytest
from openai_server import Scripted, ScriptedOpenAIServer

from toolbrain_hub.email.checks import answer_supported, check_question, search_keywords
from toolbrain_hub.email.demo import make_demo_corpus
from toolbrain_hub.email.generation import REJECTION_REASONS, generate_questions, inbox_listing
from toolbrain_hub.email.index import EmailIndex, build_index
from toolbrain_hub.email.questions import EMAIL_KIND, EmailQuestion, load_questions
from toolbrain_hub.models.chat import ChatError, get_chat_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    corpus = make_demo_corpus(folder, seed=5, users=4, per_user=45)
    build_index(corpus.maildir, folder / "index.db", progress=False)
    with EmailIndex(folder / "index.db") as index:
        yield corpus, index, load_questions(corpus.root)


def test_every_demo_question_is_confirmed_by_the_index(demo):
    """The demo's answers are stated in emails the agent can find and read: in its inbox, before the date."""
    _, index, questions = demo
    problems = [(q.question, check_question(index, q)) for q in questions]
    assert [p for p in problems if p[1]] == []


def test_the_checks_say_why_a_question_cannot_be_answered(demo):
    corpus, index, questions = demo
    q = questions[0]
    other = next(x for x in questions if x.inbox_address != q.inbox_address)
    sent = index.read(q.message_ids[0])["date"]

    def problem(**change):
        return check_question(index, EmailQuestion(**{**q.to_dict(), **change})).split(":")[0]

    assert problem(message_ids=["<0.0.JavaMail.nobody@nowhere>"]) == "unknown_message"
    assert problem(message_ids=other.message_ids) == "wrong_inbox"
    assert problem(query_date=sent[:10]) == "after_date"
    assert problem(answer="Zanzibar Quartz") == "unsupported"
    assert problem(question="Qwxy zvbn plorf?") == "not_findable"
    assert check_question(index, EmailQuestion(**{**q.to_dict(), "question": "Qwxy zvbn plorf?"}), search=False) \
        is None


def test_answers_are_supported_by_their_words_in_a_row_or_all_their_key_words():
    text = ["Deal confirmation", "We can meet in the middle at $0.293/MMBtu. The call is Thursday, May 17 at 2:00 PM."]
    assert answer_supported("$0.293/MMBtu", text)
    assert answer_supported("0.293 per MMBtu", text)  # not in a row, but every word but the filler "per" is there
    assert answer_supported("Thursday May 17, 2:00 PM", text)
    assert not answer_supported("Friday, May 18", text)
    assert not answer_supported("the", text) and not answer_supported("", text)
    assert search_keywords("When is the quarterly review with Sara scheduled?") == ["quarterly", "review", "sara"]


def test_inbox_listing_pages_through_every_message_of_an_inbox(demo):
    corpus, index, _ = demo
    for address in corpus.inboxes.values():
        ids = inbox_listing(index, address)
        assert len(ids) == len(set(ids)) == index.count(address)


def _shown(body: dict) -> tuple[str, list[dict]]:
    """The inbox and emails a generation request shows (what a model reads)."""
    text = body["messages"][-1]["content"]
    inbox = re.search(r"^Inbox: (\S+)", text, re.M).group(1)
    emails = [{"message_id": m, "date": d, "subject": s} for m, d, s in
              re.findall(r"message_id: (\S+)\ndate: (\S+)\nfrom: .*\nto: .*\nsubject: (.*)", text)]
    return inbox, emails


def _proposer(questions: list[EmailQuestion]):
    """A script answering each request of a generation run in turn: bad proposals of every kind, then good ones (a
    demo question about a shown email when there is one, else a question on a shown email's subject)."""
    count = {"n": 0}

    def good(inbox: str, emails: list[dict]) -> dict:
        shown = {e["message_id"] for e in emails}
        for q in questions:
            if q.inbox_address == inbox and set(q.message_ids) <= shown:
                return {"question": q.question, "answer": q.answer, "message_ids": q.message_ids,
                        "query_date": q.query_date, "how_realistic": q.how_realistic}
        first = emails[0]
        topic = first["subject"].removeprefix("RE: ").removeprefix("FW: ")
        return {"question": f"What was the subject of the email about {topic}?", "answer": topic,
                "message_ids": ["1"], "how_realistic": 0.4}  # "1": the first email shown

    def reply(body: dict) -> str | Scripted:
        n = count["n"]
        count["n"] += 1
        inbox, emails = _shown(body)
        first = emails[0]["message_id"]
        elsewhere = next(q.message_ids for q in questions if q.inbox_address != inbox)
        proposals = {
            2: [good(inbox, emails), good(inbox, emails), {"question": "When is it?"},
                {"question": "Who?", "answer": " ".join(["word"] * 30), "message_ids": [first]}],
            3: [{"question": "What is the price?", "answer": "$1", "message_ids": ["<0.0.JavaMail.nobody@nowhere>"]},
                {"question": "What is the price?", "answer": "$1", "message_ids": elsewhere},
                {"question": emails[0]["subject"] + "?", "answer": emails[0]["subject"], "message_ids": [first],
                 "query_date": emails[0]["date"][:10]},
                {"question": "When?", "answer": "May", "message_ids": [first], "query_date": "someday soon"}],
            4: [{"question": f"What about {emails[0]['subject']}?", "answer": "Zanzibar Quartz",
                 "message_ids": [first]},
                {"question": "Qwxy zvbn plorf?", "answer": emails[0]["subject"], "message_ids": [first]},
                {**good(inbox, emails), "how_realistic": 0.05}],
        }
        if n == 0:
            return "Sure! Here are some great questions about these emails."
        if n == 1:
            return Scripted("the model is overloaded", status=500)
        return "```json\n" + json.dumps({"questions": proposals.get(n, [good(inbox, emails)])}) + "\n```"

    return reply


def test_generation_keeps_the_confirmed_proposals_and_counts_every_rejection(demo, tmp_path):
    corpus, index, questions = demo
    with ScriptedOpenAIServer(_proposer(questions)) as server:
        made = generate_questions(index, get_chat_model(server.url), num=4, seed=1, batch_size=2,
                                  min_realistic=0.2, progress=False)
        first = server.requests[0]
    report = made.report
    assert len(made.questions) == report.kept == 4
    assert set(report.rejected) == set(REJECTION_REASONS), report.rejected
    assert report.attempts == report.kept + sum(report.rejected.values())
    assert report.examples[0].startswith("unparseable: no JSON in the reply")
    assert any(e.startswith("model_error: ") and "HTTP 500" in e for e in report.examples)
    assert report.settings["prompts"] == server.request_count and report.generator == server.url
    assert "Inbox: " in first["messages"][-1]["content"] and first["temperature"] == 0.7
    for q in made.questions:
        assert check_question(index, q) is None
        assert q.extra["generator"] == server.url and set(q.message_ids) <= set(q.extra["shown"])
        assert q.inbox_address in corpus.inboxes.values()
    assert len({q.question for q in made.questions}) == 4
    back = load_questions(made.save(tmp_path / "generated.jsonl"))
    assert [q.to_dict() for q in back] == [q.to_dict() for q in made.questions]
    tasks = made.to_tasks(test_size=0.25)
    assert len(tasks) == 4 and set(tasks.train["kind"]) == {EMAIL_KIND}
    assert tasks.report.rejected == report.rejected and tasks.report.generator == server.url
    assert tasks.report.settings["prompts"] == report.settings["prompts"]


def test_excluded_questions_are_never_generated_again(demo):
    _, index, questions = demo
    held_out = next(q for q in questions if q.split == "test")
    proposal = json.dumps([{"question": held_out.question, "answer": held_out.answer,
                            "message_ids": held_out.message_ids, "query_date": held_out.query_date}])
    with ScriptedOpenAIServer(lambda body: proposal) as server:
        model = get_chat_model(server.url)
        excluded = generate_questions(index, model, num=1, inboxes=[held_out.inbox_address], max_prompts=2,
                                      exclude=[held_out], progress=False)
        allowed = generate_questions(index, model, num=1, inboxes=[held_out.inbox_address], max_prompts=2,
                                     progress=False)
    assert excluded.questions == [] and excluded.report.rejected == {"duplicate": 2}
    assert [q.question for q in allowed.questions] == [held_out.question]


def test_a_model_that_always_fails_stops_generation_with_its_error(demo):
    _, index, _ = demo
    with ScriptedOpenAIServer(lambda body: Scripted("bad gateway", status=502)) as server:
        with pytest.raises(ChatError, match="failed on every request: model_error: .*HTTP 502"):
            generate_questions(index, get_chat_model(server.url), num=3, batch_size=2, progress=False)
        assert server.request_count == 4  # two rounds of two requests, then it gives up


def test_bad_settings_are_refused(demo):
    _, index, _ = demo
    from toolbrain_hub.email.questions import QuestionError

    with pytest.raises(QuestionError, match="'nobody@enron.com' not in the email index"):
        generate_questions(index, "http://127.0.0.1:9/v1", inboxes=["nobody@enron.com"], progress=False)
    with pytest.raises(QuestionError, match="must be at least 1"):
        generate_questions(index, "http://127.0.0.1:9/v1", num=0, progress=False)


def _run_cli(*args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env=env, timeout=300)


def test_cli_email_generate(demo, tmp_path):
    corpus, index, questions = demo
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text("".join(json.dumps(q.to_dict()) + "\n" for q in questions if q.split == "test"))
    with ScriptedOpenAIServer(_proposer(questions)) as server:
        done = _run_cli("email", "generate", "--index", str(index.path), "--model", server.url, "--num", "2",
                        "--out", str(tmp_path / "new.jsonl"), "--exclude", str(held_out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert re.search(r"kept 2/2 questions from \d+ proposals in \d+ requests", done.stdout)
    assert "rejected: " in done.stdout and "unparseable 1" in done.stdout and "model_error 1" in done.stdout
    made = load_questions(tmp_path / "new.jsonl")
    assert len(made) == 2 and all(check_question(index, q) is None for q in made)
    assert not {q.question for q in made} & {q.question for q in questions if q.split == "test"}
    missing = _run_cli("email", "generate", "--index", str(tmp_path / "none.db"), "--model", server.url, "--out",
                       str(tmp_path / "x.jsonl"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "no email index there" in \
        missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_loaded_questions_can_be_checked_against_the_index(demo, tmp_path):
    """ART-E records whose emails the index does not confirm are dropped and counted (a real corpus lacks some)."""
    from toolbrain_hub.email.questions import QuestionError, import_questions

    corpus, index, questions = demo
    good = [q.to_dict() for q in questions[:6]]
    bad = [{**good[0], "id": "gone", "message_ids": ["<0.0.JavaMail.nobody@nowhere>"]},
           {**good[1], "id": "early", "query_date": "2000-01-03"},
           {**good[2], "id": "wrong", "answer": "Zanzibar Quartz"}]
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in good + bad))
    tasks = import_questions(source, check=index.path, test_size=0)
    assert sorted(tasks.train["id"]) == sorted(f"email-{r['id']}" for r in good)
    assert tasks.report.rejected == {"unknown_message": 1, "after_date": 1, "unsupported": 1}
    assert tasks.report.requested == 9 and tasks.report.kept == 6
    assert tasks.report.settings["checked_against"] == str(index.path)
    assert "question gone: unknown_message" in tasks.report.examples[0]
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(QuestionError, match=r"bad.jsonl: no question is confirmed by the email index .*"
                                            r"\(unknown_message 1, after_date 1, unsupported 1\)"):
        import_questions(only_bad, check=index)
    done = _run_cli("email", "questions", str(source), "--out", str(tmp_path / "tasks"), "--check", str(index.path))
    assert done.returncode == 0, done.stderr
    assert "6 questions over" in done.stdout
    assert "dropped 3 that" in done.stderr and "unknown_message 1, after_date 1, unsupported 1" in done.stderr


def test_every_demo_task_is_answerable_with_the_email_tools_under_its_own_limits(demo):
    """The task rows carry what the tools need: each cited email is readable with the row as the task (its inbox,
    before its date), states the answer, and a search the row allows finds it."""
    from toolbrain_hub.email import tools
    from toolbrain_hub.email.questions import questions_to_tasks

    corpus, index, questions = demo
    taskset = questions_to_tasks(questions)
    tools.use_index(index)
    try:
        for split in taskset.dataset.values():
            for row in split:
                cited = json.loads(row["message_ids"])
                read = [tools.read_email(mid, task=row) for mid in cited]
                assert all("error" not in r for r in read), row["query"]
                assert answer_supported(row["gold_answer"], [f"{r['subject']}\n{r['body']}" for r in read])
                found = [h["message_id"] for words in [[w] for w in search_keywords(row["query"])]
                         for h in tools.search_emails(row["inbox_address"], words, max_results=50, task=row)]
                assert set(cited) & set(found), row["query"]
                newest = tools.search_emails(row["inbox_address"], [], max_results=1, task=row)[0]
                assert newest["date"] < row["query_date"]  # nothing from the question's day or later
    finally:
        tools.use_index(None)

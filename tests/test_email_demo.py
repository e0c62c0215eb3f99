"""The synthetic Enron-like corpus (toolbrain_hub.email.demo): deterministic maildir files, the variety of mail a
loader must handle, and questions whose answers are in their cited messages, in the inbox, before the question's
date. Every check reads the written files back with the standard library's email parser, not the writer's objects.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest

from toolbrain_hub.email.demo import DemoCorpus, DemoError, make_demo_corpus
from toolbrain_hub.email.htmltext import html_to_text


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> DemoCorpus:
    return make_demo_corpus(tmp_path_factory.mktemp("demo"), seed=3)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _messages(corpus: DemoCorpus) -> dict[str, dict]:
    """Every well-formed message file, parsed: path -> {msg, user, folder, text}."""
    bad = {m["path"] for m in corpus.malformed}
    out = {}
    for path in sorted(corpus.maildir.rglob("*.")):
        rel = str(path.relative_to(corpus.maildir))
        if rel in bad:
            continue
        msg = message_from_bytes(path.read_bytes(), policy=default_policy)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        text = plain.get_content() if plain is not None else html_to_text(html.get_content())
        user, folder, _ = rel.split("/")
        out[rel] = {"msg": msg, "user": user, "folder": folder, "text": f"{msg['subject']}\n{text}"}
    return out


def test_same_seed_writes_byte_identical_files_and_another_seed_does_not(tmp_path, corpus):
    again = make_demo_corpus(tmp_path / "again", seed=3)
    assert _tree(again.root) == _tree(corpus.root)
    (again.root / "index.db").write_bytes(b"an index of the corpus written before")
    make_demo_corpus(again.root, seed=3)  # written over itself: still the same bytes, nothing left over
    assert _tree(again.root) == _tree(corpus.root)  # the old corpus's index went with it
    other = make_demo_corpus(tmp_path / "other", seed=4)
    assert _tree(other.maildir) != _tree(corpus.maildir)
    questions = [json.loads(line) for line in corpus.questions_path.read_text().splitlines()]
    others = [json.loads(line) for line in other.questions_path.read_text().splitlines()]
    assert {q["answer"] for q in questions} != {q["answer"] for q in others}  # the facts vary with the seed


def test_the_corpus_is_a_maildir_of_several_inboxes_with_a_few_hundred_messages(corpus):
    users = sorted(p.name for p in corpus.maildir.iterdir())
    assert len(users) >= 4 and users == sorted(corpus.inboxes)
    files = list(corpus.maildir.rglob("*."))
    assert 250 <= len(files) == corpus.emails <= 600
    assert {p.parent.name for p in files} >= {"inbox", "sent_items"}
    manifest = json.loads((corpus.root / "demo_corpus.json").read_text())
    assert DemoCorpus.from_dict({**manifest, "root": corpus.root, "maildir": corpus.maildir,
                                 "questions_path": corpus.questions_path}) == corpus


def test_an_inbox_address_is_the_most_frequent_to_of_its_inbox_folder(corpus):
    messages = _messages(corpus)
    for user, address in corpus.inboxes.items():
        to = Counter(addr for m in messages.values() if m["user"] == user and m["folder"] == "inbox"
                     for _, addr in getaddresses(m["msg"].get_all("to", [])))
        assert to.most_common(1)[0][0] == address
        sent = [m for m in messages.values() if m["user"] == user and m["folder"] == "sent_items"]
        assert sent and all(m["msg"]["from"] == address for m in sent)


def test_the_mail_has_the_variety_a_loader_must_handle(corpus):
    messages = [m["msg"] for m in _messages(corpus).values()]
    by_id = {m["message-id"]: m for m in messages}
    replies = [m for m in messages if m["in-reply-to"]]
    assert len(replies) >= 20
    for reply in replies:
        assert reply["subject"].startswith("RE: ")
        assert reply["references"].split()[-1] == reply["in-reply-to"]
        assert "-----Original Message-----" in reply.get_body().get_content() or \
            "\n> " in reply.get_body().get_content()
        parent = by_id.get(reply["in-reply-to"])
        assert parent is not None and parsedate_to_datetime(parent["date"]) < parsedate_to_datetime(reply["date"])
    threads = [m for m in replies if len(m["references"].split()) >= 2]
    assert threads, "no thread three messages deep"
    forwards = [m for m in messages if m["subject"].startswith("FW: ")]
    assert forwards and all("Forwarded by" in m.get_body().get_content() for m in forwards)
    attachments = [part.get_filename() for m in messages for part in m.iter_attachments()]
    assert len(attachments) >= 5 and any(n.endswith(".doc") for n in attachments) and \
        any(n.endswith(".xls") for n in attachments)
    assert sum(m.get_content_type() == "text/html" for m in messages) >= 5  # HTML-only
    assert sum(m.get_content_type() == "multipart/alternative" for m in messages) >= 5
    assert any(m.get_content_type() == "multipart/mixed" for m in messages)
    assert any("=?utf-8?" in m.as_string() for m in messages)  # RFC 2047 headers (names like José)
    assert any(m["content-transfer-encoding"] == "quoted-printable" for m in messages)
    dates = [parsedate_to_datetime(m["date"]) for m in messages]
    assert all(d.utcoffset() is not None for d in dates) and min(dates).year == 2001


def test_malformed_files_break_in_the_ways_they_say(corpus):
    problems = {m["problem"]: corpus.maildir / m["path"] for m in corpus.malformed}
    assert set(problems) == {"bad_bytes", "unknown_charset", "missing_headers", "broken_date", "bad_encoded_word",
                             "cut_multipart", "empty_file"}
    assert problems["empty_file"].read_bytes() == b""
    with pytest.raises(UnicodeDecodeError):
        problems["bad_bytes"].read_bytes().split(b"\n\n", 1)[1].decode("utf-8")
    missing = message_from_bytes(problems["missing_headers"].read_bytes(), policy=default_policy)
    assert missing["message-id"] is None and missing["date"] is None and missing["from"] is None
    broken = message_from_bytes(problems["broken_date"].read_bytes(), policy=default_policy)
    with pytest.raises((ValueError, TypeError)):
        parsedate_to_datetime(str(broken["date"]))
    cut = message_from_bytes(problems["cut_multipart"].read_bytes(), policy=default_policy)
    assert cut.defects or any(part.defects for part in cut.walk())
    assert b"charset=\"x-enron-notes\"" in problems["unknown_charset"].read_bytes()
    assert b"=?utf-8?B?not base64!?=" in problems["bad_encoded_word"].read_bytes()


def test_every_answer_is_in_its_cited_messages_in_the_inbox_before_the_question_date(corpus):
    messages = _messages(corpus)
    by_inbox_id = {(corpus.inboxes[m["user"]], m["msg"]["message-id"]): m for m in messages.values()}
    records = [json.loads(line) for line in corpus.questions_path.read_text().splitlines()]
    assert len(records) == corpus.questions >= 40
    assert len({r["id"] for r in records}) == len(records)
    assert {r["split"] for r in records} == {"train", "test"}
    assert {r["inbox_address"] for r in records if r["split"] == "test"} == set(corpus.inboxes.values())
    for r in records:
        assert set(r) == {"id", "question", "answer", "message_ids", "inbox_address", "query_date", "how_realistic",
                          "split"}
        assert r["question"].endswith("?") and 0 < len(r["answer"]) <= 40 and 0 < r["how_realistic"] <= 1
        asked = datetime.fromisoformat(r["query_date"]).replace(tzinfo=UTC)
        cited = [by_inbox_id.get((r["inbox_address"], mid)) for mid in r["message_ids"]]
        assert all(cited), f"question {r['id']} cites a message outside {r['inbox_address']}"
        assert all(parsedate_to_datetime(m["msg"]["date"]) < asked for m in cited)
        assert any(r["answer"] in m["text"] for m in cited), (r["question"], r["answer"])


def test_some_facts_change_after_the_question_is_asked(corpus):
    """A later message revises a price: only an agent that keeps to the question's date answers right."""
    messages = _messages(corpus)
    records = [json.loads(line) for line in corpus.questions_path.read_text().splitlines()]
    changed = 0
    for r in records:
        if not r["answer"].endswith("/MMBtu"):
            continue
        asked = datetime.fromisoformat(r["query_date"]).replace(tzinfo=UTC)
        user = next(u for u, a in corpus.inboxes.items() if a == r["inbox_address"])
        later = [m for m in messages.values() if m["user"] == user and "revised rate" in m["msg"]["subject"]
                 and parsedate_to_datetime(m["msg"]["date"]) > asked]
        changed += any(r["answer"] not in m["text"] and "/MMBtu" in m["text"] for m in later)
    assert changed >= 3


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(DemoError, match="users must be between 4 and 8"):
        make_demo_corpus(tmp_path, users=2)
    with pytest.raises(DemoError, match="per_user must be at least 40"):
        make_demo_corpus(tmp_path, per_user=5)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DemoError, match="exists and is not a folder"):
        make_demo_corpus(tmp_path / "file")


def test_a_maildir_that_no_demo_wrote_is_never_written_over(tmp_path):
    real = tmp_path / "enron" / "maildir" / "allen-p" / "inbox"
    real.mkdir(parents=True)
    (real / "1.").write_text("Message-ID: <1.JavaMail.evans@thyme>\n\nkeep me\n")
    with pytest.raises(DemoError, match="holds a maildir that is not a demo corpus"):
        make_demo_corpus(tmp_path / "enron")
    assert (real / "1.").read_text().endswith("keep me\n")

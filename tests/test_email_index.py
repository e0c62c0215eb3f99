"""Email corpora in both Enron formats, the FTS5 index over them, and `toolbrain-hub email index`.

The corpus is written in-test (tests/email_fixtures.py): RFC 5322 files made with the standard library's `email`
package (plain, multipart/alternative, HTML only, an attachment, an RFC 2047 subject, a latin-1 body without a
charset) plus three files no parser can use (no headers, a broken date, a binary file), and the same files as a
one-CSV export.
"""

from __future__ import annotations

import json
import sqlite3

import email_fixtures as F
import pytest

from toolbrain_hub.cli.main import main
from toolbrain_hub.email import (
    CorpusError,
    EmailIndex,
    EmailIndexError,
    build_index,
    iso_date,
    iter_emails,
    read_corpus,
)


@pytest.fixture()
def maildir(tmp_path):
    return F.write_maildir(tmp_path / "enron")


@pytest.fixture()
def index(tmp_path, maildir):
    db = tmp_path / "index.db"
    build_index(maildir, db, progress=False)
    with EmailIndex(db) as opened:
        yield opened


def _by_path(records):
    return {r.path: r for r in records}


def test_the_maildir_loader_parses_every_kind_of_message_and_counts_the_malformed(maildir):
    records, stats = read_corpus(maildir.parent)  # the folder holding maildir/ works too
    found = _by_path(records)
    assert stats.read == len(F.messages()) == 12
    assert stats.skipped == {"no headers": 1, "unparseable date": 1, "binary file": 1}
    assert sorted(e.split(": ")[0] for e in stats.examples) == sorted(F.MALFORMED)
    assert stats.parsed == len(records) == 9 and not set(found) & set(F.MALFORMED)

    sent = found["allen-p/_sent_mail/1."]
    assert (sent.message_id, sent.sender, sent.folder) == (F.SENT_BUDGET, F.ALLEN, "_sent_mail")
    assert sent.recipients == [F.LAVORATO, F.SKILLING]  # To then Cc
    assert sent.date == "2001-05-10T16:15:00Z"  # 09:15 PDT in UTC
    assert "4.5 million" in sent.body
    alt = found["allen-p/inbox/1."]
    assert "room 3C" in alt.body and "<p>" not in alt.body and alt.body.count("room 3C") == 1  # the plain part
    assert alt.in_reply_to == F.SENT_BUDGET and alt.date == "2001-05-12T15:00:00Z"
    html = found["allen-p/inbox/2."]
    assert "El Paso pipeline is down & repairs take 3 days." in html.body
    assert "<" not in html.body and "track()" not in html.body and "color" not in html.body
    att = found["allen-p/inbox/3."]
    assert att.attachments == ["forecast.xls"] and "Henry Hub" in att.body and "spreadsheet" not in att.body
    assert b"=?utf-8?" in F.messages()["allen-p/inbox/4."]
    assert found["allen-p/inbox/4."].subject == "Café meeting"
    assert found["allen-p/inbox/5."].body == "Résumé of the analyst candidate."
    assert stats.repaired == {"undeclared 8-bit text": 1}
    # The inbox is the mailbox owner: allen-p's sent folder names his address, lay-k's sent folder names his.
    assert {r.inbox for r in records if r.user == "allen-p"} == {F.ALLEN}
    assert {r.inbox for r in records if r.user == "lay-k"} == {F.LAY}


def test_the_csv_export_gives_the_same_records(maildir, tmp_path):
    from_maildir, maildir_stats = read_corpus(maildir)
    from_csv, csv_stats = read_corpus(F.write_csv(tmp_path / "emails.csv"))
    assert {p: r.to_dict() for p, r in _by_path(from_csv).items()} == \
           {p: r.to_dict() for p, r in _by_path(from_maildir).items()}
    assert (csv_stats.read, csv_stats.skipped) == (maildir_stats.read, maildir_stats.skipped)


def test_an_inbox_without_a_sent_folder_is_named_by_its_most_frequent_recipient(tmp_path):
    root = tmp_path / "maildir"
    for rel, data in F.messages().items():
        if rel.startswith("allen-p/inbox/"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    (root / "nobody-x" / "notes").mkdir(parents=True)
    (root / "nobody-x" / "notes" / "1.").write_bytes(F.messages()["lay-k/inbox/1."].replace(F.LAY.encode(), b""))
    records, _ = read_corpus(root)
    assert {r.inbox for r in records if r.user == "allen-p"} == {F.ALLEN}
    assert {r.inbox for r in records if r.user == "nobody-x"} == {"nobody-x"}  # no address anywhere: the folder


def test_parsing_in_worker_processes_gives_the_same_records(maildir):
    alone = [r.to_dict() for r in iter_emails(maildir)]
    assert [r.to_dict() for r in iter_emails(maildir, workers=2)] == alone


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "no such file or folder"),
    (lambda tmp: _write(tmp / "tools.csv", "name,description\nx,y\n"), "needs the columns 'file' and 'message'"),
    (lambda tmp: _write(tmp / "notes.txt", "hello\n"), "not an email CSV export"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "found no user folders"),
    (lambda tmp: (tmp / "m" / "user" / "inbox").mkdir(parents=True) or tmp / "m", "holds no email files"),
    (lambda tmp: _write(tmp / "e.csv", "file,message\n"), "holds no rows"),
])
def test_a_source_that_is_no_corpus_is_refused_with_its_path(tmp_path, make, message):
    source = make(tmp_path)
    with pytest.raises(CorpusError, match=message) as caught:
        build_index(source, tmp_path / "index.db", progress=False)
    assert str(source) in str(caught.value)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_build_report_and_index_contents(tmp_path, maildir):
    report = build_index(maildir, tmp_path / "index.db", progress=False)
    assert (report.kind, report.read, report.indexed, report.total, report.inboxes) == ("maildir", 12, 8, 8, 2)
    assert report.skipped == {"no headers": 1, "unparseable date": 1, "binary file": 1, "duplicate": 1}
    assert report.emails_per_s > 0 and report.to_dict()["emails_per_s"] > 0
    text = "\n".join(report.summary())
    assert "read 12 emails" in text and "indexed 8" in text and "duplicate 1" in text and "emails/s" in text
    with EmailIndex(tmp_path / "index.db") as index:
        assert index.inboxes() == [F.LAY, F.ALLEN]
        assert (index.count(), index.count(F.ALLEN), index.count("lay-k"), index.count("nobody")) == (8, 6, 2, 0)
        record = index.get(F.ATTACHMENT.strip("<>"))  # angle brackets optional
        assert record == _by_path(read_corpus(maildir)[0])["allen-p/inbox/3."]


def test_search_keywords_filters_and_ranking(index):
    def ids(*args, **kwargs):
        return [r["message_id"] for r in index.search(*args, **kwargs)]

    assert set(ids(F.ALLEN, ["budget"])) == {F.SENT_BUDGET, F.REPLY_ALT}  # never lay-k's budget emails
    assert set(ids("allen-p", "budget")) == {F.SENT_BUDGET, F.REPLY_ALT}  # the user folder names the inbox too
    assert ids(F.LAY, ["budget", "confidential"]) == [F.LAY_SECRET]  # every keyword must match
    assert ids(F.ALLEN, ["meetings"]) and set(ids(F.ALLEN, ["meetings"])) == {F.REPLY_ALT, F.ENCODED_SUBJECT}
    assert ids(F.ALLEN, ["cafe"]) == [F.ENCODED_SUBJECT]  # "Café" in the subject, accents folded
    assert ids(F.ALLEN, ["hold the meeting"]) == [F.REPLY_ALT]  # a phrase
    assert ids(F.ALLEN, ["budget"], from_addr=F.LAVORATO) == [F.REPLY_ALT]
    assert ids(F.ALLEN, ["budget"], to_addr=F.SKILLING) == [F.SENT_BUDGET]  # Cc counts
    assert ids(F.ALLEN, ["budget"], from_addr="lavorato") == [F.REPLY_ALT]  # part of an address
    assert ids(F.ALLEN, ["budget"], sent_after="2001-05-12") == [F.REPLY_ALT]  # inclusive
    assert ids(F.ALLEN, ["budget"], sent_before="2001-05-12") == [F.SENT_BUDGET]  # exclusive
    assert ids(F.ALLEN, ["budget"], sent_before="2001-05-12T15:00:01Z") == ids(F.ALLEN, ["budget"],
                                                                                sent_before="2001-05-13") != []
    assert ids(F.ALLEN, ["budget"], sent_before="2001-05-12T10:00:00-05:00") == [F.SENT_BUDGET]  # 15:00Z, exclusive
    # bm25: the email about the budget (subject and body) before the one that mentions it in its subject only
    assert ids(F.ALLEN, ["budget"]) == [F.SENT_BUDGET, F.REPLY_ALT]
    first = index.search(F.ALLEN, ["Henry", "Hub"])[0]
    assert set(first) == {"message_id", "subject", "from", "date", "snippet"}
    assert (first["subject"], first["from"], first["date"]) == ("Gas forecast", F.LAVORATO, "2001-05-11T21:30:00Z")
    assert "Henry Hub" in first["snippet"]
    # no keywords: the filters alone, newest first; max_results caps
    assert ids(F.ALLEN, []) == [F.HTML_ONLY, F.REPLY_ALT, F.ATTACHMENT, F.SENT_BUDGET, F.ENCODED_SUBJECT, F.LATIN1]
    assert ids(F.ALLEN, [], max_results=2) == [F.HTML_ONLY, F.REPLY_ALT]
    # FTS5 syntax in keywords is plain text, never an error
    for odd in (['AND'], ['"budget'], ['budget OR'], ['NEAR(a b)'], ['-'], ['col:x'], ['*']):
        assert isinstance(index.search(F.ALLEN, odd), list)
    with pytest.raises(EmailIndexError, match="no inbox 'someone@else.com'"):
        index.search("someone@else.com", ["budget"])
    with pytest.raises(EmailIndexError, match="sent_before: 'last week' is not an ISO 8601 date"):
        index.search(F.ALLEN, ["budget"], sent_before="last week")


def test_read_limits_by_inbox_and_date(index):
    full = index.read(F.REPLY_ALT)
    assert full == {"message_id": F.REPLY_ALT, "inbox": F.ALLEN, "subject": "Re: Budget review", "from": F.LAVORATO,
                    "to": [F.ALLEN], "date": "2001-05-12T15:00:00Z",
                    "body": "Phillip,\n\nApproved. Let's hold the meeting on Friday in room 3C.\n\nJohn",
                    "attachments": [], "in_reply_to": F.SENT_BUDGET}
    assert index.read(F.REPLY_ALT, inbox="allen-p", before="2001-05-13") == full
    assert index.read(F.REPLY_ALT, before="2001-05-12") is None  # on the date: not before it
    assert index.read(F.REPLY_ALT, inbox=F.LAY) is None
    assert index.read("<nothing@here>") is None and index.get("<nothing@here>") is None


def test_iso_dates():
    assert iso_date("2001-05-14") == "2001-05-14"
    assert iso_date("2001-05-14T16:39:00Z") == "2001-05-14T16:39:00Z"
    assert iso_date("2001-05-14 09:39:00-07:00") == "2001-05-14T16:39:00Z"
    assert iso_date("2001-05-14T16:39") == "2001-05-14T16:39:00Z"  # naive: UTC
    for bad in ("2001-13-01", "May 14", ""):
        with pytest.raises(EmailIndexError):
            iso_date(bad, "query_date")


def test_reindexing_skips_what_is_there_and_adds_what_is_new(tmp_path, maildir):
    db = tmp_path / "index.db"
    build_index(maildir, db, progress=False)
    again = build_index(maildir, db, progress=False)
    assert (again.read, again.indexed, again.total) == (12, 0, 8)
    assert again.skipped["already indexed"] == 9  # 8 messages + the duplicate copy: never read again
    opened_before = EmailIndex(db)
    new = F.messages()["lay-k/inbox/1."].replace(F.LAY_SECRET.encode(), b"<3003.new@thyme>")
    (maildir / "lay-k" / "inbox" / "2.").write_bytes(new)
    (maildir / "skilling-j" / "sent_items").mkdir(parents=True)
    (maildir / "skilling-j" / "sent_items" / "1.").write_bytes(new.replace(b"<3003.", b"<3004."))
    grown = build_index(maildir, db, progress=False)
    assert (grown.indexed, grown.total, grown.inboxes) == (2, 10, 3)
    assert opened_before.count("skilling-j") == opened_before.count(F.SKILLING) == 1  # a new inbox is seen
    opened_before.close()
    # the CSV export of the same files names the same paths: nothing is read again
    csv_report = build_index(F.write_csv(tmp_path / "emails.csv"), db, progress=False)
    assert (csv_report.kind, csv_report.indexed, csv_report.total) == ("csv", 0, 10)
    with EmailIndex(db) as index:
        assert index.inboxes() == [F.SKILLING, F.LAY, F.ALLEN]
        assert {r["message_id"] for r in index.search(F.LAY, ["confidential"])} == {F.LAY_SECRET, "<3003.new@thyme>"}


def test_a_file_that_is_not_an_index_is_refused(tmp_path):
    with pytest.raises(EmailIndexError, match="no email index there"):
        EmailIndex(tmp_path / "missing.db")
    (tmp_path / "text.db").write_text("hello", encoding="utf-8")
    with pytest.raises(EmailIndexError, match="not an email index"):
        EmailIndex(tmp_path / "text.db")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t(x)")
    other.close()
    with pytest.raises(EmailIndexError, match="not an email index"):
        EmailIndex(tmp_path / "other.db", create=True)


def test_cli_indexes_and_reports(tmp_path, maildir, capsys):
    db = tmp_path / "out" / "index.db"
    assert main(["email", "index", str(maildir), "--out", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "read 12 emails from maildir" in out and "indexed 8" in out and "(8 emails in 2 inboxes)" in out
    assert "skipped: binary file 1, duplicate 1, no headers 1, unparseable date 1" in out and "emails/s" in out
    assert main(["email", "index", str(F.write_csv(tmp_path / "e.csv")), "--out", str(db), "--no-progress",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["indexed"], report["total"], report["skipped"]["already indexed"]) == \
           ("csv", 0, 8, 9)
    # the CSV export parsed in two worker processes into a new index: the same index
    fresh = tmp_path / "fresh.db"
    assert main(["email", "index", str(tmp_path / "e.csv"), "--out", str(fresh), "--no-progress", "--workers", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["workers"], report["indexed"], report["skipped"]) == \
           (2, 8, {"no headers": 1, "unparseable date": 1, "binary file": 1, "duplicate": 1})
    with EmailIndex(db) as first, EmailIndex(fresh) as second:
        assert [first.read(r["message_id"]) for r in first.search(F.ALLEN, [], max_results=50)] == \
               [second.read(r["message_id"]) for r in second.search(F.ALLEN, [], max_results=50)]


def test_cli_bad_source_exits_2_with_one_line(tmp_path, capsys):
    assert main(["email", "index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "i.db"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere: no such file or folder" in err and "Traceback" not in err
    (tmp_path / "not-an-index.db").write_text("x", encoding="utf-8")
    maildir = F.write_maildir(tmp_path / "c")
    assert main(["email", "index", str(maildir), "--out", str(tmp_path / "not-an-index.db"), "--no-progress"]) == 2
    assert "not an email index" in capsys.readouterr().err

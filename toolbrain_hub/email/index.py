"""The email index: one SQLite database with an FTS5 full-text table, one inbox per mailbox owner.

`build_index(source, db)` reads a corpus (`email.corpus`: a maildir folder or a CSV export) into it, incrementally:
a file already indexed is not read again, and a message already in its inbox (same Message-ID) is not added twice
(Enron keeps copies of a message in several folders of one mailbox). `EmailIndex(db)` answers the searches and reads
the email tools make (`email.tools`).

Search: the keywords must all appear in the subject or body (FTS5, Porter stemming, so "meetings" finds "meeting"),
results best match first by FTS5's bm25 rank; without keywords, the filters alone, newest first. Dates are ISO 8601
strings, `YYYY-MM-DD` (the start of that day) or `YYYY-MM-DDTHH:MM:SSZ` (UTC); `sent_after` is inclusive,
`sent_before` exclusive. An inbox is named by its address or by its maildir user folder (`allen-p`).

Layout: `emails` (one row per message and inbox, UNIQUE(message_id, inbox)), `emails_fts` (subject, body; external
content over `emails`), `recipients` (email id, address), `mailboxes` (user folder -> address), `seen` (paths of
files already indexed), `meta` (schema version).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from .corpus import DATE_FORMAT, CorpusError, CorpusSource, CorpusStats, Email, iter_emails

__all__ = ["SCHEMA_VERSION", "EmailIndex", "EmailIndexError", "IndexReport", "build_index", "iso_date"]

SCHEMA_VERSION = 1
MAX_RESULTS = 50  # a search returns at most this many, whatever it asks for
SNIPPET_CHARS = 200
_BATCH = 5000  # records per transaction while building
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mailboxes(user TEXT PRIMARY KEY, address TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen(path TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS emails(
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, inbox TEXT NOT NULL, folder TEXT NOT NULL,
    subject TEXT NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL, date TEXT NOT NULL, body TEXT NOT NULL,
    attachments TEXT NOT NULL, in_reply_to TEXT, path TEXT NOT NULL, UNIQUE(message_id, inbox));
CREATE INDEX IF NOT EXISTS emails_inbox_date ON emails(inbox, date);
CREATE TABLE IF NOT EXISTS recipients(email_id INTEGER NOT NULL, address TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recipients_address ON recipients(address, email_id);
CREATE VIRTUAL TABLE IF NOT EXISTS emails_fts USING fts5(
    subject, body, content='emails', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
"""
_COLUMNS = "message_id, inbox, folder, subject, sender, recipients, date, body, attachments, in_reply_to, path"


class EmailIndexError(ToolBrainError, ValueError):
    """A missing or foreign index file, an unknown inbox, or a malformed date or search argument."""


@dataclass
class IndexReport:
    """What one `build_index` run did.

    Args:
        source: The corpus (maildir folder or CSV file).
        db_path: The index file.
        kind: "maildir" or "csv".
        read: Files (CSV rows) seen, skipped ones included.
        indexed: Messages added.
        skipped: `{reason: count}`: unusable files (see `email.corpus`), "duplicate" (a copy of a message already
            added to its inbox in this run), "already indexed" (in the index before this run).
        repaired: `{defect: count}` worked around while parsing.
        examples: A few skipped files with their reason.
        inboxes: Inboxes in the index.
        total: Messages in the index.
        elapsed_s: Seconds the run took.
        workers: Processes that parsed the messages.
    """

    source: str
    db_path: str
    kind: str
    read: int = 0
    indexed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    inboxes: int = 0
    total: int = 0
    elapsed_s: float = 0.0
    workers: int = 1

    @property
    def emails_per_s(self) -> float:
        """Files read per second (the build rate)."""
        return self.read / self.elapsed_s if self.elapsed_s else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["emails_per_s"] = round(self.emails_per_s, 1)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> IndexReport:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def summary(self) -> list[str]:
        """The report as a few lines of text (what `toolbrain-hub email index` prints)."""
        parallel = f", {self.workers} parsing processes" if self.workers > 1 else ""
        lines = [f"read {self.read} emails from {self.kind} {self.source} in {self.elapsed_s:.1f} s "
                 f"({self.emails_per_s:.0f} emails/s{parallel})",
                 f"indexed {self.indexed} into {self.db_path} ({self.total} emails in {self.inboxes} inboxes)"]
        if self.skipped:
            lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())))
        if self.repaired:
            lines.append("repaired: " + ", ".join(f"{k} {v}" for k, v in sorted(self.repaired.items())))
        lines += [f"  {example}" for example in self.examples]
        return lines


def iso_date(value: Any, name: str = "date") -> str:
    """A date argument in the index's form: `YYYY-MM-DD` kept as is (the start of that day), a date-time in UTC as
    `YYYY-MM-DDTHH:MM:SSZ` (a naive one is taken as UTC).

    Args:
        value: An ISO 8601 date or date-time string (a `datetime` also works).
        name: The argument's name, for the error.

    Raises:
        EmailIndexError: not an ISO 8601 date.
    """
    if isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        if _DAY.match(text):
            try:
                datetime.strptime(text, "%Y-%m-%d")
            except ValueError:
                raise EmailIndexError(f"{name}: {value!r} is not a valid date") from None
            return text
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise EmailIndexError(f"{name}: {value!r} is not an ISO 8601 date (YYYY-MM-DD or "
                                  "YYYY-MM-DDTHH:MM:SSZ)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(DATE_FORMAT)


def _match_query(keywords: list[str] | str) -> str:
    """An FTS5 query: every keyword must match; each one quoted, so words like AND, NEAR or "-" are plain text."""
    if isinstance(keywords, str):
        keywords = keywords.split()
    phrases = []
    for keyword in keywords:
        text = " ".join(str(keyword).split())
        if any(ch.isalnum() for ch in text):
            phrases.append('"' + text.replace('"', '""') + '"')
    return " AND ".join(phrases)


def _snippet(body: str, words: list[str]) -> str:
    text = " ".join(body.split())
    lowered = text.lower()
    hits = [i for w in words if (i := lowered.find(w.lower())) >= 0]
    start = max(0, min(hits) - SNIPPET_CHARS // 4) if hits else 0
    piece = text[start:start + SNIPPET_CHARS]
    return ("..." if start else "") + piece + ("..." if start + SNIPPET_CHARS < len(text) else "")


class EmailIndex:
    """An email index file: search and read one inbox's messages.

    Safe to share between threads (one connection, one lock).

    Args:
        path: The SQLite file.
        create: Create it when missing (what `build_index` does); otherwise a missing file is an error.

    Raises:
        EmailIndexError: the file is missing, or is not an email index of this version.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = False):
        self.path = Path(path).expanduser()
        if not create and not self.path.is_file():
            raise EmailIndexError(f"{self.path}: no email index there; build one with "
                                  "`toolbrain-hub email index SOURCE --out FILE`")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                if f.read(16) != b"SQLite format 3\x00":  # SQLite would take a short file for an empty database
                    raise EmailIndexError(f"{self.path}: not an email index (not an SQLite file)")
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        try:
            self._check_or_create(create)
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise EmailIndexError(f"{self.path}: not an email index ({e})") from None
        self._aliases: dict[str, str] | None = None

    def _check_or_create(self, create: bool) -> None:
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            if tables or not create:
                what = "an SQLite file with other tables" if tables else "an empty SQLite file"
                raise EmailIndexError(f"{self.path}: not an email index ({what})")
            with self._conn:
                self._conn.executescript(_SCHEMA)
                self._conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise EmailIndexError(f"{self.path}: an email index of schema {row[0] if row else '?'}, this version "
                                  f"reads schema {SCHEMA_VERSION}: build it again")

    def __enter__(self) -> EmailIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def inboxes(self) -> list[str]:
        """The inbox addresses, sorted."""
        return [row[0] for row in self._query("SELECT DISTINCT inbox FROM emails ORDER BY inbox")]

    def resolve_inbox(self, inbox: str) -> str | None:
        """An inbox's address from its address or its user folder name (any case); None when the index has no such
        inbox.

        Args:
            inbox: An address (`phillip.allen@enron.com`) or a maildir user folder (`allen-p`).
        """
        key = str(inbox).strip().lower()
        if self._aliases is None or key not in self._aliases:  # (re)read: the file may have grown since
            aliases = {address: address for address in self.inboxes()}
            aliases.update({user.lower(): address for user, address in self._query("SELECT user, address FROM "
                                                                                    "mailboxes")})
            self._aliases = aliases
        return self._aliases.get(key)

    def count(self, inbox: str | None = None) -> int:
        """Messages in the index, or in one inbox.

        Args:
            inbox: An inbox address or user folder (None: all).
        """
        if inbox is None:
            return self._query("SELECT count(*) FROM emails")[0][0]
        address = self.resolve_inbox(inbox)
        return 0 if address is None else self._query("SELECT count(*) FROM emails WHERE inbox = ?", (address,))[0][0]

    def search(self, inbox: str, keywords: list[str] | str, *, from_addr: str | None = None,
               to_addr: str | None = None, sent_after: str | None = None, sent_before: str | None = None,
               max_results: int = 10) -> list[dict]:
        """Messages of one inbox matching all the keywords and filters: best match first (bm25), or newest first
        when no keyword is given.

        Args:
            inbox: The inbox's address or user folder.
            keywords: Words or phrases that must all appear in the subject or body (a string: its words).
            from_addr: Only messages from this address (without "@": whose sender contains this text).
            to_addr: Only messages to this address, To/Cc/Bcc (without "@": whose recipient contains this text).
            sent_after: Only messages sent at or after this date.
            sent_before: Only messages sent before this date.
            max_results: At most this many (capped at MAX_RESULTS).

        Returns:
            `[{"message_id", "subject", "from", "date", "snippet"}]`.

        Raises:
            EmailIndexError: an unknown inbox or a malformed date.
        """
        address = self.resolve_inbox(inbox)
        if address is None:
            raise EmailIndexError(f"no inbox {inbox!r} in the email index")
        where, params = ["e.inbox = ?"], [address]
        if sent_after is not None:
            where.append("e.date >= ?")
            params.append(iso_date(sent_after, "sent_after"))
        if sent_before is not None:
            where.append("e.date < ?")
            params.append(iso_date(sent_before, "sent_before"))
        if from_addr:
            text = str(from_addr).strip().lower()
            where.append("e.sender = ?" if "@" in text else "e.sender LIKE ?")
            params.append(text if "@" in text else f"%{text}%")
        if to_addr:
            text = str(to_addr).strip().lower()
            where.append("e.id IN (SELECT email_id FROM recipients WHERE address "
                         + ("= ?)" if "@" in text else "LIKE ?)"))
            params.append(text if "@" in text else f"%{text}%")
        try:
            limit = max(1, min(int(max_results), MAX_RESULTS))
        except (TypeError, ValueError):
            raise EmailIndexError(f"max_results must be a number, got {max_results!r}") from None
        match = _match_query(keywords or [])
        if match:
            sql = (f"SELECT e.message_id, e.subject, e.sender, e.date, e.body FROM emails_fts "
                   f"JOIN emails e ON e.id = emails_fts.rowid WHERE emails_fts MATCH ? AND {' AND '.join(where)} "
                   f"ORDER BY emails_fts.rank LIMIT ?")
            params = [match, *params, limit]
        else:
            sql = (f"SELECT e.message_id, e.subject, e.sender, e.date, e.body FROM emails e "
                   f"WHERE {' AND '.join(where)} ORDER BY e.date DESC LIMIT ?")
            params.append(limit)
        try:
            rows = self._query(sql, params)
        except sqlite3.OperationalError as e:  # an FTS query the quoting did not make safe: say so, don't crash
            raise EmailIndexError(f"cannot search for {keywords!r}: {e}") from None
        words = [w.strip('"') for w in re.findall(r'"(?:[^"]|"")*"', match)] if match else []
        return [{"message_id": m, "subject": s, "from": f, "date": d, "snippet": _snippet(b, words)}
                for m, s, f, d, b in rows]

    def _row(self, message_id: str, inbox: str | None, before: str | None) -> tuple | None:
        ids = {str(message_id).strip()}
        bare = next(iter(ids)).strip("<>")
        ids |= {bare, f"<{bare}>"}  # an id given with or without its angle brackets
        where, params = [f"message_id IN ({', '.join('?' * len(ids))})"], sorted(ids)
        if inbox is not None:
            address = self.resolve_inbox(inbox)
            if address is None:
                return None
            where.append("inbox = ?")
            params.append(address)
        if before is not None:
            where.append("date < ?")
            params.append(iso_date(before, "before"))
        rows = self._query(f"SELECT {_COLUMNS} FROM emails WHERE {' AND '.join(where)} ORDER BY id LIMIT 1", params)
        return rows[0] if rows else None

    def get(self, message_id: str) -> Email | None:
        """The record of a message (its first inbox when several users got it), or None.

        Args:
            message_id: The Message-ID (angle brackets optional).
        """
        row = self._row(message_id, None, None)
        if row is None:
            return None
        values = dict(zip(_COLUMNS.split(", "), row, strict=True))
        values["recipients"] = json.loads(values["recipients"])
        values["attachments"] = json.loads(values["attachments"])
        return Email(**values)

    def read(self, message_id: str, *, inbox: str | None = None, before: str | None = None) -> dict | None:
        """One message in full, or None when there is none with this id (in `inbox`, sent before `before`).

        Args:
            message_id: The Message-ID (angle brackets optional).
            inbox: Only a message of this inbox.
            before: Only a message sent before this date (exclusive).

        Returns:
            `{"message_id", "inbox", "subject", "from", "to", "date", "body", "attachments", "in_reply_to"}`.
        """
        row = self._row(message_id, inbox, before)
        if row is None:
            return None
        message_id, inbox, _folder, subject, sender, recipients, date, body, attachments, in_reply_to, _ = row
        return {"message_id": message_id, "inbox": inbox, "subject": subject, "from": sender,
                "to": json.loads(recipients), "date": date, "body": body, "attachments": json.loads(attachments),
                "in_reply_to": in_reply_to}

    def _add_all(self, records, report: IndexReport) -> None:
        """Insert records in batches of transactions; count "duplicate" / "already indexed"."""
        conn = self._conn
        added: set[tuple[str, str]] = set()
        users: set[str] = set()
        pending = 0
        insert = f"INSERT OR IGNORE INTO emails({_COLUMNS}) VALUES ({', '.join('?' * 11)})"
        conn.execute("BEGIN")
        for e in records:
            cursor = conn.execute(insert, (e.message_id, e.inbox, e.folder, e.subject, e.sender,
                                           json.dumps(e.recipients), e.date, e.body, json.dumps(e.attachments),
                                           e.in_reply_to, e.path))
            if cursor.rowcount:
                rowid = cursor.lastrowid
                conn.execute("INSERT INTO emails_fts(rowid, subject, body) VALUES (?, ?, ?)",
                             (rowid, e.subject, e.body))
                conn.executemany("INSERT INTO recipients VALUES (?, ?)", [(rowid, a) for a in e.recipients])
                added.add((e.message_id, e.inbox))
                report.indexed += 1
            else:
                reason = "duplicate" if (e.message_id, e.inbox) in added else "already indexed"
                report.skipped[reason] = report.skipped.get(reason, 0) + 1
            conn.execute("INSERT OR IGNORE INTO seen VALUES (?)", (e.path,))
            if e.user not in users:  # in the records' transaction: an interrupted build keeps each address
                conn.execute("INSERT OR IGNORE INTO mailboxes VALUES (?, ?)", (e.user, e.inbox))
                users.add(e.user)
            pending += 1
            if pending >= _BATCH:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                pending = 0
        conn.execute("COMMIT")


def build_index(source: str | os.PathLike, db_path: str | os.PathLike, *, progress: bool = True,
                workers: int | None = 1) -> IndexReport:
    """Index a corpus into an SQLite file, adding to what it holds.

    Re-running on the same or a grown corpus reads only the files not indexed yet, and adds a message to an inbox
    only once (by Message-ID). A mailbox keeps the address it was first given.

    Args:
        source: A maildir folder (or a folder holding `maildir/`) or a CSV export (`file`, `message`).
        db_path: The index file (created with its folder when missing).
        progress: Show a tqdm progress bar.
        workers: Processes parsing messages in parallel while this one writes the index (1: parse here too;
            None: one per CPU but one, up to 4, for a corpus of 5000 files or more). More than 1 starts processes:
            a script calling this needs the `if __name__ == "__main__":` guard.

    Raises:
        CorpusError: the source is no corpus, or holds no file.
        EmailIndexError: `db_path` is something other than an email index.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    corpus = CorpusSource.open(source)
    total = len(corpus.files()) if corpus.kind == "maildir" else None
    if total == 0:
        raise CorpusError(f"{corpus.path}: the maildir folder holds no email files")
    if workers is None:
        large = (total or 0) >= 5000 or (corpus.kind == "csv" and corpus.path.stat().st_size >= 20_000_000)
        # One core stays with this process (it writes the index); on two cores parsing here as well is as fast.
        workers = max(1, min(4, (os.cpu_count() or 1) - 1)) if large else 1
    index = EmailIndex(db_path, create=True)
    report = IndexReport(source=str(source), db_path=str(db_path), kind=corpus.kind, workers=workers)
    try:
        known = {row[0] for row in index._query("SELECT path FROM seen")}
        inboxes = dict(index._query("SELECT user, address FROM mailboxes"))
        stats = CorpusStats()
        conn = index._conn
        with index._lock:
            # A rebuildable index: no fsync per transaction; a crashed build is re-run, not repaired.
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -65536")
            conn.isolation_level = None  # transactions by hand, in batches
            # No incremental merging of the full-text segments while loading: one 'optimize' at the end does it.
            conn.execute("INSERT INTO emails_fts(emails_fts, rank) VALUES ('automerge', 0)")
            with tqdm(total=total, unit="email", desc="indexing", disable=not progress) as bar:
                records = iter_emails(corpus, stats=stats, skip_paths=known, inboxes=inboxes, on_read=bar.update,
                                      workers=workers)
                index._add_all(records, report)
            conn.execute("INSERT INTO emails_fts(emails_fts, rank) VALUES ('automerge', 4)")  # SQLite's default
            if report.indexed:
                conn.execute("INSERT INTO emails_fts(emails_fts) VALUES ('optimize')")  # one b-tree: fast searches
        report.read = stats.read
        for reason, n in stats.skipped.items():
            report.skipped[reason] = report.skipped.get(reason, 0) + n
        report.repaired, report.examples = dict(stats.repaired), list(stats.examples)
        report.total = index.count()
        report.inboxes = len(index.inboxes())
    finally:
        index.close()
    report.elapsed_s = time.perf_counter() - start
    return report

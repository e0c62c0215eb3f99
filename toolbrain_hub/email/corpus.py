"""Email corpora in the real Enron formats, read into `Email` records with the standard library's `email` parser.

Two layouts (`CorpusSource.open` tells them apart):
- the CMU maildir tree: `maildir/<user>/<folder>/<n>.`, one RFC 5322 message per file (folders may nest); the
  source is the `maildir` folder itself or a folder holding it;
- the one-CSV export (Kaggle's `emails.csv`): columns `file` (`<user>/<folder>/<n>.`, the maildir path) and
  `message` (the message text).
Both give the same records: a record's `path` is the maildir path in either.

Parsing: headers decoded (RFC 2047 words, 8-bit bytes), the date parsed (`email.utils`) and written as ISO 8601 UTC
(`2001-05-14T16:39:00Z`), multipart walked (text/plain preferred; HTML-only parts turned into text; attachments kept
by name), bodies decoded by their declared charset, else UTF-8, else cp1252. Nothing in a corpus is fatal: a file
that cannot be used is skipped and counted by reason (`CorpusStats.skipped`), a defect worked around is counted too
(`CorpusStats.repaired`).

The inbox of a message is its mailbox owner, the `<user>` folder, named by an address (`inbox_address`): the most
frequent From address of the user's sent folders (`sent`, `sent_items`, `_sent_mail`, `_sent`), else the most
frequent recipient of the user's `inbox` folder, else the user folder's name in lower case. Ties go to the
alphabetically first address, so the rule is deterministic.
"""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from .htmltext import html_to_text

__all__ = ["CorpusError", "CorpusSource", "CorpusStats", "Email", "inbox_address", "iter_emails", "parse_email",
           "read_corpus"]

SENT_FOLDERS = frozenset({"sent", "sent_items", "_sent_mail", "_sent"})
INBOX_FOLDER = "inbox"
MAX_BODY_CHARS = 1_000_000  # longer bodies (pasted reports, inlined attachments) are cut: the index stays lean
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_EXAMPLES = 5  # skipped files named in the stats, to see what went wrong
_CHUNK = 200  # messages parsed per batch (per task of a worker process)
_HEADER_FIELDS = frozenset({"from", "to", "subject", "date", "message-id"})


class CorpusError(ToolBrainError, ValueError):
    """A source that is no email corpus (missing, not a maildir folder, a CSV without `file`/`message` columns)."""


@dataclass
class Email:
    """One message of a corpus.

    Args:
        message_id: The Message-ID header as written (angle brackets kept), or a content hash when it is missing.
        inbox: The mailbox owner's address (see the module docstring for the rule).
        folder: The maildir folder inside the user's mailbox ("inbox", "_sent_mail", "projects/west"...).
        subject: Decoded subject ("" when absent).
        sender: The From address, lower case ("" when absent).
        recipients: To, Cc and Bcc addresses, lower case, in order, without repeats.
        date: ISO 8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`.
        body: The text (HTML turned into text).
        attachments: File names of the attached parts.
        in_reply_to: The In-Reply-To header, or None.
        path: The maildir path `<user>/<folder>/<n>.` (the CSV export's `file` column).
    """

    message_id: str
    inbox: str
    folder: str
    subject: str
    sender: str
    recipients: list[str]
    date: str
    body: str
    attachments: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    path: str = ""

    @property
    def user(self) -> str:
        """The mailbox folder name (`allen-p`), from the path."""
        return self.path.split("/", 1)[0]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Email:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class CorpusStats:
    """What reading a corpus did: files read, records made, files skipped and defects repaired, by reason.

    Args:
        read: Files (or CSV rows) seen, skipped ones included.
        parsed: Records made.
        skipped: `{reason: count}` of files that gave no record.
        repaired: `{defect: count}` of problems worked around (a record was still made).
        examples: A few `path: reason` lines of skipped files.
    """

    read: int = 0
    parsed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, path: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if path and len(self.examples) < _EXAMPLES:
            self.examples.append(f"{path}: {reason}")

    def repair(self, defect: str) -> None:
        self.repaired[defect] = self.repaired.get(defect, 0) + 1

    def merge(self, other: CorpusStats) -> None:
        """Add another count's records, skips and repairs (not its `read`: files are counted where listed)."""
        self.parsed += other.parsed
        for reason, n in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n
        for defect, n in other.repaired.items():
            self.repaired[defect] = self.repaired.get(defect, 0) + n
        self.examples += other.examples[:max(0, _EXAMPLES - len(self.examples))]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CorpusStats:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


class _Skip(Exception):  # noqa: N818 - internal control flow: "skip this file, for this reason"
    pass


@dataclass
class CorpusSource:
    """Where a corpus lives and in which layout.

    Args:
        kind: "maildir" or "csv".
        path: The maildir root (the folder holding the user folders) or the CSV file.
    """

    kind: str
    path: Path
    _files: list[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, source: str | os.PathLike) -> CorpusSource:
        """Recognize a source: a maildir folder (or a folder holding `maildir/`), or a CSV export.

        Raises:
            CorpusError: it does not exist or is neither layout, naming the path and what was expected.
        """
        path = Path(source).expanduser()
        if not path.exists():
            raise CorpusError(f"{path}: no such file or folder (expected a maildir folder or a CSV export)")
        if path.is_file():
            columns, rows = _csv_head(path)
            if not {"file", "message"} <= set(columns):
                found = ", ".join(repr(c) for c in columns[:8]) or "none"
                raise CorpusError(f"{path}: not an email CSV export: it needs the columns 'file' and 'message' "
                                  f"(found {found}); or give a maildir folder (maildir/<user>/<folder>/<n>.)")
            if not rows:
                raise CorpusError(f"{path}: the CSV export holds no rows")
            return cls("csv", path)
        if (path / "maildir").is_dir():
            path = path / "maildir"
        if not any(child.is_dir() and not child.name.startswith(".") for child in path.iterdir()):
            raise CorpusError(f"{path}: not a maildir folder: expected maildir/<user>/<folder>/<n>. files, found no "
                              "user folders")
        return cls("maildir", path)

    def files(self) -> list[str]:
        """The maildir's message paths (`<user>/<folder>/<n>.`), users and folders in order, numbers in numeric
        order; hidden files left out. Empty for a CSV source."""
        if self.kind != "maildir":
            return []
        if self._files is not None:
            return self._files
        out = []
        for user in sorted((c for c in self.path.iterdir() if c.is_dir() and not c.name.startswith(".")),
                           key=lambda c: c.name):
            for folder, dirs, names in os.walk(user):
                dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=_natural)
                rel = Path(folder).relative_to(self.path).as_posix()
                out += [f"{rel}/{name}" for name in sorted(names, key=_natural) if not name.startswith(".")]
        self._files = out
        return out

    def messages(self, skip_paths: frozenset[str] | set[str] = frozenset(),
                 stats: CorpusStats | None = None) -> Iterator[tuple[str, bytes | None]]:
        """`(path, raw bytes)` for each message not in `skip_paths`, in order. For a maildir the bytes are None: the
        file is read where it is parsed (maybe another process). Skipped paths count as read and "already
        indexed"."""
        stats = stats if stats is not None else CorpusStats()
        if self.kind == "maildir":
            for rel in self.files():
                stats.read += 1
                if rel in skip_paths:
                    stats.skip("already indexed")
                    continue
                yield rel, None
            return
        limit = csv.field_size_limit()
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # one message can be megabytes long
        try:
            with self.path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
                for row in csv.DictReader(f):
                    stats.read += 1
                    rel = (row.get("file") or "").strip().strip("/")
                    if rel in skip_paths:
                        stats.skip("already indexed")
                        continue
                    text = row.get("message")
                    if not rel or text is None:
                        stats.skip("incomplete CSV row", f"{self.path} row {stats.read}")
                        continue
                    yield rel, text.encode("utf-8", "surrogateescape")
        finally:
            csv.field_size_limit(limit)


def _csv_head(path: Path) -> tuple[list[str], bool]:
    """A CSV file's column names and whether a row follows them (both empty/False for what is no CSV)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f)
            columns = [c.strip() for c in next(reader, [])]
            return columns, next(reader, None) is not None
    except (OSError, csv.Error):
        return [], False
    finally:
        csv.field_size_limit(limit)


def _natural(name: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def iter_emails(source: str | os.PathLike | CorpusSource, *, stats: CorpusStats | None = None,
                skip_paths: frozenset[str] | set[str] = frozenset(), inboxes: dict[str, str] | None = None,
                on_read: Callable[[int], Any] | None = None, workers: int = 1) -> Iterator[Email]:
    """The messages of a corpus as `Email` records, one mailbox (user) at a time, in corpus order.

    Records of a user are held until the user's files are read: its inbox address comes from all of them.

    Args:
        source: A maildir folder, a CSV export, or a `CorpusSource`.
        stats: Filled with counts (read, parsed, skipped and repaired by reason).
        skip_paths: Message paths not to read or parse (already indexed).
        inboxes: `{user: address}` known beforehand (an index being extended) - used instead of the rule, so a
            mailbox keeps its address - and filled with the addresses found.
        on_read: Called with the number of files read since the last call (a progress bar).
        workers: Processes parsing in parallel (1: in this process). More than 1 starts fresh ("spawn")
            processes, so a script calling this needs the `if __name__ == "__main__":` guard.

    Raises:
        CorpusError: the source is no corpus.
    """
    corpus = source if isinstance(source, CorpusSource) else CorpusSource.open(source)
    stats = stats if stats is not None else CorpusStats()
    inboxes = inboxes if inboxes is not None else {}
    root = str(corpus.path) if corpus.kind == "maildir" else None
    chunks = _chunks(corpus.messages(skip_paths, stats), _CHUNK)
    if workers > 1:
        parsed = _in_processes(root, chunks, workers)
    else:
        parsed = (_parse_chunk(root, chunk) for chunk in chunks)
    user, held = None, []
    seen = stats.read
    for records, chunk_stats in parsed:
        stats.merge(chunk_stats)
        if on_read is not None and stats.read > seen:
            on_read(stats.read - seen)
            seen = stats.read
        for record in records:
            if record.user != user:
                yield from _resolved(user, held, inboxes)
                user, held = record.user, []
            held.append(record)
    if on_read is not None and stats.read > seen:
        on_read(stats.read - seen)
    yield from _resolved(user, held, inboxes)


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parse_chunk(root: str | None, items: list[tuple[str, bytes | None]]) -> tuple[list[Email], CorpusStats]:
    """Parse a batch of messages (reading maildir files under `root` where the bytes are None): the records and
    the counts. Runs in a worker process too: module level, picklable in and out."""
    stats, records = CorpusStats(), []
    for rel, data in items:
        if data is None:
            try:
                data = (Path(root) / rel).read_bytes()
            except OSError as e:
                stats.skip("unreadable file", f"{rel} ({e.strerror or e})")
                continue
        record = parse_email(data, path=rel, stats=stats)
        if record is not None:
            records.append(record)
    return records, stats


def _in_processes(root: str | None, chunks: Iterator[list], workers: int) -> Iterator[tuple[list[Email],
                                                                                         CorpusStats]]:
    """`_parse_chunk` over the chunks in worker processes, results in order, a few chunks ahead at most (a CSV
    export is not read into memory at once)."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_parse_chunk, root, chunk))
            if len(pending) >= 3 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _resolved(user: str | None, held: list[Email], inboxes: dict[str, str]) -> Iterator[Email]:
    if user is None or not held:
        return
    address = inboxes.get(user) or inbox_address(held, user)
    inboxes[user] = address
    for record in held:
        record.inbox = address
        yield record


def read_corpus(source: str | os.PathLike) -> tuple[list[Email], CorpusStats]:
    """All the records of a corpus and the counts (small corpora; `iter_emails` streams).

    Args:
        source: A maildir folder or a CSV export.
    """
    stats = CorpusStats()
    return list(iter_emails(source, stats=stats)), stats


def inbox_address(emails: list[Email], user: str) -> str:
    """The address of a mailbox: the most frequent sender of its sent folders, else the most frequent recipient of
    its inbox folder (the owner is on nearly every message there), else the user folder's name in lower case.

    Args:
        emails: The mailbox's records.
        user: The user folder name.
    """
    def top(folders: frozenset[str], addresses: Callable[[Email], list[str]]) -> str | None:
        counts = Counter(a for e in emails if e.folder.split("/", 1)[0].lower() in folders
                         for a in addresses(e) if "@" in a)
        return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None

    return (top(SENT_FOLDERS, lambda e: [e.sender]) or top(frozenset({INBOX_FOLDER}), lambda e: e.recipients)
            or user.lower())


def parse_email(data: bytes, *, path: str, stats: CorpusStats | None = None) -> Email | None:
    """One message's record, or None when the file is skipped (counted in `stats` by reason).

    The record's `inbox` is left empty: it is the mailbox's (`iter_emails` sets it).

    Args:
        data: The message bytes (RFC 5322).
        path: Its maildir path `<user>/<folder>/<n>.`.
        stats: Counts skips and repairs.
    """
    stats = stats if stats is not None else CorpusStats()
    try:
        record = _parse(data, path, stats)
    except _Skip as e:
        stats.skip(str(e), path)
        return None
    except Exception as e:  # noqa: BLE001 - a corpus is never fatal: whatever the parser trips on is counted
        stats.skip(f"parse error ({type(e).__name__})", path)
        return None
    stats.parsed += 1
    return record


def _parse(data: bytes, path: str, stats: CorpusStats) -> Email:
    if b"\x00" in data[:4096]:
        raise _Skip("binary file")
    msg = email.message_from_bytes(data, policy=email.policy.compat32)  # the fast policy: headers decoded below
    headers: dict[str, list] = {}
    for name, value in msg.items():  # once: each `msg.get` would scan every header again
        headers.setdefault(name.lower(), []).append(value)
    if not headers.keys() & _HEADER_FIELDS:
        raise _Skip("no headers")

    def first(name: str) -> Any:
        return headers[name][0] if name in headers else None

    date = _date(first("date"))
    folder = path.split("/", 1)[1].rpartition("/")[0] if "/" in path else ""
    subject = _header_text(first("subject"), stats)
    sender = _addresses([first("from")])
    sender = sender[0] if sender else ""
    # Addresses come from the raw headers (decoding first could turn "=?..?= <a@b>" into "Smith, John <a@b>").
    recipients = list(dict.fromkeys(_addresses(headers.get("to", []) + headers.get("cc", []) +
                                               headers.get("bcc", []))))
    body, attachments = _body(msg, stats)
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]
        stats.repair("body cut to 1M characters")
    message_id = " ".join(str(first("message-id") or "").split())
    if not message_id:
        stats.repair("no message-id")
        digest = hashlib.sha1("\n".join([date, sender, subject, body]).encode("utf-8", "replace")).hexdigest()
        message_id = f"<{digest[:24]}.no-message-id@toolbrain-hub>"
    in_reply_to = " ".join(str(first("in-reply-to") or "").split()) or None
    return Email(message_id=message_id, inbox="", folder=folder, subject=subject, sender=sender,
                 recipients=recipients, date=date, body=body, attachments=attachments, in_reply_to=in_reply_to,
                 path=path)


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)
_PLAIN_ADDRESS = re.compile(r"[\w.+'&-]+@[\w.-]+")


def _addresses(values: list[Any]) -> list[str]:
    """The addresses of address headers, lower case. Most Enron headers are bare `a@b, c@d` lists: those are split
    directly (the full RFC 5322 parser is the slowest step of reading a message); the rest go to `getaddresses`."""
    out, hard = [], []
    for value in values:
        if value is None:
            continue
        text = str(value)
        parts = [part.strip() for part in text.split(",")]
        if all(_PLAIN_ADDRESS.fullmatch(part) for part in parts if part):
            out += [part.lower() for part in parts if part]
        else:
            hard.append(text)
    if hard:
        out += [addr.strip().lower() for _, addr in getaddresses(hard) if addr.strip()]
    return out


def _date(value: Any) -> str:
    if value is None or not str(value).strip():
        raise _Skip("no date")
    try:
        when = parsedate_to_datetime(" ".join(str(value).split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        raise _Skip("unparseable date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000" or no zone: RFC 5322 says UTC, as good a guess as any
    try:
        return when.astimezone(UTC).strftime(DATE_FORMAT)
    except (ValueError, OverflowError):  # a year 1 date shifted out of range
        raise _Skip("unparseable date") from None


def _decode(payload: bytes, charset: str | None, stats: CorpusStats) -> str:
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            stats.repair("bad charset")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        if not charset:
            stats.repair("undeclared 8-bit text")
        return payload.decode("cp1252", errors="replace")  # Enron's Outlook text: Windows Latin-1 mostly


def _header_text(value: Any, stats: CorpusStats) -> str:
    if value is None:
        return ""
    try:
        parts = decode_header(value)
    except Exception:  # noqa: BLE001 - a broken encoded word: keep the raw text
        stats.repair("bad header encoding")
        return " ".join(str(value).split())
    text = "".join(part if isinstance(part, str) else _decode(part, charset if charset != "unknown-8bit" else None,
                                                               stats)
                   for part, charset in parts)
    return " ".join(text.split())


def _body(msg: email.message.Message, stats: CorpusStats) -> tuple[str, list[str]]:
    plain, html, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get("Content-Disposition")
        # A file name sits in Content-Disposition or in Content-Type's "name": look it up only when one can be there.
        filename = part.get_filename() if disposition or "name=" in str(part.get("Content-Type", "")) else None
        if filename or str(disposition or "").split(";", 1)[0].strip().lower() == "attachment":
            attachments.append(_header_text(filename, stats) if filename else "(unnamed)")
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        text = _decode(payload, _charset(part), stats)
        (plain if kind == "text/plain" else html).append(text)
    if plain:
        body = "\n\n".join(plain)
    else:
        body = "\n\n".join(html_to_text(h) for h in html)
    body = "\n".join(line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return body.strip(), attachments


def _charset(part: email.message.Message) -> str | None:
    # A regex on the raw header: Message.get_content_charset's full parameter parser is one of the slowest steps.
    match = _CHARSET.search(str(part.get("Content-Type") or ""))
    return match.group(1).lower() if match else None

"""The email agent's three tools, as plain Python functions: `search_emails`, `read_email`, `return_final_answer`.

Their type hints and docstrings are their schemas (`email_tool_specs()`, `tools.schemas.load_tools`), and a training
config names this module as their implementations (`implementations: toolbrain_hub.email.tools`,
`EMAIL_TOOLS_MODULE`).

Isolation: each tool declares the keyword-only parameter `task` (`tools.schemas.takes_task`), through which the
environment (`environment.backends.PythonTools`) passes the episode's task row. From its `inbox_address` and
`query_date` columns: searching another inbox is refused (an error result the model reads), `sent_before` is
clamped to the question's date, and reading a message of another inbox or sent on or after that date answers "not
found", exactly as for an id that does not exist. A row without them (a deployed agent's request, a chat) sets no
limit.

The index they use, first found: `use_index(path)` for this process, the `TOOLBRAIN_EMAIL_INDEX` environment
variable, else the demo corpus's index (`email.demo`), built once under the cache folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..tools.schemas import ToolSpec, load_tools
from .index import SCHEMA_VERSION, EmailIndex, build_index, iso_date

__all__ = ["EMAIL_TOOLS_MODULE", "EMAIL_TOOL_NAMES", "INDEX_ENV", "EmailToolError", "current_index",
           "demo_index_path", "email_tool_specs", "read_email", "return_final_answer", "search_emails", "use_index"]

EMAIL_TOOLS_MODULE = "toolbrain_hub.email.tools"
EMAIL_TOOL_NAMES = ("search_emails", "read_email", "return_final_answer")
INDEX_ENV = "TOOLBRAIN_EMAIL_INDEX"
INBOX_COLUMN = "inbox_address"
DATE_COLUMN = "query_date"
NOT_FOUND = "not found"

_lock = threading.Lock()
_chosen: Path | EmailIndex | None = None
_open: EmailIndex | None = None


class EmailToolError(ToolBrainError, ValueError):
    """A tool call the email tools refuse (another inbox, a malformed date); the model reads the message."""


def use_index(index: str | os.PathLike | EmailIndex | None) -> None:
    """Point the email tools at an index for this process.

    Args:
        index: An index file, an open `EmailIndex`, or None to go back to `$TOOLBRAIN_EMAIL_INDEX` / the demo index.
    """
    global _chosen, _open
    with _lock:
        if _open is not None and _open is not index and not isinstance(_chosen, EmailIndex):
            _open.close()
        _chosen = index if index is None or isinstance(index, EmailIndex) else Path(index).expanduser()
        _open = index if isinstance(index, EmailIndex) else None


def current_index() -> EmailIndex:
    """The index the tools use now (opened on first use): `use_index`'s, else `$TOOLBRAIN_EMAIL_INDEX`'s, else the
    demo corpus's (built on first use).

    Raises:
        EmailIndexError: the chosen file is not an email index.
    """
    global _open
    with _lock:
        if _open is None:
            path = _chosen or (Path(os.environ[INDEX_ENV]).expanduser() if os.environ.get(INDEX_ENV) else None)
            _open = EmailIndex(path or demo_index_path())
        return _open


def demo_index_path(cache: str | os.PathLike | None = None) -> Path:
    """The demo corpus's index file, built on first use: `make_demo_corpus` (seed 0) then `build_index`, under
    `<cache>/email/demo-<version>/` (a new version whenever the demo generator, the parser or the index schema
    changes).

    Args:
        cache: The cache folder (default: `models.builtin.cache_dir()`, `$TOOLBRAIN_HUB_CACHE`).
    """
    from ..models.builtin import cache_dir
    from . import corpus, demo, htmltext

    digest = hashlib.sha1(demo.demo_fingerprint().encode())  # the demo's three modules
    for module in (corpus, htmltext):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(str(SCHEMA_VERSION).encode())
    folder = Path(cache or cache_dir()) / "email" / f"demo-{digest.hexdigest()[:12]}"
    db = folder / "index.db"
    if (folder / ".complete").is_file():
        return db
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".demo-", dir=folder.parent))
    try:
        demo.make_demo_corpus(work / "corpus")
        build_index(work / "corpus", work / "index.db", progress=False)
        (work / ".complete").write_text("ok\n", encoding="utf-8")
        try:
            work.rename(folder)  # atomic: another process building the same version at once leaves one copy
        except OSError:
            if not (folder / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return db


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _limits(task: dict | None) -> tuple[str | None, str | None]:
    """The task row's inbox address and query date (None when absent)."""
    if not isinstance(task, dict):
        return None, None
    date = _text(task.get(DATE_COLUMN))
    return _text(task.get(INBOX_COLUMN)), iso_date(date, DATE_COLUMN) if date else None


def _date_argument(value: str | None, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return iso_date(value, name)
    except ToolBrainError as e:
        raise EmailToolError(str(e)) from None


def search_emails(inbox: str, keywords: list[str], from_addr: str | None = None, to_addr: str | None = None,
                  sent_after: str | None = None, sent_before: str | None = None, max_results: int = 10, *,
                  task: dict | None = None) -> list[dict]:
    """Search the emails of an inbox. Returns the best matches first, each with its message_id, subject, sender,
    date and a snippet of the text; read a whole email with read_email.

    Args:
        inbox: The email address of the inbox to search (the user's own inbox).
        keywords: Words that must all appear in the email's subject or body, e.g. ["budget", "meeting"]. Use a few
            specific words; fewer words find more emails.
        from_addr: Only emails sent by this email address.
        to_addr: Only emails sent to this email address (To, Cc or Bcc).
        sent_after: Only emails sent on or after this date, YYYY-MM-DD.
        sent_before: Only emails sent before this date, YYYY-MM-DD.
        max_results: The most results to return (1 to 50).
        task: Set by the environment, never by the model: the task row (its inbox and question date limit the
            search).
    """
    own, today = _limits(task)
    index = current_index()
    address = index.resolve_inbox(inbox) if isinstance(inbox, str) else None
    if own is not None and address != index.resolve_inbox(own):
        raise EmailToolError(f"you can only search your own inbox {own!r}, not {inbox!r}")
    if address is None:
        raise EmailToolError(f"no inbox {inbox!r}: give the inbox's email address")
    after = _date_argument(sent_after, "sent_after")
    before = _date_argument(sent_before, "sent_before")
    if today is not None:
        before = today if before is None else min(before, today)
    try:
        return index.search(address, keywords, from_addr=from_addr, to_addr=to_addr, sent_after=after,
                             sent_before=before, max_results=max_results)
    except ToolBrainError as e:
        raise EmailToolError(str(e)) from None


def read_email(message_id: str, *, task: dict | None = None) -> dict:
    """Read one email in full: sender, recipients, date, subject, body and attachment names.

    Args:
        message_id: The message_id of the email, as search_emails returned it.
        task: Set by the environment, never by the model: the task row (its inbox and question date limit what can
            be read).
    """
    own, today = _limits(task)
    index = current_index()
    found = index.read(str(message_id), inbox=own, before=today)
    return found if found is not None else {"error": NOT_FOUND, "message_id": message_id}


def return_final_answer(answer: str, sources: list[str]) -> dict:
    """Give the final answer to the user's question, once you have found it, with the message_ids of the emails
    that state it. If the emails do not contain the answer, answer "I don't know" with no sources.

    Args:
        answer: The answer to the question, short and exact.
        sources: The message_ids of the emails the answer comes from.
    """
    return {"answer": answer, "sources": list(sources) if isinstance(sources, list | tuple) else [sources],
            "status": "final answer recorded"}


def email_tool_specs() -> list[ToolSpec]:
    """The three tools' specs (from the functions' type hints and docstrings; `task` is not among the arguments)."""
    return load_tools([search_emails, read_email, return_final_answer], name=EMAIL_TOOLS_MODULE)

"""Email: the email-search agent's world (the paper's case study, OpenPipe ART-E): Enron-format corpora read into
records (`email.corpus`: the maildir tree and the one-CSV export), an SQLite FTS5 index with one inbox per mailbox
owner (`email.index`), and the agent's three tools over it, limited to the task's inbox and question date
(`email.tools`); HTML bodies as text (`email.htmltext`).
"""

from __future__ import annotations

from .corpus import CorpusError, CorpusSource, CorpusStats, Email, inbox_address, iter_emails, parse_email, read_corpus
from .htmltext import html_to_text
from .index import EmailIndex, EmailIndexError, IndexReport, build_index, iso_date
from .tools import (
    EMAIL_TOOL_NAMES,
    EMAIL_TOOLS_MODULE,
    EmailToolError,
    current_index,
    demo_index_path,
    email_tool_specs,
    read_email,
    return_final_answer,
    search_emails,
    use_index,
)

__all__ = [
    "EMAIL_TOOLS_MODULE", "EMAIL_TOOL_NAMES", "CorpusError", "CorpusSource", "CorpusStats", "Email", "EmailIndex",
    "EmailIndexError", "EmailToolError", "IndexReport", "build_index", "current_index", "demo_index_path",
    "email_tool_specs", "html_to_text", "inbox_address", "iso_date", "iter_emails", "parse_email", "read_corpus",
    "read_email", "return_final_answer", "search_emails", "use_index"
]

"""Email: the email-search agent's world (the paper's case study, OpenPipe ART-E): Enron-format corpora read into
records (`email.corpus`: the maildir tree and the one-CSV export), an SQLite FTS5 index with one inbox per mailbox
owner (`email.index`), and the agent's three tools over it, limited to the task's inbox and question date
(`email.tools`); HTML bodies as text (`email.htmltext`); a synthetic Enron-like corpus with questions for tests and
the offline demo (`email.demo`); ART-E question records loaded and turned into task sets (`email.questions`), and new
ones written by a chat model from the emails (`email.generation`), both checked against the index (`email.checks`).
"""

from __future__ import annotations

from .checks import CHECK_REASONS, answer_supported, check_question, search_keywords
from .corpus import CorpusError, CorpusSource, CorpusStats, Email, inbox_address, iter_emails, parse_email, read_corpus
from .demo import DemoCorpus, DemoError, demo_fingerprint, make_demo_corpus
from .generation import REJECTION_REASONS, QuestionGeneration, generate_questions
from .htmltext import html_to_text
from .index import EmailIndex, EmailIndexError, IndexReport, build_index, iso_date
from .questions import (
    EMAIL_KIND,
    EMAIL_SYSTEM_PROMPT,
    EXTRA_COLUMNS,
    EmailQuestion,
    QuestionError,
    email_task_features,
    import_questions,
    load_questions,
    questions_to_tasks,
    save_questions,
)
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
    "CHECK_REASONS", "EMAIL_KIND", "EMAIL_SYSTEM_PROMPT", "EMAIL_TOOLS_MODULE", "EMAIL_TOOL_NAMES", "EXTRA_COLUMNS",
    "REJECTION_REASONS", "CorpusError", "CorpusSource", "CorpusStats", "DemoCorpus", "DemoError", "Email",
    "EmailIndex", "EmailIndexError", "EmailQuestion", "EmailToolError", "IndexReport", "QuestionError",
    "QuestionGeneration", "answer_supported", "build_index", "check_question", "current_index", "demo_fingerprint",
    "demo_index_path", "email_task_features", "email_tool_specs", "generate_questions", "html_to_text",
    "import_questions", "inbox_address", "iso_date", "iter_emails", "load_questions", "make_demo_corpus",
    "parse_email", "questions_to_tasks", "read_corpus", "read_email", "return_final_answer", "save_questions",
    "search_emails", "search_keywords", "use_index"
]

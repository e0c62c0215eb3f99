"""Whether a question about an inbox can be answered from it: the checks generated questions must pass
(`email.generation`) and loaded ones can be run through (`email.questions.import_questions(check=...)`).

`check_question` answers with the first problem, "reason: detail": `unknown_message` (a cited message is not in the
index), `wrong_inbox` (it is in another inbox), `after_date` (sent on or after the question's date, so the agent
cannot read it), `unsupported` (the answer is not stated in the cited emails, `answer_supported`), `not_findable` (no
keyword search on the question's words, in the inbox before the date, finds a cited email).
"""

from __future__ import annotations

import re
from typing import Any

from .index import EmailIndex

__all__ = ["CHECK_REASONS", "answer_supported", "check_question", "findable", "search_keywords", "text_words"]

CHECK_REASONS = ("unknown_message", "wrong_inbox", "after_date", "unsupported", "not_findable")

# Words a search on a question leaves out: how people ask, not what they ask about.
_QUESTION_WORDS = frozenset("""a an the what whats when where who whom whose which why how much many is are was were
be been do does did i me my mine we our us you your to of for in on at by with from about and or it its this that
these those there their they them he she his her will would should could can may might am has have had any some
scheduled agree agreed tell know please time day date""".split())
_ANSWER_FILLER = frozenset("a an the at on of in is it was to and by for per with".split())


def check_question(index: EmailIndex, question: Any, *, search: bool = True) -> str | None:
    """Why a question cannot be answered from its inbox before its date ("reason: detail"), or None when it can.

    Works on any question (loaded ART-E records too): the cited messages exist, are in the inbox, were sent before
    the question's date, state the answer, and (with `search`) a keyword search on the question finds one of them.

    Args:
        index: The email index.
        question: An `EmailQuestion` (or anything with its attributes).
        search: Also require a keyword search to find a cited email.
    """
    texts = []
    for mid in question.message_ids:
        if index.get(mid) is None:
            return f"unknown_message: {mid} is not in the email index"
        if index.read(mid, inbox=question.inbox_address) is None:
            return f"wrong_inbox: {mid} is not in the inbox {question.inbox_address}"
        found = index.read(mid, inbox=question.inbox_address, before=question.query_date)
        if found is None:
            sent = index.read(mid, inbox=question.inbox_address)["date"]
            return f"after_date: {mid} was sent {sent}, not before the question's date {question.query_date}"
        texts.append(f"{found['subject']}\n{found['body']}")
    if not answer_supported(question.answer, texts):
        return f"unsupported: the answer {question.answer[:80]!r} is not stated in the cited emails"
    if search and not findable(index, question):
        return f"not_findable: no keyword search on {question.question[:80]!r} finds a cited email"
    return None


def text_words(text: str) -> list[str]:
    """Lowercase words and numbers of a text, punctuation dropped ("$0.293/MMBtu" -> 0, 293, mmbtu)."""
    return re.findall(r"[a-z0-9]+", text.lower())


def answer_supported(answer: str, texts: list[str]) -> bool:
    """Whether the emails state the answer: its words in a row (case and punctuation aside), or every key word of
    it (all but filler such as "the", "at") somewhere in them. An answer without key words is never supported.

    Args:
        answer: The answer.
        texts: The cited emails' subjects and bodies.
    """
    said = text_words(answer)
    words = text_words("\n".join(texts))
    key = [w for w in said if w not in _ANSWER_FILLER]
    if not key or not words:  # an answer of filler words ("the") states nothing
        return False
    return f" {' '.join(said)} " in f" {' '.join(words)} " or set(key) <= set(words)


def search_keywords(question: str, limit: int = 8) -> list[str]:
    """The words of a question a search looks for: what it is about, not how it is asked."""
    words = [w for w in dict.fromkeys(text_words(question)) if w not in _QUESTION_WORDS and len(w) > 1]
    return sorted(words, key=len, reverse=True)[:limit]


def findable(index: EmailIndex, question: Any) -> bool:
    """Whether a search in the question's inbox before its date finds a cited email: with all its keywords, else
    with any one of them (the index matches all keywords of a search)."""
    cited = {m.strip("<>") for m in question.message_ids}
    keywords = search_keywords(question.question)
    for words in [keywords, *([w] for w in keywords)] if keywords else []:
        hits = index.search(question.inbox_address, words, sent_before=question.query_date, max_results=50)
        if any(h["message_id"].strip("<>") in cited for h in hits):
            return True
    return False

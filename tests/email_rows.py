"""Email-style task rows and the three email tools over a small in-memory inbox, for the tests of the answer ladder,
the answer judge and evaluation with a judge (the task-row contract of issue 16: tasks.taskset columns plus
inbox_address, query_date, message_ids (JSON list), how_realistic; kind "email_search"; expected_calls "[]"), and a
scripted answer judge for tests/openai_server.py."""

from __future__ import annotations

import json
import re

from toolbrain_hub.tools.schemas import load_tools

INBOX = "sara.shackleton@enron.com"
EMAILS = {
    "<1001.JavaMail.evans@thyme>": {"subject": "Q3 review moved", "date": "2001-05-10T09:00:00Z",
                                    "body": "The Q3 review is moved to May 14, 2001 in room 3E."},
    "<1002.JavaMail.evans@thyme>": {"subject": "Swap confirmation", "date": "2001-05-11T10:00:00Z",
                                    "body": "The notional amount of the swap is $25 million."},
}


def search_emails(inbox: str, keywords: list[str], max_results: int = 10) -> str:
    """Search the inbox for emails that contain all the keywords.

    Args:
        inbox: The inbox address to search.
        keywords: Words the emails must contain.
        max_results: The most results to return.
    """
    found = [{"message_id": mid, "subject": e["subject"], "date": e["date"]} for mid, e in EMAILS.items()
             if all(k.lower() in (e["subject"] + " " + e["body"]).lower() for k in keywords)]
    return json.dumps(found[:max_results])


def read_email(message_id: str) -> str:
    """Read one email by its message id.

    Args:
        message_id: The message id, as search_emails gives it.
    """
    email = EMAILS.get(message_id)
    return json.dumps({"message_id": message_id, **email}) if email else json.dumps({"error": "not found"})


def return_final_answer(answer: str, sources: list[str]) -> str:
    """Give the final answer to the question, with the message ids it comes from.

    Args:
        answer: The answer, or "I don't know" when the emails do not say.
        sources: The message ids of the emails that hold the answer.
    """
    return "answer recorded"


IMPLEMENTATIONS = {f.__name__: f for f in (search_emails, read_email, return_final_answer)}
TOOLS_JSON = json.dumps([spec.to_openai() for spec in load_tools(list(IMPLEMENTATIONS.values()))])


def email_row(question: str, gold: str, message_ids: list[str], *, row_id: str = "e1", **extra) -> dict:
    """One email task row: the shared columns, kind email_search, no reference calls."""
    system = (f"You are an email assistant for the inbox {INBOX}. Today is 2001-06-01. Use search_emails and "
              "read_email, then call return_final_answer with the answer and its sources.")
    return {"id": row_id, "query": question, "prompt": [{"role": "system", "content": system},
                                                         {"role": "user", "content": question}],
            "tools": TOOLS_JSON, "expected_calls": "[]", "gold_answer": gold, "kind": "email_search",
            "difficulty": "medium", "inbox_address": INBOX, "query_date": "2001-06-01",
            "message_ids": json.dumps(message_ids), "how_realistic": 0.8, **extra}


ROWS = [email_row("When is the Q3 review?", "May 14, 2001", ["<1001.JavaMail.evans@thyme>"], row_id="e1"),
        email_row("What is the notional amount of the swap?", "$25 million", ["<1002.JavaMail.evans@thyme>"],
                  row_id="e2")]


def judge_reply(label: str, why: str = "because") -> str:
    """An answer judge's reply."""
    return json.dumps({"label": label, "explanation": why})


def asked(body: dict) -> dict[str, str]:
    """The question, reference and agent's answer of an answer-judge request."""
    user = body["messages"][1]["content"]
    fields = dict(re.findall(r"^(Question|Reference answer|Agent's answer): (.*)$", user, re.MULTILINE))
    return {"question": fields["Question"], "gold": fields["Reference answer"], "answer": fields["Agent's answer"]}


def fair_judge(body: dict) -> str:
    """A judge that reads the request: refusals NO_ANSWER, answers holding the reference CORRECT, others INCORRECT."""
    from toolbrain_hub.rewards.answer_judge import REFUSALS

    answer, gold = asked(body)["answer"], asked(body)["gold"]
    if answer in REFUSALS or "don't know" in answer or "could not find" in answer:
        return judge_reply("NO_ANSWER")
    return judge_reply("CORRECT" if gold.lower() in answer.lower() else "INCORRECT")

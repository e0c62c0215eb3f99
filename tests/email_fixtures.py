"""A small Enron-like corpus written in-test, in both real formats: a maildir tree of RFC 5322 files (written with the
standard library's `email` package, plus a few files no mail client would write) and the one-CSV export of the same
files (columns `file`, `message`).

Two mailboxes: allen-p (Phillip Allen, whose sent folder names his address) and lay-k (Kenneth Lay). Each message
exercises one thing the parser must handle; the malformed ones must be skipped and counted, never fatal.
"""

from __future__ import annotations

import csv
from email.message import EmailMessage
from pathlib import Path

ALLEN = "phillip.allen@enron.com"
LAY = "kenneth.lay@enron.com"
LAVORATO = "john.lavorato@enron.com"
SKILLING = "jeff.skilling@enron.com"

# message ids, by what they are
SENT_BUDGET = "<1001.1075855378110.JavaMail.evans@thyme>"
REPLY_ALT = "<1002.1075855378111.JavaMail.evans@thyme>"
HTML_ONLY = "<1003.1075855378112.JavaMail.evans@thyme>"
ATTACHMENT = "<1004.1075855378113.JavaMail.evans@thyme>"
ENCODED_SUBJECT = "<1005.1075855378114.JavaMail.evans@thyme>"
LATIN1 = "<1006.1075855378115.JavaMail.evans@thyme>"
LAY_SENT = "<2001.1075855378200.JavaMail.evans@thyme>"
LAY_SECRET = "<2002.1075855378201.JavaMail.evans@thyme>"

MALFORMED = {"allen-p/inbox/6.": "no headers", "allen-p/inbox/7.": "unparseable date",
             "allen-p/inbox/8.": "binary file"}


def _message(message_id: str, sender: str, to: list[str], subject: str, date: str, body: str, *,
             cc: list[str] | None = None, in_reply_to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = message_id
    msg["Date"] = date
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg["X-Origin"] = "Allen-P"
    msg.set_content(body)
    return msg


def messages() -> dict[str, bytes]:
    """`{maildir path: file bytes}` of the corpus."""
    files: dict[str, bytes] = {}

    sent = _message(SENT_BUDGET, ALLEN, [LAVORATO], "Budget review", "Thu, 10 May 2001 09:15:00 -0700 (PDT)",
                    "John,\n\nThe quarterly budget for the west desk is 4.5 million dollars.\n\nPhillip",
                    cc=[SKILLING])
    files["allen-p/_sent_mail/1."] = sent.as_bytes()
    # Enron keeps copies of a message in several folders of one mailbox: the same Message-ID again.
    files["allen-p/all_documents/1."] = sent.as_bytes()

    alt = _message(REPLY_ALT, LAVORATO, [ALLEN], "Re: Budget review", "Sat, 12 May 2001 10:00:00 -0500",
                   "Phillip,\n\nApproved. Let's hold the meeting on Friday in room 3C.\n\nJohn",
                   in_reply_to=SENT_BUDGET)
    alt.add_alternative("<html><body><p>Phillip,</p><p><b>Approved</b>. Let's hold the meeting on Friday in room "
                        "3C.</p><p>John</p></body></html>", subtype="html")
    files["allen-p/inbox/1."] = alt.as_bytes()

    html = EmailMessage()
    html["Message-ID"] = HTML_ONLY
    html["Date"] = "Fri, 1 Jun 2001 08:00:00 +0000"
    html["From"] = "alerts@pipeline.example.com"
    html["To"] = ALLEN
    html["Subject"] = "Pipeline outage notice"
    html.set_content("<html><head><style>p {color: red}</style></head><body><h1>Outage</h1><p>The El Paso "
                     "pipeline is down &amp; repairs take 3 days.</p><script>track()</script></body></html>",
                     subtype="html")
    files["allen-p/inbox/2."] = html.as_bytes()

    att = _message(ATTACHMENT, LAVORATO, [ALLEN], "Gas forecast", "Fri, 11 May 2001 14:30:00 -0700",
                   "See the attached forecast for the Henry Hub storage numbers.")
    att.add_attachment(b"\xd0\xcf\x11\xe0 spreadsheet bytes", maintype="application", subtype="vnd.ms-excel",
                       filename="forecast.xls")
    files["allen-p/inbox/3."] = att.as_bytes()

    encoded = _message(ENCODED_SUBJECT, LAVORATO, [ALLEN], "Café meeting", "Wed, 9 May 2001 16:00:00 -0700",
                       "Coffee with the traders at the cafe downstairs.")
    files["allen-p/inbox/4."] = encoded.as_bytes()

    # A latin-1 body with no charset declared: what old mail clients wrote.
    files["allen-p/inbox/5."] = (
        f"Message-ID: {LATIN1}\nDate: Tue, 8 May 2001 11:00:00 -0700 (PDT)\nFrom: hr@enron.com\nTo: {ALLEN}\n"
        "Subject: Analyst position\nMime-Version: 1.0\nContent-Type: text/plain\n"
        "Content-Transfer-Encoding: 8bit\n\n").encode("ascii") + "Résumé of the analyst candidate.\n".encode("latin-1")
    files["allen-p/inbox/6."] = b"just some words\nno headers at all in this file\n"
    files["allen-p/inbox/7."] = (b"Message-ID: <broken.date@thyme>\nDate: sometime last tuesday\nFrom: x@enron.com\n"
                                 b"To: phillip.allen@enron.com\nSubject: budget\n\nThe budget date is broken.\n")
    files["allen-p/inbox/8."] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"

    lay = _message(LAY_SENT, LAY, [ALLEN], "Budget board meeting", "Tue, 8 May 2001 09:00:00 -0500",
                   "Phillip, the board will review the budget on Monday.")
    files["lay-k/sent/1."] = lay.as_bytes()
    secret = _message(LAY_SECRET, SKILLING, [LAY], "Budget secret", "Sat, 5 May 2001 12:00:00 -0500",
                      "Ken, the confidential budget number is 7.2 billion.")
    files["lay-k/inbox/1."] = secret.as_bytes()
    return files


def write_maildir(folder: Path) -> Path:
    """Write the corpus as `folder/maildir/<user>/<folder>/<n>.`; returns the maildir folder."""
    root = folder / "maildir"
    for rel, data in messages().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_csv(path: Path) -> Path:
    """Write the corpus as a one-CSV export (columns `file`, `message`; bytes read as latin-1, saved as UTF-8)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "message"])
        for rel, data in messages().items():
            writer.writerow([rel, data.decode("latin-1")])
    return path

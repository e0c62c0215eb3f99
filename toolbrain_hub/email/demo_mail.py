"""The pieces the demo corpus is written with: people, messages, one mailbox being filled, and the RFC 5322 text
of a message (the standard library's `email` package, with Enron's X- headers and deterministic MIME boundaries).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import default as _default_policy
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from .htmltext import html_to_text

__all__ = ["DemoMail", "Mailbox", "Person", "clock", "houston_date", "render", "working_day"]

# Unix line ends, as in the CMU release; the policy folds long headers and encodes non-ASCII ones (RFC 2047).
POLICY = _default_policy.clone(linesep="\n")
FIRST_DAY = date(2001, 1, 8)  # stories happen on working days from here
STORY_DAYS = 290  # ... over about ten months, the busiest stretch of the real corpus
_MIME = {".doc": ("application", "msword"), ".xls": ("application", "vnd.ms-excel"),
         ".pdf": ("application", "pdf"), ".txt": ("text", "plain"), ".ppt": ("application", "vnd.ms-powerpoint")}


@dataclass(frozen=True)
class Person:
    """Someone who sends or receives mail. `user` is the maildir folder name of an inbox owner ("whitfield-s")."""

    first: str
    last: str
    address: str
    company: str = "Enron"
    title: str = ""

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def user(self) -> str:
        return f"{self.last.lower()}-{self.first[0].lower()}"

    def header(self) -> str:
        # Enron's own mail carries bare addresses (names are in X-From/X-To); outside mail has display names.
        return self.address if self.company == "Enron" else formataddr((self.name, self.address))


@dataclass
class DemoMail:
    """One message before it is written. `date` is local Houston time (naive)."""

    sender: Person
    to: list[Person]
    subject: str
    date: datetime
    text: str = ""  # the plain-text part ("" for an HTML-only message)
    html: str = ""  # an HTML part: with `text` a multipart/alternative, alone an HTML-only message
    cc: list[Person] = field(default_factory=list)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    folder: str = "inbox"
    message_id: str = ""

    @property
    def visible_text(self) -> str:
        """What a reader sees: subject, text part, else the HTML part as text."""
        return f"{self.subject}\n{self.text or html_to_text(self.html)}"


# ----------------------------------------------------------------------------------------------------------------
# One mailbox


class Mailbox:
    """One employee's mailbox as the stories fill it: messages, and questions about them.

    Args:
        owner: The inbox owner.
        rng: This mailbox's random source.
        cast: Everyone who can write (`demo_stories.Cast`).
        ids: A counter shared by all mailboxes: Message-IDs are unique in the corpus.
    """

    def __init__(self, owner: Person, rng: random.Random, cast: Any, ids: itertools.count):
        self.owner, self.rng, self.cast, self._ids = owner, rng, cast, ids
        self.mails: list[DemoMail] = []
        self.questions: list[dict[str, Any]] = []
        self._used: dict[str, list] = {}

    # -- choosing things -----------------------------------------------------------------------------------------

    def fresh(self, key: str, options: list) -> Any:
        """One of `options` this mailbox has not used under `key` yet (so two stories never share a topic, a
        counterparty or a colleague in the same role, which would make their questions ambiguous)."""
        used = self._used.setdefault(key, [])
        left = [o for o in options if o not in used] or list(options)
        choice = self.rng.choice(left)
        used.append(choice)
        return choice

    def colleague(self, role: str = "colleague") -> Person:
        return self.fresh(role, [p for p in self.cast.internal if p != self.owner])

    def contact(self, company: str | None = None) -> Person:
        people = [p for p in self.cast.external if company is None or p.company == company]
        return self.rng.choice(people)

    def story_day(self) -> date:
        """A working day in the corpus's ten months."""
        return working_day(FIRST_DAY + timedelta(days=self.rng.randrange(STORY_DAYS)))

    def at(self, day: date, first_hour: int = 8, last_hour: int = 17) -> datetime:
        """A time of day on `day`, in working hours."""
        return datetime(day.year, day.month, day.day, self.rng.randint(first_hour, last_hour),
                        self.rng.choice((2, 7, 11, 14, 18, 23, 26, 31, 35, 40, 44, 47, 52, 56)))

    def later(self, when: datetime, low_h: float = 0.5, high_h: float = 6) -> datetime:
        """Some hours after `when` (a reply), rolled over to the next morning after 7 PM."""
        out = when + timedelta(minutes=self.rng.randint(int(low_h * 60), int(high_h * 60)))
        if out.hour >= 19 or out.date() != when.date():
            nxt = working_day(when.date() + timedelta(days=1))
            out = datetime(nxt.year, nxt.month, nxt.day, self.rng.randint(7, 10), self.rng.randint(0, 59))
        return out

    def once(self, key: str) -> bool:
        """True the first time a story asks with `key` (a story that happens once per mailbox), then False."""
        if key in self._used:
            return False
        self._used[key] = []
        return True

    # -- adding mail ---------------------------------------------------------------------------------------------

    def mail(self, sender: Person, to: list[Person], subject: str, when: datetime, text: str = "", *,
             html: str = "", cc: list[Person] | None = None, attachments: list[tuple[str, bytes]] | None = None,
             folder: str | None = None, in_reply_to: str = "", references: list[str] | None = None) -> DemoMail:
        """Add a message; it lands in sent_items when the owner wrote it, else in `folder` (default inbox)."""
        stamp = 1075840000000 + next(self._ids) * 7919 + self.rng.randrange(7000)
        mail = DemoMail(sender=sender, to=to, subject=subject, date=when, text=text, html=html, cc=cc or [],
                        attachments=attachments or [], in_reply_to=in_reply_to, references=references or [],
                        folder="sent_items" if sender == self.owner else folder or "inbox",
                        message_id=f"<{self.rng.randrange(10**7, 10**8)}.{stamp}.JavaMail.evans@thyme>")
        self.mails.append(mail)
        return mail

    def reply(self, parent: DemoMail, sender: Person, text: str, *, when: datetime | None = None,
              to: list[Person] | None = None, cc: list[Person] | None = None) -> DemoMail:
        """A reply in the thread of `parent`: "RE:" subject, In-Reply-To, References, the parent quoted below."""
        subject = parent.subject if parent.subject.upper().startswith("RE:") else f"RE: {parent.subject}"
        return self.mail(sender, to or [parent.sender], subject, when or self.later(parent.date),
                         text + self._quoted(parent), cc=cc, in_reply_to=parent.message_id,
                         references=[*parent.references, parent.message_id])

    def forward(self, sender: Person, to: list[Person], note: str, original: DemoMail, when: datetime) -> DemoMail:
        """A forward the Lotus Notes way Enron's mail shows it: a note, then the original message inline."""
        stamp = f"{original.date:%m/%d/%Y} {_clock(original.date)}"
        block = (f"\n\n---------------------- Forwarded by {sender.name}/HOU/ECT on {when:%m/%d/%Y} {_clock(when)} "
                 f"---------------------------\n\n\n{original.sender.name} <{original.sender.address}> on {stamp}\n"
                 f"To: {', '.join(p.name for p in original.to)}\ncc:\nSubject: {original.subject}\n\n"
                 f"{original.text or html_to_text(original.html)}")
        return self.mail(sender, to, f"FW: {original.subject}", when, note + block)

    def _quoted(self, parent: DemoMail) -> str:
        body = parent.text or html_to_text(parent.html)
        if self.rng.random() < 0.6:  # Outlook's header block, most of Enron's replies
            sent = f"{parent.date:%A, %B} {parent.date.day}, {parent.date.year} {_clock(parent.date)}"
            return (f"\n\n -----Original Message-----\nFrom: \t{parent.sender.name}  \nSent:\t{sent}\n"
                    f"To:\t{', '.join(p.name for p in parent.to)}\nSubject:\t{parent.subject}\n\n{body}")
        lines = "\n".join(f"> {line}" if line else ">" for line in body.splitlines())
        return f"\n\nOn {parent.date:%m/%d/%Y} {_clock(parent.date)}, {parent.sender.name} wrote:\n{lines}"

    def ask(self, question: str, answer: str, cited: list[DemoMail], *, realistic: float,
            by: date | None = None) -> None:
        """A question the owner might ask, answered by `cited` (the answer must be stated in one of them), asked a
        few days after the last of them, and before the day `by` (the meeting, the flight, the deadline) when given:
        nobody asks when a meeting is once it is over."""
        if not any(answer in m.visible_text for m in cited):
            raise AssertionError(f"demo story bug: {answer!r} is not in the cited messages of {question!r}")
        last = max(m.date for m in cited).date()
        asked = last + timedelta(days=self.rng.randint(1, 6))
        if by is not None:
            asked = max(min(asked, by), last + timedelta(days=1))
        self.questions.append({"question": question, "answer": answer,
                               "message_ids": [m.message_id for m in cited], "inbox_address": self.owner.address,
                               "query_date": asked.isoformat(), "how_realistic": realistic})

    # -- writing -------------------------------------------------------------------------------------------------

    def write(self, maildir: Path) -> int:
        """Write every message as `maildir/<user>/<folder>/<n>.`, numbered by date within each folder."""
        ordered = sorted(self.mails, key=lambda m: (m.folder, m.date, m.message_id))
        for folder, group in itertools.groupby(ordered, key=lambda m: m.folder):
            target = maildir / self.owner.user / folder
            target.mkdir(parents=True, exist_ok=True)
            for n, mail in enumerate(group, start=1):
                (target / f"{n}.").write_bytes(render(mail, self.owner))
        return len(self.mails)


# ----------------------------------------------------------------------------------------------------------------
# RFC 5322 text


def render(mail: DemoMail, owner: Person) -> bytes:
    """The message's file bytes, with Enron's X- headers and deterministic MIME boundaries."""
    msg = EmailMessage(policy=POLICY)
    msg["Message-ID"] = mail.message_id
    msg["Date"] = houston_date(mail.date)
    msg["From"] = mail.sender.header()
    msg["To"] = ", ".join(p.header() for p in mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(p.header() for p in mail.cc)
    msg["Subject"] = mail.subject
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        msg["References"] = " ".join(mail.references)
    msg["X-From"] = mail.sender.name
    msg["X-To"] = ", ".join(p.name for p in mail.to)
    msg["X-cc"] = ", ".join(p.name for p in mail.cc)
    msg["X-bcc"] = ""
    msg["X-Folder"] = f"\\{owner.first}_{owner.last}_Jun2001\\Notes Folders\\{mail.folder.replace('_', ' ').title()}"
    msg["X-Origin"] = f"{owner.last}-{owner.first[0]}"
    msg["X-FileName"] = f"{owner.first[0].lower()}{owner.last.lower()}.nsf"
    if mail.text:
        # Quoted-printable for some, as mail clients of the time chose; 8bit/7bit for the rest.
        cte = "quoted-printable" if int(hashlib.sha1(mail.message_id.encode()).hexdigest(), 16) % 4 == 0 else None
        msg.set_content(mail.text, cte=cte)
        if mail.html:
            msg.add_alternative(mail.html, subtype="html")
    else:
        msg.set_content(mail.html, subtype="html")
    for name, data in mail.attachments:
        maintype, subtype = _MIME.get(Path(name).suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    digest = hashlib.sha1(mail.message_id.encode()).hexdigest()[:16]
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"----=_Part_{n}_{digest}")  # the stdlib would draw a random one
    return msg.as_bytes()


def houston_date(when: datetime) -> str:
    """A Date header for a Houston local time: "Mon, 14 May 2001 16:39:00 -0500 (CDT)"."""
    summer = datetime(when.year, 4, 1, 2) <= when < datetime(when.year, 10, 28, 2)  # 2001's US daylight time
    zone = timezone(timedelta(hours=-5 if summer else -6))
    return f"{format_datetime(when.replace(tzinfo=zone))} ({'CDT' if summer else 'CST'})"


def working_day(day: date) -> date:
    """`day`, or the Monday after it when it falls on a weekend."""
    return day + timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)


def clock(hour: int, minute: int = 0) -> str:
    """A time of day the way the mail writes it: "2:30 PM"."""
    return f"{hour % 12 or 12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"


def _clock(when: datetime) -> str:
    return clock(when.hour, when.minute)

"""A synthetic Enron-like email corpus the project makes itself: for tests, the offline demo and benchmarks.

`make_demo_corpus(folder, seed=...)` writes real maildir files, the layout of the CMU Enron release
(`maildir/<user>/<folder>/<n>.`, RFC 5322 text written with the standard library's `email` package), so the same
loaders read it as the full corpus. Every mailbox is one employee's: business mail about meetings, gas capacity and
power deals, contracts, travel and HR (`email.demo_stories`), threads with `In-Reply-To`/`References` and quoted
text, forwards, attachments, HTML-only and multipart/alternative messages, newsletters and office chatter, and a few
malformed files (bad encodings, missing headers, a broken date, a cut multipart, an empty file). Next to the maildir,
`questions.jsonl` holds question/answer records in ART-E's layout (`question`, `answer`, `message_ids`,
`inbox_address`, `query_date`, `how_realistic`, `id`, `split`): each answer is stated word for word in its cited
messages, which are in that inbox and dated before its `query_date`; some stories also hold a later message that
changes the fact, so only an agent that respects the date gets it right.

Everything comes from one `random.Random(seed)`, MIME boundaries included: the same seed writes byte-identical files.
An inbox's address is its owner's: every message of `<user>/inbox` is addressed To the owner.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from . import demo_stories as stories
from .demo_mail import Mailbox

__all__ = ["DemoCorpus", "DemoError", "demo_fingerprint", "make_demo_corpus"]

QUESTIONS_FILE = "questions.jsonl"
MANIFEST_FILE = "demo_corpus.json"
INDEX_FILE = "index.db"  # where `toolbrain-hub email demo` suggests indexing it; removed with the corpus it indexed
TEST_SHARE = 0.3  # questions of each inbox in the "test" split (at least one)


class DemoError(ToolBrainError, ValueError):
    """Bad arguments for the demo corpus (too few inboxes, a folder that is a file)."""


@dataclass
class DemoCorpus:
    """What `make_demo_corpus` wrote.

    Args:
        root: The folder given.
        maildir: `root/maildir`, the CMU layout (what the index builder reads).
        questions_path: `root/questions.jsonl`, ART-E records.
        seed: The seed.
        inboxes: Maildir user folder -> inbox address.
        emails: Message files written, malformed ones included.
        malformed: `{"path" (relative to maildir), "problem"}` of each malformed file.
        questions: Records in questions.jsonl.
        splits: Records per split.
    """

    root: Path
    maildir: Path
    questions_path: Path
    seed: int
    inboxes: dict[str, str]
    emails: int
    malformed: list[dict[str, str]]
    questions: int
    splits: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(root=str(self.root), maildir=str(self.maildir), questions_path=str(self.questions_path))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoCorpus:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        for key in ("root", "maildir", "questions_path"):
            values[key] = Path(values[key])
        return cls(**values)


def make_demo_corpus(folder: str | Path, *, seed: int = 0, users: int = 5, per_user: int = 70) -> DemoCorpus:
    """Write the synthetic corpus: `folder/maildir/...`, `folder/questions.jsonl` and `folder/demo_corpus.json`.

    Args:
        folder: Where to write (created; the files of an earlier demo corpus there, and its index.db, are removed
            first).
        seed: Seed of everything: names, numbers, dates, wording. Same seed, same bytes.
        users: Inboxes (4 to 8).
        per_user: About how many messages each inbox gets (at least 40; the stories take about 30, office chatter
            and newsletters fill up the rest).

    Returns:
        A DemoCorpus (also saved as demo_corpus.json).

    Raises:
        DemoError: `users` or `per_user` out of range, `folder` is a file, or it holds a maildir that is not a demo
            corpus (it is never written over).
    """
    if not 4 <= users <= 8:
        raise DemoError(f"users must be between 4 and 8, got {users}")
    if per_user < 40:
        raise DemoError(f"per_user must be at least 40, got {per_user}")
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise DemoError(f"{root}: exists and is not a folder")
    rng = random.Random(seed)
    cast = stories.Cast.draw(rng, users)
    ids = itertools.count(1)
    boxes = []
    for owner in cast.owners:
        box = Mailbox(owner, random.Random(rng.getrandbits(64)), cast, ids)
        stories.fill_mailbox(box, per_user)
        boxes.append(box)
    _clear(root)
    maildir = root / "maildir"
    written, malformed = 0, []
    for index, box in enumerate(boxes):
        written += box.write(maildir)
        for problem in stories.MALFORMED[index::len(boxes)]:
            malformed.append({"path": _write_malformed(box, maildir, problem), "problem": problem})
    written += len(malformed)
    records = _question_records(boxes)
    questions_path = root / QUESTIONS_FILE
    questions_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    splits: dict[str, int] = {}
    for r in records:
        splits[r["split"]] = splits.get(r["split"], 0) + 1
    corpus = DemoCorpus(root=root, maildir=maildir, questions_path=questions_path, seed=seed,
                        inboxes={b.owner.user: b.owner.address for b in boxes}, emails=written, malformed=malformed,
                        questions=len(records), splits=dict(sorted(splits.items(), key=lambda kv: kv[0] != "train")))
    manifest = {**corpus.to_dict(), "root": ".", "maildir": "maildir", "questions_path": QUESTIONS_FILE,
                "settings": {"users": users, "per_user": per_user}}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return corpus


def _clear(root: Path) -> None:
    """Remove what an earlier demo corpus wrote here (only its own files), so a rewrite is byte-identical; a maildir
    that no demo corpus wrote (the real Enron one...) is never touched."""
    import shutil

    if (root / "maildir").exists():
        if not (root / MANIFEST_FILE).is_file():
            raise DemoError(f"{root}: holds a maildir that is not a demo corpus; choose another folder")
        shutil.rmtree(root / "maildir")
    if (root / MANIFEST_FILE).is_file():  # an index of the old corpus would skip the new files (same paths)
        (root / INDEX_FILE).unlink(missing_ok=True)
    for name in (QUESTIONS_FILE, MANIFEST_FILE):
        (root / name).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)


def _question_records(boxes: list[Mailbox]) -> list[dict[str, Any]]:
    """The ART-E records of all inboxes, numbered; in each inbox a `TEST_SHARE` of them (at least one) in "test"."""
    records = []
    for box in boxes:
        order = list(range(len(box.questions)))
        box.rng.shuffle(order)
        test = set(order[: max(1, round(len(order) * TEST_SHARE))]) if order else set()
        for i, q in enumerate(box.questions):
            records.append({"id": len(records) + 1, **q, "split": "test" if i in test else "train"})
    return records


def _write_malformed(box: Mailbox, maildir: Path, problem: str) -> str:
    """Write one malformed message after the inbox's others; its path relative to `maildir`."""
    target = maildir / box.owner.user / "inbox"
    target.mkdir(parents=True, exist_ok=True)
    n = len(list(target.iterdir())) + 1
    (target / f"{n}.").write_bytes(stories.malformed_bytes(problem, box))
    return f"{box.owner.user}/inbox/{n}."


def demo_fingerprint() -> str:
    """A digest of the code that writes the demo corpus (this module, `demo_mail`, `demo_stories`): it changes
    whenever the corpus a seed gives could, so a cached demo index (`email.tools`) can be keyed by it."""
    import hashlib

    from . import demo_mail

    digest = hashlib.sha1()
    for module in (demo_mail, stories):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]

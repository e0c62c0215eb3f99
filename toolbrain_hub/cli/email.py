"""`toolbrain-hub email ...`: the email-search agent's commands.

- `email index SOURCE --out DB`: index an email corpus (a maildir folder or a CSV export) for the agent's tools;
- `email demo OUT_DIR [--seed N]`: write the synthetic corpus (maildir) and its questions;
- `email questions SOURCE --out TASK_DIR`: ART-E question records (a file, a folder, a Hub repo) as a task set;
- `email generate --index DB --model M --out FILE`: new questions written by a model from the emails, checked against
  the index.

Bad input (a source that is no corpus, an `--out` that is something else, a bad question record, a folder that holds
a real maildir) ends with one line on stderr and exit code 2 (`cli.main` turns every ToolBrainError into that).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import fail, fraction, positive_int


def register(subparsers) -> None:
    group = subparsers.add_parser("email", help="the email-search agent: index a corpus, the demo corpus, questions")
    sub = group.add_subparsers(dest="email_command", metavar="ACTION", required=True)
    _register_index(sub)
    _register_demo(sub)
    _register_questions(sub)
    _register_generate(sub)


def _register_index(sub) -> None:
    index = sub.add_parser(
        "index", help="index a maildir folder or a CSV export into an SQLite full-text index",
        description="Reads every message (headers decoded, multipart bodies, HTML turned into text) into an SQLite "
                    "FTS5 index with one inbox per mailbox owner. Re-running on the same file adds only what is "
                    "new. Files that cannot be used are skipped and counted by reason, never fatal.")
    index.add_argument("source", help="a maildir folder (maildir/<user>/<folder>/<n>.) or a CSV export with the "
                                      "columns file and message")
    index.add_argument("--out", required=True, metavar="DB", help="the index file (created, or extended)")
    index.add_argument("--workers", type=positive_int, metavar="N",
                       help="processes parsing messages (default: one per CPU but one, up to 4, for a large corpus)")
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.set_defaults(func=_index)


def _register_demo(email_sub) -> None:
    demo = email_sub.add_parser(
        "demo", help="write the synthetic Enron-like corpus (maildir) and its questions (questions.jsonl)",
        description="A deterministic corpus of business mail in the CMU Enron maildir layout: several inboxes, "
                    "threads, forwards, attachments, HTML parts and a few malformed files, with questions whose "
                    "answers are in the cited emails. The same seed writes the same bytes.")
    demo.add_argument("out", metavar="OUT_DIR", help="folder to write (maildir/, questions.jsonl, demo_corpus.json)")
    demo.add_argument("--seed", type=int, default=0, help="seed of names, numbers, dates and wording (default 0)")
    demo.add_argument("--users", type=positive_int, default=5, help="inboxes, 4 to 8 (default 5)")
    demo.add_argument("--per-user", type=positive_int, default=70, help="about how many emails each (default 70)")
    demo.set_defaults(func=_demo)


def _register_questions(email_sub) -> None:
    questions = email_sub.add_parser(
        "questions", help="turn question records (ART-E layout) into a task dataset folder",
        description="Records with question, answer, message_ids, inbox_address, query_date (and how_realistic, id, "
                    "split) become email_search tasks: a system prompt naming the inbox and the date, the question, "
                    "the three email tools, the answer as gold_answer.")
    questions.add_argument("source", help="a .jsonl/.json/.parquet file, a folder of them (a demo corpus folder), or "
                                          "a Hub dataset repo id such as corbt/enron_emails_sample_questions")
    questions.add_argument("--out", required=True, help="new task dataset folder (data/*.parquet, tools.json, card)")
    questions.add_argument("--test-size", type=fraction, default=None,
                           help="fraction drawn into the test split (default: the records' own splits, else 0.2)")
    questions.add_argument("--seed", type=int, default=0, help="seed of a drawn split")
    questions.add_argument("--limit", type=positive_int, metavar="N", help="keep at most N records")
    questions.add_argument("--min-realistic", type=float, default=0.0, metavar="X",
                           help="keep only records whose how_realistic is at least X")
    questions.add_argument("--check", metavar="DB",
                           help="keep only the questions this email index confirms (cited emails in the inbox, sent "
                                "before the date, stating the answer, found by a keyword search); count the others")
    questions.add_argument("--no-search-check", action="store_true",
                           help="with --check, do not require a keyword search to find a cited email")
    questions.add_argument("--revision", help="branch or commit of a Hub dataset repo")
    questions.add_argument("--license", default="other",
                           help="license in the dataset card (default 'other': check the source's license)")
    questions.set_defaults(func=_questions)


def _register_generate(email_sub) -> None:
    gen = email_sub.add_parser(
        "generate", help="have a chat model write new questions from an index's emails (JSON Lines)",
        description="A model reads a few emails of an inbox at a time and proposes questions with short answers; a "
                    "proposal is kept only when its cited emails are in the inbox, sent before its date, state the "
                    "answer and are found by a keyword search on the question. Rejections are counted by reason.")
    gen.add_argument("--index", required=True, metavar="DB", help="the email index (`toolbrain-hub email index`)")
    gen.add_argument("--model", required=True,
                     help="a model name/folder/Hub id, or an OpenAI-compatible URL (URL#model to name the model; the "
                          "endpoint token comes from $TOOLBRAIN_ENDPOINT_TOKEN)")
    gen.add_argument("--out", required=True, metavar="FILE", help="the questions file to write (.jsonl)")
    gen.add_argument("--num", type=positive_int, default=20, help="questions to keep (default 20)")
    gen.add_argument("--inbox", action="append", metavar="ADDRESS", help="an inbox to ask about (repeat; default all)")
    gen.add_argument("--exclude", metavar="SOURCE", help="question records never to generate again (held-out ones)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    gen.add_argument("--min-realistic", type=float, default=0.0, metavar="X",
                     help="reject questions the model rates less realistic than X")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate)


def _demo(args) -> int:
    from ..email.demo import INDEX_FILE, make_demo_corpus

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"{out}: exists and is not a folder")
    corpus = make_demo_corpus(out, seed=args.seed, users=args.users, per_user=args.per_user)
    splits = ", ".join(f"{name} {n}" for name, n in corpus.splits.items())
    print(f"wrote {corpus.emails} emails in {len(corpus.inboxes)} inboxes ({len(corpus.malformed)} malformed on "
          f"purpose) and {corpus.questions} questions ({splits}) to {out}")
    for user, address in corpus.inboxes.items():
        print(f"  {corpus.maildir / user}: {address}")
    print(f"next: toolbrain-hub email index {corpus.maildir} --out {out / INDEX_FILE}\n"
          f"      toolbrain-hub email questions {out} --out TASK_DIR")
    return 0


def _questions(args) -> int:
    from ..email.questions import import_questions
    from ..tasks.taskset import save_tasks

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out}: exists and is not a folder")
    if not 0 <= args.min_realistic <= 1:
        return fail(f"--min-realistic must be between 0 and 1, got {args.min_realistic}")
    taskset = import_questions(args.source, test_size=args.test_size, seed=args.seed, limit=args.limit,
                               min_realistic=args.min_realistic, check=args.check,
                               search=not args.no_search_check, revision=args.revision)
    save_tasks(taskset, out, license=args.license)
    splits = ", ".join(f"{name} {len(split)}" for name, split in taskset.dataset.items())
    inboxes = len(set(taskset.train["inbox_address"]) | set(taskset.test["inbox_address"] if taskset.test else []))
    print(f"{len(taskset)} questions over {inboxes} inboxes ({splits}) from {args.source}; saved to {out}")
    report = taskset.report
    if report.rejected:
        print(f"dropped {sum(report.rejected.values())} that {args.check} does not confirm ("
              + ", ".join(f"{k} {v}" for k, v in report.rejected.items()) + "); first:", file=sys.stderr)
        for example in report.examples[:5]:
            print(f"  {example}", file=sys.stderr)
    return 0


def _generate(args) -> int:
    from ..email.generation import generate_questions
    from ..email.questions import load_questions
    from ..models.chat import endpoint_token

    out = Path(args.out)
    if out.is_dir():
        return fail(f"--out {out}: is a folder; name a .jsonl file")
    if not 0 <= args.min_realistic <= 1:
        return fail(f"--min-realistic must be between 0 and 1, got {args.min_realistic}")
    exclude = load_questions(args.exclude) if args.exclude else None
    made = generate_questions(args.index, args.model, num=args.num, inboxes=args.inbox, seed=args.seed,
                              temperature=args.temperature, min_realistic=args.min_realistic, exclude=exclude,
                              token=endpoint_token(), progress=not args.no_progress)
    report = made.report
    if not made.questions:
        reasons = ", ".join(f"{k} {v}" for k, v in report.rejected.items()) or "none"
        return fail(f"no question was kept of {report.attempts} proposals (rejected: {reasons})")
    made.save(out)
    print(f"kept {report.kept}/{report.requested} questions from {report.attempts} proposals in "
          f"{report.settings['prompts']} requests ({report.elapsed_s:.1f} s); saved to {out}")
    if report.rejected:
        print("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items(), key=lambda kv: -kv[1])))
        for example in report.examples[:5]:
            print(f"  {example}")
    return 0


def _index(args) -> int:
    from ..email.index import build_index

    report = build_index(args.source, args.out, progress=not args.no_progress, workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(report.summary()))
    return 0

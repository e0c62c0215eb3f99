"""`toolbrain-hub email index SOURCE --out DB`: index an email corpus (a maildir folder or a CSV export) for the
email-search agent's tools.

A source that is no corpus (missing, not a maildir folder, a CSV without `file`/`message` columns, empty) or an
`--out` file that is something other than an email index ends with one line on stderr and exit code 2 (`cli.main`
turns every ToolBrainError into that).
"""

from __future__ import annotations

import json

from .common import positive_int


def register(subparsers) -> None:
    group = subparsers.add_parser("email", help="index email corpora (Enron maildir or CSV) for the email agent")
    sub = group.add_subparsers(dest="email_command", metavar="ACTION", required=True)
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


def _index(args) -> int:
    from ..email.index import build_index

    report = build_index(args.source, args.out, progress=not args.no_progress, workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(report.summary()))
    return 0

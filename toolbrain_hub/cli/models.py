"""`toolbrain-hub models list|prepare`."""

from __future__ import annotations

import time


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="list and prepare the built-in offline models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list built-in models and whether they are prepared").set_defaults(func=_list)
    prepare = sub.add_parser("prepare", help="verify and unpack a built-in model into the cache (once)")
    prepare.add_argument("name", nargs="?", default=None, help="built-in model name (default: the default model)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    prepare.set_defaults(func=_prepare)


def _list(args) -> int:
    from ..models.builtin import BUILTIN_MODELS, DEFAULT_MODEL, is_prepared, prepared_path

    for name, spec in BUILTIN_MODELS.items():
        state = f"prepared at {prepared_path(name)}" if is_prepared(name) else "not prepared"
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name}{default}\n    {spec.description}\n    {state}")
    return 0


def _prepare(args) -> int:
    from ..models.builtin import DEFAULT_MODEL, prepare_model

    start = time.perf_counter()
    path = prepare_model(args.name or DEFAULT_MODEL, force=args.force)
    print(f"ready: {path} ({time.perf_counter() - start:.1f} s)")
    return 0

"""The `toolbrain-hub` command. Each feature area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import ToolBrainError

# Modules with a `register(subparsers)` function; each adds its own subcommands.
COMMAND_MODULES = ["toolbrain_hub.cli.models", "toolbrain_hub.cli.tasks", "toolbrain_hub.cli.train",
                   "toolbrain_hub.cli.agent",
                   "toolbrain_hub.cli.evaluate", "toolbrain_hub.cli.email"]


# What `main` shows as `error: <message>` and exit code 2, never as a traceback: every user-facing error of the
# library (they all derive from ToolBrainError), and a file named on the command line that does not exist.
_USER_ERRORS = (ToolBrainError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolbrain-hub",
        description="Teach LLM agents to use tools with RL: tool schemas -> tasks -> training -> published agent.",
    )
    parser.add_argument("--version", action="version", version=f"toolbrain-hub {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run through the package module, so `python -m toolbrain_hub.cli` and the subcommands share one UsageError.
    from .main import main as package_main

    sys.exit(package_main())

"""The `toolbrain-hub` command. Each feature area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# Modules with a `register(subparsers)` function; each adds its own subcommands.
COMMAND_MODULES = ["toolbrain_hub.cli_models", "toolbrain_hub.cli_tasks", "toolbrain_hub.cli_train",
                   "toolbrain_hub.cli_agent",
                   "toolbrain_hub.cli_eval"]


def positive_int(text: str) -> int:
    """argparse type for counts: an integer of at least 1 (else a usage error naming the value)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    # Errors that describe bad input or a missing resource: shown as one clear line, never as a traceback.
    from .models import ModelError

    types: list[type[BaseException]] = [UsageError, ModelError, FileNotFoundError]
    for module, name in [("toolbrain_hub.tools", "ToolSchemaError"), ("toolbrain_hub.hub", "HubError"),
                         ("toolbrain_hub.chat", "ChatError"), ("toolbrain_hub.config", "ConfigError"),
                         ("toolbrain_hub.judge", "JudgeError"), ("toolbrain_hub.agent", "AgentError"),
                         ("toolbrain_hub.tasks", "TaskError"), ("toolbrain_hub.publish", "PublishError")]:
        try:
            types.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


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
    except _user_error_types() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run through the package module, so `python -m toolbrain_hub.cli` and the subcommands share one UsageError.
    from toolbrain_hub.cli import main as package_main

    sys.exit(package_main())

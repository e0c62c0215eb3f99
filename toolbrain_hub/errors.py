"""The one base of every error the library, the CLI and the app show to a user.

Every exception that describes bad input, a missing resource or a failed outside service (a broken schema, a bad
config, a missing agent folder, a Hub refusal...) derives from `ToolBrainError`, next to the built-in type it has
always had (`ConfigError(ToolBrainError, ValueError)`), so both `except ToolBrainError` and the older
`except ValueError` catch it. The `toolbrain-hub` command catches `ToolBrainError` in one place (`cli.main`), prints
`error: <message>` on stderr, without a traceback, and exits with code 2.

This module imports nothing from the package: it is the bottom of the import graph, so any module can import it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ToolBrainError"]


class ToolBrainError(Exception):
    """A failure a user should see as one clear message naming the cause (file, field, repo...), never a traceback.

    Subclasses keep their built-in base as a second base (e.g. `class TaskError(ToolBrainError, ValueError)`); errors
    used only inside the library, which never reach a user, do not derive from it.
    """


class ConfigError(ToolBrainError, ValueError):
    """A training config is invalid; the message names the field (and the file and line for YAML problems)."""

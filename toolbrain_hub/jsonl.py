"""Reading JSON Lines files: the one reader of the run folder's metrics and traces, evaluation traces and plots' rows.

Two readers of the same file want two things: a UI following a run being written (or killed) skips a line cut in
half, while a user's own file with a broken line gets an error naming the file and the line.

This module imports nothing from the package but `errors`: it sits at the bottom of the import graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ToolBrainError

__all__ = ["JsonlError", "iter_jsonl", "read_jsonl"]


class JsonlError(ToolBrainError, ValueError):
    """A line of a JSON Lines file is not valid JSON (or not the JSON object the reader needs).

    Args:
        path: The file.
        line: The line number (from 1).
        reason: What is wrong with the line.
    """

    def __init__(self, path: str | Path, line: int, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{path}, line {line}: {reason}")


def iter_jsonl(path: str | Path, *, skip_invalid: bool = False, rows: str | None = None
               ) -> Iterator[tuple[int, Any]]:
    """The values of a JSON Lines file with their line numbers; blank lines are skipped.

    Args:
        path: The file.
        skip_invalid: Skip a line that is not valid JSON (or not an object, with `rows`) instead of raising: for a
            file another process is writing, whose last line may be cut.
        rows: When given, every value must be a JSON object, and the error for one that is not names it so
            ("a metrics row" -> "a metrics row must be a JSON object, got list").

    Raises:
        JsonlError: naming the file and line (unless `skip_invalid`).
        OSError: the file cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                if skip_invalid:
                    continue
                raise JsonlError(path, n, f"not valid JSON ({e.msg})") from None
            if rows is not None and not isinstance(value, dict):
                if skip_invalid:
                    continue
                raise JsonlError(path, n, f"{rows} must be a JSON object, got {type(value).__name__}")
            yield n, value


def read_jsonl(path: str | Path, *, skip_invalid: bool = False, rows: str | None = None) -> list[Any]:
    """All values of a JSON Lines file (see `iter_jsonl` for the arguments and errors)."""
    return [value for _, value in iter_jsonl(path, skip_invalid=skip_invalid, rows=rows)]

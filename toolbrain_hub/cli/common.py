"""What the command modules share: argparse types and the usage error.
"""

from __future__ import annotations

import argparse

from ..errors import ToolBrainError


def positive_int(text: str) -> int:
    """argparse type for counts: an integer of at least 1 (else a usage error naming the value)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class UsageError(ToolBrainError):
    """Bad command-line input (a wrong combination of options...): printed as one line, exit code 2."""

"""What the command modules share: argparse types and the usage error.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ToolBrainError


def positive_int(text: str) -> int:
    """argparse type for counts: an integer of at least 1 (else a usage error naming the value)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    """argparse type for a share such as a test split: a number in [0, 1) (else a usage error naming the value)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def fail(message: str) -> int:
    """Print `error: message` on stderr and return exit code 2: for a check a command makes itself (one line, the
    same as `main` prints for a ToolBrainError, however the CLI was started)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


class UsageError(ToolBrainError):
    """Bad command-line input (a wrong combination of options...): printed as one line, exit code 2."""

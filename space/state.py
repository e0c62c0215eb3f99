"""App-wide settings and the loaded-model cache shared by the tabs."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from toolbrain_hub.models import DEFAULT_MODEL

# Uploaded files and pasted text are data: bounded in size and never executed.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# A name a visitor gives a dataset or an agent: one path segment in the workspace, a valid Hub repo name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_name(name: str | None) -> str:
    """The name, stripped; a ValueError naming the rule when it is not one (a folder of the workspace, a repo name)."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ValueError(f"invalid name {name!r}: use letters, digits, '.', '_' or '-' (at most 96 characters)")
    return name


def default_model() -> str:
    """The model the app offers first: `TOOLBRAIN_HUB_MODEL` or the offline default."""
    return os.environ.get("TOOLBRAIN_HUB_MODEL", DEFAULT_MODEL)


def workspace() -> Path:
    """Local folder for datasets, runs and published agents when there is no Hub (`TOOLBRAIN_HUB_WORKSPACE`)."""
    path = Path(os.environ.get("TOOLBRAIN_HUB_WORKSPACE", "workspace")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


_lock = threading.Lock()
_loaded: dict[str, object] = {}


def chat_model(name: str):
    """Load a local chat model once and keep only the most recent one (a 0.5B model takes ~4 GB of RAM)."""
    from toolbrain_hub.models.chat import get_chat_model

    with _lock:
        if name not in _loaded:
            _loaded.clear()
            _loaded[name] = get_chat_model(name)
        return _loaded[name]

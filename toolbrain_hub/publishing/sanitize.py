"""What may leave the machine: config values with names instead of local paths (`public_ref`, `sanitize_config`),
and the scan that refuses a folder holding the token, another secret from the environment, or a local path
(`check_no_secrets`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from .run import PublishError, RunSummary

__all__ = ["check_no_secrets", "public_ref", "sanitize_config"]

_VOCAB_FILES = {"tokenizer.json", "vocab.json", "merges.txt", "vocab.txt"}
# Config fields that may hold local paths, URLs or command lines.
_PATH_FIELDS = ("model", "tasks", "tools", "implementations", "mcp_server", "output_dir", "preferences", "traces",
                "teacher")
_ABS_PATH = re.compile(r"^(?:/|~[\w.-]*(?:/|$)|[A-Za-z]:[\\/])\S*$")  # "/x", "~/x", "~bob/x", "C:\\x": one word
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY", re.IGNORECASE)


def _is_path_like(text: str) -> bool:
    """An absolute, home-relative or explicitly relative path, written as one word."""
    return bool(_ABS_PATH.match(text)) or (text.startswith(("./", "../")) and not any(c.isspace() for c in text))


def _local(text: str) -> Path | None:
    """The existing local file or folder `text` names, or None (never raises on odd input such as '~nobody')."""
    try:
        path = Path(text).expanduser()
        return path if path.exists() else None
    except (RuntimeError, OSError, ValueError):
        return None


def public_ref(value: Any) -> Any:
    """A config value safe to publish: a local path becomes its name, a URL loses credentials and query.

    Built-in model names, Hub repo ids, module names and other plain values are returned unchanged. In a command
    line (an MCP stdio server), each path argument becomes its name.

    Args:
        value: A config value.
    """
    if not isinstance(value, str) or not value:
        return value
    if "://" in value:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(value)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    if " " in value.strip():
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        return shlex.join(public_ref(w) if _is_path_like(w) or _local(w) else w for w in words)
    from ..models.builtin import BUILTIN_MODELS

    if value in BUILTIN_MODELS:
        return value
    if _is_path_like(value) or _local(value):
        name = Path(value.rstrip("/\\")).name
        return name or value.strip("/\\~.") or "local"
    return value


def sanitize_config(config: Any) -> dict[str, Any]:
    """The run config as plain data with every path-holding field passed through `public_ref`.

    Args:
        config: A `TrainConfig` (or its `to_dict()`).
    """
    data = config.to_dict() if hasattr(config, "to_dict") else json.loads(json.dumps(config))
    for name in _PATH_FIELDS:
        if name in data:
            data[name] = public_ref(data[name])
    if data.get("output_dir"):
        data["output_dir"] = public_ref(data["output_dir"])
    if isinstance(data.get("judge"), dict) and data["judge"].get("model"):
        data["judge"]["model"] = public_ref(data["judge"]["model"])
    if isinstance(data.get("rewards"), dict):
        # "path/to/file.py:function" for a user reward: keep the file's name only.
        data["rewards"] = {(_public_callable(k)): v for k, v in data["rewards"].items()}
    return data


def _public_callable(ref: str) -> str:
    module, sep, func = ref.rpartition(":")
    return f"{public_ref(module)}:{func}" if sep and _is_path_like(module) else ref


def _strip_paths(value: Any) -> Any:
    """JSON data with every string that is a local absolute path replaced by its name."""
    if isinstance(value, dict):
        return {k: _strip_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_paths(v) for v in value]
    if isinstance(value, str) and _ABS_PATH.match(value):
        return public_ref(value)
    return value


def _forbidden_strings(run: RunSummary, token: str | None, extra_paths: list[Path]) -> list[tuple[str, str, bool]]:
    """What must not appear in a published byte: `(string, what it is, also in tokenizer vocabularies)`.

    A local path is searched as "<path>/" everywhere (anything under it), and as the bare path everywhere except in
    tokenizer vocabularies, whose pieces include code fragments such as "/root" or "/work".
    """
    from ..models.builtin import cache_dir

    found: list[tuple[str, str, bool]] = []
    if token:
        found.append((token, "the Hugging Face token", True))
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name) and len(value) >= 8 and not value.isdigit() and value.lower() not in (
                "true", "false"):
            found.append((value, f"the value of ${name}", True))
    candidates = {"the home folder": Path.home(), "the run folder": run.root.absolute(),
                  "the working folder": Path.cwd(), "the model cache": cache_dir()}
    for i, path in enumerate(extra_paths):
        candidates[f"a local folder ({i})"] = path
    for label, path in candidates.items():
        for variant in dict.fromkeys([str(path), str(Path(path).resolve())]):
            if len(variant.strip("/\\")) > 0:
                found.append((variant.rstrip("/\\") + os.sep, f"{label} path", True))
                found.append((variant, f"{label} path", False))
    return found


def check_no_secrets(folder: str | os.PathLike, forbidden: list[tuple[str, str, bool]]) -> None:
    """Raise PublishError when any file under `folder` holds a forbidden string or what looks like an HF token.

    Args:
        folder: The folder about to be published.
        forbidden: `(string, what it is, also in tokenizer vocabularies)`, from `_forbidden_strings`.
    """
    hits: dict[str, list[str]] = {}  # what -> files
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        vocabulary = path.name in _VOCAB_FILES or path.suffix in (".model", ".tiktoken")
        for needle, what, everywhere in forbidden:
            if needle and (everywhere or not vocabulary) and needle.encode("utf-8") in data:
                hits.setdefault(what, []).append(path.name)
        if _HF_TOKEN.search(data.decode("latin-1")):
            hits.setdefault("what looks like a Hugging Face token (hf_...)", []).append(path.name)
    if hits:
        found = "; ".join(f"{', '.join(dict.fromkeys(files))} {'contains' if len(set(files)) == 1 else 'contain'} "
                          f"{what}" for what, files in hits.items())
        raise PublishError(f"Refusing to publish: {found}. Remove it from the run's files (config, tool schemas, "
                           "system prompt) and publish again.")

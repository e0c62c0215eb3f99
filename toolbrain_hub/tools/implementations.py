"""The Python functions behind a tool set, loaded from a .py file or an importable module by tool name.

Loading runs the file's code: only for the user's own tools, never for anything a Space visitor sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

# Tool modules that ship with the library: an agent trained with one records it (`AgentSpec.builtin_tools`) and
# `load_agent` binds it without trust_remote_code. Only these, by exact name (a spec is data from a repo).
BUILTIN_TOOL_MODULES = ("toolbrain_hub.email.tools",)


def load_implementations(source: str, names: list[str], *, partial: bool = False) -> dict[str, Any]:
    """The Python functions implementing the tools: from a .py file or an importable module, by tool name.

    This runs the file's code: use it for your own tools, never for an uploaded file.

    Args:
        source: A .py file or a module name.
        names: The tools' names.
        partial: Return the functions found for some of the names (tasks whose tools have none are then run
            schema-only) instead of requiring all; finding none is still an error.

    Raises:
        ConfigError: the file cannot be imported, or it defines no function for some tools (any, with `partial`).
    """
    import importlib
    import importlib.util

    path = Path(source).expanduser()
    if path.is_file():
        spec = importlib.util.spec_from_file_location(f"toolbrain_user_tools_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise ConfigError(f"implementations: importing {source!r} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as e:
            raise ConfigError(f"implementations: cannot import module {source!r}: {e}") from None
    found = {name: getattr(module, name) for name in names if callable(getattr(module, name, None))}
    missing = [name for name in names if name not in found]
    if missing and (not partial or not found):
        raise ConfigError(f"implementations: {source!r} defines no function for the tools {missing}")
    return found

"""Config fields (`setting`: a dataclass field with its help and its check) and the value checks: each names the
field in its `ConfigError` ("lora.r must be a positive integer, got -1"). A field declares its check next to its
help (`setting(..., check=positive_int)`), so the check runs the same way wherever the value came from (YAML,
`--field value`, Python, the Space's form), and `check_fields` runs them all.

A check is a function `check(name, value)` that raises `ConfigError`; it is called only with a value that is not
None (optional fields skip it when unset).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .parsing import explained

__all__ = ["REPO_ID", "Check", "between", "boolean", "check_fields", "choice", "data_ref", "env_name", "existing_file",
           "fallback", "file_or_module", "known_rewards", "model_ref", "module_names", "non_negative", "number",
           "positive", "positive_int", "probability", "repo_id", "rewards", "setting", "text", "whole"]

Check = Callable[[str, Any], None]

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def setting(default: Any = None, *, help: str, check: Check | None = None, factory: Callable[[], Any] | None = None):
    """A dataclass field with its user-facing help (YAML errors and `toolbrain-hub train --help` show it) and its
    value check.

    Args:
        default: The default value (ignored when `factory` is given).
        help: One or two short sentences for users.
        check: `check(name, value)` raising `ConfigError`; run by `validate()` on values that are not None.
        factory: Builds the default (for lists, mappings and sections).
    """
    from dataclasses import field

    metadata = {"help": help, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def choice(*choices: str) -> Check:
    """One of `choices`; a near miss gets a "did you mean" hint.

    Args:
        choices: The allowed values.
    """
    def check(name: str, value: Any) -> None:
        if value not in choices:
            hint = difflib.get_close_matches(str(value), choices, n=1)
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}"
                              + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    check.choices = choices  # the CLI help lists them
    return check


def text(name: str, value: Any) -> None:
    """A non-empty text."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty text, got {value!r}")


def whole(minimum: int) -> Check:
    """An integer >= `minimum` (booleans are not integers here).

    Args:
        minimum: The smallest allowed value.
    """
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise ConfigError(f"{name} must be {kind}, got {value!r}")
    return check


positive_int = whole(1)


def number(name: str, value: Any) -> None:
    """A finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")


def positive(name: str, value: Any) -> None:
    """A finite number > 0."""
    number(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    """A finite number >= 0."""
    number(name, value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")


def between(low: float, high: float, *, high_open: bool = False) -> Check:
    """A number in [low, high] (or [low, high) with `high_open`).

    Args:
        low: Smallest allowed value.
        high: Largest allowed value (excluded with `high_open`).
        high_open: Exclude `high`.
    """
    def check(name: str, value: Any) -> None:
        number(name, value)
        if not (low <= value < high if high_open else low <= value <= high):
            raise ConfigError(f"{name} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value}")
    return check


def probability(name: str, value: Any) -> None:
    """A number in (0, 1]."""
    positive(name, value)
    if value > 1:
        raise ConfigError(f"{name} must be in (0, 1], got {value}")


def boolean(name: str, value: Any) -> None:
    """true or false (not a text that looks like one)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def env_name(name: str, value: Any) -> None:
    """The name of an environment variable (the value itself, a token, never goes in a config)."""
    if not _ENV_NAME.fullmatch(str(value)):
        raise ConfigError(f"{name} must be an environment variable name, got {value!r}")


def repo_id(name: str, value: Any) -> None:
    """A Hub repo id like 'user/name'."""
    text(name, value)
    if not REPO_ID.match(value):
        raise ConfigError(f"{name} must be a Hub repo id like 'user/name', got {value!r}")


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value


def data_ref(name: str, value: Any) -> None:
    """A folder or file that exists, or something shaped like a Hub repo id."""
    text(name, value)
    if Path(value).expanduser().exists():
        return
    if _looks_like_path(value) or value.count("/") != 1 or not REPO_ID.match(value):
        raise ConfigError(f"{name}: {value!r} is neither an existing folder or file nor a Hub repo id ('user/name')")


def existing_file(name: str, value: Any) -> None:
    """A file that exists."""
    text(name, value)
    if not Path(value).expanduser().exists():
        raise ConfigError(f"{name}: file {value!r} does not exist")


def file_or_module(name: str, value: Any) -> None:
    """A Python file that exists, or an importable module name ("my_tools.weather")."""
    text(name, value)
    if not (not value.endswith(".py") and all(part.isidentifier() for part in value.split("."))):
        existing_file(name, value)


def model_ref(name: str, value: Any) -> None:
    """A built-in model name, a model folder, a Hub repo id or an http(s) endpoint URL."""
    from ..models.builtin import BUILTIN_MODELS

    text(name, value)
    if value.startswith(("http://", "https://")):
        return
    if value in BUILTIN_MODELS or Path(value).expanduser().is_dir():
        return
    if _looks_like_path(value):
        raise ConfigError(f"{name}: model folder {value!r} does not exist")
    if value.count("/") != 1 or not REPO_ID.match(value):
        hint = difflib.get_close_matches(value, list(BUILTIN_MODELS), n=1)
        raise ConfigError(f"{name}: {value!r} is not a built-in model, a folder or a Hub repo id"
                          + (f" (did you mean {hint[0]!r}?)" if hint else "")
                          + f". Built-in: {', '.join(BUILTIN_MODELS)}")


def known_rewards() -> list[str]:
    """Names of the registered rewards (the built-in ones, and any registered by the running program)."""
    from ..rewards.registry import REWARDS

    return list(REWARDS)


def rewards(name: str, value: Any) -> None:
    """A mapping of reward names (built-in, or "module:function") to numeric weights."""
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of reward names to weights, got {type(value).__name__}")
    known = known_rewards()
    for reward, weight in value.items():
        if not isinstance(reward, str) or not reward.strip():
            raise ConfigError(f"{name}: reward names must be text, got {reward!r}")
        number(f"{name}.{reward}", weight)
        if ":" in reward:  # "module:function", a user reward; resolved (imported) when the run starts
            module, _, func = reward.partition(":")
            if not module or not func.isidentifier():
                raise ConfigError(f"{name}.{reward}: a custom reward is written 'module:function'")
        elif reward not in known:
            hint = difflib.get_close_matches(reward, known, n=1)
            raise ConfigError(f"{name}.{reward}: unknown reward" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                              + f". Known: {', '.join(sorted(known))}")


def module_names(name: str, value: Any) -> None:
    """A non-empty list of module names."""
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m.strip() for m in value):
        raise ConfigError(f"{name} must be a non-empty list of module names (or ['all-linear']), got {value!r}")


def fallback(name: str, value: Any) -> None:
    """'mean', a number in [0, 1] (group judge) or an answer label (answer judge); None means no fallback."""
    if value in ("mean", "CORRECT", "INCORRECT", "NO_ANSWER"):
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be null, 'mean', a number in [0, 1] or an answer label (CORRECT, INCORRECT, "
                          f"NO_ANSWER), got {value!r}")


def check_fields(obj: Any, *, prefix: str = "") -> None:
    """Run every field's check (from its metadata) on its value; None is unset and not checked, a section (a
    nested dataclass) is checked field by field. The error ends with the field's help.

    Args:
        obj: A config dataclass.
        prefix: The dotted path of `obj` in the whole config ("lora.").
    """
    for f in fields(obj):
        value, name = getattr(obj, f.name), f"{prefix}{f.name}"
        if value is None:
            continue
        if is_dataclass(value):
            check_fields(value, prefix=f"{name}.")
            continue
        check = f.metadata.get("check")
        if check is not None:
            try:
                check(name, value)
            except ConfigError as e:
                raise explained(str(e), name, f.metadata.get("help", "")) from None

"""Reading config values: YAML files, `--field value` overrides and type coercion, for any config dataclass.

Every field carries its user-facing help in `field(metadata={"help": ...})`; the errors here show it, so a
misspelled key or a wrong type says what the field is for::

    run.yaml: unknown field 'learning_rat' (did you mean 'learning_rate'?). learning_rate: Optimizer learning rate.
    run.yaml: max_steps must be an integer, got 'ten'. max_steps: Optimizer steps.

The same metadata builds `toolbrain-hub train --help` and the classes' docstrings (`config.helptext`).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import MISSING, Field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["build", "coerce", "default_of", "explained", "field_type", "hints", "is_number", "parse_cli_value",
           "read_yaml", "set_path", "split_overrides", "to_plain", "unknown_field", "unwrap", "where"]


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file; a missing file or invalid YAML raises `ConfigError` naming the file and line.

    Args:
        path: The YAML file.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {e.problem or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None


def where(source: str | None) -> str:
    """The error prefix naming a value's origin ("run.yaml: "), or nothing."""
    return f"{source}: " if source else ""


# ---------------------------------------------------------------------------------------------------------------------
# fields, types and help

_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a dataclass (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional  # noqa: UP007
    return tp, False


def field_type(cls: type, dotted: str) -> tuple[Any, bool]:
    """(the type of a dotted field without None, whether it accepts None); (None, True) for an unknown name."""
    head, _, rest = dotted.partition(".")
    if head not in hints(cls):
        return None, True
    tp, optional = unwrap(hints(cls)[head])
    if rest:
        return field_type(tp, rest) if is_dataclass(tp) else (None, True)
    return tp, optional


def default_of(f: Field) -> Any:
    """A field's default value (a fresh one for mutable defaults); MISSING when it has none."""
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else MISSING


def explained(message: str, name: str, about: str) -> ConfigError:
    """A `ConfigError` whose message ends with the field's help."""
    return ConfigError(f"{message}. {name}: {about}" if about else message)


def unknown_field(name: str, candidates: dict[str, str], *, source: str | None = None,
                  note: dict[str, str] | None = None) -> ConfigError:
    """The error for a key no field has: it suggests the closest field and shows that field's help.

    Args:
        name: The key as written (dotted for a section's field).
        candidates: Field names (dotted like `name`) to their help.
        source: The origin for the message.
        note: Extra words after a suggested name (e.g. "a field of dpo").
    """
    message = where(source) + f"unknown field {name!r}"
    hint = difflib.get_close_matches(name, list(candidates), n=1)
    if not hint:
        return ConfigError(message)
    extra = f", {note[hint[0]]}" if note and hint[0] in note else ""
    return explained(message + f" (did you mean {hint[0]!r}{extra}?)", hint[0], candidates[hint[0]])


# ---------------------------------------------------------------------------------------------------------------------
# building a dataclass from plain data


def build(cls: type, data: dict[str, Any], *, prefix: str = "", source: str | None = None) -> Any:
    """An instance of the dataclass `cls` from a mapping, every value coerced to its field's type.

    Args:
        cls: The dataclass.
        data: Field names to values (nested dataclasses as mappings).
        prefix: The dotted path of `cls` in the whole config ("lora."), for messages.
        source: The origin for messages (a file name, "command line").

    Raises:
        ConfigError: an unknown key (with the closest field and its help) or a value of the wrong type.
    """
    own = {f.name: f.metadata.get("help", "") for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in own:
            raise unknown_field(f"{prefix}{key}", {f"{prefix}{k}": v for k, v in own.items()}, source=source)
        kwargs[key] = coerce(f"{prefix}{key}", hints(cls)[key], value, source=source, about=own[key])
    try:
        return cls(**kwargs)
    except TypeError as e:  # a missing required field of a nested section
        raise ConfigError(where(source) + f"{prefix.rstrip('.') or cls.__name__}: {e}") from None


def coerce(name: str, tp: Any, value: Any, *, source: str | None = None, about: str = "") -> Any:
    """Check/convert a value read from YAML or the command line to a field's type; texts holding numbers become
    numbers (YAML 1.1 reads 1e-4 as a text).

    Args:
        name: The field's dotted name, for messages.
        tp: The field's type.
        value: The value.
        source: The origin for messages.
        about: The field's help, added to messages.
    """
    base, optional = unwrap(tp)

    def wrong(kind: str) -> ConfigError:
        return explained(where(source) + f"{name} must be {kind}, got {value!r}", name, about)

    if value is None:
        if optional:
            return None
        raise explained(where(source) + f"{name} cannot be null", name, about)
    if is_dataclass(base):
        if isinstance(value, base):
            return value
        if not isinstance(value, dict):
            raise wrong("a mapping")
        return build(base, value, prefix=f"{name}.", source=source)
    origin = typing.get_origin(base)
    if base is bool:
        if isinstance(value, bool):
            return value
        raise wrong("true or false")
    if base is int:
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if base is float:
        if isinstance(value, str) and is_number(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong("a number")
        return float(value)
    if base is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise wrong("text")
        return str(value)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise wrong("a list")
        (item_tp,) = typing.get_args(base)
        return [coerce(f"{name}[{i}]", item_tp, v, source=source, about=about) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong("a mapping")
        _, value_tp = typing.get_args(base)
        return {str(k): coerce(f"{name}.{k}", value_tp, v, source=source, about=about) for k, v in value.items()}
    # str | float (judge.fallback): kept as given; the field's check judges the value.
    return value


def to_plain(obj: Any) -> Any:
    """Plain data (mappings, lists, scalars) from dataclasses, ready for YAML or JSON."""
    if is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    return obj


def is_number(text: str) -> bool:
    """The text reads as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------------
# command-line overrides


def split_overrides(args: list[str], *, is_flag) -> list[tuple[str, str]]:
    """`--key value`, `--key=value` and bare boolean flags (`--resume`) as (key, text) pairs; dashes in a key
    become underscores.

    Args:
        args: The command-line words.
        is_flag: `is_flag(key)`: the key is a boolean field (alone, it means true).
    """
    pairs, i = [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"expected --field value, got {arg!r}")
        key, sep, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if not sep:
            if i + 1 >= len(args) or (args[i + 1].startswith("--") and not is_number(args[i + 1])):
                if not is_flag(key):
                    raise ConfigError(f"--{key} needs a value")
                value = "true"
            else:
                value = args[i + 1]
                i += 1
        pairs.append((key, value))
        i += 1
    return pairs


def parse_cli_value(key: str, text: str, tp: Any, *, optional: bool) -> Any:
    """A command-line text read by the type of the field it overrides (checked afterwards by `coerce`).

    Args:
        key: The dotted field name.
        text: The text given.
        tp: The field's type without None (None: not known, read as YAML).
        optional: The field accepts None (`none`/`null` on the command line).
    """
    import yaml

    stripped = text.strip()
    if stripped.lower() in ("none", "null", "~") and optional:
        return None
    if tp is bool:
        if stripped.lower() in ("true", "yes", "1", "on"):
            return True
        if stripped.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"--{key} must be true or false, got {text!r}")
    if tp in (int, float, str):
        return text
    origin = typing.get_origin(tp)
    if origin is dict or (tp is not None and is_dataclass(tp)):
        if stripped.startswith("{"):
            try:
                return yaml.safe_load(stripped)
            except yaml.YAMLError as e:
                raise ConfigError(f"--{key}: not a valid mapping: {e}") from None
        out: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in stripped.split(","))):
            name, eq, value = part.partition("=")
            if not eq:
                raise ConfigError(f"--{key} takes name=value pairs separated by commas, got {part!r}")
            out[name.strip()] = value.strip()
        return out
    if origin is list:
        if stripped.startswith("["):
            try:
                return yaml.safe_load(stripped)
            except yaml.YAMLError as e:
                raise ConfigError(f"--{key}: not a valid list: {e}") from None
        return stripped
    return yaml.safe_load(text)


def set_path(data: dict[str, Any], key: str, value: Any, section: type | None) -> None:
    """Set a dotted key in plain data; a section that is unset (judge: null) starts from its defaults.

    Args:
        data: The config as plain data (changed in place).
        key: The dotted field name.
        value: The new value.
        section: The type of the key's first part (a section's dataclass, or any other type).
    """
    head, _, rest = key.partition(".")
    if not rest:
        data[head] = value
        return
    current = data.get(head)
    if current is None:
        if not is_dataclass(section):
            raise ConfigError(f"--{key}: {head!r} has no sub-fields")
        current = {f.name: default_of(f) for f in fields(section) if default_of(f) is not MISSING}
        data[head] = current
    if not isinstance(current, dict):
        raise ConfigError(f"--{key}: {head!r} has no sub-fields")
    inner = unwrap(hints(section).get(rest.partition(".")[0]))[0] if is_dataclass(section) else None
    set_path(current, rest, value, inner)

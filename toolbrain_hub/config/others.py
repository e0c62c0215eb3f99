"""What a config does with the fields of the other algorithms' configs.

Runs made before the config was split by algorithm wrote every field of every algorithm into their config.yaml;
the Space's form sends the group size whatever the algorithm. So a field of another algorithm is no error:

- at one of its defaults, it is dropped (what those files hold for every field their algorithm did not use);
- with another value, it is read by its type and kept aside (`TrainConfig.ignored`): `validate()` checks it as its
  algorithm would and warns that this algorithm ignores it, and `apply_overrides(["--algorithm", ...])` switching
  to its algorithm takes it up;
- a key that is no field of any algorithm is an error that suggests the closest field, of any algorithm.

The functions take the config classes (`config.base.config_classes()`) as an argument: this module sits below them.
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from typing import Any

from ..errors import ConfigError
from . import parsing

__all__ = ["algorithm_of", "check_ignored", "owners", "sort_out", "unknown"]


def algorithm_of(cls: type) -> str:
    """The algorithm of a config class (its `algorithm` field's default)."""
    return cls.__dataclass_fields__["algorithm"].default


def owners(classes: dict[str, type]) -> dict[str, list[type]]:
    """Each field name of any config class to the classes that have it.

    Args:
        classes: The config class of each algorithm.
    """
    found: dict[str, list[type]] = {}
    for cls in classes.values():
        for f in fields(cls):
            found.setdefault(f.name, []).append(cls)
    return found


def sort_out(cls: type, data: dict[str, Any], classes: dict[str, type], *, source: str | None,
             coerce: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fields of `cls`, the other algorithms' fields whose value is not one of their defaults); the other
    algorithms' fields at a default are dropped.

    Args:
        cls: The config class being built.
        data: Field names to values.
        classes: The config class of each algorithm.
        source: The origin for messages.
        coerce: Values are plain data (YAML, command line), read by the field's type; with False (Python keyword
            arguments) a name no algorithm has is left for the dataclass to refuse.
    """
    own = {f.name for f in fields(cls)}
    by_name = owners(classes)
    kept, ignored = {}, {}
    for key, value in data.items():
        if key in own or (key not in by_name and not coerce):
            kept[key] = value
            continue
        if key not in by_name:
            raise unknown(cls, key, classes, source=source)
        first = by_name[key][0]
        if coerce:
            value = parsing.coerce(key, parsing.hints(first)[key], value, source=source, about=_help(first, key))
        if value is not None and all(value != parsing.default_of(o.__dataclass_fields__[key]) for o in by_name[key]):
            ignored[key] = value
    return kept, ignored


def check_ignored(config: Any, classes: dict[str, type]) -> None:
    """Check each of `config.ignored` as its algorithm would (the error shows its help), then warn that `config`'s
    algorithm ignores it.

    Args:
        config: The config.
        classes: The config class of each algorithm.
    """
    by_name = owners(classes)
    for key, value in config.ignored.items():
        first = by_name[key][0]
        check = first.__dataclass_fields__[key].metadata.get("check")
        if check is not None:
            try:
                check(key, value)
            except ConfigError as e:
                raise parsing.explained(str(e), key, _help(first, key)) from None
        warnings.warn(f"{key} is a {_users(by_name[key])} field; algorithm {config.algorithm!r} does not use it: "
                      f"ignored", UserWarning, stacklevel=3)


def unknown(cls: type, key: str, classes: dict[str, type], *, source: str | None) -> ConfigError:
    """The error for a key no algorithm has: the closest field (of `cls` or another algorithm, then saying whose)
    with its help.

    Args:
        cls: The config class being built.
        key: The key as written.
        classes: The config class of each algorithm.
        source: The origin for messages.
    """
    candidates = {f.name: f.metadata.get("help", "") for f in fields(cls)}
    notes = {}
    for name, users in owners(classes).items():
        if name not in candidates:
            candidates[name] = _help(users[0], name)
            notes[name] = f"a {_users(users)} field"
    return parsing.unknown_field(key, candidates, source=source, note=notes)


def _help(cls: type, name: str) -> str:
    return cls.__dataclass_fields__[name].metadata.get("help", "")


def _users(classes: list[type]) -> str:
    names = [algorithm_of(c) for c in classes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

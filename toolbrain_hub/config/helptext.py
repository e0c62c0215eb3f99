"""The fields' help as text: the `Args:` block of each config class's docstring, and the options of
`toolbrain-hub train --help`. Both come from `field(metadata={"help": ...})`, the text YAML errors show too.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from .parsing import default_of, hints, unwrap

__all__ = ["FieldDoc", "describe", "documented"]


def documented(cls: type) -> type:
    """Add an `Args:` block built from the fields' help to a config dataclass's docstring, so `help(cls)` lists
    every field without a second copy of the text in the source.

    Args:
        cls: The dataclass (returned).
    """
    lines = [f"        {f.name}: {f.metadata['help']}" for f in fields(cls) if f.metadata.get("help")]
    cls.__doc__ = (cls.__doc__ or cls.__name__).rstrip() + "\n\n    Args:\n" + "\n".join(lines) + "\n"
    return cls



@dataclass(frozen=True)
class FieldDoc:
    """One option of `toolbrain-hub train --help`.

    Args:
        flag: The option ("--lora.r").
        metavar: What the value looks like ("INT", "true|false", "NAME=W,...").
        help: The field's help with its default.
    """

    flag: str
    metavar: str
    help: str


def describe(cls: type, names: list[str] | None = None, *, prefix: str = "") -> list[FieldDoc]:
    """The options of a config dataclass for `--help`, from its fields' types, help and defaults; sections expand
    to dotted options (`--lora.r`).

    Args:
        cls: The dataclass.
        names: Only these fields (default: all), in this order.
        prefix: The dotted path of `cls` ("lora.").
    """
    by_name = {f.name: f for f in fields(cls)}
    docs = []
    for name in names if names is not None else list(by_name):
        f = by_name[name]
        tp, optional = unwrap(hints(cls)[name])
        about = f.metadata.get("help", "")
        if is_dataclass(tp):
            docs.append(FieldDoc(f"--{prefix}{name}", "{...}", about + (" (default: none)" if optional else "")))
            docs.extend(describe(tp, prefix=f"{prefix}{name}."))
            continue
        default = default_of(f)
        shown = "none" if default is None else ("''" if default == "" else _shown(default))
        if "default:" not in about:  # else the help says what the default means
            about = f"{about} (default: {shown})"
        choices = getattr(f.metadata.get("check"), "choices", None)
        docs.append(FieldDoc(f"--{prefix}{name}", "|".join(choices) if choices else _metavar(tp), about))
    return docs


def _metavar(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true|false"
    if origin is dict:
        return "NAME=W,..."
    if origin is list:
        return "A,B,..."
    return {int: "INT", float: "FLOAT", str: "TEXT"}.get(tp, "VALUE")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)

"""`toolbrain-hub train CONFIG.yaml [--field value ...]`: run a training config, with CLI overrides.

Every field of the config's algorithm can be overridden (`--learning_rate 1e-4`, `--lora.r 8`, `--rewards
expected_calls=1,format=0.2`, `--resume true`); the whole config is validated before any model loads, and a bad
value exits with code 2 naming the field. `--dry-run` prints the resolved config and stops.

`--help` lists the fields with their help, built from the config classes' field metadata (the same help YAML errors
show): `toolbrain-hub train CONFIG.yaml --help` those of the file's algorithm, `toolbrain-hub train --help
--algorithm dpo` those of DPO, `toolbrain-hub train --help` those of every algorithm.

Multi-GPU: `accelerate launch --config_file accelerate_config.yaml -m toolbrain_hub.cli train CONFIG.yaml`.
"""

from __future__ import annotations

import argparse
import sys

USAGE = "toolbrain-hub train [-h] [--algorithm NAME] [--dry-run] [--no-progress] CONFIG.yaml [--field value ...]"
DESCRIPTION = ("Train from a YAML config; any config field can be overridden as --field value (nested: --lora.r 8). "
               "Bad values exit with code 2, naming the field.")
EPILOG = "example: toolbrain-hub train examples/train_grpo.yaml --max_steps 30 --learning_rate 1e-4"


def register(subparsers) -> None:
    # The help is written by `_help` (it depends on the algorithm), so argparse's own -h is off.
    parser = subparsers.add_parser(
        "train", help="train an agent (GRPO, DPO, SFT, distillation) from a YAML config", add_help=False,
        usage=USAGE, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("-h", "--help", action="store_true", help="list the config fields with their help")
    parser.add_argument("--algorithm", help="with --help: list this algorithm's fields; else overrides the config's")
    parser.add_argument("config", nargs="?", help="the YAML config file (see examples/train_*.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved, validated config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs=argparse.REMAINDER,
                        help="--field value pairs overriding the config (any field of its algorithm)")
    parser.set_defaults(func=_train)


def _split_flags(args) -> list[str]:
    # argparse keeps unknown --field flags in `overrides` only after the first positional; the flags of this command
    # may also appear among them.
    rest = ["--algorithm", args.algorithm] if args.algorithm else []
    for item in args.overrides:
        if item == "--dry-run":
            args.dry_run = True
        elif item == "--no-progress":
            args.no_progress = True
        elif item in ("-h", "--help"):
            args.help = True
        else:
            rest.append(item)
    return rest


def _train(args) -> int:
    from ..config.base import TrainConfig
    from .common import UsageError

    overrides = _split_flags(args)
    if args.help:
        sys.stdout.write(_help(_help_algorithm(args.config, overrides)))
        return 0
    if not args.config:
        raise UsageError("train needs a config file: toolbrain-hub train CONFIG.yaml (fields: toolbrain-hub train "
                         "--help)")
    config = TrainConfig.from_yaml(args.config, overrides=overrides)
    if args.dry_run:
        sys.stdout.write(config.validate().to_yaml())
        return 0
    from ..training import train

    result = train(config, progress=not args.no_progress)  # validates first (bad values exit 2 before any load)
    print(f"done: {result.steps} steps; run folder {result.output_dir}; adapter and agent spec in "
          f"{result.adapter_dir}" + (f"; pushed to {result.pushed_to}" if result.pushed_to else ""))
    return 0


def _help_algorithm(config: str | None, overrides: list[str]) -> str | None:
    """The algorithm whose fields `--help` lists: `--algorithm`, else the config file's, else None (all)."""
    from ..config import checks
    from ..config.base import ALGORITHMS
    from ..config.parsing import read_yaml

    algorithm = None
    for i, item in enumerate(overrides):
        if item == "--algorithm" and i + 1 < len(overrides):
            algorithm = overrides[i + 1]
        elif item.startswith("--algorithm="):
            algorithm = item.partition("=")[2]
    if algorithm is None and config:
        data = read_yaml(config)
        algorithm = data.get("algorithm", ALGORITHMS[0]) if isinstance(data, dict) else None
    if algorithm is not None:
        checks.choice(*ALGORITHMS)("algorithm", algorithm)
    return algorithm


def _help(algorithm: str | None) -> str:
    """The `train --help` text: the command's options, then the config fields with their help and defaults, grouped
    by the algorithms that have them (one algorithm's, or every algorithm's).

    Args:
        algorithm: The algorithm whose fields to list; None: every algorithm's.
    """
    from dataclasses import fields

    from ..config.base import TrainConfig, config_classes
    from ..config.helptext import describe

    parser = argparse.ArgumentParser(prog="toolbrain-hub train", usage=USAGE, description=DESCRIPTION,
                                     add_help=False, formatter_class=_Formatter)
    parser.add_argument("-h", "--help", action="store_true", help="this help (with CONFIG.yaml or --algorithm: the "
                                                                  "fields of that algorithm only)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved, validated config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    # --algorithm is listed with the fields (it is one).
    shared = [f.name for f in fields(TrainConfig)]
    groups = [("fields of every algorithm (YAML keys, or --field value on the command line)", TrainConfig, shared)]
    classes = config_classes()
    for name, cls in classes.items():
        if algorithm not in (None, name):
            continue
        # Alone, an algorithm lists all its fields; among all, each lists those its parent config has not.
        parent = TrainConfig if algorithm else next(c for c in cls.__mro__[1:] if hasattr(c, "__dataclass_fields__"))
        inherited = {f.name for f in fields(parent)}
        title = f"{name} fields" + (f" (and the {parent.__dataclass_fields__['algorithm'].default} fields)"
                                    if parent is not TrainConfig else "")
        groups.append((title, cls, [f.name for f in fields(cls) if f.name not in inherited]))
    text = parser.format_help()
    for title, cls, names in groups:  # one parser each: GRPO and DPO both have --num_generations, with their help
        section = argparse.ArgumentParser(usage=argparse.SUPPRESS, add_help=False, formatter_class=_Formatter)
        group = section.add_argument_group(title)
        for doc in describe(cls, names):
            group.add_argument(doc.flag, metavar=doc.metavar, help=doc.help.replace("%", "%%"))
        text += "\n" + section.format_help()
    return text + "\n" + EPILOG + "\n"


class _Formatter(argparse.HelpFormatter):
    """Wide enough for dotted flags and their value forms, so each help text starts on the flag's line; every
    section's help starts at the same column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=42, width=120)
        self._action_max_length = 40  # argparse widens this to the section's longest option, up to the position

"""`toolbrain-hub train CONFIG.yaml [--field value ...]`: run a training config, with CLI overrides.

Every `TrainConfig` field can be overridden (`--learning_rate 1e-4`, `--lora.r 8`, `--rewards expected_calls=1,
format=0.2`, `--resume true`); the whole config is validated before any model loads, and a bad value exits with
code 2 naming the field. `--dry-run` prints the resolved config and stops.

Multi-GPU: `accelerate launch --config_file accelerate_config.yaml -m toolbrain_hub.cli train CONFIG.yaml`.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train an agent (GRPO, DPO, SFT, distillation) from a YAML config",
        description="Train from a YAML config; any config field can be overridden as --field value "
                    "(nested: --lora.r 8). Bad values exit with code 2, naming the field.",
        epilog="example: toolbrain-hub train examples/train_grpo.yaml --max_steps 30 --learning_rate 1e-4",
    )
    parser.add_argument("config", help="the YAML config file (see examples/train_*.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved, validated config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs=argparse.REMAINDER,
                        help="--field value pairs overriding the config (any TrainConfig field)")
    parser.set_defaults(func=_train)


def _split_flags(args) -> list[str]:
    # argparse keeps unknown --field flags in `overrides` only after the first positional; the two flags of this
    # command may also appear among them.
    rest = []
    for item in args.overrides:
        if item == "--dry-run":
            args.dry_run = True
        elif item == "--no-progress":
            args.no_progress = True
        else:
            rest.append(item)
    return rest


def _train(args) -> int:
    from ..config.train import TrainConfig

    overrides = _split_flags(args)
    config = TrainConfig.from_yaml(args.config, overrides=overrides)
    if args.dry_run:
        sys.stdout.write(config.validate().to_yaml())
        return 0
    from ..training import train

    result = train(config, progress=not args.no_progress)  # validates first (bad values exit 2 before any load)
    print(f"done: {result.steps} steps; run folder {result.output_dir}; adapter and agent spec in "
          f"{result.adapter_dir}" + (f"; pushed to {result.pushed_to}" if result.pushed_to else ""))
    return 0

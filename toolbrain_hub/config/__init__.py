"""Training configs: `TrainConfig` (`config.base`, the fields every run has) and one class per algorithm on it
(`config.grpo`, `config.dpo`, `config.sft`, `config.distill`); the nested `lora` and `judge` sections
(`config.sections`); value checks (`config.checks`); YAML, `--field value` parsing and `--help` from the fields'
help (`config.parsing`); and what a Space visitor may set (`config.visitor`).

`TrainConfig(algorithm="dpo", ...)`, `TrainConfig.from_yaml` and `TrainConfig.from_dict` build the class of the
algorithm they are given.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import ALGORITHMS, DEFAULT_REWARDS, TrainConfig, config_classes
from .distill import DistillTrainConfig
from .dpo import DPOTrainConfig
from .grpo import GRPOTrainConfig
from .sections import JudgeSettings, LoraSettings
from .sft import SFTTrainConfig

__all__ = ["ALGORITHMS", "ConfigError", "DEFAULT_REWARDS", "DPOTrainConfig", "DistillTrainConfig", "GRPOTrainConfig",
           "JudgeSettings", "LoraSettings", "SFTTrainConfig", "TrainConfig", "config_classes"]

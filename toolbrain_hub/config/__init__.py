"""The training config (`TrainConfig`) with its YAML and CLI parsing, and what a Space visitor may set
(`config.visitor`).
"""

from __future__ import annotations

from ..errors import ConfigError
from .train import ALGORITHMS, JudgeSettings, LoraSettings, TrainConfig

__all__ = ["ALGORITHMS", "ConfigError", "JudgeSettings", "LoraSettings", "TrainConfig"]

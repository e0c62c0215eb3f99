"""The module path of the training config before it was split by algorithm (`from toolbrain_hub.config.train import
TrainConfig` keeps working); the names live in `config.base`, `config.sections` and the algorithm modules."""

from __future__ import annotations

from ..errors import ConfigError
from .base import (
    ALGORITHMS,
    DEFAULT_REWARDS,
    DEVICES,
    DTYPES,
    MIN_TOOL_COMPLETION_LENGTH,
    QUANTIZATIONS,
    UNSLOTH_MODES,
    TrainConfig,
)
from .sections import JudgeSettings, LoraSettings

__all__ = ["ALGORITHMS", "ConfigError", "DEFAULT_REWARDS", "DEVICES", "DTYPES", "JudgeSettings", "LoraSettings",
           "MIN_TOOL_COMPLETION_LENGTH", "QUANTIZATIONS", "TrainConfig", "UNSLOTH_MODES"]

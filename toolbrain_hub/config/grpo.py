"""`GRPOTrainConfig`: GRPO on TRL (`toolbrain_hub.training.grpo`): groups of rollouts per task, scored by the
rewards, with advantages relative to the group; optionally after a short native tool-call warm-up
(`toolbrain_hub.training.native_format`)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from ..errors import ConfigError
from . import checks
from .base import TrainConfig, algorithm_field
from .checks import setting
from .helptext import documented

__all__ = ["GRPOTrainConfig"]


@documented
@dataclass
class GRPOTrainConfig(TrainConfig):
    """A GRPO run: the fields every algorithm has, and the group sampling and KL fields of GRPO."""

    algorithm: str = algorithm_field("grpo")
    num_generations: int = setting(
        4, help="Group size: rollouts per task, whose rewards are compared (at least 2). per_device_train_batch_size "
                "x gradient_accumulation_steps x processes must be a multiple of it.", check=checks.positive_int)
    temperature: float = setting(0.9, help="Sampling temperature of rollouts.", check=checks.positive)
    top_p: float = setting(1.0, help="Nucleus sampling of rollouts, in (0, 1].", check=checks.probability)
    beta: float = setting(0.0, help="KL coefficient against the starting model (0 skips the reference model's "
                                    "forward pass).", check=checks.non_negative)
    trace_samples: int = setting(4, help="Rollouts per logged step written to traces.jsonl.", check=checks.whole(0))
    zero_variance_threshold: float = setting(
        0.5, help="Warn when more than this fraction of groups had identical rewards (nothing to learn from)...",
        check=checks.between(0.0, 1.0))
    zero_variance_window: int = setting(10, help="...over the last this many logged steps.",
                                        check=checks.positive_int)
    native_format_steps: int = setting(
        0, help="Native tool-call warm-up before GRPO: the policy runs the training tasks once (greedy); its episodes "
                "with right calls (expected_calls reward 1, no malformed call), in whatever form it wrote them, are "
                "re-rendered by the chat template, which writes the same calls in its native form (<tool_call> tags "
                "for Qwen2.5), and this many SFT steps train on them; then max_steps of GRPO, whose format reward "
                "keeps that form. Skipped, with a warning, when no episode has a right call. 0: no warm-up.",
        check=checks.whole(0))
    native_format_learning_rate: float | None = setting(
        None, help="Learning rate of the warm-up's SFT steps (none: learning_rate). Supervised LoRA steps usually "
                   "take a larger rate than GRPO's, e.g. 1e-4.", check=checks.positive)

    def _check_algorithm(self) -> None:
        self._require_rewards()
        self._check_groups()
        self._check_native_format()

    def _check_native_format(self) -> None:
        """The warm-up teaches the native form; GRPO keeps it only if a reward pays for it."""
        if self.native_format_steps and "format" not in self.rewards:
            warnings.warn("native_format_steps without the 'format' reward: the warm-up teaches the chat template's "
                          "native call form, but nothing in GRPO pays for keeping it (add format to rewards, e.g. "
                          "format: 0.2)", UserWarning, stacklevel=4)

    def _check_groups(self) -> None:
        """Groups of at least 2 rollouts, and steps holding whole groups; warns on a too short completion budget."""
        if self.num_generations < 2:
            raise ConfigError(f"num_generations must be at least 2 for {self.algorithm} (rewards are compared within "
                              f"a group), got {self.num_generations}")
        world = int(os.environ.get("WORLD_SIZE", "1"))
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps * world
        if batch % self.num_generations:
            raise ConfigError(
                f"per_device_train_batch_size ({self.per_device_train_batch_size}) x gradient_accumulation_steps "
                f"({self.gradient_accumulation_steps}) x processes ({world}) = {batch} must be a multiple of "
                f"num_generations ({self.num_generations}), so every step holds whole groups")
        self._warn_short_completions()

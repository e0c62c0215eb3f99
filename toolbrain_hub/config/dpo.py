"""`DPOTrainConfig`: DPO on TRL (`toolbrain_hub.training.dpo`), on pairs of the policy's own rollouts ranked by the
rewards, or on a preference dataset."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from . import checks
from .base import TrainConfig, algorithm_field
from .checks import setting
from .helptext import documented

__all__ = ["DPOTrainConfig"]


@documented
@dataclass
class DPOTrainConfig(TrainConfig):
    """A DPO run: the fields every algorithm has, and the pairing and DPO fields."""

    algorithm: str = algorithm_field("dpo")
    num_generations: int = setting(4, help="Rollouts sampled per task (at least 2); the best and the worst form a "
                                           "pair.", check=checks.positive_int)
    temperature: float = setting(0.9, help="Sampling temperature of those rollouts.", check=checks.positive)
    preferences: str | None = setting(
        None, help="A dataset (folder or Hub repo) with prompt/chosen/rejected columns, instead of on-policy pairs.",
        check=checks.data_ref)
    dpo_margin: float = setting(0.1, help="Minimum reward gap between a task's best and worst rollout to form a pair.",
                                check=checks.non_negative)
    dpo_beta: float = setting(0.1, help="The DPO temperature (strength of the implicit KL penalty).",
                              check=checks.positive)

    def _replaces_tasks(self) -> str | None:
        return "preferences" if self.preferences else None

    def _check_algorithm(self) -> None:
        if not self.preferences:
            self._require_rewards()
        if self.num_generations < 2:
            raise ConfigError(f"num_generations must be at least 2 for dpo (the best and the worst rollout of a task "
                              f"form a pair), got {self.num_generations}")
        self._warn_short_completions()

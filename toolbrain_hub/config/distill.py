"""`DistillTrainConfig`: distillation (`toolbrain_hub.training.distill`): a teacher runs the tasks, its traces that
reach `reward_threshold` train the student (SFT), then optional GRPO steps. It is a `GRPOTrainConfig`: the GRPO
fields set that last phase."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from . import checks
from .base import algorithm_field
from .checks import setting
from .grpo import GRPOTrainConfig
from .helptext import documented

__all__ = ["DistillTrainConfig"]


@documented
@dataclass
class DistillTrainConfig(GRPOTrainConfig):
    """A distillation run: the GRPO fields (for the optional GRPO phase) and the teacher's fields."""

    algorithm: str = algorithm_field("distill")
    teacher: str | None = setting(None, help="The teacher: a local model or an endpoint URL (url#model).",
                                  check=checks.model_ref)
    teacher_token_env: str | None = setting(
        None, help="Environment variable holding the teacher endpoint's token (default: TOOLBRAIN_ENDPOINT_TOKEN).",
        check=checks.env_name)
    reward_threshold: float = setting(
        1.0, help="Keep teacher traces whose total reward is at least this (1.0: with the default rewards only right, "
                  "valid calls reach it; a flawed call scores at most 0.7).", check=checks.number)
    distill_grpo_steps: int = setting(0, help="GRPO steps after the max_steps of the supervised phase (0: none).",
                                      check=checks.whole(0))

    def _check_algorithm(self) -> None:
        if not self.teacher or not str(self.teacher).strip():
            raise ConfigError("teacher is required for algorithm 'distill': a local model or an endpoint URL")
        self._require_rewards()
        if self.distill_grpo_steps:
            self._check_groups()
        if self.native_format_steps:
            raise ConfigError("native_format_steps is a warm-up for algorithm 'grpo'; distillation's supervised phase "
                              "already trains the teacher's calls in the chat template's native form (set it to 0)")

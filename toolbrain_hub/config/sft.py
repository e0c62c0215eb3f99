"""`SFTTrainConfig`: supervised training on TRL (`toolbrain_hub.training.sft`), on the tasks' gold traces or a
traces file, assistant tokens only."""

from __future__ import annotations

from dataclasses import dataclass

from . import checks
from .base import TrainConfig, algorithm_field
from .checks import setting
from .helptext import documented

__all__ = ["SFTTrainConfig"]


@documented
@dataclass
class SFTTrainConfig(TrainConfig):
    """A supervised run: the fields every algorithm has, and where the traces come from."""

    algorithm: str = algorithm_field("sft")
    traces: str | None = setting(
        None, help="A traces file (JSONL of chat messages, Trace JSON or a run's traces.jsonl) or dataset; default: "
                   "the tasks' gold traces.", check=checks.data_ref)

    def _replaces_tasks(self) -> str | None:
        return "traces" if self.traces else None

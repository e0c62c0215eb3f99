"""What publishing reads from a finished run folder (`read_run`, `RunSummary`), and the error it raises."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..evaluation.metrics import EvalError, read_eval_file
from ..runs.folder import EVAL_FILE

__all__ = ["PublishError", "RunSummary", "read_run"]


class PublishError(ToolBrainError, ValueError):
    """The run cannot be published (incomplete, malformed, or a file would leak a secret or a local path)."""


@dataclass
class RunSummary:
    """What publishing reads from a run folder.

    Args:
        root: The run folder.
        config: The run's `TrainConfig`.
        status: status.json.
        spec: The agent spec saved with the adapter.
        adapter_dir: The final adapter folder.
        metrics: Rows of metrics.jsonl (train and eval rows).
        evaluation: eval.json, or None when the run was not evaluated.
    """

    root: Path
    config: Any
    status: dict[str, Any]
    spec: Any
    adapter_dir: Path
    metrics: list[dict[str, Any]]
    evaluation: dict[str, Any] | None


def read_run(run_dir: str | os.PathLike) -> RunSummary:
    """Read a finished run folder, or raise PublishError naming everything that is missing.

    Args:
        run_dir: The run folder written by `toolbrain_hub.training.train`.
    """
    from ..agent.spec import SPEC_FILE, AgentSpec, AgentSpecError
    from ..config.base import TrainConfig
    from ..errors import ConfigError
    from ..runs.folder import ADAPTER_DIR, CONFIG_FILE, read_metrics, read_status

    root = Path(run_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Cannot publish {root}: no such run folder")
    adapter = root / ADAPTER_DIR
    required = [CONFIG_FILE, f"{ADAPTER_DIR}/adapter_model.safetensors", f"{ADAPTER_DIR}/adapter_config.json",
                f"{ADAPTER_DIR}/{SPEC_FILE}"]
    missing = [name for name in required if not (root / name).is_file()]
    status = read_status(root)
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if status.get("state") != "completed":
        where = f" at step {status['step']}/{status.get('total', '?')}" if status.get("step") is not None else ""
        error = f" ({status['error']})" if status.get("error") else ""
        problems.append(f"its status is '{status.get('state')}'{where}{error}, not 'completed'")
    if problems:
        raise PublishError(f"Cannot publish {root}: the run is incomplete: {'; '.join(problems)}. Publish a run that "
                           "finished (resume an interrupted one with `toolbrain-hub train CONFIG --resume true "
                           f"--output_dir {root}`).")
    try:
        config = TrainConfig.from_yaml(root / CONFIG_FILE)
    except ConfigError as e:
        raise PublishError(f"Cannot publish {root}: {e}") from None
    try:
        spec = AgentSpec.load(adapter)
    except AgentSpecError as e:
        raise PublishError(f"Cannot publish {root}: {e}") from None
    evaluation = None
    if (root / EVAL_FILE).is_file():
        try:
            evaluation = read_eval_file(root)[1]
        except EvalError as e:
            raise PublishError(f"Cannot publish {root}: {e}") from None
    return RunSummary(root=root, config=config, status=status, spec=spec, adapter_dir=adapter,
                      metrics=read_metrics(root), evaluation=evaluation)

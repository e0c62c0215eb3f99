"""The run folder: what a training run writes (config, status, metrics, traces, log, checkpoints, adapter), how to read
it, and its plots (`runs.plots`).
"""

from __future__ import annotations

from .folder import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    EVAL_AFTER,
    EVAL_BEFORE,
    EVAL_DIR,
    EVAL_FILE,
    EVAL_MARKDOWN,
    EVAL_PLOT,
    LOG_FILE,
    METRICS_FILE,
    PHASES_FILE,
    STATUS_FILE,
    TRACES_FILE,
    RunFolder,
    checkpoint_step,
    is_run_folder,
    metrics_from_log,
    read_metrics,
    read_status,
    run_metrics,
)

__all__ = [
    "ADAPTER_DIR", "CHECKPOINTS_DIR", "CONFIG_FILE", "EVAL_AFTER", "EVAL_BEFORE", "EVAL_DIR", "EVAL_FILE",
    "EVAL_MARKDOWN", "EVAL_PLOT", "LOG_FILE", "METRICS_FILE", "PHASES_FILE", "RunFolder", "STATUS_FILE",
    "TRACES_FILE", "checkpoint_step", "is_run_folder", "metrics_from_log", "read_metrics", "read_status",
    "run_metrics"
]

"""The run folder: what a training run writes (config, status, metrics, traces, log, checkpoints, adapter), how to read
it, and its plots (`runs.plots`).
"""

from __future__ import annotations

from .folder import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LOG_FILE,
    METRICS_FILE,
    STATUS_FILE,
    TRACES_FILE,
    RunFolder,
    checkpoint_step,
    metrics_from_log,
    read_metrics,
    read_status,
)

__all__ = [
    "ADAPTER_DIR", "CHECKPOINTS_DIR", "CONFIG_FILE", "LOG_FILE", "METRICS_FILE", "RunFolder", "STATUS_FILE",
    "TRACES_FILE", "checkpoint_step", "metrics_from_log", "read_metrics", "read_status"
]

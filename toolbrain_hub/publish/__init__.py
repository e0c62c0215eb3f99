"""Publishing a run: sanitized config, model card and adapter, to a local folder or a Hub repo."""

from __future__ import annotations

from .publisher import (
    PublishError,
    PublishResult,
    RunSummary,
    build_agent_folder,
    preview_card,
    publish,
    read_run,
    render_model_card,
    sanitize_config,
)

__all__ = [
    "PublishError", "PublishResult", "RunSummary", "build_agent_folder", "preview_card", "publish", "read_run",
    "render_model_card", "sanitize_config"
]

"""Publishing a run: sanitized config, model card and adapter, to a local folder or a Hub repo.

`publish.run` reads the run folder, `publish.sanitize` keeps local paths and secrets out, `publish.card` renders the
model card, and `publish.publisher` writes the agent folder and pushes it.
"""

from __future__ import annotations

from .card import render_model_card
from .publisher import PublishResult, build_agent_folder, preview_card, publish
from .run import PublishError, RunSummary, read_run
from .sanitize import sanitize_config

__all__ = [
    "PublishError", "PublishResult", "RunSummary", "build_agent_folder", "preview_card", "publish", "read_run",
    "render_model_card", "sanitize_config"
]

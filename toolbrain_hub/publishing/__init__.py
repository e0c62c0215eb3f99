"""Publishing a run: sanitized config, model card and adapter, to a local folder or a Hub repo.

`publishing.run` reads the run folder, `publishing.sanitize` keeps local paths and secrets out, `publishing.card`
renders the model card, and `publishing.publisher` writes the agent folder and pushes it (`toolbrain_hub.publish`).
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

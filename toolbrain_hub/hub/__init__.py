"""Hub I/O: every artifact goes to a Hub repo or a local folder through one code path, and the card renderer."""

from __future__ import annotations

from .repos import (
    DEFAULT_ENDPOINT,
    REPO_TYPES,
    HubError,
    HubNetworkError,
    HubPermissionError,
    NoTokenError,
    RepoExistsError,
    RepoNotFoundError,
    download,
    endpoint,
    full_repo_id,
    is_local,
    push_folder,
    repo_exists,
    repo_url,
    resolve_revision,
    resolve_token,
    whoami,
)

__all__ = [
    "DEFAULT_ENDPOINT", "HubError", "HubNetworkError", "HubPermissionError", "NoTokenError", "REPO_TYPES",
    "RepoExistsError", "RepoNotFoundError", "download", "endpoint", "full_repo_id", "is_local", "push_folder",
    "repo_exists", "repo_url", "resolve_revision", "resolve_token", "whoami"
]

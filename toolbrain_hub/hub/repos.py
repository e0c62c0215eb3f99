"""A repo id or a folder: pushing and pulling artifact folders (task datasets, runs, adapters) to and from the Hub.

Everything that takes an artifact accepts either a local folder or a Hub repo id ("user/name"): `download` returns a
folder in both cases, `push_folder` publishes a folder. The Hub endpoint is read from `HF_ENDPOINT` at call time
(not at import, unlike huggingface_hub), so a test server or a mirror can be chosen late. With `HF_HUB_OFFLINE=1`,
`download` reads what is already in the Hugging Face cache.

Errors from huggingface_hub and the network are turned into `HubError` subclasses whose message names the repo and
says what to do. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ToolBrainError

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_TYPES = ("model", "dataset", "space")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# "name" or "namespace/name", as the Hub allows them; anything else (./x, /x, ~/x, a/b/c) is a local path.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_TOKEN_HELP = "pass token=..., set HF_TOKEN, or run `hf auth login`"


class HubError(ToolBrainError, RuntimeError):
    """A Hub operation failed; the message names the repo and says what to do."""

    def __init__(self, message: str, *, repo_id: str | None = None):
        super().__init__(message)
        self.repo_id = repo_id


class NoTokenError(HubError):
    """The operation needs a Hugging Face token and none was given or found."""


class HubPermissionError(HubError):
    """The token was rejected, or its user may not do this (e.g. write into another namespace)."""


class RepoExistsError(HubError):
    """The repo already exists and `exist_ok=False` was asked."""


class RepoNotFoundError(HubError):
    """The repo, revision or file does not exist, or is private to someone else."""


class HubNetworkError(HubError):
    """The Hub cannot be reached (or offline mode is on) and the files are not in the local cache."""


def endpoint() -> str:
    """The Hub endpoint: `$HF_ENDPOINT`, read now, or https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def resolve_token(token: str | None = None) -> str | None:
    """The token to use: `token` if given, else `$HF_TOKEN`, else the one saved by `hf auth login` (or None).

    Args:
        token: An explicit token.
    """
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    return get_token() or None


def is_local(repo_or_path: str | os.PathLike) -> bool:
    """True for an existing path or anything shaped like a path; False for a repo id ("name" or "user/name").

    Args:
        repo_or_path: A local folder or a Hub repo id.
    """
    if isinstance(repo_or_path, os.PathLike):
        return True
    text = str(repo_or_path)
    return os.path.exists(os.path.expanduser(text)) or not _REPO_ID.fullmatch(text)


def repo_url(repo_id: str, repo_type: str = "model") -> str:
    """The repo's web URL on the current endpoint, e.g. https://huggingface.co/datasets/user/name.

    Args:
        repo_id: "user/name".
        repo_type: "model", "dataset" or "space".
    """
    _check_repo_type(repo_type)
    return f"{endpoint()}/{_URL_PREFIX[repo_type]}{repo_id}"


def whoami(token: str | None = None) -> str:
    """The username the token belongs to.

    Args:
        token: A token (default: `resolve_token()`).
    """
    token = _require_token(token, "find out who you are")
    from huggingface_hub import HfApi

    with _hub_errors(None, "model", token=token, action="check your token"):
        return HfApi(endpoint=endpoint()).whoami(token=token)["name"]


def full_repo_id(repo_id: str, token: str | None = None) -> str:
    """`repo_id` with a namespace: a bare "name" goes to the signed-in user's namespace ("user/name").

    Args:
        repo_id: "name" or "namespace/name".
        token: Used to ask the Hub for the username when `repo_id` has no namespace.
    """
    return repo_id if "/" in repo_id else f"{whoami(token)}/{repo_id}"


def repo_exists(repo_id: str, *, repo_type: str = "model", token: str | None = None) -> bool:
    """Whether the Hub repo exists and the token can see it.

    Args:
        repo_id: "user/name".
        repo_type: "model", "dataset" or "space".
        token: A token for private repos (default: `resolve_token()`).
    """
    _check_repo_type(repo_type)
    token = resolve_token(token)
    from huggingface_hub import HfApi

    with _hub_errors(repo_id, repo_type, token=token, action="look up"):
        return HfApi(endpoint=endpoint(), token=token).repo_exists(repo_id, repo_type=repo_type)


def push_folder(folder: str | os.PathLike, repo_id: str, *, repo_type: str = "model", token: str | None = None,
                private: bool = False, exist_ok: bool = True, commit_message: str | None = None,
                ignore_patterns: list[str] | None = None) -> str:
    """Create the repo if needed and upload every file of `folder` to it, in one commit.

    Args:
        folder: The local folder to publish.
        repo_id: "user/name", or "name" for the signed-in user's namespace.
        repo_type: "model", "dataset" or "space".
        token: A token with write access (default: `resolve_token()`).
        private: Create the repo as private (only applies when it is created).
        exist_ok: Push into an existing repo; if False, an existing repo raises `RepoExistsError`.
        commit_message: The commit title (default: "Upload <folder name> with toolbrain-hub").
        ignore_patterns: Glob patterns of files not to upload (e.g. ["checkpoint-*/*"]).

    Returns:
        The repo's URL.
    """
    _check_repo_type(repo_type)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Cannot push {folder}: it is not a folder")
    token = _require_token(token, f"push to the {repo_type} repo '{repo_id}'")
    repo_id = full_repo_id(repo_id, token)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint(), token=token)
    with _hub_errors(repo_id, repo_type, token=token, action="push to"):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=exist_ok)
        api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type=repo_type, ignore_patterns=ignore_patterns,
                          commit_message=commit_message or f"Upload {folder.name} with toolbrain-hub")
    url = repo_url(repo_id, repo_type)
    logger.info("Pushed %s to %s", folder, url)
    return url


def download(repo_or_path: str | os.PathLike, *, repo_type: str = "model", revision: str | None = None,
             token: str | None = None, allow_patterns: list[str] | str | None = None) -> Path:
    """A folder with the artifact's files: a local folder as is, or a Hub repo downloaded into the HF cache.

    Works offline: with `HF_HUB_OFFLINE=1` (or when the Hub is unreachable), a repo already downloaded is read from
    the cache. When the Hub is reachable and refuses the token, the cache is not used.

    Args:
        repo_or_path: A local folder or a Hub repo id ("user/name").
        repo_type: "model", "dataset" or "space" (for a repo id).
        revision: A branch or commit id (default: the main branch).
        token: A token for private repos (default: `resolve_token()`).
        allow_patterns: Only download files matching these glob patterns.
    """
    _check_repo_type(repo_type)
    if is_local(repo_or_path):
        path = Path(repo_or_path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"No folder at {path}: pass an existing folder or a Hub repo id like 'user/name'")
        return path
    repo_id = str(repo_or_path)
    token = resolve_token(token)
    import httpx2
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    with _hub_errors(repo_id, repo_type, token=token, action="download", revision=revision):
        # snapshot_download serves the shared cache when the Hub refuses access. Ask the Hub first so a private repo
        # cached for one user is never handed to another token (one machine, many users: a Space).
        if not constants.is_offline_mode():
            try:
                HfApi(endpoint=endpoint()).repo_info(repo_id, repo_type=repo_type, revision=revision, token=token)
            except HfHubHTTPError as err:
                if err.response.status_code in (401, 403, 404):
                    raise
            except httpx2.TransportError:
                pass  # unreachable: snapshot_download falls back to the cache, which is what offline use needs
        folder = snapshot_download(repo_id, repo_type=repo_type, revision=revision, token=token,
                                   allow_patterns=allow_patterns, endpoint=endpoint())
    return Path(folder)


def resolve_revision(repo_id: str, revision: str | None = None, *, repo_type: str = "model",
                     token: str | None = None) -> str:
    """The commit id a repo's revision points to now: asked of the Hub, or read from the Hugging Face cache when the
    Hub cannot be reached (offline mode). A commit id is returned as is.

    Args:
        repo_id: "user/name".
        revision: A branch, tag or commit id (default: the main branch).
        repo_type: "model", "dataset" or "space".
        token: A token for private repos (default: `resolve_token()`).
    """
    _check_repo_type(repo_type)
    token = resolve_token(token)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionResolutionError

    with _hub_errors(repo_id, repo_type, token=token, action="find the commit of", revision=revision):
        try:
            resolved = HfApi(endpoint=endpoint()).resolve_revision(repo_id, repo_type=repo_type, revision=revision,
                                                                   token=token)
        except RevisionResolutionError as err:
            raise HubNetworkError(f"Could not reach the Hub at {endpoint()} to find the commit of the {repo_type} "
                                  f"repo '{repo_id}' (revision '{revision or 'main'}'), and the local cache has none: "
                                  "download it once while online, or pass a local folder.", repo_id=repo_id) from err
    return resolved.resolved


# ---------------------------------------------------------------------------------------------------------------
# Error translation
# ---------------------------------------------------------------------------------------------------------------


def _check_repo_type(repo_type: str) -> None:
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {', '.join(REPO_TYPES)}, not {repo_type!r}")


def _require_token(token: str | None, action: str) -> str:
    token = resolve_token(token)
    if not token:
        raise NoTokenError(f"To {action} a Hugging Face token is needed and none was found: {_TOKEN_HELP}.")
    return token


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "hf_***") if token else text


def _server_message(error: Exception, token: str | None) -> str:
    """The Hub's own explanation of an HTTP error (or the error's first line), token redacted."""
    text = getattr(error, "server_message", None) or str(error)
    lines = text.strip().splitlines()
    return _redact(lines[0][:300] if lines else "", token)


@contextmanager
def _hub_errors(repo_id: str | None, repo_type: str, *, token: str | None, action: str,
                revision: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub and network errors raised inside into HubError subclasses with actionable messages."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"the {repo_type} repo '{repo_id}'" if repo_id else "the Hub"
    subject = what[:1].upper() + what[1:]  # `what` starting a sentence
    where = endpoint()
    try:
        yield
    except HubError:
        raise
    except HfHubHTTPError as err:
        status = err.response.status_code if getattr(err, "response", None) is not None else None
        detail = _server_message(err, token)
        if isinstance(err, RevisionNotFoundError):
            raise RepoNotFoundError(f"Revision '{revision or 'main'}' was not found in {what} on {where}: check "
                                    "the branch name or commit id.", repo_id=repo_id) from err
        if isinstance(err, RemoteEntryNotFoundError):
            raise RepoNotFoundError(f"A file was not found in {what} on {where} ({detail}).", repo_id=repo_id) from err
        if isinstance(err, GatedRepoError):
            raise HubPermissionError(f"{subject} is gated: accept its conditions on its page with the account of "
                                     "your token, then retry.", repo_id=repo_id) from err
        if status == 401 and not token:
            raise NoTokenError(f"Could not {action} {what} on {where} without a token: it does not exist, or it is "
                               f"private or needs authentication. If it is yours, {_TOKEN_HELP}.",
                               repo_id=repo_id) from err
        if status == 401:
            raise HubPermissionError(f"{where} rejected your token (invalid or expired) when trying to {action} "
                                     f"{what}. Create a new token at https://huggingface.co/settings/tokens and set "
                                     "HF_TOKEN.", repo_id=repo_id) from err
        if status == 403:
            fix = (f"Push to your own namespace, or use a token with write access to '{repo_id.split('/')[0]}'."
                   if repo_id else "Use a token with the permission this needs.")
            raise HubPermissionError(f"Your token may not {action} {what} ({detail}). {fix}", repo_id=repo_id) from err
        if status == 404:
            local = f" and there is no local folder named '{repo_id}'" if action == "download" else ""
            raise RepoNotFoundError(f"{subject} was not found on {where}{local}. Check the repo id and "
                                    "repo_type ('model' or 'dataset'); a private repo is only visible with its "
                                    "owner's token.", repo_id=repo_id) from err
        if status == 409:
            raise RepoExistsError(f"{subject} already exists on {where}: pass exist_ok=True to push into "
                                  "it, or choose another name.", repo_id=repo_id) from err
        raise HubError(f"The Hub at {where} answered {status} when trying to {action} {what}: {detail}",
                       repo_id=repo_id) from err
    except LocalEntryNotFoundError as err:
        from huggingface_hub import constants

        if constants.is_offline_mode():
            raise HubNetworkError(f"{subject} is not in the local cache and offline mode is on "
                                  "(HF_HUB_OFFLINE=1): download it once while online, or pass a local folder.",
                                  repo_id=repo_id) from err
        raise HubNetworkError(f"Could not reach the Hub at {where} to {action} {what}, and it is not in the local "
                              "cache. Check your connection and HF_ENDPOINT, or pass a local folder.",
                              repo_id=repo_id) from err
    except (httpx2.TransportError, OfflineModeIsEnabled, ConnectionError) as err:
        raise HubNetworkError(f"Could not reach the Hub at {where} to {action} {what} "
                              f"({type(err).__name__}: {_redact(str(err), token)}). Check your connection and "
                              "HF_ENDPOINT; offline, use a local folder instead.", repo_id=repo_id) from err

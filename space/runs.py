"""Who the user is, and the app's run manager (the library's registry and launchers, one per app process).

Identity: on a Space, the user signs in with `gr.LoginButton` (OAuth); handlers get `gr.OAuthProfile` and
`gr.OAuthToken` and use that token for the user's own namespace. It is never stored and never shown. A Space's own
HF_TOKEN secret is never used on a user's behalf. Locally (no `SPACE_ID`), the user is whoever `HF_TOKEN` (or the
saved `hf auth login`) belongs to, or "local" without a token: artifacts then stay in local folders.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from toolbrain_hub.jobs.registry import LOCAL_OWNER

from . import state


def on_space() -> bool:
    """Running as a Hugging Face Space (the platform sets SYSTEM=spaces and SPACE_ID), as Gradio decides it."""
    from gradio.utils import get_space

    return get_space() is not None


@dataclass(frozen=True)
class User:
    """The person using the app. `token` is None when there is none (then pushes and HF Jobs are unavailable)."""

    name: str | None  # Hugging Face username, "local", or None (a Space visitor who has not signed in)
    token: str | None = None
    problem: str = ""  # why there is no usable token, shown in the page

    @property
    def signed_in(self) -> bool:
        return self.name is not None

    def __repr__(self) -> str:  # never print the token
        return f"User(name={self.name!r}, token={'***' if self.token else None})"


@functools.lru_cache(maxsize=64)
def _whoami(token_digest: str, token: str) -> str:
    from toolbrain_hub.hub import whoami

    return whoami(token)


def current_user(profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None) -> User:
    """The user of this request: the signed-in Hugging Face user on a Space, the HF_TOKEN's user locally.

    Args:
        profile: Injected by Gradio when the handler declares a `gr.OAuthProfile | None` parameter.
        oauth_token: Injected likewise (`gr.OAuthToken | None`).
    """
    if on_space():
        if profile is None or oauth_token is None:
            return User(None, None, "Sign in with Hugging Face (button at the top) to save, train and publish.")
        return User(profile.username, oauth_token.token)
    if oauth_token is not None and profile is not None:
        return User(profile.username, oauth_token.token)
    from toolbrain_hub.hub import HubError, resolve_token

    token = resolve_token(None)
    if not token:
        return User(LOCAL_OWNER, None, "No Hugging Face token (set HF_TOKEN to push to the Hub and use HF "
                                             "Jobs): artifacts stay in local folders.")
    try:
        return User(_whoami(hashlib.sha256(token.encode()).hexdigest(), token), token)
    except HubError as err:
        return User(LOCAL_OWNER, None, f"HF_TOKEN is set but unusable: {err}")


def account_bar() -> None:
    """The sign-in row: a login button on a Space, the local identity otherwise."""
    if on_space():
        with gr.Row():
            gr.LoginButton()
            gr.Markdown("Sign in to push datasets and agents to your namespace and to train on HF Jobs. Your token "
                        "is used for your requests only and never stored.")
        return

    def describe() -> str:
        user = current_user()
        who = f"**{user.name}**" if user.token else "**local** (no Hugging Face token)"
        return f"Running locally as {who}; workspace: `{state.workspace()}`." + (
            f" {user.problem}" if user.problem else "")

    gr.Markdown(describe, elem_id="account-note")  # a callable value is re-evaluated on every page load


_manager = None
_manager_lock = threading.Lock()


def manager():
    """The app's `RunManager` over `<workspace>/runs`, with a background poller that starts queued local runs."""
    global _manager
    with _manager_lock:
        if _manager is None:
            from toolbrain_hub.jobs.hf_jobs import HFJobsLauncher
            from toolbrain_hub.jobs.launchers import LocalLauncher
            from toolbrain_hub.jobs.manager import RunManager
            from toolbrain_hub.jobs.registry import RunRegistry

            # On a Space, runs are visitors' code: the Space's endpoint tokens never reach them. Locally they are the
            # machine owner's own runs, which may use the endpoint tokens set here. (Thread settings such as
            # OMP_NUM_THREADS pass to local runs through the launcher's allow-list.)
            trusted = not on_space()
            launchers = {"local": LocalLauncher(trusted=trusted),
                         "hf-jobs": HFJobsLauncher(timeout=os.environ.get("TOOLBRAIN_HUB_JOB_TIMEOUT", "2h"),
                                                   trusted=trusted)}
            _manager = RunManager(RunRegistry(state.workspace() / "runs"), launchers=launchers,
                                  max_local_runs=int(os.environ.get("TOOLBRAIN_HUB_LOCAL_RUNS", "1")))
            threading.Thread(target=_poll_forever, args=(_manager,), name="run-poller", daemon=True).start()
        return _manager


def _poll_forever(mgr, interval: float = 2.0) -> None:
    import logging
    import time

    while True:
        try:
            mgr.poll()
        except Exception:  # noqa: BLE001 - the poller must survive a bad run folder
            logging.getLogger(__name__).exception("run poller")
        time.sleep(interval)


def user_folder(kind: str, user: User) -> Path:
    """`<workspace>/<kind>/<owner>`: each user's local artifacts apart from the others'."""
    path = state.workspace() / kind / (user.name or LOCAL_OWNER)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _own_folders(user: User) -> list[Path]:
    """The user's datasets, agents and run folders."""
    if not user.signed_in:
        return []
    mine = [user_folder("datasets", user), user_folder("agents", user)]
    return mine + [Path(r.run_dir).resolve() for r in manager().registry.list(owner=user.name)]


def policy(user: User):
    """What this user may set: a `VisitorPolicy` on a Space (visitors are untrusted), None locally (the machine's
    one user may use everything: their own code, commands, paths and endpoints)."""
    if not on_space():
        return None
    from toolbrain_hub.config.visitor import VisitorPolicy

    return VisitorPolicy.from_env(user.name or "", folders=_own_folders(user))


def check_readable(path_or_repo: str, user: User) -> None:
    """On a Space, a local path typed into the page must be one of the user's own folders (their datasets, agents
    and runs), never any other server path; Hub repo ids are read with the user's own token. Locally the user owns
    the machine and every path is theirs.

    Raises:
        toolbrain_hub.config.visitor.VisitorError: naming the path.
    """
    rules = policy(user)
    if rules is not None:
        rules.check_data("path", path_or_repo)


def check_model(label: str, name: str, user: User) -> None:
    """On a Space, a model typed into the page must be one the operator allows (built-ins at least); locally any
    model, folder or endpoint is fine.

    Raises:
        toolbrain_hub.config.visitor.VisitorError: naming the field.
    """
    rules = policy(user)
    if rules is not None:
        rules.check_model(label, name)

"""Stop buttons for the long jobs outside training: task generation with a model, evaluation, a Try it answer.

A handler runs its job inside `job(request, kind)`, which gives it a `should_stop` for the library call
(`generate_tasks`, `evaluate`, `SpecAgent.run`); the library checks it between steps and tokens and raises
`toolbrain_hub.stopping.Stopped`, and the handler shows that message. The Stop button (`stop_button`) sets it for the
user's own session; so does the end of the session (a closed or reloaded page, through `Blocks.unload`). Gradio's
`cancels=` alone would only drop the event: the worker thread would run on, holding the model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

KINDS = {"tasks": "task generation", "evaluate": "evaluation", "try": "answer"}

_lock = threading.Lock()
_running: dict[tuple[str, str], threading.Event] = {}  # (session, kind) -> the running job's stop request


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


@contextmanager
def job(request: gr.Request | None, kind: str) -> Iterator[threading.Event]:
    """Run a job of `kind` for this session; yields its stop request (`event.is_set` is the `should_stop`).

    Args:
        request: The handler's `gr.Request` (None, e.g. a direct call: the job then cannot be stopped).
        kind: One of `KINDS`.
    """
    event = threading.Event()
    key = (_session(request), kind)
    if key[0] is not None:
        with _lock:
            _running[key] = event
    try:
        yield event
    finally:
        with _lock:
            if _running.get(key) is event:
                del _running[key]


def stop(request: gr.Request | None, kind: str | None = None) -> int:
    """Ask this session's running jobs (of `kind`, or all) to stop; returns how many were asked.

    Args:
        request: The handler's `gr.Request`.
        kind: One of `KINDS`, or None for every job of the session.
    """
    session = _session(request)
    if session is None:
        return 0
    with _lock:
        events = [event for (owner, what), event in _running.items()
                  if owner == session and (kind is None or what == kind)]
    for event in events:
        event.set()
    return len(events)


def stop_button(kind: str, label: str | None = None, **kwargs) -> gr.Button:
    """A Stop button for this session's job of `kind` (a notice says whether there was one to stop).

    Args:
        kind: One of `KINDS`.
        label: The button's text (default "Stop").
        **kwargs: More `gr.Button` arguments (elem_id, scale...).
    """
    what = KINDS[kind]

    def press(request: gr.Request):
        if stop(request, kind):
            gr.Info(f"Stopping the {what}: it ends after the current step.")
        else:
            gr.Info(f"No {what} is running.")

    button = gr.Button(label or "Stop", variant="stop", **kwargs)
    button.click(press, None, None, show_progress="hidden")
    _stop_on_unload()
    return button


def _stop_on_unload() -> None:
    """Once per app: when a page's session ends (tab closed or reloaded), its jobs stop."""
    root = gr.context.Context.root_block
    if root is None or getattr(root, "_toolbrain_stop_on_unload", False):
        return
    root._toolbrain_stop_on_unload = True

    def session_ended(request: gr.Request):
        stop(request)

    root.unload(session_ended)

"""Start the real app on a free 127.0.0.1 port for a test module, with environment settings restored afterwards."""

from __future__ import annotations

import contextlib
import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(**env: str):
    """Yield the local URL of a freshly built app, run with `env` set (and the old values put back)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    from space import runs
    from space.app import build_app, launch

    runs._manager = None  # a fresh run manager over this workspace (another test module may have made one)
    demo = build_app()
    launch(demo.queue(), server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""Start the real app on a free 127.0.0.1 port for a test module, with environment settings restored afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile


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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's chromium, headless, with nothing that reaches out of this machine (its network is closed).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@contextlib.contextmanager
def browser_page(url: str, *, cookies: list[dict] | None = None, timeout_ms: float = 60_000):
    """A Chromium page (fresh profile, 1280x900) open at `url` once the app has rendered, closed afterwards.

    Args:
        url: The app's local URL.
        cookies: Set before the page opens (e.g. a signed-in visitor's session).
        timeout_ms: Default timeout of the page's waits.
    """
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="toolbrain-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                           args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
            if cookies:
                context.add_cookies(cookies)
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto(url)
            page.wait_for_selector("#tools-code")
            yield page
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)

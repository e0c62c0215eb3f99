"""Launch, follow, cancel and come back to runs in a real browser (Debian's Chromium through Playwright), as a
newcomer does: the page makes no more calls than its status timer needs, the pickers of the other tabs stay
usable, cancel stays "canceled", no message goes stale, a click on a run selects it, and after a reload the page
comes back to where the user left off and the flow goes on to a chat with the published agent.

The handlers are counted in the app's own process (the app runs in the test process), so the count is what the
server did, whatever transport the page uses. The steps share one page and run in order."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from app_helpers import running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
POLL_S = 1.0
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
                   "required": ["city"]}}}]
COUNTED = [("space.train_tab", "show_run"), ("space.evaluate_tab", "follow"), ("space.evaluate_tab", "show_saved"),
           ("space.publish_tab", "preview"), ("space.train_tab", "list_runs")]

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make browser installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def app(hub_server, tmp_path_factory):
    """The app (signed in locally as alice) with its tab handlers counted, and alice's saved task dataset."""
    import functools
    import importlib

    from toolbrain_hub.tasks import generate_tasks, save_tasks

    workspace = tmp_path_factory.mktemp("runs-workspace")
    dataset = workspace / "datasets" / "alice" / "weather"
    save_tasks(generate_tasks(WEATHER, num=12, generator="schema", seed=0, progress=False), dataset)
    calls: list[tuple[float, str]] = []
    patch = pytest.MonkeyPatch()
    for module_name, name in COUNTED:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append((time.monotonic(), _name))
            return _original(*args, **kwargs)

        patch.setattr(module, name, functools.wraps(original)(counted))
    try:
        with running_app(TOOLBRAIN_HUB_WORKSPACE=str(workspace), HF_TOKEN=hub_server.token,
                         TOOLBRAIN_HUB_POLL_S=str(POLL_S)) as url:
            yield {"url": url, "workspace": workspace, "dataset": dataset, "calls": calls}
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def page(app):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="toolbrain-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app["url"])
        page.wait_for_selector("#tools-code")
        yield page
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _wait_text(page, selector: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
                           arg=[selector, text], timeout=timeout)
    return page.inner_text(selector)


def _counts(calls, since: float) -> dict[str, int]:
    out: dict[str, int] = {}
    for at, name in calls:
        if at >= since:
            out[name] = out.get(name, 0) + 1
    return out


def _launch(page, app, *, steps: int) -> str:
    page.fill("#train-dataset input", str(app["dataset"]))
    page.keyboard.press("Enter")
    page.fill("#train-model input", "tiny-random-qwen2")
    page.keyboard.press("Enter")
    page.fill("#train-steps input", str(steps))
    page.fill("#train-generations input", "2")
    page.fill("#train-max-completion input", "32")
    page.fill("#train-extra textarea", "--threads 1 --max_turns 1 --save_steps 0")
    page.click("#train-launch")
    message = _wait_text(page, "#train-launched", "Run ")
    return message.split("Run ", 1)[1].split()[0].strip("`")


def _picker_value(page, selector: str) -> str:
    return page.input_value(f"{selector} input")


def test_1_launch_makes_no_more_calls_than_the_timer_needs(page, app):
    # A newcomer looks at every tab first (their pickers are then live in the page), then launches.
    for name in ("4. Evaluate", "5. Publish", "6. Try it", "3. Train"):
        _tab(page, name)
        time.sleep(0.5)
    run_id = _launch(page, app, steps=2)
    app["first_run"] = run_id
    status = _wait_text(page, "#train-status", "completed", timeout=180_000)
    assert run_id in status
    # The launch message said nothing that the run has since outgrown.
    launched = page.inner_text("#train-launched")
    assert "launched on this machine" in launched and "process started" not in launched and "running" not in launched
    # The Logs box follows its newest line.
    page.wait_for_function("(() => { const t = document.querySelector('#train-logs textarea');"
                           " return t && t.value.includes('done: 2') && t.scrollHeight > t.clientHeight"
                           " && t.scrollTop + t.clientHeight >= t.scrollHeight - 4; })()", timeout=20_000)
    start = time.monotonic()
    time.sleep(20)
    counts = _counts(app["calls"], start)
    assert counts.get("show_run", 0) <= 20 / POLL_S + 2, counts  # the status timer, nothing more
    assert not any(counts.get(name) for name in ("follow", "show_saved", "preview", "list_runs")), counts


def test_2_the_other_tabs_pickers_stay_usable(page, app):
    run_id = app["first_run"]
    for tab, picker in (("4. Evaluate", "#eval-run"), ("5. Publish", "#publish-run")):
        _tab(page, tab)
        page.wait_for_function("([sel, value]) => document.querySelector(sel + ' input')?.value === value",
                               arg=[picker, run_id], timeout=20_000)
        assert page.locator(f"{picker} .pending, {picker} .wrap.translucent").count() == 0
        page.click(f"{picker} input")
        option = page.get_by_role("option", name=run_id)
        option.wait_for(timeout=10_000)
        option.click()
        assert _picker_value(page, picker) == run_id
    _tab(page, "3. Train")


def test_3_cancel_shows_and_stays_canceled(page, app):
    run_id = _launch(page, app, steps=100_000)
    _wait_text(page, "#train-status", "step ", timeout=180_000)  # training is under way
    page.click("#train-cancel")
    assert f"Run `{run_id}` canceled" in page.inner_text("#train-launched") or \
        "canceled" in _wait_text(page, "#train-launched", "canceled")
    assert "**canceled**" not in _wait_text(page, "#train-status", "canceled")
    time.sleep(5 * POLL_S)  # several status ticks later
    status = page.inner_text("#train-status")
    assert "canceled" in status and "failed" not in status, status
    record = json.loads((app["workspace"] / "runs" / run_id / "run.json").read_text()) \
        if (app["workspace"] / "runs" / run_id / "run.json").is_file() else None
    from space import runs

    assert runs.manager().registry.get(run_id).status == "canceled", record
    app["canceled_run"] = run_id


def test_4_a_click_on_a_run_selects_it(page, app):
    first = app["first_run"]
    assert _picker_value(page, "#train-run") == app["canceled_run"]
    page.locator("#train-runs [role=gridcell][data-col='0']", has_text=first).first.click()
    page.wait_for_function("(value) => document.querySelector('#train-run input')?.value === value", arg=first)
    assert first in _wait_text(page, "#train-status", first)
    headers = page.locator("#train-runs [role=columnheader]").all_inner_texts()
    assert "name" not in [h.strip().lower() for h in headers]


def test_5_after_a_reload_the_page_comes_back_and_the_flow_goes_on_to_a_chat(page, app):
    page.reload()
    page.wait_for_selector("#tools-code")
    _tab(page, "3. Train")
    # The newest run is selected again, and a fresh form takes its settings.
    page.wait_for_function("(value) => document.querySelector('#train-run input')?.value === value",
                           arg=app["canceled_run"], timeout=20_000)
    page.wait_for_function("(value) => document.querySelector('#train-dataset input')?.value === value",
                           arg=str(app["dataset"]), timeout=20_000)
    assert page.input_value("#train-model input") == "tiny-random-qwen2"
    # Publish the completed run to a folder; the confirmation stays when the preview redraws.
    _tab(page, "5. Publish")
    page.wait_for_function("(value) => document.querySelector('#publish-run input')?.value === value",
                           arg=app["first_run"], timeout=20_000)
    page.fill("#publish-name textarea", "weather-agent")
    page.click("#publish-where label:has-text('Local folder')")
    page.click("#publish-go")
    published = _wait_text(page, "#publish-status", "Published", timeout=60_000)
    page.click("#publish-preview")
    _wait_text(page, "#publish-files", "Files:")
    assert page.inner_text("#publish-status") == published
    _tab(page, "6. Try it")
    folder = str(app["workspace"] / "agents" / "alice" / "weather-agent")
    page.wait_for_function("(value) => document.querySelector('#try-source textarea')?.value === value",
                           arg=folder, timeout=20_000)
    page.click("#try-load")
    _wait_text(page, "#try-status", "Loaded", timeout=60_000)
    page.fill("#try-question textarea", "What is the weather in Paris?")
    page.click("#try-send")
    # Whatever the two-step model answers, the chat shows the question and a reply of the agent's.
    page.wait_for_function("document.querySelectorAll('#try-chat .message-row, #try-chat [data-testid=\"bot\"]')"
                           ".length >= 2", timeout=60_000)
    assert "What is the weather in Paris?" in page.inner_text("#try-chat")

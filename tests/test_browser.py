"""The app driven in a real browser (Debian's Chromium through Playwright), as a user drives it: upload a schema,
generate tasks, train a tiny model on this machine and watch it complete, evaluate, publish to the Hub test server,
and chat with the published agent, seeing its tool call and its answer. The model trained is the pinned model
(tests/pinned.py, a base model on the Hub test server), so what the agent says holds by construction.
Screenshots of each step go to test-artifacts/browser/; with TOOLBRAIN_HUB_SCREENSHOTS=docs they are also written,
small, to docs/screenshots/ for the README.

The steps share one page and run in order (each well under two minutes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pinned
import pytest
from app_helpers import CHROMIUM, browser_page, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "browser"
DOCS = REPO / "docs" / "screenshots"
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
                   "required": ["city"]}}}]

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make browser installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def app(hub_server, tmp_path_factory):
    """The app, signed in locally as alice (HF_TOKEN) with the test Hub as the Hub."""
    workspace = tmp_path_factory.mktemp("browser-workspace")
    with running_app(TOOLBRAIN_HUB_WORKSPACE=str(workspace), HF_TOKEN=hub_server.token,
                     TOOLBRAIN_HUB_POLL_S="1") as url:
        yield {"url": url, "workspace": workspace, "hub": hub_server}


@pytest.fixture(scope="module")
def page(app):
    with browser_page(app["url"], timeout_ms=30_000) as page:
        yield page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TOOLBRAIN_HUB_SCREENSHOTS") == "docs":
        from PIL import Image

        DOCS.mkdir(parents=True, exist_ok=True)
        image = Image.open(path).convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, 1800)))  # the top of long pages
        image.thumbnail((1000, 1400))
        image.quantize(colors=64).save(DOCS / f"{name}.png", optimize=True)


def _wait_text(page, selector: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
                           arg=[selector, text], timeout=timeout)
    return page.inner_text(selector)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_1_upload_a_schema_and_generate_tasks(page, tmp_path):
    schema = tmp_path / "weather_tools.json"
    schema.write_text(json.dumps(WEATHER))
    page.set_input_files("#tools-file input[type=file]", str(schema))
    status = _wait_text(page, "#tools-status", "valid tool")
    assert "1 valid tool: get_weather" in status
    assert "get_weather" in _wait_text(page, "#tools-table", "get_weather")
    _shot(page, "1-tools")

    _tab(page, "2. Tasks")
    page.fill("#tasks-num input", "24")
    page.click("#tasks-generate")
    status = _wait_text(page, "#tasks-status", "tasks kept")
    assert status.startswith("24 tasks kept of 24 requested")
    assert "get_weather(" in _wait_text(page, "#tasks-preview", "get_weather(")
    page.fill("#tasks-name textarea", "weather-tasks")
    page.click("#tasks-save")
    assert "Saved 24 tasks" in _wait_text(page, "#tasks-saved", "Saved")
    _shot(page, "2-tasks")


def test_2_train_the_tiny_model_and_watch_it_complete(page, app, pinned_model_repo):
    _tab(page, "3. Train")
    dataset = str(app["workspace"] / "datasets" / "alice" / "weather-tasks")
    page.wait_for_function("(value) => document.querySelector('#train-dataset input')?.value === value", arg=dataset)
    page.fill("#train-model input", pinned_model_repo)
    page.keyboard.press("Enter")
    page.click("#train-algorithm label:has-text('sft')")
    for selector, value in [("#train-steps", "60"), ("#train-generations", "4"), ("#train-lr", "0.01"),
                            ("#train-lora-r", "16"), ("#train-lora-alpha", "32")]:
        page.fill(f"{selector} input", value)
    page.fill("#train-extra textarea", "--threads 1 --gradient_checkpointing false --lora.target_modules all-linear")
    page.click("#train-launch")
    assert "launched on this machine" in _wait_text(page, "#train-launched", "Run ")
    status = _wait_text(page, "#train-status", "completed", timeout=110_000)
    assert "training finished (60 steps)" in status
    assert "adapter:" in status and str(app["workspace"] / "runs") in status
    page.wait_for_function("(document.querySelector('#train-logs textarea')?.value || '').includes('done: 60')")
    page.wait_for_selector("#train-plot img, #train-plot canvas, #train-plot svg", timeout=15_000)
    assert "completed" in _wait_text(page, "#train-runs", "completed")
    _shot(page, "3-train")


def test_3_evaluate_publish_and_chat_with_the_agent(page, app):
    from huggingface_hub import HfApi

    _tab(page, "4. Evaluate")
    page.wait_for_function("(document.querySelector('#eval-run input')?.value || '').length > 0")
    page.fill("#eval-limit input", "3")
    page.click("#eval-run-button")
    result = _wait_text(page, "#eval-result", "correctness", timeout=60_000)
    assert "base model" in result and "trained" in result
    page.wait_for_selector("#eval-plot img, #eval-plot canvas, #eval-plot svg", timeout=15_000)
    _shot(page, "4-evaluate")

    _tab(page, "5. Publish")
    page.fill("#publish-name textarea", "weather-agent")
    page.click("#publish-preview")
    _wait_text(page, "#publish-files", "Files:")
    # The card and the status are separate outputs: wait for the card's own render, don't read it mid-update.
    assert "alice/weather-agent" in _wait_text(page, "#publish-card", "alice/weather-agent")
    page.click("#publish-go")
    assert "Published" in _wait_text(page, "#publish-status", "Published", timeout=60_000)
    files = HfApi(endpoint=app["hub"].endpoint).list_repo_files("alice/weather-agent", token=app["hub"].token)
    assert {"README.md", "agent_spec.json", "adapter_model.safetensors"} <= set(files)
    _shot(page, "5-publish")

    _tab(page, "6. Try it")
    page.wait_for_function("document.querySelector('#try-source textarea')?.value === 'alice/weather-agent'")
    page.click("#try-load")
    assert f"base model {pinned.REPO}" in _wait_text(page, "#try-status", "Loaded", timeout=60_000)
    page.fill("#try-question textarea", "Please get the current weather for Paris.")
    page.click("#try-send")
    chat = _wait_text(page, "#try-chat", pinned.ANSWER, timeout=60_000)
    assert 'Tool call: get_weather({"city": "Paris"})' in chat and app["hub"].token not in page.content()
    _shot(page, "6-try-it")

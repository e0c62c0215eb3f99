"""The app as a newcomer meets it (issue 12), in Debian's Chromium through Playwright, with tool schemas the project
never saw: a 3-tool travel set in OpenAI format and an MCP `tools/list` result. Each test asserts, in the page, one
thing that newcomer ran into: schemas that are no tool list or have several faults, range checks that left red
"Error" badges, a stale "No tasks yet", saves and publishes that silently replaced what was there, long jobs
(task generation with a model, evaluation, a Try it answer) that nothing could stop, not even a page reload, a card
preview with broken images and a `\\u0027` in its snippet, and Try it's messages for no agent and an empty reply.

One app and one browser for the module; the tests run in order on one page (the travel dataset and its training run
are made once, by module fixtures, through the page)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from app_helpers import CHROMIUM, browser_page, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The travel tools (search_flights, book_hotel, convert_currency) in OpenAI format.
TRAVEL = Path(__file__).parent / "data" / "travel_tools.json"
MCP_TOOLS = {"jsonrpc": "2.0", "id": 1, "result": {"tools": [
    {"name": "create_note", "description": "Create a note with a title and a body.",
     "inputSchema": {"type": "object", "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
                     "required": ["title", "body"]}},
    {"name": "search_notes", "description": "Search notes by keyword.",
     "inputSchema": {"type": "object", "properties": {"query": {"type": "string", "description": "Keywords"}},
                     "required": ["query"]}},
]}}
# Two tools, two faults: the first has no name, the second's parameters are not an object schema.
TWO_FAULTS = [{"type": "function", "function": {"description": "Cancel a booking.", "parameters": {
                  "type": "object", "properties": {"booking_id": {"type": "string"}}}}},
              {"type": "function", "function": {"name": "list_airports", "description": "List airports.",
                                                "parameters": {"type": "string"}}}]

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make browser installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def app(hub_server, tmp_path_factory):
    """The app, signed in locally as alice (HF_TOKEN) with the test Hub as the Hub."""
    workspace = tmp_path_factory.mktemp("newcomer-workspace")
    with running_app(TOOLBRAIN_HUB_WORKSPACE=str(workspace), HF_TOKEN=hub_server.token,
                     TOOLBRAIN_HUB_POLL_S="1") as url:
        yield {"url": url, "workspace": workspace, "hub": hub_server}


@pytest.fixture(scope="module")
def page(app):
    with browser_page(app["url"], timeout_ms=30_000) as page:
        yield page


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The schema files a newcomer uploads."""
    folder = tmp_path_factory.mktemp("schemas")
    shutil.copy(TRAVEL, folder / "travel_tools.json")
    contents = {"notes_mcp.json": MCP_TOOLS, "not_tools.json": {"foo": 1}, "two_faults.json": TWO_FAULTS}
    for name, data in contents.items():
        (folder / name).write_text(json.dumps(data))
    return folder


def _wait_text(page, selector: str, text: str, timeout: float = 30_000) -> str:
    page.wait_for_function("([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
                           arg=[selector, text], timeout=timeout)
    return page.inner_text(selector)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, path: Path, expect: str) -> str:
    """Upload a schema file in the Tools tab (clearing the one shown before) and wait for `expect` in the status."""
    _tab(page, "1. Tools")
    clear = page.locator("#tools-file button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.set_input_files("#tools-file input[type=file]", str(path))
    return _wait_text(page, "#tools-status", expect)


def _generate_schema_tasks(page, num: int, test_fraction: str = "0.2") -> str:
    _tab(page, "2. Tasks")
    page.click("#tasks-generator label:has-text('Schema-driven')")
    page.fill("#tasks-num input", str(num))
    page.fill("#tasks-test-size input[type=number]", test_fraction)
    page.keyboard.press("Tab")
    page.click("#tasks-generate")
    return _wait_text(page, "#tasks-status", f"{num} tasks kept", timeout=60_000)


def _stop(page, button: str, selector: str, text: str, timeout: float = 60.0) -> str:
    """Press Stop until the job's own output says it stopped (the job may still be loading its model or queued)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        page.click(button)
        try:
            return _wait_text(page, selector, text, timeout=3_000)
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


@pytest.fixture(scope="module")
def travel(page, app, files):
    """The travel tools validated and 1000 tasks (half held out) saved as the dataset `travel-tasks`."""
    assert "3 valid tools" in _upload(page, files / "travel_tools.json", "3 valid tools")
    _generate_schema_tasks(page, 1000, "0.5")
    page.fill("#tasks-name textarea", "travel-tasks")
    page.click("#tasks-save")
    _wait_text(page, "#tasks-saved", "Saved 1000 tasks")
    return app["workspace"] / "datasets" / "alice" / "travel-tasks"


@pytest.fixture(scope="module")
def trained(page, app, travel):
    """A short GRPO run of the tiny model on the travel tasks, launched and watched to completion in the Train tab."""
    from space import runs

    _tab(page, "3. Train")
    page.wait_for_function("(value) => document.querySelector('#train-dataset input')?.value === value",
                           arg=str(travel))
    page.fill("#train-model input", "tiny-random-qwen2")
    page.keyboard.press("Enter")
    page.click("#train-algorithm label:has-text('grpo')")
    for selector, value in [("#train-steps", "2"), ("#train-generations", "2"), ("#train-max-completion", "128"),
                            ("#train-lora-r", "8"), ("#train-lora-alpha", "16")]:
        page.fill(f"{selector} input", value)
    page.fill("#train-extra textarea", "--threads 1")
    page.click("#train-launch")
    _wait_text(page, "#train-launched", "Run ")
    page.wait_for_function("/completed|failed|canceled/.test(document.querySelector('#train-status')?.innerText)",
                           timeout=150_000)
    assert "completed" in page.inner_text("#train-status"), page.inner_text("#train-status")
    record = runs.manager().registry.list(owner="alice")[0]
    assert record.status == "completed" and record.config["tasks"] == str(travel)
    return record


def test_tool_lists_that_are_no_tool_list_or_have_several_faults_are_explained(page, files):
    status = _upload(page, files / "not_tools.json", "not_tools.json")
    assert "not a tool list" in status and "expected a list of tools" in status and "'foo'" in status
    assert "missing tool name" not in status
    status = _upload(page, files / "two_faults.json", "two_faults.json")
    assert "2 problems" in status
    assert "tool at index 0, field '[0].function.name': missing tool name" in status
    assert "tool 'list_airports', field '[1].function.parameters.type'" in status
    assert "2 valid tools: create_note, search_notes" in _upload(page, files / "notes_mcp.json", "2 valid tools")


def test_task_numbers_are_checked_by_the_tab_and_a_new_generation_clears_a_stale_save_message(page, files):
    _upload(page, files / "travel_tools.json", "3 valid tools")
    _tab(page, "2. Tasks")
    page.click("#tasks-save")
    assert "No tasks yet" in _wait_text(page, "#tasks-saved", "No tasks yet")
    page.fill("#tasks-num input", "5000")
    page.click("#tasks-generate")
    assert "from 1 to 2000 (got 5000)" in _wait_text(page, "#tasks-status", "Number of tasks")
    # gradio's own range check put a red "Error" badge on every output and an error toast.
    assert page.locator("#tasks-status .error, #tasks-preview .error, #tasks-remove-ids .error").count() == 0
    assert page.locator(".toast-body.error").count() == 0
    page.fill("#tasks-num input", "100")
    page.click("#tasks-generate")
    _wait_text(page, "#tasks-status", "100 tasks kept")
    page.wait_for_function("!(document.querySelector('#tasks-saved')?.innerText || '').includes('No tasks yet')",
                           timeout=10_000)


def test_task_generation_with_a_model_can_be_stopped(page):
    _tab(page, "2. Tasks")
    page.click("#tasks-generator label:has-text('A local model')")
    page.fill("#tasks-model textarea", "tiny-random-qwen2")
    page.fill("#tasks-num input", "2000")
    page.click("#tasks-generate")
    status = _stop(page, "#tasks-stop", "#tasks-status", "Stopped")
    assert re.search(r"task generation stopped after \d+ of 2000 tasks", status), status
    page.click("#tasks-generator label:has-text('Schema-driven')")


def test_an_evaluation_can_be_stopped(page, trained):
    _tab(page, "4. Evaluate")
    page.wait_for_function("(document.querySelector('#eval-run input')?.value || '').length > 0")
    page.fill("#eval-limit input", "0")  # all 500 held-out tasks: minutes on this machine
    page.click("#eval-run-button")
    started = time.monotonic()
    result = _stop(page, "#eval-stop", "#eval-result", "Stopped")
    assert re.search(r"base model: evaluation stopped (after \d+ of 500 tasks|after loading the model)", result), \
        result
    assert time.monotonic() - started < 60
    assert not (Path(trained.run_dir) / "eval.json").exists()  # a stopped evaluation saves nothing


def test_reloading_the_page_stops_its_evaluation(page, trained):
    _tab(page, "4. Evaluate")
    page.wait_for_function("(document.querySelector('#eval-run input')?.value || '').length > 0")
    page.fill("#eval-limit input", "0")
    page.click("#eval-run-button")
    time.sleep(4)  # under way: the tiny model loaded, the first of 500 tasks generating
    page.reload()
    page.wait_for_selector("#tools-code")
    # The evaluations share one model slot: a short one only gets it if the abandoned one really ended.
    _tab(page, "4. Evaluate")
    page.wait_for_function("(document.querySelector('#eval-run input')?.value || '').length > 0")
    page.fill("#eval-limit input", "2")
    page.click("#eval-run-button")
    result = _wait_text(page, "#eval-result", "correctness", timeout=60_000)
    assert "base model" in result and "trained" in result


def test_the_card_preview_shows_its_images_and_a_python_snippet(page, trained):
    # The card's usage example asks the run's first sampled task; make it one with apostrophes, as many travel tasks
    # have ("the hotel's name", "today's rate"), whichever task the sampler happened to log first.
    traces = Path(trained.run_dir) / "traces.jsonl"
    first = json.dumps({"trace": {"query": "What's today's rate from EUR to JPY? I'd like to know."}})
    traces.write_text(first + "\n" + traces.read_text(encoding="utf-8"), encoding="utf-8")
    _tab(page, "5. Publish")
    page.wait_for_function("(document.querySelector('#publish-run input')?.value || '').length > 0")
    page.fill("#publish-name textarea", "travel-agent")
    page.click("#publish-preview")
    _wait_text(page, "#publish-card", "alice/travel-agent")
    # The reward curves, and the before/after bars once an evaluation was saved (the test before this one).
    page.wait_for_function("document.querySelectorAll('#publish-card img').length >= 1")
    page.wait_for_function("Array.from(document.querySelectorAll('#publish-card img')).every(i => i.complete)")
    sizes = page.eval_on_selector_all("#publish-card img", "imgs => imgs.map(i => [i.alt, i.naturalWidth])")
    assert all(width > 0 for _, width in sizes), sizes
    snippet = next(text for text in page.eval_on_selector_all("#publish-card pre", "els => els.map(e => e.innerText)")
                   if "load_agent(" in text)
    ast.parse(snippet)  # valid Python
    question = re.search(r"agent\.run\((.*)\)\)", snippet).group(1)
    assert ast.literal_eval(question) == "What's today's rate from EUR to JPY? I'd like to know."
    assert "\\u0027" not in snippet and "What's today's rate" in snippet, snippet


def test_publishing_over_an_existing_agent_asks_first_and_a_hub_update_says_so(page, app, trained):
    _tab(page, "5. Publish")
    page.fill("#publish-name textarea", "travel-agent")
    page.click("#publish-where label:has-text('Local folder')")
    page.click("#publish-go")
    folder = app["workspace"] / "agents" / "alice" / "travel-agent"
    assert "Published" in _wait_text(page, "#publish-status", "Published", timeout=60_000)
    (folder / "marker.txt").write_text("the first publish")
    page.click("#publish-go")
    status = _wait_text(page, "#publish-status", "Not published", timeout=60_000)
    assert f"the folder {folder} already holds a published agent" in status and "Replace it" in status
    assert (folder / "marker.txt").is_file()  # untouched
    page.click("#publish-replace label")
    page.click("#publish-go")
    assert "replaced the agent" in _wait_text(page, "#publish-status", "replaced", timeout=60_000)
    assert not (folder / "marker.txt").exists()
    page.wait_for_function("!document.querySelector('#publish-replace input').checked")  # one replace per tick

    page.click("#publish-where label:has-text('Hub')")
    page.click("#publish-go")
    first = _wait_text(page, "#publish-status", "files to alice/travel-agent", timeout=60_000)
    assert "already existed" not in first
    page.click("#publish-go")
    second = _wait_text(page, "#publish-status", "already existed", timeout=60_000)
    assert "files to alice/travel-agent" in second and "this updated it" in second


def _variant(agent: Path, out: Path, *, generation: dict, spec: dict) -> Path:
    """A copy of the published agent on a copy of its tiny base model with other generation settings."""
    from toolbrain_hub.models import prepare_model

    base = out / "base"
    shutil.copytree(prepare_model("tiny-random-qwen2", progress=False), base)
    config = json.loads((base / "generation_config.json").read_text()) if (base / "generation_config.json").is_file() \
        else {}
    (base / "generation_config.json").write_text(json.dumps({**config, **generation}))
    shutil.copytree(agent, out / "agent")
    data = json.loads((out / "agent" / "agent_spec.json").read_text())
    (out / "agent" / "agent_spec.json").write_text(json.dumps({**data, **spec, "base_model": str(base)}))
    return out / "agent"


def test_try_it_needs_an_agent_says_when_a_reply_is_empty_and_can_be_stopped(page, app, trained, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from toolbrain_hub.models import prepare_model

    agent = app["workspace"] / "agents" / "alice" / "travel-agent"
    assert (agent / "agent_spec.json").is_file()
    _tab(page, "6. Try it")
    page.fill("#try-source textarea", "")
    page.fill("#try-question textarea", "What's the exchange rate from EUR to JPY today?")
    page.click("#try-send")
    assert "Load an agent first" in _wait_text(page, "#try-chat", "Load an agent first")
    assert "not a ToolBrain Hub agent" not in page.inner_text("#try-chat")

    # A model whose every token ends its turn: its first reply is empty.
    tiny = prepare_model("tiny-random-qwen2", progress=False)
    vocab = AutoConfig.from_pretrained(tiny).vocab_size
    silent = _variant(agent, tmp_path / "silent", generation={"eos_token_id": list(range(vocab))}, spec={})
    page.fill("#try-source textarea", str(silent))
    page.click("#try-load")
    _wait_text(page, "#try-status", "Loaded", timeout=60_000)
    page.fill("#try-question textarea", "What's the exchange rate from EUR to JPY today?")
    page.click("#try-send")
    chat = _wait_text(page, "#try-chat", "(the model returned an empty reply)", timeout=60_000)
    assert "no final answer within" not in chat

    # A model that never ends its turn, allowed 20,000 tokens: its answer would take minutes; Stop ends it.
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    ends = sorted({tokenizer.eos_token_id, tokenizer.pad_token_id} - {None})
    rambling = _variant(agent, tmp_path / "rambling", generation={"suppress_tokens": ends},
                        spec={"max_new_tokens": 20_000})
    page.fill("#try-source textarea", str(rambling))
    page.click("#try-load")
    _wait_text(page, "#try-status", str(rambling), timeout=60_000)
    page.fill("#try-question textarea", "Book me a hotel in Lisbon for two nights from 2026-05-01.")
    page.click("#try-send")
    started = time.monotonic()
    chat = _stop(page, "#try-stop", "#try-chat", "Stopped")
    assert "the answer was stopped before it was complete" in chat
    assert time.monotonic() - started < 30


def test_saving_over_a_dataset_that_runs_were_trained_on_asks_first(page, app, files, travel, trained):
    _upload(page, files / "notes_mcp.json", "2 valid tools")
    _generate_schema_tasks(page, 20)
    page.fill("#tasks-name textarea", "travel-tasks")
    page.click("#tasks-save")
    status = _wait_text(page, "#tasks-saved", "Not saved")
    assert "a dataset named travel-tasks already exists" in status
    assert "1000 tasks for search_flights, book_hotel, convert_currency" in status
    assert trained.name in status and "Replace it" in status
    assert "search_flights" in (travel / "tools.json").read_text()  # untouched
    page.click("#tasks-replace label")
    page.click("#tasks-save")
    status = _wait_text(page, "#tasks-saved", "Saved 20 tasks")
    assert "replaced the dataset that was there" in status and trained.name in status
    assert "trained on the old dataset" in status
    assert "create_note" in (travel / "tools.json").read_text()
    page.wait_for_function("!document.querySelector('#tasks-replace input').checked")  # one replace per tick

"""The app's tabs over real HTTP, called through gradio_client as the page calls them, with the Hub test server (and
its Jobs routes) as the Hub: tools, tasks, training on this machine and on HF Jobs, evaluation, publishing and chat
with the published agent; runs are per user."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pinned
import pytest
from app_helpers import running_app

WEATHER = json.dumps([{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
                   "required": ["city"]}}}])
SCHEMA = "Schema-driven (offline, fast)"
# A short supervised run on the pinned model (tests/pinned.py, a base model on the Hub test server): the run is real,
# and what the published agent then says is fixed by its base model, not by the last bits of in-test training.
PINNED_SFT = dict(model=pinned.REPO, algorithm="sft", steps=60, lr=0.01, lora_r=16, generations=4,
                  extra="--threads 1 --gradient_checkpointing false --lora.target_modules all-linear")


@pytest.fixture(scope="module")
def app(hub_server, tmp_path_factory):
    """The app on a free port, signed in locally as alice (HF_TOKEN), with the test Hub and its Jobs routes."""
    from hub_jobs import install_jobs_api

    jobs = install_jobs_api(hub_server.app)
    workspace = tmp_path_factory.mktemp("workspace")
    try:
        with running_app(TOOLBRAIN_HUB_WORKSPACE=str(workspace), HF_TOKEN=hub_server.token,
                         TOOLBRAIN_HUB_JOB_TIMEOUT="10m") as url:
            yield {"url": url, "workspace": workspace, "hub": hub_server, "jobs": jobs}
    finally:
        jobs.stop()


def _client(app):
    from gradio_client import Client

    return Client(app["url"], verbose=False)


def _launch(client, dataset, *, model="tiny-random-qwen2", algorithm="grpo", rewards="expected_calls=1, format=0.1",
            steps=2, generations=2, lr=1e-5, completion=16, hardware="This machine", push_to="",
            extra="--threads 1", lora_r=8):
    return client.predict(dataset, model, algorithm, rewards, "", 1.0, "", lora_r, 2 * lora_r, "none", steps,
                          generations, lr,
                          completion, 1, hardware, push_to, extra, api_name="/train_launch")


def _wait_run(client, run_id, timeout=240.0) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, logs, _plot, _table = client.predict(run_id, {}, api_name="/train_status")
        if "**completed**" in status or "**failed**" in status or "**canceled**" in status:
            return status, logs
        time.sleep(1.0)
    raise AssertionError(f"run {run_id} did not finish: {status}")


def test_tools_tab_validates_pasted_and_uploaded_schemas(app, tmp_path):
    from gradio_client import handle_file

    client = _client(app)
    status, table = client.predict(WEATHER, api_name="/tools_validate")
    assert status.startswith("**1 valid tool:** `get_weather`")
    assert table["data"] == [["get_weather", "Get the current weather for a city.", "city*: string"]]
    status, table = client.predict('[{"type": "function", "function": {"name": "x"}', api_name="/tools_validate")
    assert status.startswith("**Invalid tool schemas:** pasted tools, line 1") and table["data"] == []
    # Text that looks like a server path is data, never a file to open.
    status, _ = client.predict("/etc/passwd", api_name="/tools_validate")
    assert "Invalid tool schemas" in status and "root:" not in status
    mcp = tmp_path / "mcp_tools.json"
    mcp.write_text(json.dumps({"tools": [{"name": "search", "description": "Search the web.",
                                          "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}},
                                                          "required": ["q"]}}]}))
    text, status, table = client.predict(handle_file(str(mcp)), api_name="/tools_upload")
    assert json.loads(text)["tools"][0]["name"] == "search"
    assert status.startswith("**1 valid tool:** `search`") and table["data"][0][0] == "search"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "function", "function": {"name": "dup", "description": "a"}},
                               {"type": "function", "function": {"name": "dup", "description": "b"}}]))
    _, status, _ = client.predict(handle_file(str(bad)), api_name="/tools_upload")
    assert "bad.json" in status and "duplicate tool name" in status
    big = tmp_path / "big.json"
    big.write_text("[" + " " * (3 * 1024 * 1024) + "]")
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # refused before it is stored
        client.predict(handle_file(str(big)), api_name="/tools_upload")


def test_tasks_tab_generates_prunes_saves_and_pushes(app):
    from huggingface_hub import HfApi

    client = _client(app)
    status, _ = client.predict("", api_name="/tools_validate")
    status, *_ = client.predict(SCHEMA, "", "", 12, 0, 0.25, api_name="/tasks_generate")
    assert "No tools yet" in status or "**" in status
    client.predict(WEATHER, api_name="/tools_validate")
    status, preview, choices, saved = client.predict(SCHEMA, "", "", 12, 0, 0.25, api_name="/tasks_generate")
    assert saved == ""  # a new generation clears the save message of the tasks before
    assert status.startswith("**12 tasks** kept of 12 requested"), status
    rows = preview["data"]
    assert len(rows) == 12 and {r[1] for r in rows} == {"train", "test"}
    assert any(r[5].startswith("get_weather(") for r in rows)
    drop = [rows[0][0], rows[1][0]]
    status, preview, _ = client.predict(drop, api_name="/tasks_remove")
    assert status.startswith("Removed 2 task(s).") and "**10 tasks**" in status
    assert {r[0] for r in preview["data"]}.isdisjoint(drop)
    saved, location = client.predict("weather-tasks", api_name="/tasks_save")
    folder = Path(location)
    assert folder == app["workspace"] / "datasets" / "alice" / "weather-tasks"
    assert (folder / "README.md").is_file() and (folder / "tools.json").is_file() and str(folder) in saved
    saved, _ = client.predict("../escape", api_name="/tasks_save")
    assert "invalid name" in saved
    # The name is taken: nothing is written unless the user says to replace it.
    before = (folder / "generation_report.json").stat().st_mtime_ns
    saved, _ = client.predict("weather-tasks", api_name="/tasks_save")
    assert "Not saved" in saved and "a task dataset of 10 tasks for get_weather" in saved, saved
    assert (folder / "generation_report.json").stat().st_mtime_ns == before
    saved, _ = client.predict("weather-tasks", True, api_name="/tasks_save")
    assert "It replaced the dataset that was there" in saved, saved
    saved, location = client.predict("weather-tasks", True, api_name="/tasks_push")
    assert location == "alice/weather-tasks" and "Pushed 10 tasks" in saved and "already existed" not in saved
    saved, _ = client.predict("weather-tasks", True, api_name="/tasks_push")
    assert "the repo already existed" in saved and "updated it" in saved, saved
    files = HfApi(endpoint=app["hub"].endpoint).list_repo_files("alice/weather-tasks", repo_type="dataset",
                                                               token=app["hub"].token)
    assert "README.md" in files and any(f.endswith(".parquet") for f in files)
    saved, _ = client.predict("bob/weather-tasks", False, api_name="/tasks_push")
    assert "your own namespace" in saved


def test_train_tab_explains_bad_settings(app):
    client = _client(app)
    message, *_ = _launch(client, "", rewards="expected_calls=1")
    assert message.startswith("**Cannot launch:**") and "tasks" in message
    tasks = str(app["workspace"] / "datasets" / "alice" / "weather-tasks")
    message, *_ = _launch(client, tasks, rewards="expected_calls=1, nonsense=2")
    assert "rewards.nonsense: unknown reward" in message
    message, *_ = _launch(client, tasks, lr=0)
    assert "learning_rate" in message
    message, *_ = _launch(client, tasks, hardware="HF Jobs: t4-small", push_to="agent")
    assert "push the task dataset to the Hub first" in message
    message, *_ = _launch(client, tasks, push_to="bob/agent")
    assert "your namespace" in message


def test_other_users_runs_are_invisible_and_cannot_be_canceled(app):
    from space import runs

    client = _client(app)
    theirs = runs.manager().registry.new(owner="bob", launcher="local", config={"algorithm": "grpo"})
    runs.manager().registry.update(theirs.id, status="completed", message="bob's secret run")
    status, *_ = client.predict(theirs.id, {}, api_name="/train_status")
    assert "No run" in status and "secret" not in status
    message, *_ = client.predict(theirs.id, api_name="/train_cancel")
    assert message.startswith("**Cannot cancel:**")
    table, _ = client.predict(api_name="/train_runs")
    assert theirs.id not in json.dumps(table)
    assert runs.manager().registry.get(theirs.id).message == "bob's secret run"  # untouched


@pytest.mark.slow
def test_the_whole_flow_through_the_app(app, pinned_model_repo):
    """Tools -> tasks -> a short supervised run on this machine (on the pinned model, a base model from the Hub) ->
    evaluate -> publish to the Hub -> chat with the published agent, which calls the tool and answers."""
    client = _client(app)
    client.predict(WEATHER, api_name="/tools_validate")
    client.predict(SCHEMA, "", "", 24, 0, 0.2, api_name="/tasks_generate")
    _, dataset = client.predict("flow-tasks", api_name="/tasks_save")
    message, table, selector = _launch(client, dataset, **PINNED_SFT)
    run_id = selector["value"]
    assert "launched on this machine" in message and run_id in json.dumps(table)
    status, logs = _wait_run(client, run_id)
    assert "**completed**" in status, (status, logs)
    assert f"adapter: `{app['workspace'] / 'runs' / run_id / 'adapter'}`" in status
    assert "toolbrain_hub.cli train" in logs and "done: 60 steps" in logs
    result, _plot = client.predict(run_id, "", "test", 3, api_name="/evaluate_run")
    assert "| correctness ↑ |" in result and "base model" in result, result
    assert (app["workspace"] / "runs" / run_id / "eval.json").is_file()
    card, files = client.predict(run_id, "weather-agent", api_name="/publish_preview")
    assert "alice/weather-agent" in card and "`README.md`" in files and "`agent_spec.json`" in files
    status, location = client.predict(run_id, "weather-agent", True, "Hub", api_name="/publish_run")
    assert location == "alice/weather-agent", status
    status, chat = client.predict("alice/weather-agent", api_name="/try_load")
    assert status.startswith(f"Loaded `alice/weather-agent`: base model `{pinned.REPO}`") and chat == []
    chat, _ = client.predict("alice/weather-agent", "Please get the current weather for Paris.", [],
                             api_name="/try_ask")
    titles = [(m.get("metadata") or {}).get("title") for m in chat]
    assert titles.count('Tool call: get_weather({"city": "Paris"})') == 1, chat
    assert "has no implementation" in json.dumps(chat)  # the app runs no tool code: schema-only results
    assert chat[-1]["role"] == "assistant" and pinned.ANSWER in json.dumps(chat[-1]["content"]), chat
    assert app["hub"].token not in json.dumps(chat)


@pytest.mark.slow
def test_hf_jobs_runs_from_the_train_tab(app):
    client = _client(app)
    client.predict(WEATHER, api_name="/tools_validate")
    client.predict(SCHEMA, "", "", 8, 3, 0.25, api_name="/tasks_generate")
    _, dataset = client.predict("jobs-tasks", False, api_name="/tasks_push")
    assert dataset == "alice/jobs-tasks"
    message, _, selector = _launch(client, dataset, hardware="HF Jobs: t4-small", push_to="jobs-agent")
    run_id = selector["value"]
    assert "on HF Jobs (t4-small)" in message, message
    assert "**Note:** max_completion_length 16 cannot hold a tool call" in message  # config advice is shown
    status, logs = _wait_run(client, run_id, timeout=300)
    assert "**completed**" in status, (status, logs)
    assert "published the agent to" in logs and "alice/jobs-agent" in status
    # the job's metrics stay in its container: the curves come from its log lines
    assert not (app["workspace"] / "runs" / run_id / "metrics.jsonl").exists()
    assert "step 2/2 loss=" in logs  # no progress bar in a job: one log line per step
    # a new session has drawn nothing yet, so its first status call draws the curves
    _, _, plot, _ = _client(app).predict(run_id, {}, api_name="/train_status")
    assert plot is not None and plot.get("plot"), (plot, logs[-3000:])
    job = next(j for j in app["jobs"].jobs.values() if j.spec["labels"].get("toolbrain-hub-run") == run_id)
    assert job.spec["flavor"] == "t4-small" and job.stage == "COMPLETED"
    assert app["hub"].token not in json.dumps(job.spec["environment"])


def test_on_a_space_only_the_signed_in_users_token_and_folders_are_used(app, monkeypatch):
    import gradio as gr
    import gradio.oauth

    from space import runs
    from toolbrain_hub.config.visitor import VisitorError

    # What the platform sets on a Space with `hf_oauth: true` (gradio reads the OAuth ones at import).
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/toolbrain-hub")
    for name, value in [("OAUTH_CLIENT_ID", "client"), ("OAUTH_CLIENT_SECRET", "secret"),
                        ("OAUTH_SCOPES", "openid profile write-repos jobs"),
                        ("OPENID_PROVIDER_URL", app["hub"].endpoint)]:
        monkeypatch.setattr(gradio.oauth, name, value)
    # The Space's own HF_TOKEN (set in this process) is never used for a visitor.
    visitor = runs.current_user(None, None)
    assert visitor.name is None and visitor.token is None and "Sign in" in visitor.problem
    profile = gr.OAuthProfile({"preferred_username": "carol", "name": "Carol", "picture": "", "profile": "",
                               "website": "", "sub": "1"})
    carol = runs.current_user(profile, gr.OAuthToken(token="hf_oauth_carol", scope="openid", expires_at=0))
    assert (carol.name, carol.token) == ("carol", "hf_oauth_carol") and "hf_oauth_carol" not in repr(carol)
    own = runs.user_folder("datasets", carol) / "tasks"
    runs.check_readable(str(own), carol)
    runs.check_readable("carol/tasks", carol)  # a repo id: read with carol's own token
    runs.check_readable("tiny-random-qwen2", carol)
    for path in [str(app["workspace"] / "datasets" / "alice" / "weather-tasks"), "/etc", str(own / ".." / "..")]:
        with pytest.raises(VisitorError, match="not one of your folders"):
            runs.check_readable(path, carol)
    from space.app import build_app

    for extra in ("itsdangerous", "authlib"):
        pytest.importorskip(extra, reason="gradio's OAuth needs the gradio[oauth] extras (requirements.txt)")
    assert build_app().expects_oauth, "a Space shows the Hugging Face login button"
    monkeypatch.delenv("SYSTEM")
    assert not build_app().expects_oauth, "locally there is no OAuth (it would need a logged-in machine)"


def test_evaluate_explains_a_bad_task_limit_instead_of_a_range_error(app):
    from space import runs

    record = runs.manager().registry.new(owner="alice", launcher="local", config={"model": "tiny-random-qwen2"})
    runs.manager().registry.update(record.id, status="completed")
    result, plot = _client(app).predict(record.id, "", "test", -3, api_name="/evaluate_run")
    assert result == "**At most N tasks** must be 0 (all) or more, got -3." and plot is None


def test_publish_defaults_to_a_local_folder_when_there_is_no_token(monkeypatch, tmp_path):
    from space import publish_tab

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SYSTEM", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))
    assert publish_tab._default_destination() == "Local folder"
    monkeypatch.setenv("SYSTEM", "spaces")  # a Space's signed-in visitors push with their own token
    monkeypatch.setenv("SPACE_ID", "someone/toolbrain-hub")
    assert publish_tab._default_destination() == "Hub"

"""Hostile visitors of a public Space: every way a visitor could reach code execution, another visitor's files, the
server's files, the Space's network or its secrets is refused, before any run is created.

The unit half checks `toolbrain_hub.config.visitor.VisitorPolicy` field by field. The HTTP half runs the real app in
Space
mode (SYSTEM=spaces, the platform's OAuth settings, a signed-in visitor's session cookie signed as Gradio's session
middleware signs it) and attacks it through Gradio's own routes, as any client can. Every case plants a payload that
writes a marker file when run; the marker must never appear. A control proves the payloads are live.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest
from app_helpers import running_app

from toolbrain_hub.config import TrainConfig
from toolbrain_hub.config.visitor import (
    CODE_FIELDS,
    DATA_FIELDS,
    KNOB_FIELDS,
    MODEL_FIELDS,
    VisitorError,
    VisitorPolicy,
    check_untrusted_config,
    config_field_names,
)

WEATHER = json.dumps([{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
                   "required": ["city"]}}}])
SPACE_SECRET = "hf_space_own_secret_token_0123456789"
OAUTH_SECRET = "oauth-client-secret-of-the-space"


def _payload(folder: Path, marker: Path, name: str = "tbpayload") -> Path:
    """A Python file that writes `marker` when imported (and when any of its functions runs)."""
    code = (f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
            "def get_weather(city):\n    return 'sunny'\n"
            "def reward(*a, **k):\n    return [1.0] * len(a[0]) if a else 1.0\n")
    path = folder / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    return path


def _command(marker: Path) -> str:
    return f"{sys.executable} -c \"open({str(marker)!r}, 'w').write('ran')\""


# ---------------------------------------------------------------------------------------------------------------------
# the policy, field by field


def test_every_config_field_is_classified():
    """A new field of any algorithm's config must be put in one class (code, model, data, push_to, knob) before it
    ships."""
    top = config_field_names()
    assert top > {f.name for f in fields(TrainConfig)}  # the shared fields and every algorithm's own
    code_top = {name.split(".")[0] for name in CODE_FIELDS if "." not in name}
    model_top = {name for name in MODEL_FIELDS if "." not in name}
    classes = [code_top, model_top, set(DATA_FIELDS), {"push_to"}, set(KNOB_FIELDS)]
    union = set().union(*classes)
    assert union == top, f"unclassified: {sorted(top - union)}; unknown: {sorted(union - top)}"
    assert sum(len(c) for c in classes) == len(union), "a field is in two classes"
    # The nested sections: the judge's model and token variable are not knobs.
    assert "judge.model" in MODEL_FIELDS and "judge.token_env" in CODE_FIELDS


@pytest.fixture
def own(tmp_path):
    """(policy for carol, carol's dataset folder, alice's dataset folder)."""
    carol = tmp_path / "workspace" / "datasets" / "carol"
    alice = tmp_path / "workspace" / "datasets" / "alice"
    for folder in (carol / "tasks", alice / "tasks"):
        folder.mkdir(parents=True)
        (folder / "tools.json").write_text(WEATHER)
    return VisitorPolicy(namespace="carol", folders=(carol.resolve(),)), carol / "tasks", alice / "tasks"


CODE_OVERRIDES = [
    (["--implementations", "{payload}"], "implementations"),
    (["--implementations", "os"], "implementations"),
    (["--mcp_server", "{command}"], "mcp_server"),
    (["--mcp_server", "http://127.0.0.1:9/mcp"], "mcp_server"),
    (["--rewards", "tbpayload:reward=1.0"], "rewards.tbpayload:reward"),
    (["--rewards", "{{expected_calls: 1.0, 'os:system': 1.0}}"], "rewards.os:system"),
    (["--output_dir", "/tmp/elsewhere"], "output_dir"),
    (["--resume", "--output_dir", "{own}"], "output_dir"),
    (["--judge.model", "tiny-random-qwen2", "--judge.token_env", "HF_TOKEN"], "judge.token_env"),
    (["--teacher_token_env", "HF_TOKEN"], "teacher_token_env"),
    (["--judge.model", "http://127.0.0.1:9/v1#m"], "judge.model"),
    (["--teacher", "https://example.com/v1"], "teacher"),
    (["--simulator", "http://169.254.169.254/v1"], "simulator"),
    (["--model", "/usr/lib"], "model"),
    (["--model", "someone/any-model"], "model"),
    (["--teacher", "{alice}"], "teacher"),
    (["--tasks", "/etc"], "tasks"),
    (["--tasks", "{alice}"], "tasks"),
    (["--tasks", "{own}/../../alice/tasks"], "tasks"),
    (["--tools", "/etc/passwd"], "tools"),
    (["--traces", "/etc/hostname"], "traces"),
    (["--preferences", "{alice}"], "preferences"),
    (["--tasks", "https://example.com/data.json"], "tasks"),
    (["--push_to", "alice/agent"], "push_to"),
]


@pytest.mark.parametrize("override,field", CODE_OVERRIDES, ids=[f for _, f in CODE_OVERRIDES])
def test_the_policy_refuses_what_names_code_paths_urls_or_secrets(own, tmp_path, override, field):
    policy, mine, alice = own
    marker = tmp_path / "marker"
    values = {"payload": str(_payload(tmp_path, marker)), "command": _command(marker), "own": str(mine),
              "alice": str(alice)}
    args = [a.format(**values) for a in override]
    config = TrainConfig(model="tiny-random-qwen2", tasks=str(mine)).apply_overrides(args)
    with pytest.raises(VisitorError) as err:
        policy.check_config(config)
    assert str(err.value).startswith(field), err.value
    assert not marker.exists()


def test_the_policy_allows_data_models_and_knobs(own, monkeypatch):
    policy, mine, _ = own
    config = TrainConfig(model="tiny-random-qwen2", tasks=str(mine), push_to="carol/agent", teacher="tiny-random-qwen2",
                         system_prompt="Be brief.").apply_overrides(
        ["--lora.r", "4", "--max_steps", "3", "--rewards", "expected_calls=1,format=0.1", "--judge.model",
         "qwen2.5-coder-0.5b-instruct", "--judge.weight", "0.5", "--beta", "0.04", "--tool_top_k", "2"])
    assert policy.check_config(config) is config
    policy.check_config(TrainConfig(tasks="someone/public-tasks"))  # Hub data, read with the visitor's token


def test_the_operator_opens_models_and_endpoints_exactly(monkeypatch, own):
    _, mine, _ = own
    monkeypatch.setenv("TOOLBRAIN_HUB_ALLOWED_MODELS", "Qwen/Qwen2.5-0.5B-Instruct")
    monkeypatch.setenv("TOOLBRAIN_HUB_ALLOWED_ENDPOINTS", "https://router.huggingface.co/v1")
    policy = VisitorPolicy.from_env("carol", folders=[mine.parent])
    policy.check_model("model", "Qwen/Qwen2.5-0.5B-Instruct")
    policy.check_model("judge.model", "https://router.huggingface.co/v1#Qwen/Qwen2.5-7B-Instruct")
    policy.check_model("judge.model", "https://router.huggingface.co/v1/")
    for url in ("https://router.huggingface.co.evil.example/v1", "https://router.huggingface.co@evil.example/v1",
                "https://user:pw@router.huggingface.co/v1", "http://router.huggingface.co/v1",
                "https://router.huggingface.co:8443/v1", "https://router.huggingface.co/v10",
                "https://evil.example/v1#https://router.huggingface.co/v1"):
        with pytest.raises(VisitorError, match="endpoint URLs are not allowed"):
            policy.check_model("judge.model", url)
    with pytest.raises(VisitorError, match="not one of this Space's models"):
        policy.check_model("model", "Qwen/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("TOOLBRAIN_HUB_ALLOWED_MODELS", "*")
    VisitorPolicy.from_env("carol").check_model("model", "Qwen/Qwen2.5-7B-Instruct")


def test_a_symlink_out_of_the_visitors_folder_is_refused(own, tmp_path):
    policy, mine, alice = own
    (mine.parent / "link").symlink_to(alice)
    with pytest.raises(VisitorError, match="not one of your folders"):
        policy.check_data("tasks", str(mine.parent / "link"))
    policy.check_data("tasks", str(mine))


def test_payloads_are_live_when_trusted(tmp_path):
    """Control: run on one's own machine (trusted), the same payload file does run: the refusals are not vacuous."""
    from toolbrain_hub.tools import load_implementations

    marker = tmp_path / "marker"
    load_implementations(str(_payload(tmp_path, marker, "tbcontrol")), ["get_weather"])
    assert marker.read_text() == "ran"


def test_an_untrusted_training_process_runs_no_visitor_code(tmp_path, monkeypatch, tiny_model_dir):
    """Whatever route a config took to a visitor's training process, training itself refuses code-bearing fields
    (TOOLBRAIN_HUB_UNTRUSTED=1, set by the Space's launcher) before anything is imported or started."""
    from toolbrain_hub.training import train

    marker = tmp_path / "marker"
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "tools.json").write_text(WEATHER)
    config = TrainConfig(model=str(tiny_model_dir), tasks=str(tasks), algorithm="sft", max_steps=1,
                         implementations=str(_payload(tmp_path, marker)), output_dir=str(tmp_path / "run"))
    monkeypatch.setenv("TOOLBRAIN_HUB_UNTRUSTED", "1")
    with pytest.raises(VisitorError, match="implementations cannot be set"):
        train(config)
    config.implementations, config.mcp_server = None, _command(marker)
    with pytest.raises(VisitorError, match="mcp_server cannot be set"):
        train(config)
    assert not marker.exists()
    check_untrusted_config(TrainConfig(output_dir=str(tmp_path / "run")), app_sets_output_dir=True)


# ---------------------------------------------------------------------------------------------------------------------
# the real app in Space mode, attacked through Gradio's routes


class _Recorder(http.server.ThreadingHTTPServer):
    """A local HTTP server that records every request: an endpoint URL a visitor must not make the Space call."""

    def __init__(self):
        self.hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(handler):
                self.hits.append(handler.path)
                handler.send_response(500)
                handler.end_headers()

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _session_cookie(username: str, token: str) -> str:
    """The `session` cookie Gradio's OAuth flow leaves after a Hugging Face sign-in (Starlette's signed session)."""
    from itsdangerous import TimestampSigner

    info = {"oauth_info": {"access_token": token, "token_type": "bearer", "expires_in": 3600,
                           "expires_at": int(time.time()) + 3600, "scope": "openid profile write-repos jobs",
                           "userinfo": {"sub": username, "name": username.title(), "preferred_username": username,
                                        "profile": f"https://huggingface.co/{username}", "picture": "",
                                        "website": ""}}}
    key = hashlib.sha256((OAUTH_SECRET + "-v4").encode()).hexdigest()
    return TimestampSigner(key).sign(base64.b64encode(json.dumps(info).encode())).decode()


@pytest.fixture(scope="module")
def space(hub_server, tmp_path_factory):
    """The app as a public Space (SYSTEM=spaces, OAuth configured, the Space's own HF_TOKEN secret set)."""
    pytest.importorskip("authlib", reason="gradio's OAuth needs the gradio[oauth] extras (requirements.txt)")
    import gradio.oauth

    root = tmp_path_factory.mktemp("space")
    workspace, planted = root / "workspace", root / "planted"
    planted.mkdir()
    marker = root / "MARKER"
    payload = _payload(planted, marker)
    patch = pytest.MonkeyPatch()
    for name, value in [("OAUTH_CLIENT_ID", "client"), ("OAUTH_CLIENT_SECRET", OAUTH_SECRET),
                        ("OAUTH_SCOPES", "openid profile write-repos jobs"),
                        ("OPENID_PROVIDER_URL", hub_server.endpoint)]:
        patch.setattr(gradio.oauth, name, value)
    recorder = _Recorder()
    try:
        with running_app(SYSTEM="spaces", SPACE_ID="someone/toolbrain-hub", TOOLBRAIN_HUB_WORKSPACE=str(workspace),
                         HF_TOKEN=SPACE_SECRET, PYTHONPATH=str(planted), TOOLBRAIN_HUB_ALLOWED_MODELS="",
                         TOOLBRAIN_HUB_ALLOWED_ENDPOINTS="") as url:
            yield {"url": url, "workspace": workspace, "marker": marker, "payload": payload, "recorder": recorder}
    finally:
        recorder.shutdown()
        patch.undo()
    assert not marker.exists(), "a visitor's payload ran on the Space"


def _client(space, user: str | None):
    from gradio_client import Client

    headers = {"Cookie": f"session={_session_cookie(user, f'hf_oauth_{user}')}"} if user else None
    return Client(space["url"], verbose=False, headers=headers)


def _launch(client, dataset, *, model="tiny-random-qwen2", rewards="expected_calls=1", judge="", teacher="",
            push_to="", extra="--threads 1"):
    return client.predict(dataset, model, "grpo", rewards, judge, 1.0, teacher, 4, 8, "none", 1, 2, 1e-5, 128, 1,
                          "This machine", push_to, extra, api_name="/train_launch")[0]


@pytest.fixture(scope="module")
def datasets(space):
    """carol's and alice's saved task datasets, where the Tasks tab saves them."""
    from toolbrain_hub.tasks import generate_tasks, save_tasks

    saved = {}
    for user in ("carol", "alice"):
        saved[user] = space["workspace"] / "datasets" / user / "tasks"
        save_tasks(generate_tasks(json.loads(WEATHER), num=8, generator="schema", seed=0), saved[user])
    return saved


def test_the_upload_route_takes_json_files_only(space):
    import httpx

    cookie = {"session": _session_cookie("carol", "hf_oauth_carol")}
    url = space["url"].rstrip("/") + "/gradio_api/upload"
    refused = [("evil.py", space["payload"].read_bytes()), ("tools.json.py", b"{}"), ("run.sh", b"#!/bin/sh\n"),
               ("tools.json", b"\xff\xfe binary"), ("big.json", b" " * (2 * 1024 * 1024 + 1))]
    for name, data in refused:
        response = httpx.post(url, files={"files": (name, data)}, cookies=cookie)
        assert response.status_code in (413, 415), (name, response.status_code, response.text)
        assert name in response.text or "limit" in response.text
    response = httpx.post(url, files={"files": ("tools.json", WEATHER.encode())}, cookies=cookie)
    assert response.status_code == 200, response.text
    assert response.json()[0].endswith("tools.json")


def test_an_api_call_cannot_hand_a_server_file_to_the_upload_handler(space):
    from gradio_client import handle_file

    client = _client(space, "carol")
    with pytest.raises(Exception) as err:  # noqa: B017 - gradio_client raises its own AppError/ValueError
        client.predict(handle_file(str(space["payload"])), api_name="/tools_upload")
    assert "Path(" not in str(err.value)  # the payload's source was not read back
    # gradio_client uploads the file itself first; the route refuses it (a .py)
    assert not space["marker"].exists()


LAUNCH_ATTACKS = [
    dict(extra="--implementations {payload}"),
    dict(extra="--implementations tbpayload"),
    dict(extra="--mcp_server \"{command}\""),
    dict(extra="--mcp_server {recorder}/mcp"),
    dict(rewards="tbpayload:reward=1.0"),
    dict(extra="--rewards tbpayload:reward=1"),
    dict(judge="{recorder}/v1#judge"),
    dict(judge="tiny-random-qwen2", extra="--judge.token_env HF_TOKEN"),
    dict(teacher="{recorder}/v1", extra="--algorithm distill"),
    dict(extra="--simulator {recorder}/v1"),
    dict(extra="--output_dir {planted}"),
    dict(model="{planted}"),
    dict(model="attacker/model-with-code"),
    dict(dataset="{alice}"),
    dict(dataset="/etc"),
    dict(extra="--tools /etc/passwd"),
    dict(extra="--traces {payload}"),
    dict(push_to="alice/stolen"),
]


@pytest.mark.parametrize("attack", LAUNCH_ATTACKS, ids=lambda a: "|".join(f"{k}={v}" for k, v in a.items()))
def test_launch_refuses_every_code_path_and_url_before_a_run_exists(space, datasets, attack):
    client = _client(space, "carol")
    values = {"payload": space["payload"], "command": _command(space["marker"]).replace('"', "'"),
              "recorder": space["recorder"].url, "planted": space["payload"].parent, "alice": datasets["alice"]}
    kwargs = {key: value.format(**values) for key, value in attack.items()}
    dataset = kwargs.pop("dataset", str(datasets["carol"]))
    before = sorted(p.name for p in (space["workspace"] / "runs").glob("*")) \
        if (space["workspace"] / "runs").exists() else []
    message = _launch(client, dataset, **kwargs)
    assert message.startswith("**Cannot launch:**"), message
    after = sorted(p.name for p in (space["workspace"] / "runs").glob("*")) \
        if (space["workspace"] / "runs").exists() else []
    assert after == before, "a run was created"
    assert space["recorder"].hits == [] and not space["marker"].exists()
    assert SPACE_SECRET not in message


def test_other_tabs_refuse_endpoints_server_paths_and_foreign_folders(space, datasets):
    client = _client(space, "carol")
    recorder = space["recorder"]
    status, _, _ = client.predict(WEATHER, "Weather in Paris?", f"{recorder.url}/v1#m", 32, api_name="/playground_ask")
    assert "endpoint URLs are not allowed" in status
    status, _, _ = client.predict(WEATHER, "Weather in Paris?", str(space["payload"].parent), 32,
                                  api_name="/playground_ask")
    assert "not one of your folders" in status
    status, _ = client.predict(str(datasets["alice"]), api_name="/try_load")
    assert "not one of your folders" in status
    status, _ = client.predict("/etc", api_name="/try_load")
    assert "not one of your folders" in status
    # The task generator: an endpoint URL and a server folder as "local model".
    client.predict(WEATHER, api_name="/tools_validate")
    out = client.predict("An OpenAI-compatible endpoint", "", f"{recorder.url}/v1#m", 4, 0, 0.2,
                         api_name="/tasks_generate")
    assert "endpoint URLs are not allowed" in out[0]
    out = client.predict("A local model", "/usr/lib", "", 4, 0, 0.2, api_name="/tasks_generate")
    assert "not one of your folders" in out[0]
    assert recorder.hits == [] and not space["marker"].exists()


def test_a_visitor_can_still_train_on_their_own_data(space, datasets):
    """Control: the allowed path works for a signed-in visitor (then the run is canceled to free the machine), and
    an anonymous visitor cannot launch."""
    message = _launch(_client(space, None), str(datasets["carol"]))
    assert message.startswith("**Not signed in:**")
    client = _client(space, "carol")
    message = _launch(client, str(datasets["carol"]), extra="--threads 1 --max_prompt_length 4096")
    assert message.startswith("Run `"), message
    run_id = message.split("`")[1]
    client.predict(run_id, api_name="/train_cancel")
    config = (space["workspace"] / "runs" / run_id / "config.yaml").read_text()
    assert SPACE_SECRET not in config and "hf_oauth_carol" not in config


def test_the_remaining_routes_keep_a_visitor_to_their_own_runs_names_and_folders(space, datasets):
    from space import runs

    registry = runs.manager().registry
    mine = registry.new(owner="carol", launcher="local", config={"model": "tiny-random-qwen2",
                                                                 "tasks": str(datasets["carol"])})
    registry.update(mine.id, status="completed")
    theirs = registry.new(owner="alice", launcher="local", config={"model": "tiny-random-qwen2"})
    registry.update(theirs.id, status="completed")
    alice_files = {p.name: p.stat().st_mtime_ns for p in datasets["alice"].iterdir()}
    client = _client(space, "carol")
    # Someone else's run does not exist for this visitor, on every route that takes a run id.
    status, *_ = client.predict(theirs.id, {}, api_name="/train_status")
    assert "not found" in status.lower() or "no run" in status.lower(), status
    message, *_ = client.predict(theirs.id, api_name="/train_cancel")
    assert message.startswith("**Cannot cancel:**")
    result, _ = client.predict(theirs.id, "", "test", 1, api_name="/evaluate_run")
    assert "Evaluation failed" in result
    _, status = client.predict(theirs.id, "x", api_name="/publish_preview")
    assert "Cannot preview" in status
    # Paths typed into the remaining boxes: only the visitor's own folders.
    result, _ = client.predict(mine.id, "/etc", "test", 1, api_name="/evaluate_run")
    assert "not one of your folders" in result
    chat, _ = client.predict(str(datasets["alice"]), "hi", [], api_name="/try_ask")
    assert "not one of your folders" in json.dumps(chat[-1]["content"])
    # Names become folder names: no way out of the visitor's folder.
    client.predict(WEATHER, api_name="/tools_validate")
    client.predict("Schema-driven (offline, fast)", "", "", 4, 0, 0.25, api_name="/tasks_generate")
    for name in ("../alice/tasks", "..", "/tmp/x", "a/b"):
        saved, _ = client.predict(name, api_name="/tasks_save")
        assert "invalid name" in saved, saved
        published, _ = client.predict(mine.id, name, True, "Local folder", api_name="/publish_run")
        assert "Invalid name" in published, published
    pushed, _ = client.predict("alice/tasks", True, api_name="/tasks_push")
    assert "your own namespace" in pushed or "Cannot push" in pushed or "Push failed" in pushed, pushed
    assert {p.name: p.stat().st_mtime_ns for p in datasets["alice"].iterdir()} == alice_files
    assert not space["marker"].exists()


@pytest.mark.browser
@pytest.mark.slow
def test_in_the_page_a_visitor_sees_why_code_bearing_options_are_refused(space, datasets):
    """The same refusals, as a signed-in visitor sees them in Chromium: a visible message, no run, no payload run."""
    from app_helpers import CHROMIUM, browser_page

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    cookie = {"name": "session", "value": _session_cookie("carol", "hf_oauth_carol"), "url": space["url"]}
    with browser_page(space["url"], cookies=[cookie]) as page:
        page.get_by_role("tab", name="3. Train").click()
        page.fill("#train-dataset input", str(datasets["carol"]))
        page.keyboard.press("Enter")
        for extra, field in ((f"--implementations {space['payload']}", "implementations"),
                             (f"--mcp_server '{_command(space['marker'])}'", "mcp_server")):
            page.fill("#train-extra textarea", extra)
            page.click("#train-launch")
            page.wait_for_function("(f) => (document.querySelector('#train-launched')?.innerText || '')"
                                   ".includes(f + ' cannot be set on this Space')", arg=field)
    import yaml

    configs = [yaml.safe_load((run / "config.yaml").read_text()) for run in (space["workspace"] / "runs").glob("*")
               if (run / "config.yaml").is_file()]
    assert not [c for c in configs if c.get("implementations") or c.get("mcp_server")], configs
    assert not space["marker"].exists()

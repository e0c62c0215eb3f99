"""Launchers over real processes and real HTTP: the local launcher (a separate training process, logs, cancel,
queue), the HF Jobs launcher against the Jobs routes of the Hub test server (run, inspect, logs, cancel, list),
where jobs really run the job script, so a job trains the tiny model and pushes the adapter to the test Hub."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from toolbrain_hub.jobs.registry import RunNotFoundError, RunRegistry

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"]}}}]


@pytest.fixture(scope="module")
def jobs(hub_server):
    from hub_jobs import install_jobs_api

    api = install_jobs_api(hub_server.app)
    yield api
    api.stop()


def _api(hub_server, token=None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.endpoint, token=token or hub_server.token)


def _wait(predicate, timeout=120.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


# ---------------------------------------------------------------------------------------------------------------------
# The Jobs routes of the test Hub, called by the unmodified huggingface_hub client


def test_jobs_api_runs_a_command_and_streams_its_logs(hub_server, jobs):
    api = _api(hub_server)
    script = "import time\nfor i in range(3):\n    print(f'line {i}', flush=True); time.sleep(0.3)"
    job = api.run_job(image="python:3.12", command=["python3", "-c", script], timeout="1m",
                      labels={"purpose": "test"}, secrets={"HF_TOKEN": hub_server.token})
    assert job.owner.name == "alice" and job.status.stage in ("SCHEDULING", "RUNNING")
    assert job.secrets == {"HF_TOKEN": None}, "secret values are never echoed back"
    # follow=True streams until the job ends, each line once.
    assert list(api.fetch_job_logs(job_id=job.id, follow=True)) == ["line 0", "line 1", "line 2"]
    done = api.wait_for_job(job.id, timeout=30, poll_interval=0.2)
    assert done.status.stage == "COMPLETED" and done.finished_at is not None
    assert list(api.fetch_job_logs(job_id=job.id)) == ["line 0", "line 1", "line 2"]
    assert job.id in [j.id for j in api.list_jobs(labels={"purpose": "test"}, token=hub_server.token)]
    assert job.id not in [j.id for j in api.list_jobs(labels={"purpose": "other"}, token=hub_server.token)]
    assert all(hub_server.token not in path for _, path, _ in hub_server.app.log)


def test_jobs_api_failures_timeouts_cancels_and_other_users(hub_server, jobs):
    from huggingface_hub.errors import HfHubHTTPError

    api = _api(hub_server)
    failed = api.run_job(image="python:3.12", command=["python3", "-c", "import sys; print('boom'); sys.exit(3)"])
    assert api.wait_for_job(failed.id, timeout=30, poll_interval=0.2).status.message == "Job failed with exit code: 3"
    slow = api.run_job(image="python:3.12", command=["python3", "-c", "import time; time.sleep(60)"], timeout=1)
    timed_out = api.wait_for_job(slow.id, timeout=30, poll_interval=0.2)
    assert timed_out.status.stage == "ERROR" and "timeout" in timed_out.status.message
    running = api.run_job(image="python:3.12", command=["python3", "-c", "import time; time.sleep(60)"])
    _wait(lambda: api.inspect_job(job_id=running.id).status.stage == "RUNNING")
    with pytest.raises(HfHubHTTPError) as err:  # bob may not look at or cancel alice's jobs
        _api(hub_server, hub_server.other_token).cancel_job(job_id=running.id, namespace="alice")
    assert err.value.response.status_code == 403
    api.cancel_job(job_id=running.id)
    assert api.wait_for_job(running.id, timeout=30, poll_interval=0.2).status.stage == "CANCELED"
    assert jobs.jobs[running.id].proc.poll() is not None, "the job's process is gone"


# ---------------------------------------------------------------------------------------------------------------------
# The local launcher


def _task_folder(tmp_path) -> str:
    from toolbrain_hub.tasks import generate_tasks, save_tasks

    return str(save_tasks(generate_tasks(TOOLS, num=8, seed=0, progress=False), tmp_path / "tasks"))


def _config(tasks: str, **overrides):
    from toolbrain_hub.config import TrainConfig

    fields = dict(algorithm="grpo", model="tiny-random-qwen2", tasks=tasks, max_steps=2, num_generations=2,
                  per_device_train_batch_size=2, max_completion_length=16, max_turns=1, save_steps=0, threads=1,
                  rewards={"expected_calls": 1.0, "format": 0.1})
    fields.update(overrides)
    return TrainConfig(**fields)


@pytest.fixture()
def manager(tmp_path):
    from toolbrain_hub.jobs.hf_jobs import HFJobsLauncher
    from toolbrain_hub.jobs.launchers import LocalLauncher
    from toolbrain_hub.jobs.manager import RunManager

    launchers = {"local": LocalLauncher(env={"OMP_NUM_THREADS": "1"}), "hf-jobs": HFJobsLauncher(timeout="10m")}
    return RunManager(RunRegistry(tmp_path / "runs"), launchers=launchers, max_local_runs=1)


def _finished(manager, run_id, owner="alice", timeout=240.0, token=None):
    def done():
        record = manager.get(run_id, owner=owner, token=token)
        return record if not record.active else None

    return _wait(done, timeout=timeout, interval=0.5)


@pytest.mark.slow
def test_local_launcher_trains_in_a_separate_process(manager, tmp_path):
    tasks = _task_folder(tmp_path)
    record = manager.submit(_config(tasks), owner="alice", name="tiny run")
    assert record.status == "running" and record.pid and record.pid != os.getpid()
    record = _finished(manager, record.id)
    assert record.status == "completed", (record.message, manager.logs(record.id, owner="alice"))
    run_dir = Path(record.run_dir)
    assert (run_dir / "adapter" / "agent_spec.json").is_file()
    assert record.artifacts["adapter"] == str(run_dir / "adapter")
    assert record.artifacts["task dataset"] == tasks
    assert (run_dir / "metrics.jsonl").is_file() and (run_dir / "exit.json").is_file()
    logs = manager.logs(record.id, owner="alice")
    assert "toolbrain_hub.cli train" in logs
    with pytest.raises(RunNotFoundError):
        manager.logs(record.id, owner="bob")


@pytest.mark.slow
def test_local_runs_queue_one_at_a_time_and_cancel_kills_the_process(manager, tmp_path):
    import psutil

    tasks = _task_folder(tmp_path)
    long = manager.submit(_config(tasks, max_steps=100000), owner="alice")
    waiting = manager.submit(_config(tasks), owner="alice")
    assert long.status == "running"
    assert waiting.status == "queued" and "1 run(s) ahead" in waiting.message
    # The training process gets going (its status file says so), then bob fails to cancel it and alice cancels it.
    _wait(lambda: (Path(long.run_dir) / "status.json").is_file(), timeout=120)
    with pytest.raises(RunNotFoundError):
        manager.cancel(long.id, owner="bob")
    assert manager.get(long.id, owner="alice").status == "running"
    children = psutil.Process(long.pid).children(recursive=True)
    canceled = manager.cancel(long.id, owner="alice")
    assert canceled.status == "canceled"
    assert not psutil.pid_exists(long.pid) or psutil.Process(long.pid).status() == psutil.STATUS_ZOMBIE
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)
    # The freed slot starts the queued run, which completes.
    assert manager.get(waiting.id, owner="alice").status == "running"
    assert _finished(manager, waiting.id).status == "completed"
    assert manager.get(long.id, owner="alice").status == "canceled"


def test_a_status_read_racing_a_cancel_keeps_canceled(tmp_path):
    """The status timer reads a run just before its owner cancels it; the refresh that follows must not write the
    stale "running" copy back as "failed" (the process is gone by then). Deterministic: the reader is held between
    its first read and its refresh while the cancel runs."""
    import subprocess
    import threading

    from toolbrain_hub.jobs.launchers import LocalLauncher
    from toolbrain_hub.jobs.manager import RunManager

    class HeldRegistry(RunRegistry):
        held, go_on = threading.Event(), threading.Event()

        def get(self, run_id, *, owner=None):
            record = super().get(run_id, owner=owner)
            if threading.current_thread().name == "status-reader" and not self.held.is_set():
                self.held.set()
                self.go_on.wait(30)
            return record

    registry = HeldRegistry(tmp_path / "runs")
    launcher = LocalLauncher()
    manager = RunManager(registry, launchers={"local": launcher})
    record = registry.new(owner="alice", launcher="local", config={"algorithm": "grpo"})
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    launcher._procs[record.id] = proc
    record.status, record.pid = "running", proc.pid
    registry.save(record)
    seen = []
    reader = threading.Thread(target=lambda: seen.append(manager.get(record.id, owner="alice")),
                              name="status-reader")
    reader.start()
    assert registry.held.wait(30)
    assert manager.cancel(record.id, owner="alice").status == "canceled"
    proc.wait(30)
    registry.go_on.set()
    reader.join(30)
    assert seen and seen[0].status == "canceled", seen
    assert registry.get(record.id).status == "canceled" and registry.get(record.id).message == "canceled by its owner"


def test_a_cancel_that_arrives_after_the_run_ended_says_how_it_ended(tmp_path):
    from toolbrain_hub.jobs.launchers import LocalLauncher
    from toolbrain_hub.jobs.manager import RunManager

    registry = RunRegistry(tmp_path / "runs")
    manager = RunManager(registry, launchers={"local": LocalLauncher()})
    record = registry.new(owner="alice", launcher="local", config={"algorithm": "grpo"})
    record.status, record.pid = "running", 2 ** 22 + 7  # no such process: it has ended
    registry.save(record)
    (Path(record.run_dir) / "exit.json").write_text(json.dumps({"returncode": 0}))
    (Path(record.run_dir) / "status.json").write_text(json.dumps({"state": "completed", "step": 2, "total": 2}))
    ended = manager.cancel(record.id, owner="alice")
    assert (ended.status, ended.message) == ("completed", "training finished (2 steps)")
    assert registry.get(record.id).status == "completed"


@pytest.mark.slow
def test_a_failing_run_says_why(manager, tmp_path):
    # Valid for the config (the folder exists), fatal for the training: it holds no task dataset.
    not_tasks = tmp_path / "not-tasks"
    not_tasks.mkdir()
    record = manager.submit(_config(str(not_tasks)), owner="alice")
    record = _finished(manager, record.id)
    assert record.status == "failed"
    assert "not-tasks" in record.message and "not a task dataset" in record.message, record.message


def test_invalid_configs_create_no_run(manager, tmp_path):
    from toolbrain_hub.errors import ConfigError

    with pytest.raises(ConfigError, match="max_steps"):
        manager.submit(_config(_task_folder(tmp_path), max_steps=0), owner="alice")
    assert manager.registry.list() == []


def test_a_run_process_gone_after_a_restart_is_reported_failed(tmp_path):
    """An app restart loses the Popen handles: the registry, the pid check and exit.json still tell the truth."""
    from toolbrain_hub.jobs.launchers import LocalLauncher
    from toolbrain_hub.jobs.manager import RunManager

    registry = RunRegistry(tmp_path / "runs")
    record = registry.new(owner="alice", launcher="local", config={"algorithm": "grpo"})
    # A process that ended without writing exit.json (killed -9 with the app).
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    registry.update(record.id, status="running", pid=proc.pid, pid_start=1.0)
    restarted = RunManager(RunRegistry(tmp_path / "runs"), launchers={"local": LocalLauncher()})
    again = restarted.get(record.id, owner="alice")
    assert again.status == "failed" and "without reporting" in again.message


# ---------------------------------------------------------------------------------------------------------------------
# The HF Jobs launcher: the job script runs the same training command, pulling the tasks from the Hub and pushing
# the adapter back, all through the test Hub.


def test_hf_jobs_launcher_refuses_what_a_job_cannot_reach(manager, tmp_path, hub_server, jobs):
    from toolbrain_hub.jobs.hf_jobs import HFJobsLauncher
    from toolbrain_hub.jobs.registry import LauncherError

    config = _config(_task_folder(tmp_path), push_to="alice/agent")
    with pytest.raises(LauncherError, match="push the task dataset to the Hub"):
        manager.submit(config, owner="alice", launcher="hf-jobs", token=hub_server.token)
    with pytest.raises(LauncherError, match="sign in"):
        manager.submit(_config("alice/tasks", push_to="alice/agent"), owner="alice", launcher="hf-jobs")
    with pytest.raises(LauncherError, match="push_to"):
        manager.submit(_config("alice/tasks"), owner="alice", launcher="hf-jobs", token=hub_server.token)
    with pytest.raises(LauncherError, match="timeout"):
        HFJobsLauncher(timeout=0)
    assert manager.registry.list() == []


@pytest.mark.slow
def test_hf_jobs_launcher_trains_and_pushes_over_real_http(manager, tmp_path, hub_server, jobs):
    from huggingface_hub import HfApi

    from toolbrain_hub.tasks import generate_tasks, push_tasks

    push_tasks(generate_tasks(TOOLS, num=8, seed=1, progress=False), "alice/job-tasks", token=hub_server.token)
    config = _config("alice/job-tasks", push_to="alice/job-agent")
    record = manager.submit(config, owner="alice", launcher="hf-jobs", token=hub_server.token, flavor="t4-small")
    assert record.job_id and record.status in ("starting", "running")
    assert record.artifacts["model repo"].endswith("/alice/job-agent")
    spec = jobs.jobs[record.job_id].spec
    assert spec["flavor"] == "t4-small" and spec["timeoutSeconds"] == 600
    assert "HF_TOKEN" not in spec["environment"] and hub_server.token not in str(spec["environment"])
    assert "hf_test" not in (Path(record.run_dir) / "config.yaml").read_text()
    with pytest.raises(RunNotFoundError):
        manager.get(record.id, owner="bob", token=hub_server.other_token)
    record = _finished(manager, record.id, timeout=300, token=hub_server.token)
    logs = manager.logs(record.id, owner="alice", token=hub_server.token)
    assert record.status == "completed", (record.message, logs)
    assert "toolbrain-hub job: run" in logs
    files = HfApi(endpoint=hub_server.endpoint).list_repo_files("alice/job-agent", token=hub_server.token)
    assert {"agent_spec.json", "adapter_model.safetensors", "README.md"} <= set(files), files
    assert hub_server.token not in (Path(record.run_dir) / "job.log").read_text()


@pytest.mark.slow
def test_hf_jobs_launcher_cancels_and_reports_failures(manager, hub_server, jobs):
    from toolbrain_hub.tasks import generate_tasks, push_tasks

    push_tasks(generate_tasks(TOOLS, num=8, seed=2, progress=False), "alice/job-tasks-2", token=hub_server.token)
    long = manager.submit(_config("alice/job-tasks-2", push_to="alice/long-agent", max_steps=100000), owner="alice",
                          launcher="hf-jobs", token=hub_server.token)
    _wait(lambda: manager.get(long.id, owner="alice", token=hub_server.token).status == "running", timeout=60)
    canceled = manager.cancel(long.id, owner="alice", token=hub_server.token)
    assert canceled.status == "canceled"
    assert jobs.jobs[long.job_id].stage == "CANCELED"
    _wait(lambda: jobs.jobs[long.job_id].proc.poll() is not None, timeout=30)
    # A dataset repo that does not exist: the job fails and the run says why.
    bad = manager.submit(_config("alice/no-such-tasks", push_to="alice/bad-agent"), owner="alice",
                         launcher="hf-jobs", token=hub_server.token)
    bad = _finished(manager, bad.id, timeout=120, token=hub_server.token)
    assert bad.status == "failed" and "no-such-tasks" in bad.message, bad.message


# ---------------------------------------------------------------------------------------------------------------------
# What a training process may see: an allow-list of settings, the run owner's own token, endpoint tokens only for a
# trusted launcher and a config that calls that endpoint; never the app's secrets.

_APP_SECRETS = {"HF_TOKEN": "hf_app_own_token_1234", "HUGGING_FACE_HUB_TOKEN": "hf_app_legacy_token_5678",
                "AWS_SECRET_ACCESS_KEY": "aws-secret-abcdefgh", "OPENAI_API_KEY": "sk-app-openai-key",
                "TOOLBRAIN_HUB_ADMIN_TOKEN": "tbh-admin-token-xyz", "TOOLBRAIN_ENDPOINT_TOKEN": "endpoint-default-tok",
                "MY_JUDGE_TOKEN": "judge-endpoint-token"}


def _env_dumping_python(tmp_path) -> str:
    """An interpreter for `LocalLauncher(python=...)`: the supervisor runs for real; the training command it starts
    writes its environment to <run>/child_env.json and exits 0 instead of training."""
    wrapper = tmp_path / "python-env-dump"
    wrapper.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "toolbrain_hub.cli"]:
    run_dir = os.path.dirname(args[-1])
    with open(os.path.join(run_dir, "child_env.json"), "w") as f:
        json.dump(dict(os.environ), f)
    sys.exit(0)
os.execv({sys.executable!r}, [{sys.executable!r}, *args])
""")
    wrapper.chmod(0o755)
    return str(wrapper)


def test_local_runs_see_only_allowed_settings_and_the_owners_token(tmp_path, monkeypatch):
    from toolbrain_hub.config import JudgeSettings
    from toolbrain_hub.jobs.launchers import LocalLauncher
    from toolbrain_hub.jobs.manager import RunManager

    for name, value in _APP_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOOLBRAIN_HUB_MODEL", "tiny-random-qwen2")  # a setting, not a secret
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    python = _env_dumping_python(tmp_path)
    tasks = _task_folder(tmp_path)
    endpoint_judge = JudgeSettings(model="http://127.0.0.1:9/v1#judge", token_env="MY_JUDGE_TOKEN")

    def child_env(trusted: bool, name: str, **overrides) -> dict:
        launcher = LocalLauncher(python=python, env={"OMP_NUM_THREADS": "1"}, trusted=trusted)
        manager = RunManager(RunRegistry(tmp_path / f"runs-{name}"), launchers={"local": launcher})
        first = manager.submit(_config(tasks, **overrides), owner="alice", token="hf_visitor_own_token")
        # A second run waits for the slot: it starts later, from the poller, still with its owner's token.
        second = manager.submit(_config(tasks, **overrides), owner="alice", token="hf_visitor_own_token")
        assert second.status == "queued"
        for record in (first, second):
            def done(run_id=record.id):
                manager.poll()  # the app's poller does this: it starts the queued run once the slot is free
                found = manager.get(run_id, owner="alice")
                return found if not found.active else None

            ended = _wait(done, timeout=60)
            assert ended.status == "completed", (ended.message, manager.logs(ended.id, owner="alice"))
        envs = [json.loads((Path(r.run_dir) / "child_env.json").read_text()) for r in (first, second)]
        assert envs[0] == envs[1]
        return envs[1]

    untrusted = child_env(False, "space", judge=endpoint_judge)
    trusted_plain = child_env(True, "local-plain")
    trusted_endpoint = child_env(True, "local-endpoint", judge=endpoint_judge)
    for env in (untrusted, trusted_plain, trusted_endpoint):
        assert env["HF_TOKEN"] == "hf_visitor_own_token"
        assert env["HF_TOKEN_PATH"] == os.devnull, "no fallback to the token file `hf auth login` saved"
        assert env["OMP_NUM_THREADS"] == "1" and env["LC_ALL"] == "C.UTF-8"
        assert env["TOOLBRAIN_HUB_MODEL"] == "tiny-random-qwen2" and env["PATH"] == os.environ["PATH"]
        for name in ("HUGGING_FACE_HUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY", "TOOLBRAIN_HUB_ADMIN_TOKEN",
                     "TOOLBRAIN_ENDPOINT_TOKEN"):
            assert name not in env, name
        # a visitor's training refuses code-bearing fields itself (toolbrain_hub.config.visitor)
        assert env.get("TOOLBRAIN_HUB_UNTRUSTED") == ("1" if env is untrusted else None)
        leaked = [v for v in _APP_SECRETS.values() if v in json.dumps(env)]
        if env is trusted_endpoint:
            assert env["MY_JUDGE_TOKEN"] == "judge-endpoint-token" and leaked == ["judge-endpoint-token"]
        else:
            assert "MY_JUDGE_TOKEN" not in env and leaked == []


# ---------------------------------------------------------------------------------------------------------------------
# HF Jobs install exactly the launching code: a wheel of this source tree, uploaded to the user's repo and checked by
# sha256 in the job. The jobs of the test Hub run the real bootstrap in a fresh Python that has the dependencies but
# not toolbrain_hub (tests/hub_jobs.py, `PythonImage`), like a Docker image.


def _job_site_packages(jobs, job_id) -> Path:
    import sysconfig

    root = jobs.jobs[job_id].root / "python"
    return Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))


@pytest.mark.slow
def test_a_job_installs_the_launching_code_by_hash(manager, hub_server, jobs, monkeypatch):
    import hashlib

    from huggingface_hub import HfApi

    import toolbrain_hub

    for name, value in _APP_SECRETS.items():
        if name not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # the launcher itself may use the Hub token
            monkeypatch.setenv(name, value)
    # The training fails fast (no such dataset) once the code is installed: the install is what this test is about.
    record = manager.submit(_config("alice/no-such-tasks-code", push_to="alice/code-agent"), owner="alice",
                            launcher="hf-jobs", token=hub_server.token)
    spec = jobs.jobs[record.job_id].spec
    code = json.loads(spec["environment"]["TOOLBRAIN_HUB_CODE"])
    assert set(spec["secrets"]) == {"HF_TOKEN"}, "an untrusted launcher sends the user's token only"
    assert not [v for v in _APP_SECRETS.values() if v in json.dumps(spec["environment"])]
    assert spec["command"][:2] == ["python3", "-c"]  # the bootstrap, run by the image's own Python
    # The wheel and its pins are in the user's own repo at the commit the job pins, with the sha256 the job checks.
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    wheel = Path(api.hf_hub_download("alice/code-agent", code["wheel"]["path"], revision=code["revision"]))
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == code["wheel"]["sha256"]
    assert [Path(r["path"]).name for r in code["requirements"]] in (["requirements.lock"], ["requirements.txt"])
    record = _finished(manager, record.id, timeout=180, token=hub_server.token)
    logs = (Path(record.run_dir) / "job.log").read_text()
    assert record.status == "failed" and "no-such-tasks-code" in record.message, (record.message, logs)
    assert f"installed {wheel.name} sha256 {code['wheel']['sha256']}" in logs
    # What the job ran is this source tree, byte for byte, installed into the job's own Python.
    installed = _job_site_packages(jobs, record.job_id) / "toolbrain_hub"
    source = Path(toolbrain_hub.__file__).parent
    for name in ("jobs/launchers.py", "jobs/hf_jobs.py", "jobs/code.py", "jobs/child_env.py", "training/grpo.py"):
        assert (installed / name).read_bytes() == (source / name).read_bytes(), name
    assert hub_server.token not in logs


def test_a_job_refuses_code_whose_hash_differs(hub_server, jobs, tmp_path):
    import zipfile

    from huggingface_hub import HfApi

    from toolbrain_hub.jobs.code import BOOTSTRAP, ship_code

    code = ship_code("alice/tamper-agent", token=hub_server.token, private=True)
    # Someone replaces the wheel in the repo with one that runs their code: the job still carries the launcher's hash.
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    original = Path(api.hf_hub_download("alice/tamper-agent", code["wheel"]["path"], revision=code["revision"]))
    tampered = tmp_path / original.name
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "toolbrain_hub/jobs/launchers.py":
                data += b"\nprint('someone else runs with your token')\n"
            dst.writestr(item, data)
    commit = api.upload_file(path_or_fileobj=str(tampered), path_in_repo=code["wheel"]["path"],
                             repo_id="alice/tamper-agent")
    env = {"TOOLBRAIN_HUB_CODE": json.dumps({**code, "revision": commit.oid}), "HF_ENDPOINT": hub_server.endpoint}
    job = api.run_job(image="python:3.12", command=["python3", "-c", BOOTSTRAP], env=env,
                      secrets={"HF_TOKEN": hub_server.token}, timeout="2m")
    done = api.wait_for_job(job.id, timeout=120, poll_interval=0.2)
    logs = "\n".join(api.fetch_job_logs(job_id=job.id))
    assert done.status.stage == "ERROR", logs
    assert f"has sha256 {_sha256_of(tampered)}, not {code['wheel']['sha256']} as launched" in logs
    assert "refusing to install code that is not the code that launched this job" in logs
    assert "$ pip install" not in logs and not (_job_site_packages(jobs, job.id) / "toolbrain_hub").exists()
    assert hub_server.token not in logs


def _sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# HF Jobs messages: a timeout is the cause (not the last progress line), a cancel keeps the final log, a refused
# cancel names the namespace.


def _job_record(manager, job, namespace="alice"):
    record = manager.registry.new(owner=namespace, launcher="hf-jobs", config={"algorithm": "grpo"})
    return manager.registry.update(record.id, status="running", job_id=job.id, job_namespace=namespace,
                                   flavor="cpu-basic")


def test_a_timed_out_job_says_it_timed_out_not_its_last_progress_line(hub_server, jobs, tmp_path):
    from toolbrain_hub.jobs.hf_jobs import HFJobsLauncher
    from toolbrain_hub.jobs.manager import RunManager

    launcher = HFJobsLauncher(timeout=2)
    manager = RunManager(RunRegistry(tmp_path / "runs"), launchers={"hf-jobs": launcher})
    api = _api(hub_server)
    script = ("import time\nfor i in range(1, 1000):\n    print(f'INFO: step {i}/1000 reward=0.0907', flush=True)\n"
              "    time.sleep(0.2)")
    slow = api.run_job(image="python:3.12", command=["python3", "-c", script], timeout=2)
    failing = api.run_job(image="python:3.12", command=["python3", "-c", (
        "import sys\nprint('INFO: step 1/10 reward=0.1')\nprint('error: tasks: the dataset alice/x has no split "
        "\\'train\\'')\nprint('INFO: saving what was done', flush=True)\nsys.exit(2)")], timeout=60)
    slow_record, failing_record = _job_record(manager, slow), _job_record(manager, failing)
    slow_record = _finished(manager, slow_record.id, timeout=60, token=hub_server.token)
    assert slow_record.status == "failed" and slow_record.message == "job timed out after 2 s", slow_record.message
    assert "INFO: step" in (Path(slow_record.run_dir) / "job.log").read_text(), "the log itself is kept"
    failing_record = _finished(manager, failing_record.id, timeout=60, token=hub_server.token)
    assert failing_record.status == "failed"
    assert failing_record.message.startswith("tasks: the dataset alice/x has no split 'train'")
    assert "INFO" not in failing_record.message


def test_a_canceled_job_keeps_its_final_log_and_a_refused_cancel_names_the_namespace(hub_server, jobs, tmp_path):
    from toolbrain_hub.hub import HubPermissionError
    from toolbrain_hub.jobs.hf_jobs import HFJobsLauncher
    from toolbrain_hub.jobs.manager import RunManager

    manager = RunManager(RunRegistry(tmp_path / "runs"), launchers={"hf-jobs": HFJobsLauncher(timeout="10m")})
    api = _api(hub_server)
    script = "import time\nprint('INFO: step 1/1000 reward=0.25', flush=True)\ntime.sleep(120)"
    job = api.run_job(image="python:3.12", command=["python3", "-c", script], timeout="5m")
    _wait(lambda: "INFO: step 1/1000" in "\n".join(api.fetch_job_logs(job_id=job.id)), timeout=60)
    record = _job_record(manager, job)
    # bob's token may not cancel alice's job: the error says whose namespace it is, and the job keeps running.
    with pytest.raises(HubPermissionError) as err:
        manager.cancel(record.id, owner="alice", token=hub_server.other_token)
    assert "lacks permission to cancel jobs in the namespace 'alice'" in str(err.value)
    assert "this namespace" not in str(err.value) and hub_server.other_token not in str(err.value)
    assert api.inspect_job(job_id=job.id).status.stage == "RUNNING"
    canceled = manager.cancel(record.id, owner="alice", token=hub_server.token)
    assert canceled.status == "canceled" and jobs.jobs[job.id].stage == "CANCELED"
    log = Path(canceled.run_dir) / "job.log"
    assert "INFO: step 1/1000 reward=0.25" in log.read_text()
    assert canceled.artifacts["logs"] == str(log)

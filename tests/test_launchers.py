"""Launchers over real processes and real HTTP: the local launcher (a separate training process, logs, cancel,
queue), the HF Jobs launcher against the Jobs routes of the Hub test server (run, inspect, logs, cancel, list),
where jobs really run the job script, so a job trains the tiny model and pushes the adapter to the test Hub."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from toolbrain_hub.runs import RunNotFoundError, RunRegistry

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
    from toolbrain_hub.launchers import HFJobsLauncher, LocalLauncher, RunManager

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
    from toolbrain_hub.config import ConfigError

    with pytest.raises(ConfigError, match="max_steps"):
        manager.submit(_config(_task_folder(tmp_path), max_steps=0), owner="alice")
    assert manager.registry.list() == []


def test_a_run_process_gone_after_a_restart_is_reported_failed(tmp_path):
    """An app restart loses the Popen handles: the registry, the pid check and exit.json still tell the truth."""
    from toolbrain_hub.launchers import LocalLauncher, RunManager

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
    from toolbrain_hub.launchers import HFJobsLauncher, LauncherError

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

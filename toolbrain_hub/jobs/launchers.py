"""Launching training runs: one `Launcher` interface, two launchers, and a `RunManager` that queues them.

- `LocalLauncher` runs `python -m toolbrain_hub.cli train <run>/config.yaml` in a separate process group, under a
  small supervisor that records the exit code in `<run>/exit.json`. The process output streams into
  `<run>/launcher.log`, the training writes its own files (status.json, metrics.jsonl, train.log, adapter/) into
  the same folder, so a UI follows a run by reading files and never blocks. Cancel kills the whole process group.
  The process gets a scrubbed environment (`toolbrain_hub.jobs.child_env`): settings by name, the run owner's own token,
  never the app's secrets.
- `HFJobsLauncher` runs the same training command on Hugging Face hardware through `huggingface_hub.run_job`, with
  exactly the code that launched it: at launch a wheel of the running source tree and its pinned requirements are
  uploaded to `.toolbrain/job/` of the user's `push_to` repo (`toolbrain_hub.jobs.code`), and the job's bootstrap
  downloads them at that commit, checks their sha256 (refusing to run on a mismatch), installs the pins then the
  wheel, and hands over to `python -m toolbrain_hub.jobs.launchers job`, which writes the config, runs the same `train`
  command (the task dataset is pulled from the Hub by the training itself), and publishes the run (adapter, agent
  spec, model card, curves) to `push_to` with `toolbrain_hub.publish` before the job ends: the job's disk is
  ephemeral. The user's token goes to the job as a secret, never into the config, the env or a file. A timeout is
  always set. A failed job's message quotes the log's error line (never a progress line); a canceled job's final
  log is kept in the run folder.
- `RunManager` ties them to the run registry (`toolbrain_hub.runs`): it creates run records, starts at most
  `max_local_runs` local trainings at a time (the others wait as "queued"), refreshes statuses, reads logs and
  cancels, always on behalf of an owner who only sees their own runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..runs.folder import ADAPTER_DIR, CONFIG_FILE, EXIT_FILE, JOB_LOG, LAUNCHER_LOG, METRICS_FILE, STATUS_FILE
from .child_env import child_environment
from .registry import ACTIVE, TERMINAL, LauncherError, RunRecord, RunRegistry, now_iso

__all__ = ["DEFAULT_JOB_IMAGE", "DEFAULT_JOB_TIMEOUT", "HFJobsLauncher", "Launcher", "LauncherError",
           "LocalLauncher", "RunManager", "train_command"]

# A CUDA image with Python and pip; the bootstrap installs the pinned requirements and the launching code's wheel.
DEFAULT_JOB_IMAGE = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
DEFAULT_JOB_TIMEOUT = "2h"
DEFAULT_FLAVOR = "a10g-small"
# HF Jobs stages -> run states.
_JOB_STATES = {"SCHEDULING": "starting", "RUNNING": "running", "COMPLETED": "completed", "ERROR": "failed",
               "CANCELED": "canceled", "DELETED": "canceled"}



def train_command(config_file: str | Path, *, python: str | None = None) -> list[str]:
    """The command both launchers run: `python -m toolbrain_hub.cli train CONFIG`.

    Args:
        config_file: The run's config.yaml.
        python: The interpreter (default: this one).
    """
    return [python or sys.executable, "-m", "toolbrain_hub.cli", "train", str(config_file)]


def _tail(path: Path, max_bytes: int) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    if size > max_bytes:  # drop the partial first line
        text = "…\n" + text.split("\n", 1)[-1]
    return text


# "error: ..." (the CLI, the job bootstrap), "ERROR: ..." (pip, the training log), "CRITICAL:", "FATAL:".
_ERROR_LINE = re.compile(r"^(error|critical|fatal)\s*:\s*", re.IGNORECASE)


def _failure_cause(log_text: str) -> str:
    """The line of a process's output that says why it failed: the last error line ("error: ...", "ERROR: ...") or
    a traceback's exception line; "" when there is none (a progress or INFO line is never a cause)."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _ERROR_LINE.match(line)
        if match:
            return line[match.end():].strip()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback (most recent call last)"):
            after = [line for line in lines[i + 1:] if not line.startswith(("File ", "^", "~"))]
            return after[-1] if after else ""
    return ""


class Launcher(ABC):
    """Starts, follows and cancels training runs described by `RunRecord`s (see `RunManager`).

    Each method returns the updated record; the caller saves it. `token` is the user's Hugging Face token when the
    launcher needs one (HF Jobs); it is used for the call and never stored.
    """

    name: str = ""

    @abstractmethod
    def start(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        """Start the run whose config.yaml is in `record.run_dir`."""

    @abstractmethod
    def refresh(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        """Update `record.status`, `message` and `artifacts` from the process or job."""

    @abstractmethod
    def logs(self, record: RunRecord, *, token: str | None = None, max_bytes: int = 64_000) -> str:
        """The end of the run's output (at most `max_bytes`)."""

    @abstractmethod
    def cancel(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        """Stop the run; its record ends as "canceled"."""

    def check(self, config: Any, *, token: str | None = None) -> None:  # noqa: B027 - optional hook
        """Raise `LauncherError` if this launcher cannot run `config` (called before a run is created)."""


# ---------------------------------------------------------------------------------------------------------------------
# local processes


class LocalLauncher(Launcher):
    """Training in a separate local process (its own process group), output streamed to `<run>/launcher.log`.

    The process's environment is `toolbrain_hub.jobs.child_env.child_environment`: this machine's settings, the token
    passed to `start` (the run owner's own) as HF_TOKEN, and endpoint tokens only when `trusted`.

    Args:
        python: The interpreter to run the training with (default: this one).
        env: Extra environment variables for the process (e.g. {"OMP_NUM_THREADS": "1"}).
        trusted: The runs are the machine owner's own (a local app or script): endpoint tokens a config needs
            ($TOOLBRAIN_ENDPOINT_TOKEN, `judge.token_env`, `teacher_token_env`) pass to the process. A public Space
            builds it untrusted, so visitors' code never sees the Space's tokens.
    """

    name = "local"

    def __init__(self, *, python: str | None = None, env: dict[str, str] | None = None, trusted: bool = False):
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.trusted = trusted
        self._procs: dict[str, subprocess.Popen] = {}  # reaped by refresh, so finished children don't linger

    def start(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        run_dir = Path(record.run_dir)
        config_file = run_dir / CONFIG_FILE
        if not config_file.is_file():
            raise LauncherError(f"Cannot start run {record.id}: {config_file} is missing")
        (run_dir / EXIT_FILE).unlink(missing_ok=True)
        config = None
        if self.trusted:  # only a trusted launcher passes endpoint tokens, so only it needs the config's endpoints
            from ..config.train import TrainConfig

            config = TrainConfig.from_dict(record.config)
        settings, secrets = child_environment(token=token, config=config, trusted=self.trusted)
        # The token lives in the child's memory only: pushes and private datasets.
        env = {**settings, **self.env, **secrets, "PYTHONUNBUFFERED": "1"}
        cwd = Path.cwd()
        # The package must be importable by the child even when it is run from a source checkout.
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]),
                                                         env.get("PYTHONPATH", "")] if p)
        command = [self.python, "-m", "toolbrain_hub.jobs.launchers", "supervise", str(run_dir), "--",
                   *train_command(config_file, python=self.python)]
        with (run_dir / LAUNCHER_LOG).open("ab") as log:
            log.write(f"$ {shlex.join(train_command(config_file.name, python='python'))}\n".encode())
            log.flush()
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=cwd, env=env, start_new_session=True)
        self._procs[record.id] = proc
        record.pid, record.pid_start = proc.pid, _process_start(proc.pid)
        record.status, record.started_at, record.message = "running", now_iso(), "training process started"
        record.artifacts.setdefault("logs", str(run_dir / LAUNCHER_LOG))
        return record

    def _alive(self, record: RunRecord) -> bool:
        proc = self._procs.get(record.id)
        if proc is not None:
            return proc.poll() is None
        if not record.pid:
            return False
        start = _process_start(record.pid)
        # A pid from before an app restart counts only if it is the same process (same start time).
        return start is not None and (record.pid_start is None or abs(start - record.pid_start) < 1.0)

    def refresh(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        if record.status not in ACTIVE or record.status == "queued":
            return record
        run_dir = Path(record.run_dir)
        status = _training_status(run_dir)
        exit_info = _read_json(run_dir / EXIT_FILE)
        if self._alive(record):
            if status.get("state") == "running" and status.get("total"):
                record.message = f"step {status.get('step', 0)}/{status['total']}"
            return record
        self._procs.pop(record.id, None)
        if exit_info is None:
            # The process is gone without a word (killed, or the machine restarted): trust the training's status.
            if status.get("state") == "completed":
                return self._completed(record, status)
            record.status = "failed"
            record.message = status.get("error") or ("the training process ended without reporting an exit code "
                                                     "(killed, or the machine restarted)")
        elif exit_info.get("returncode") == 0:
            return self._completed(record, status)
        else:
            record.status = "failed"
            cause = status.get("error") if status.get("state") == "failed" else None
            record.message = cause or _failure_cause(_tail(run_dir / LAUNCHER_LOG, 20_000)) or (
                f"the training process exited with code {exit_info.get('returncode')}")
        record.finished_at = record.finished_at or now_iso()
        return record

    def _completed(self, record: RunRecord, status: dict[str, Any]) -> RunRecord:
        run_dir = Path(record.run_dir)
        record.status, record.finished_at = "completed", record.finished_at or now_iso()
        record.message = "training finished" + (f" ({status['step']} steps)" if status.get("step") else "")
        if (run_dir / ADAPTER_DIR).is_dir():
            record.artifacts["adapter"] = str(run_dir / ADAPTER_DIR)
        if (run_dir / METRICS_FILE).is_file():
            record.artifacts["metrics"] = str(run_dir / METRICS_FILE)
        return record

    def logs(self, record: RunRecord, *, token: str | None = None, max_bytes: int = 64_000) -> str:
        return _tail(Path(record.run_dir) / LAUNCHER_LOG, max_bytes)

    def cancel(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        if record.status in TERMINAL:
            raise LauncherError(f"Run {record.id} already ended ({record.status}): nothing to cancel")
        if record.status != "queued":
            if not self._alive(record):
                ended = self.refresh(record)  # it ended on its own before the cancel reached it: say how
                if ended.status in TERMINAL:
                    return ended
            elif record.pid:
                _kill_group(record.pid, self._procs.get(record.id))
        self._procs.pop(record.id, None)
        record.status, record.finished_at, record.message = "canceled", now_iso(), "canceled by its owner"
        return record


def _kill_group(pid: int, proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        if proc is None and _process_start(pid) is None:
            break
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)  # the group may outlive its leader (e.g. a dataloader worker)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait(timeout=5)


def _process_start(pid: int) -> float | None:
    """The start time of a live process (None if there is none; zombies count as gone)."""
    import psutil

    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return p.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _training_status(run_dir: Path) -> dict[str, Any]:
    """status.json as the training wrote it (without the import cost of `training.common.read_status`)."""
    return _read_json(run_dir / STATUS_FILE) or {}


def supervise(run_dir: str | Path, command: list[str]) -> int:
    """Run `command`, then write `<run_dir>/exit.json` with its return code (so the exit survives an app restart).

    SIGTERM (a cancel) reaches the command through the process group; the supervisor waits for it to end.
    """
    signal.signal(signal.SIGTERM, lambda *_: None)  # the child gets the same signal; wait for it
    proc = subprocess.Popen(command)
    while True:
        try:
            returncode = proc.wait()
            break
        except InterruptedError:
            continue
    exit_file = Path(run_dir) / EXIT_FILE
    tmp = exit_file.with_name(f".{EXIT_FILE}.tmp")
    tmp.write_text(json.dumps({"returncode": returncode, "finished_at": now_iso()}), encoding="utf-8")
    os.replace(tmp, exit_file)
    return returncode


# ---------------------------------------------------------------------------------------------------------------------
# Hugging Face Jobs

_TIMED_OUT = re.compile(r"time ?out|timed out", re.IGNORECASE)


class HFJobsLauncher(Launcher):
    """Training on Hugging Face hardware with HF Jobs (`huggingface_hub.run_job`), in the user's namespace.

    The job installs exactly the code that launched it (see `toolbrain_hub.jobs.code`): a wheel of this source tree,
    uploaded to the user's `push_to` repo and checked by sha256 in the job. Its environment is the portable part of
    `toolbrain_hub.jobs.child_env.child_environment`; the user's token (and, when `trusted`, the endpoint tokens the
    config needs) go as job secrets.

    Args:
        flavor: Default hardware flavor (e.g. "t4-small", "a10g-small", "a100-large"); `RunRecord.flavor` wins.
        timeout: Maximum job duration ("90m", "2h" or seconds); required, a job never runs unbounded.
        image: The Docker image (it needs Python 3.11+ and pip).
        env: Extra environment variables for the job (not secrets).
        private: Create the output model repo as private.
        trusted: The runs are the machine owner's own: endpoint tokens a config needs go to the job as secrets.
            A public Space builds it untrusted.
    """

    name = "hf-jobs"

    def __init__(self, *, flavor: str = DEFAULT_FLAVOR, timeout: str | int = DEFAULT_JOB_TIMEOUT,
                 image: str = DEFAULT_JOB_IMAGE, env: dict[str, str] | None = None, private: bool = True,
                 trusted: bool = False):
        if not timeout:
            raise LauncherError("HF Jobs need a timeout (e.g. '2h'): a job never runs unbounded")
        self.flavor, self.timeout, self.image = flavor, timeout, image
        self.env = dict(env or {})
        self.private = private
        self.trusted = trusted

    def _api(self):
        from huggingface_hub import HfApi

        from ..hub.repos import endpoint

        return HfApi(endpoint=endpoint())

    @contextmanager
    def _errors(self, token: str | None, action: str, namespace: str | None = None):
        """Hub errors as `HubError`s; a refusal (403) names the namespace the token lacks permission for."""
        from huggingface_hub.errors import HfHubHTTPError

        from ..hub.repos import HubPermissionError, _hub_errors, _server_message

        with _hub_errors(None, "model", token=token, action=f"{action} on"):
            try:
                yield
            except HfHubHTTPError as err:
                if getattr(err, "response", None) is None or err.response.status_code != 403:
                    raise
                detail = _server_message(err, token)
                if namespace:
                    fix = (f"Use a token of '{namespace}' (or of a member of that organization) with the Jobs "
                           "permission.")
                else:
                    fix = "Use a token with the Jobs permission for your namespace."
                where = f"the namespace '{namespace}'" if namespace else "your namespace"
                raise HubPermissionError(f"Your token lacks permission to {action} in {where} ({detail}). {fix}",
                                         repo_id=None) from err

    def check(self, config: Any, *, token: str | None = None) -> None:
        from ..hub.repos import is_local

        if not token:
            raise LauncherError("HF Jobs run in your Hugging Face account: sign in (or set HF_TOKEN) first")
        if not config.tasks or is_local(config.tasks):
            raise LauncherError(f"HF Jobs cannot read the local folder {config.tasks!r}: push the task dataset to "
                                "the Hub first (Tasks tab, 'Push to the Hub') and train on its repo id")
        if is_local(config.model) and not _is_builtin_model(config.model):
            raise LauncherError(f"HF Jobs cannot read the local model folder {config.model!r}: use a built-in "
                                "model or a Hub repo id")
        for name in ("tools", "implementations", "preferences", "traces"):
            value = getattr(config, name, None)
            if value and is_local(value):
                raise LauncherError(f"HF Jobs cannot read the local file {name}={value!r}: leave it empty (the task "
                                    "dataset carries its tools) or use a Hub repo")
        if not config.push_to:
            raise LauncherError("HF Jobs runs need push_to (a model repo id): the job's disk is deleted when it ends")

    def start(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        from ..config.train import TrainConfig
        from ..hub.repos import full_repo_id, repo_url, resolve_token
        from ..models.loading import DEFAULT_MODEL
        from .code import BOOTSTRAP, ship_code

        if not token:
            token = resolve_token(None)
        config = TrainConfig.from_dict(record.config)
        self.check(config, token=token)
        push_to = full_repo_id(config.push_to, token)
        # The code the job installs: this source tree's wheel and pins, in the user's own repo, checked by sha256.
        models = {config.model, config.teacher, config.simulator, config.judge.model if config.judge else None}
        code = ship_code(push_to, token=token, private=self.private, model_pins=DEFAULT_MODEL in models)
        settings, secrets = child_environment(token=token, config=config, trusted=self.trusted, portable=True)
        # The job picks its own folder and publishes the whole run at the end (adapter, agent spec, card).
        config.output_dir, config.push_to = "", None
        env = {**settings, **self.env, "TOOLBRAIN_HUB_CONFIG": config.to_yaml(), "TOOLBRAIN_HUB_RUN_ID": record.id,
               "TOOLBRAIN_HUB_PUSH_TO": push_to, "TOOLBRAIN_HUB_PRIVATE": "1" if self.private else "0",
               "TOOLBRAIN_HUB_CODE": json.dumps(code), "PYTHONUNBUFFERED": "1"}
        flavor = record.flavor or self.flavor
        with self._errors(token, "launch jobs"):
            job = self._api().run_job(image=self.image, command=["python3", "-c", BOOTSTRAP], env=env,
                                      secrets=secrets, flavor=flavor, timeout=self.timeout,
                                      labels={"toolbrain-hub-run": record.id}, name=f"toolbrain-{record.id}",
                                      token=token)
        record.job_id, record.job_namespace, record.job_url = job.id, job.owner.name, job.url
        record.flavor, record.started_at = flavor, now_iso()
        record.status = _JOB_STATES.get(str(job.status.stage), "starting")
        record.message = f"HF Job {job.id} on {flavor} (timeout {self.timeout})"
        record.artifacts.update({"HF Job": job.url, "model repo": repo_url(push_to),
                                 "job code": f"{repo_url(push_to)}/tree/{code['revision']}/{code['wheel']['path']}"})
        return record

    def refresh(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        from ..hub.repos import resolve_token

        if record.status not in ACTIVE or not record.job_id:
            return record
        token = token or resolve_token(None)
        with self._errors(token, "check jobs", record.job_namespace):
            job = self._api().inspect_job(job_id=record.job_id, namespace=record.job_namespace, token=token)
        stage = str(job.status.stage.value if hasattr(job.status.stage, "value") else job.status.stage)
        record.status = _JOB_STATES.get(stage, record.status)
        if record.status in TERMINAL:
            record.finished_at = record.finished_at or now_iso()
            self.logs(record, token=token)  # keep the final logs: they outlive the job only here
            detail = job.status.message or ""
            if record.status == "failed":
                # The job's own message is generic ("exit code 2"): the log's error line says why. A timeout is a
                # cause of its own; a progress line that happened to be last is not.
                cause = _failure_cause(_tail(Path(record.run_dir) / JOB_LOG, 20_000))
                if _TIMED_OUT.search(detail):
                    detail = f"job timed out after {_duration(self.timeout)}"
                record.message = "; ".join(m for m in (cause, detail) if m) or "the job failed"
            else:
                record.message = detail or f"job {stage.lower()}"
        else:
            record.message = f"HF Job {stage.lower()} on {record.flavor}" + (
                f": {job.status.message}" if job.status.message else "")
        return record

    def logs(self, record: RunRecord, *, token: str | None = None, max_bytes: int = 64_000) -> str:
        from ..hub.repos import resolve_token

        cache = Path(record.run_dir) / JOB_LOG
        if not record.job_id:
            return ""
        token = token or resolve_token(None)
        try:
            with self._errors(token, "read the logs of jobs", record.job_namespace):
                lines = list(self._api().fetch_job_logs(job_id=record.job_id, namespace=record.job_namespace,
                                                        token=token))
        except Exception:  # noqa: BLE001 - the Hub may drop old logs: show what was kept
            return _tail(cache, max_bytes)
        text = "\n".join(lines) + ("\n" if lines else "")
        if token:
            text = text.replace(token, "hf_***")
        # The Hub keeps job logs for a while only: the copy in the run folder is what outlives the job.
        if text and (not cache.exists() or len(text.encode()) >= cache.stat().st_size):
            cache.write_text(text, encoding="utf-8")
            record.artifacts.setdefault("logs", str(cache))
        return _tail(cache, max_bytes)

    def cancel(self, record: RunRecord, *, token: str | None = None) -> RunRecord:
        from ..hub.repos import resolve_token

        if record.status in TERMINAL:
            raise LauncherError(f"Run {record.id} already ended ({record.status}): nothing to cancel")
        token = token or resolve_token(None)
        if record.job_id:
            with self._errors(token, "cancel jobs", record.job_namespace):
                self._api().cancel_job(job_id=record.job_id, namespace=record.job_namespace, token=token)
            self.logs(record, token=token)  # a canceled run keeps its final log, like a finished one
        record.status, record.finished_at, record.message = "canceled", now_iso(), "canceled by its owner"
        return record


def _duration(timeout: str | int) -> str:
    """A job timeout as the user wrote it ("2h", "90m"), bare seconds as "N s"."""
    text = str(timeout).strip()
    return f"{text} s" if text.replace(".", "", 1).isdigit() else text


def _is_builtin_model(name: str) -> bool:
    from ..models.loading import BUILTIN_MODELS

    return name in BUILTIN_MODELS


def run_job_inside() -> int:
    """What an HF Job runs after the bootstrap: write the config, run the same `train` command as a local run, then
    publish the run (adapter, agent spec, card, curves) to `TOOLBRAIN_HUB_PUSH_TO` before the container goes away."""
    import tempfile

    work = Path(os.environ.get("TOOLBRAIN_HUB_WORK") or tempfile.mkdtemp(prefix="toolbrain-job-"))
    run_dir = work / "run"
    config_file = work / CONFIG_FILE
    config_file.write_text(os.environ["TOOLBRAIN_HUB_CONFIG"], encoding="utf-8")
    repo = os.environ["TOOLBRAIN_HUB_PUSH_TO"]
    print(f"toolbrain-hub job: run {os.environ.get('TOOLBRAIN_HUB_RUN_ID', '?')} -> {repo}", flush=True)
    returncode = subprocess.call(train_command(config_file) + ["--output_dir", str(run_dir)])
    if returncode != 0:
        print(f"toolbrain-hub job: training exited with code {returncode}", flush=True)  # its error line says why
        return returncode
    from ..publish.publisher import publish

    try:
        result = publish(run_dir, repo, private=os.environ.get("TOOLBRAIN_HUB_PRIVATE") == "1")
    except Exception as err:  # noqa: BLE001 - the job's log is where the user reads why
        print(f"error: publishing to {repo} failed: {err}", flush=True)
        return 1
    print(f"toolbrain-hub job: published the agent to {result.url_or_path}", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# the run manager: registry + launchers + the local queue


class RunManager:
    """Creates, starts, follows and cancels runs; each user sees only their own.

    Args:
        registry: Where run records live.
        launchers: Launchers by name (default: a `LocalLauncher` and an `HFJobsLauncher`).
        max_local_runs: Local trainings running at once; more wait in the queue ("queued").
    """

    def __init__(self, registry: RunRegistry, *, launchers: dict[str, Launcher] | None = None,
                 max_local_runs: int = 1):
        self.registry = registry
        self.launchers = launchers or {"local": LocalLauncher(), "hf-jobs": HFJobsLauncher()}
        self.max_local_runs = max_local_runs
        self._lock = threading.RLock()
        # The owner's token for their local runs still waiting for a slot: in memory only, never on disk (after an
        # app restart a queued run starts without one, and says so if it needed it).
        self._tokens: dict[str, str] = {}

    def launcher(self, name: str) -> Launcher:
        if name not in self.launchers:
            raise LauncherError(f"Unknown launcher {name!r}; available: {', '.join(self.launchers)}")
        return self.launchers[name]

    def submit(self, config: Any, *, owner: str, launcher: str = "local", token: str | None = None,
               name: str = "", flavor: str | None = None) -> RunRecord:
        """Validate `config`, create its run and start it (a local run waits if the local slots are busy).

        Args:
            config: A `TrainConfig`.
            owner: The user launching it (Hugging Face username or "local").
            launcher: "local" or "hf-jobs".
            token: The user's token (HF Jobs; local runs get it as their HF_TOKEN, to push or read private
                datasets; nothing else of this process's credentials reaches a run).
            name: A label for the run.
            flavor: HF Jobs hardware flavor.

        Raises:
            ConfigError: the config is invalid (nothing is created).
            LauncherError: this launcher cannot run it.
        """
        chosen = self.launcher(launcher)
        config.validate()
        chosen.check(config, token=token)
        record = self.registry.new(owner=owner, launcher=launcher, config=config.to_dict(), name=name,
                                   algorithm=config.algorithm)
        if launcher == "local":
            config.output_dir = record.run_dir
        config.to_yaml(Path(record.run_dir) / CONFIG_FILE)
        record.config, record.flavor = config.to_dict(), flavor if launcher != "local" else None
        if config.tasks:
            from ..hub.repos import is_local, repo_url

            record.artifacts["task dataset"] = config.tasks if is_local(config.tasks) else repo_url(config.tasks,
                                                                                                  "dataset")
        self.registry.save(record)
        if launcher == "local":
            if token:
                self._tokens[record.id] = token
            self.poll()
            return self.registry.get(record.id)
        try:
            record = chosen.start(record, token=token)
        except Exception as err:
            record.status, record.message, record.finished_at = "failed", str(err), now_iso()
            self.registry.save(record)
            raise
        return self.registry.save(record)

    def poll(self) -> None:
        """Refresh active local runs and start queued ones while local slots are free (call it periodically)."""
        with self._lock:
            local = self.launchers.get("local")
            if local is None:
                return
            running = 0
            for record in self.registry.list(statuses=("starting", "running")):
                if record.launcher == "local":
                    record = self.registry.save(local.refresh(record))
                    running += record.active
            queued = sorted((r for r in self.registry.list(statuses=("queued",)) if r.launcher == "local"),
                            key=lambda r: (r.created_at, r.id))
            waiting = 0
            for record in queued:
                if running < self.max_local_runs:
                    try:
                        record = local.start(record, token=self._tokens.pop(record.id, None))
                    except Exception as err:  # noqa: BLE001 - recorded on the run, shown by the UI
                        record.status, record.message, record.finished_at = "failed", str(err), now_iso()
                    else:
                        running += 1
                else:
                    record.message = f"queued: {running + waiting} run(s) ahead of it on this machine"
                    waiting += 1
                self.registry.save(record)

    def get(self, run_id: str, *, owner: str, token: str | None = None) -> RunRecord:
        """The run's record, refreshed from its process or job (raises RunNotFoundError for others' runs)."""
        record = self.registry.get(run_id, owner=owner)
        if record.active and record.status != "queued":
            try:
                with self._lock:
                    # Read again under the lock: a cancel (or the poller) may have ended the run since the read
                    # above, and refreshing that stale copy would write "failed" over "canceled".
                    record = self.registry.get(run_id, owner=owner)
                    if record.active and record.status != "queued":
                        record = self.registry.save(self.launcher(record.launcher).refresh(record, token=token))
            except Exception as err:  # noqa: BLE001 - a Hub hiccup must not hide the run
                record.message = f"could not refresh the status: {err}"
        return record

    def list(self, *, owner: str, token: str | None = None) -> list[RunRecord]:
        """The owner's runs, newest first, active ones refreshed."""
        self.poll()
        return [self.get(r.id, owner=owner, token=token) if r.active else r
                for r in self.registry.list(owner=owner)]

    def logs(self, run_id: str, *, owner: str, token: str | None = None, max_bytes: int = 64_000) -> str:
        record = self.registry.get(run_id, owner=owner)
        return self.launcher(record.launcher).logs(record, token=token, max_bytes=max_bytes)

    def cancel(self, run_id: str, *, owner: str, token: str | None = None) -> RunRecord:
        """Cancel the owner's run (raises RunNotFoundError for someone else's)."""
        with self._lock:
            record = self.registry.get(run_id, owner=owner)
            record = self.registry.save(self.launcher(record.launcher).cancel(record, token=token))
            self._tokens.pop(record.id, None)
        self.poll()  # a freed local slot starts the next queued run
        return record


# ---------------------------------------------------------------------------------------------------------------------
# entry points used by the launchers themselves


def main(argv: list[str] | None = None) -> int:
    """`python -m toolbrain_hub.jobs.launchers supervise RUN_DIR -- CMD...` | `... job` (internal entry points)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["supervise"] and "--" in argv:
        split = argv.index("--")
        return supervise(argv[1], argv[split + 1:])
    if argv[:1] == ["job"]:
        return run_job_inside()
    print("usage: python -m toolbrain_hub.jobs.launchers supervise RUN_DIR -- COMMAND... | job", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

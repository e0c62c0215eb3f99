"""Launching training runs: one `Launcher` interface, and the local launcher.

Both launchers (this `LocalLauncher`, and `HFJobsLauncher` in `jobs.hf_jobs`) run the same training command,
`train_command`; `jobs.manager.RunManager` queues them and ties them to the run registry.

`LocalLauncher` runs `python -m toolbrain_hub.cli train <run>/config.yaml` in a separate process group, under a small
supervisor (`python -m toolbrain_hub.jobs.launchers supervise`) that records the exit code in `<run>/exit.json`. The
process output streams into `<run>/launcher.log`, the training writes its own files (status.json, metrics.jsonl,
train.log, adapter/) into the same folder, so a UI follows a run by reading files and never blocks. Cancel kills the
whole process group. The process gets a scrubbed environment (`toolbrain_hub.jobs.child_env`): settings by name, the
run owner's own token, never the app's secrets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from ..runs.folder import ADAPTER_DIR, CONFIG_FILE, EXIT_FILE, LAUNCHER_LOG, METRICS_FILE, STATUS_FILE
from .child_env import child_environment
from .registry import ACTIVE, TERMINAL, LauncherError, RunRecord, now_iso

__all__ = ["Launcher", "LauncherError", "LocalLauncher", "supervise", "train_command"]



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
            from ..config.base import TrainConfig

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
    """status.json as the training wrote it (without the import cost of `runs.folder.read_status`)."""
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
# the entry point the local launcher runs


def main(argv: list[str] | None = None) -> int:
    """`python -m toolbrain_hub.jobs.launchers supervise RUN_DIR -- CMD...` (the local launcher's entry point)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["supervise"] and "--" in argv:
        split = argv.index("--")
        return supervise(argv[1], argv[split + 1:])
    print("usage: python -m toolbrain_hub.jobs.launchers supervise RUN_DIR -- COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

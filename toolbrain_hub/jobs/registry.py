"""The run registry: every training run launched from the app or the CLI, on disk, so runs survive a page refresh and
an app restart.

A run is a folder `<root>/<run id>/` holding `run.json` (a `RunRecord`: owner, launcher, status, where every
artifact is) next to what the launcher writes there: `config.yaml`, the process output (`launcher.log`), and for
local runs the training output itself (metrics.jsonl, status.json, train.log, the adapter). Records are written
atomically (temp file + rename), so a crash never leaves half a record.

Ownership: each record has an owner (a Hugging Face username, or "local" for a logged-out local user). Lookups
made on behalf of a user pass `owner=` and see only that user's runs: another user's run answers exactly like a
missing one, so run ids reveal nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError
from ..runs.folder import ADAPTER_DIR, RECORD_FILE

__all__ = ["ACTIVE", "RUN_STATES", "TERMINAL", "LauncherError", "RunNotFoundError",
           "RunRecord", "RunRegistry", "LOCAL_OWNER"]

RUN_STATES = ("queued", "starting", "running", "completed", "failed", "canceled")
ACTIVE = ("queued", "starting", "running")
TERMINAL = ("completed", "failed", "canceled")
LOCAL_OWNER = "local"
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[a-z0-9-]{1,40}-[0-9a-f]{6}$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


class RunNotFoundError(ToolBrainError, KeyError):
    """No run with this id for this owner (another user's run is reported exactly like a missing one)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"

class LauncherError(ToolBrainError, RuntimeError):
    """A run cannot be launched, followed or canceled; the message says why and what to do."""



def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class RunRecord:
    """What the registry knows about one run.

    Args:
        id: The run id, also the name of its folder ("20261125-143000-grpo-1a2b3c").
        owner: Hugging Face username of the user who launched it, or "local".
        launcher: "local" or "hf-jobs".
        status: One of `RUN_STATES`.
        name: A human label (defaults to the id).
        run_dir: The run's local folder (absolute path).
        config: The training config as plain data (`TrainConfig.to_dict()`).
        message: Why the run is in its state (the cause of a failure, a cancel, a queue position).
        created_at: ISO time of creation; `started_at` and `finished_at` likewise.
        pid: Local runs: the process id of the run's process group leader.
        pid_start: Local runs: that process's start time (guards against a reused pid after a reboot).
        job_id: HF Jobs runs: the job id; `job_namespace` and `job_url` with it, `flavor` its hardware.
        artifacts: Where each artifact is: a label ("run folder", "adapter", "model repo", "task dataset", ...) to a
            local path or a URL.
    """

    id: str
    owner: str
    launcher: str
    status: str = "queued"
    name: str = ""
    run_dir: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    pid: int | None = None
    pid_start: float | None = None
    job_id: str | None = None
    job_namespace: str | None = None
    job_url: str | None = None
    flavor: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    def agent_location(self) -> str:
        """Where the run's trained agent is: its run folder when the final adapter is there, else the Hub model repo
        its HF Job published it to.

        Raises:
            LauncherError: the run has neither.
        """
        if (self.path / ADAPTER_DIR).is_dir():
            return self.run_dir
        repo = self.config.get("push_to")
        if self.launcher == "hf-jobs" and repo:
            return str(repo)
        raise LauncherError(f"run {self.id} has no adapter here and was not pushed anywhere")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class RunRegistry:
    """Runs on disk under `root`, one folder each.

    Args:
        root: The folder holding the run folders (created if missing).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()

    def new(self, *, owner: str, launcher: str, config: dict[str, Any], name: str = "",
            algorithm: str | None = None) -> RunRecord:
        """Create a run folder and its record (status "queued").

        Args:
            owner: Hugging Face username or "local".
            launcher: "local" or "hf-jobs".
            config: The training config as plain data.
            name: A human label (default: the run id).
            algorithm: Put in the run id for readability (default: `config["algorithm"]`).
        """
        if not _OWNER.match(owner or ""):
            raise ValueError(f"owner must be a Hugging Face username or {LOCAL_OWNER!r}, got {owner!r}")
        tag = re.sub(r"[^a-z0-9-]", "", str(algorithm or config.get("algorithm") or "run").lower())[:40] or "run"
        with self._lock:
            while True:
                run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{tag}-{secrets.token_hex(3)}"
                folder = self.root / run_id
                if not folder.exists():
                    break
            folder.mkdir(parents=True)
            record = RunRecord(id=run_id, owner=owner, launcher=launcher, name=name or run_id, run_dir=str(folder),
                               config=dict(config), created_at=now_iso(), artifacts={"run folder": str(folder)})
            self.save(record)
        return record

    def save(self, record: RunRecord) -> RunRecord:
        """Write `record` atomically to its folder."""
        folder = self._folder(record.id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{RECORD_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        with self._lock:
            tmp.write_text(json.dumps(record.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, folder / RECORD_FILE)
        return record

    def get(self, run_id: str, *, owner: str | None = None) -> RunRecord:
        """The record of `run_id`.

        Args:
            run_id: A run id.
            owner: Only return the run if it belongs to this owner (None: no check, for the CLI and the launchers).

        Raises:
            RunNotFoundError: no such run, or it belongs to someone else.
        """
        missing = RunNotFoundError(f"No run {run_id!r}" + (f" for {owner}" if owner else ""))
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise missing
        path = self.root / run_id / RECORD_FILE
        try:
            record = RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            raise missing from None
        if owner is not None and record.owner != owner:
            raise missing
        return record

    def list(self, *, owner: str | None = None, statuses: tuple[str, ...] | None = None) -> list[RunRecord]:
        """Runs, newest first.

        Args:
            owner: Only this owner's runs (None: everyone's).
            statuses: Only runs in these states.
        """
        records = []
        for folder in self.root.iterdir() if self.root.is_dir() else []:
            if not _RUN_ID.match(folder.name):
                continue
            try:
                record = self.get(folder.name, owner=owner)
            except RunNotFoundError:
                continue
            if statuses is None or record.status in statuses:
                records.append(record)
        return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)

    def using_tasks(self, tasks: str | os.PathLike, *, owner: str | None = None) -> list[RunRecord]:
        """The runs whose config trains on `tasks` (a dataset folder, compared as resolved paths, or a repo id).

        Args:
            tasks: A task dataset folder or Hub repo id.
            owner: Only this owner's runs (None: everyone's).
        """
        def key(value: Any) -> str:
            text = str(value or "").strip()
            if not text:
                return ""
            path = Path(text).expanduser()
            return str(path.resolve()) if path.is_absolute() or path.exists() else text

        wanted = key(tasks)
        return [r for r in self.list(owner=owner) if wanted and key(r.config.get("tasks")) == wanted]

    def update(self, run_id: str, **changes: Any) -> RunRecord:
        """Read, change and save a record in one step (under the registry lock)."""
        with self._lock:
            record = self.get(run_id)
            for key, value in changes.items():
                if not hasattr(record, key):
                    raise AttributeError(f"RunRecord has no field {key!r}")
                setattr(record, key, value)
            return self.save(record)

    def _folder(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.root / run_id

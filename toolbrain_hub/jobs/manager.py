"""The run manager: the run registry plus the launchers, with a queue for local runs.

`RunManager` creates run records, starts at most `max_local_runs` local trainings at a time (the others wait as
"queued"), refreshes statuses, reads logs and cancels, always on behalf of an owner who only sees their own runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..runs.folder import CONFIG_FILE
from .hf_jobs import HFJobsLauncher
from .launchers import Launcher, LocalLauncher
from .registry import LauncherError, RunRecord, RunRegistry, now_iso

__all__ = ["RunManager"]


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

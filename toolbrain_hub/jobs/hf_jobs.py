"""Training on Hugging Face hardware: the `HFJobsLauncher`, and what the job runs inside (`run_job_inside`).

`HFJobsLauncher` runs the same training command as a local run on Hugging Face hardware through
`huggingface_hub.run_job`, with exactly the code that launched it: at launch a wheel of the running source tree and
its pinned requirements are uploaded to `.toolbrain/job/` of the user's `push_to` repo (`toolbrain_hub.jobs.code`),
and the job's bootstrap downloads them at that commit, checks their sha256 (refusing to run on a mismatch), installs
the pins then the wheel, and hands over to `python -m toolbrain_hub.jobs.hf_jobs job`, which writes the config, runs
the same `train` command (the task dataset is pulled from the Hub by the training itself), and publishes the run
(adapter, agent spec, model card, curves) to `push_to` with `toolbrain_hub.publish` before the job ends: the job's
disk is ephemeral. The user's token goes to the job as a secret, never into the config, the env or a file. A timeout
is always set. A failed job's message quotes the log's error line (never a progress line); a canceled job's final log
is kept in the run folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..runs.folder import CONFIG_FILE, JOB_LOG
from .child_env import child_environment
from .launchers import Launcher, _failure_cause, _tail, train_command
from .registry import ACTIVE, TERMINAL, LauncherError, RunRecord, now_iso

__all__ = ["DEFAULT_JOB_IMAGE", "DEFAULT_JOB_TIMEOUT", "HFJobsLauncher", "run_job_inside"]

# A CUDA image with Python and pip; the bootstrap installs the pinned requirements and the launching code's wheel.
DEFAULT_JOB_IMAGE = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"
DEFAULT_JOB_TIMEOUT = "2h"
DEFAULT_FLAVOR = "a10g-small"
# HF Jobs stages -> run states.
_JOB_STATES = {"SCHEDULING": "starting", "RUNNING": "running", "COMPLETED": "completed", "ERROR": "failed",
               "CANCELED": "canceled", "DELETED": "canceled"}

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
        from ..config.base import TrainConfig
        from ..hub.repos import full_repo_id, repo_url, resolve_token
        from ..models.builtin import DEFAULT_MODEL
        from .code import BOOTSTRAP, ship_code

        if not token:
            token = resolve_token(None)
        config = TrainConfig.from_dict(record.config)
        self.check(config, token=token)
        push_to = full_repo_id(config.push_to, token)
        # The code the job installs: this source tree's wheel and pins, in the user's own repo, checked by sha256.
        models = {config.model, getattr(config, "teacher", None), config.simulator,
                  config.judge.model if config.judge else None}
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
    from ..models.builtin import BUILTIN_MODELS

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
    from ..publishing.publisher import publish

    try:
        result = publish(run_dir, repo, private=os.environ.get("TOOLBRAIN_HUB_PRIVATE") == "1")
    except Exception as err:  # noqa: BLE001 - the job's log is where the user reads why
        print(f"error: publishing to {repo} failed: {err}", flush=True)
        return 1
    print(f"toolbrain-hub job: published the agent to {result.url_or_path}", flush=True)
    return 0

# ---------------------------------------------------------------------------------------------------------------------
# the entry point the job's bootstrap runs (`jobs.code.BOOTSTRAP`)


def main(argv: list[str] | None = None) -> int:
    """`python -m toolbrain_hub.jobs.hf_jobs job` (run inside an HF Job, after its bootstrap)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["job"]:
        return run_job_inside()
    print("usage: python -m toolbrain_hub.jobs.hf_jobs job", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

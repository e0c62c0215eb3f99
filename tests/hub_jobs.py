"""HF Jobs on the Hub test server: the Jobs API routes the unmodified `huggingface_hub` 2.4 client calls, with jobs
that really run, as local processes.

Routes (registered on a `hub_server.HubApp` by `install_jobs_api`), as `HfApi.run_job`, `list_jobs`,
`inspect_job`, `fetch_job_logs` and `cancel_job` call them:

    POST /api/jobs/{namespace}                   run: body {command, arguments, environment, secrets, flavor,
                                                 timeoutSeconds, labels, dockerImage|spaceId} -> JobInfo JSON
    GET  /api/jobs/{namespace}?stage=&label=k=v  list -> [JobInfo]
    GET  /api/jobs/{namespace}/{job_id}          inspect -> JobInfo
    GET  /api/jobs/{namespace}/{job_id}/logs     logs as server-sent events `data: {"data", "timestamp"}`; with a
                                                 running job the answer waits up to `logs_wait` seconds for it to end
                                                 (the client re-asks until the job is in a terminal stage)
    POST /api/jobs/{namespace}/{job_id}/cancel   cancel

A job's `command` runs in a fresh temporary folder with a clean environment (`base_env` + the job's environment +
its secrets), as a container would. The Docker image is recorded but not used: each job gets a fresh Python of its
own instead (`PythonImage`: a virtual environment first on PATH that sees this environment's dependencies but not
toolbrain_hub), so a job must install toolbrain_hub itself, as on a real image, and what it installs stays in its
own folder. Stages follow the Hub: SCHEDULING -> RUNNING -> COMPLETED | ERROR (exit code
!= 0, or the timeout) | CANCELED. Secrets are never echoed back (JobInfo lists their names only) and never logged.
Only the namespace's own user may run, see or cancel its jobs (403 for another namespace).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub_server import HTTPError, HubApp, Request, Response, json_response

TERMINAL = ("COMPLETED", "ERROR", "CANCELED", "DELETED")


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


@dataclass
class Job:
    id: str
    namespace: str
    spec: dict
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stage: str = "SCHEDULING"
    message: str | None = None
    events: list[tuple[float, str]] = field(default_factory=list)  # (time, line)
    proc: subprocess.Popen | None = None
    done: threading.Event = field(default_factory=threading.Event)
    root: Path | None = None  # the job's folder: its working directory, and its Python in root / "python"

    def to_json(self) -> dict:
        spec = self.spec
        owner_id = f"{abs(hash(self.namespace)) % 16**24:024x}"
        return {
            "id": self.id, "createdAt": iso(self.created), "startedAt": iso(self.started),
            "finishedAt": iso(self.finished), "dockerImage": spec.get("dockerImage"), "spaceId": spec.get("spaceId"),
            "command": spec.get("command"), "arguments": spec.get("arguments") or [],
            "environment": spec.get("environment") or {},
            "secrets": {name: None for name in spec.get("secrets") or {}},  # names only, like the Hub
            "flavor": spec.get("flavor") or "cpu-basic", "labels": spec.get("labels"),
            "status": {"stage": self.stage, "message": self.message},
            "owner": {"id": owner_id, "name": self.namespace, "type": "user"},
            "initiator": {"type": "user", "id": owner_id, "name": self.namespace},
        }


class PythonImage:
    """What a job's Docker image gives it here: a Python with pip and the pinned dependencies, without toolbrain_hub.

    Each job gets a fresh virtual environment (`venv --without-pip` on this interpreter's base Python). A `.pth` file
    in it adds a view of this environment's site-packages, symlinks to every entry except toolbrain_hub's own (its
    package, dist-info and editable-install hook, `space`, `datasets_cards`) and `.pth` files, so `import
    toolbrain_hub` fails there until the job installs it, `pip install -r requirements.txt` finds the pins already
    satisfied ("the image has them", nothing is downloaded: `base_env` sets PIP_NO_INDEX), and pip, imported from
    the view, installs into the job's own venv only.

    Args:
        root: Where the view is made.
    """

    _OWN = {"toolbrain_hub", "space", "datasets_cards"}  # the project's top-level packages

    def __init__(self, root: Path):
        self.view = Path(root) / "site-packages-view"
        self.view.mkdir(parents=True, exist_ok=True)
        site = Path(sysconfig.get_paths()["purelib"])
        for entry in site.iterdir():
            name = entry.name
            if (name in self._OWN or name.startswith(("toolbrain_hub-", "__editable__")) or name.endswith(".pth")
                    or name == "__pycache__"):
                continue
            (self.view / entry.name).symlink_to(entry)
        self.base_python = getattr(sys, "_base_executable", sys.executable)

    def create(self, dest: Path) -> Path:
        """A fresh Python at `dest`; returns its bin folder (first on the job's PATH)."""
        subprocess.run([self.base_python, "-m", "venv", "--without-pip", str(dest)], check=True)
        env_site = Path(sysconfig.get_path("purelib", vars={"base": str(dest), "platbase": str(dest)}))
        (env_site / "image-packages.pth").write_text(f"{self.view}\n", encoding="utf-8")
        return dest / "bin"


class JobsAPI:
    """The Jobs part of the test Hub: state, runner and route handlers.

    Args:
        app: The `HubApp` whose users and auth the jobs share.
        base_env: The environment every job starts from (default: `default_base_env()`); each job's own Python
            (`PythonImage`) goes first on its PATH.
        logs_wait: Seconds a logs request on a running job waits for the job before answering.
    """

    def __init__(self, app: HubApp, *, base_env: dict[str, str] | None = None, logs_wait: float = 2.0):
        self.app = app
        self.base_env = dict(base_env if base_env is not None else default_base_env())
        self.logs_wait = logs_wait
        self.jobs: dict[str, Job] = {}
        self.lock = threading.RLock()
        self.workdir = Path(tempfile.mkdtemp(prefix="toolbrain-test-jobs-"))
        self.image = PythonImage(self.workdir)

    # -- routes --

    def routes(self) -> list[tuple[str, str, object, bool]]:
        ns = r"/api/jobs/(?P<namespace>[^/]+)"
        return [
            ("POST", ns, self.run, True),
            ("GET", ns, self.list, True),
            ("GET", rf"{ns}/(?P<job_id>[0-9a-f]+)", self.inspect, True),
            ("GET", rf"{ns}/(?P<job_id>[0-9a-f]+)/logs", self.logs, False),  # may wait: must not hold the Hub lock
            ("POST", rf"{ns}/(?P<job_id>[0-9a-f]+)/cancel", self.cancel, True),
        ]

    def _namespace(self, request: Request) -> str:
        user = HubApp._require_user(request)
        namespace = request.params["namespace"]
        if namespace != user:
            raise HTTPError(403, f"You don't have the rights to use Jobs in the namespace {namespace}")
        return namespace

    def _job(self, request: Request) -> Job:
        namespace = self._namespace(request)
        with self.lock:
            job = self.jobs.get(request.params["job_id"])
        if job is None or job.namespace != namespace:
            raise HTTPError(404, "Job not found")
        return job

    def run(self, request: Request) -> Response:
        namespace = self._namespace(request)
        spec = request.json()
        command = spec.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise HTTPError(400, "command must be a non-empty list of strings")
        if not (spec.get("dockerImage") or spec.get("spaceId")):
            raise HTTPError(400, "dockerImage or spaceId is required")
        timeout = spec.get("timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
            raise HTTPError(400, "timeoutSeconds must be a positive integer")
        job = Job(id=secrets.token_hex(12), namespace=namespace, spec=spec)
        with self.lock:
            self.jobs[job.id] = job
        threading.Thread(target=self._execute, args=(job,), name=f"job-{job.id}", daemon=True).start()
        return json_response(job.to_json())

    def list(self, request: Request) -> Response:
        namespace = self._namespace(request)
        stages = {s.upper() for s in request.query.get("stage", [])}
        labels = [item.partition("=") for item in request.query.get("label", [])]
        with self.lock:
            jobs = [j for j in self.jobs.values() if j.namespace == namespace]
        jobs = [j for j in jobs if (not stages or j.stage in stages)
                and all((j.spec.get("labels") or {}).get(k) == v for k, _, v in labels)]
        return json_response([j.to_json() for j in sorted(jobs, key=lambda j: j.created, reverse=True)])

    def inspect(self, request: Request) -> Response:
        return json_response(self._job(request).to_json())

    def logs(self, request: Request) -> Response:
        job = self._job(request)
        if job.stage not in TERMINAL:
            job.done.wait(self.logs_wait)
        with self.lock:
            events = [(job.created, f"===== Job started at {iso(job.started or job.created)} =====")] + job.events
        tail = request.arg("tail")
        if tail is not None and tail.isdigit():
            events = events[-int(tail):]
        body = "".join(f"data: {json.dumps({'data': line, 'timestamp': iso(t)})}\n\n" for t, line in events)
        return Response(200, body.encode(), {"Content-Type": "text/event-stream"})

    def cancel(self, request: Request) -> Response:
        job = self._job(request)
        with self.lock:
            if job.stage in TERMINAL:
                return json_response(job.to_json())
            job.stage, job.message = "CANCELED", "Canceled by the user"
            proc = job.proc
        if proc is not None:
            _kill_group(proc)
        return json_response(job.to_json())

    # -- the runner --

    def _execute(self, job: Job) -> None:
        spec = job.spec
        env = {**self.base_env, **(spec.get("environment") or {}), **(spec.get("secrets") or {})}
        cwd = job.root = self.workdir / job.id
        cwd.mkdir(parents=True)
        env.setdefault("HOME", str(cwd))
        with self.lock:
            if job.stage == "CANCELED":
                job.finished = time.time()
                job.done.set()
                return
            try:
                env["PATH"] = os.pathsep.join([str(self.image.create(cwd / "python")), env.get("PATH", "")])
                job.proc = subprocess.Popen(spec["command"] + list(spec.get("arguments") or []), cwd=cwd, env=env,
                                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            except (OSError, subprocess.CalledProcessError) as err:
                job.stage, job.message, job.finished = "ERROR", f"Could not start the command: {err}", time.time()
                job.done.set()
                return
            job.stage, job.started = "RUNNING", time.time()
        timeout = spec.get("timeoutSeconds")
        timer = None
        if timeout:
            timer = threading.Timer(timeout, self._time_out, args=(job,))
            timer.daemon = True
            timer.start()
        assert job.proc.stdout is not None
        for raw in job.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self.lock:
                job.events.append((time.time(), line))
        returncode = job.proc.wait()
        if timer is not None:
            timer.cancel()
        with self.lock:
            if job.stage == "RUNNING":
                if returncode == 0:
                    job.stage = "COMPLETED"
                else:
                    job.stage, job.message = "ERROR", f"Job failed with exit code: {returncode}"
            job.finished = time.time()
        job.done.set()

    def _time_out(self, job: Job) -> None:
        with self.lock:
            if job.stage != "RUNNING":
                return
            job.stage, job.message = "ERROR", f"Job timeout: it ran longer than {job.spec['timeoutSeconds']} s"
        if job.proc is not None:
            _kill_group(job.proc)

    def stop(self) -> None:
        """Kill every job still running (end of the test session)."""
        with self.lock:
            procs = [j.proc for j in self.jobs.values() if j.proc is not None and j.proc.poll() is None]
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def default_base_env() -> dict[str, str]:
    """A container-like environment: system paths (each job's Python goes first), one thread, no xet, and pip
    without an index (the image holds the pins; nothing may be downloaded)."""
    env = {"PATH": os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"]), "OMP_NUM_THREADS": "1",
           "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "LANG": "C.UTF-8", "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # The built-in models are prepared once per machine; a job reuses that cache like an image that ships them.
    from toolbrain_hub.models import cache_dir

    env["TOOLBRAIN_HUB_CACHE"] = str(cache_dir())
    return env


def install_jobs_api(app: HubApp, **kwargs) -> JobsAPI:
    """Register the Jobs routes on `app` (once; later calls return the same `JobsAPI`)."""
    existing = getattr(app, "jobs_api", None)
    if existing is not None:
        return existing
    api = JobsAPI(app, **kwargs)
    for method, pattern, handler, locked in api.routes():
        app.add_route(method, pattern, handler, locked=locked)
    app.jobs_api = api
    return api

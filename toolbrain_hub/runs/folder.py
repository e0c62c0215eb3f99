"""The run folder: its file names, `RunFolder` (paths and writers), and the readers of its status and metrics.

A run folder holds everything a run produces, so nothing is lost and a UI can follow it by polling files:

    <run>/config.yaml        the resolved config
    <run>/status.json        {"state": "running"|"completed"|"failed", "step", "total", "error", ...}
    <run>/metrics.jsonl      one row per logged step (each reward's mean/std, loss, KL, tool-call and failure
                             frequency, tokens/s, step time, judge stats); rows are unique by (phase, step)
    <run>/traces.jsonl       sampled rollouts (GRPO), rollouts and pairs (DPO), teacher traces (distill), the
                             native-format warm-up's own rollouts (GRPO with native_format_steps)
    <run>/train.log          the log
    <run>/checkpoints/       resumable trainer checkpoints (adapter, optimizer, scheduler, RNG, trainer state)
    <run>/adapter/           the final LoRA adapter, the tokenizer and the agent spec (agent_spec.json)
    <run>/eval.json          the before/after evaluation `publish` puts on the model card (+ eval.md and
                             eval_comparison.png beside it)
    <run>/eval/              each evaluation whole: before/ and after/ (eval.json, traces.jsonl, eval.md), and
                             their comparison again

Every file name of the run folder is defined here, and only here. Nothing here imports torch or transformers: the
Space, the launchers and `publish` read run folders cheaply.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from ..jsonl import iter_jsonl, read_jsonl

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
TRACES_FILE = "traces.jsonl"
LOG_FILE = "train.log"
CONFIG_FILE = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
PHASES_FILE = "phases.json"
# An evaluation's files (`evaluation.EvalResult.save`, `evaluation.Comparison.save`), in the run folder and in
# <run>/eval/before and <run>/eval/after (each with its own TRACES_FILE).
EVAL_FILE = "eval.json"
EVAL_MARKDOWN = "eval.md"
EVAL_PLOT = "eval_comparison.png"
EVAL_DIR = "eval"
EVAL_BEFORE = "before"
EVAL_AFTER = "after"
# Written beside the training's files by the data phases and by the app's launchers and registry.
PAIRS_FILE = "dpo_pairs.jsonl"  # DPO's on-policy pairs, so a resumed run trains on the same pairs
TEACHER_FILE = "teacher_traces.jsonl"  # distillation's kept teacher traces
JUDGE_AUDIT_FILE = "judge_audit.json"  # the answer judge's audit before training (`rewards.answer_judge.audit_judge`)
NATIVE_FILE = "native_format_traces.jsonl"  # GRPO's native-format warm-up: the policy's kept own episodes
RECORD_FILE = "run.json"  # the registry's record of the run (`jobs.registry.RunRecord`)
LAUNCHER_LOG = "launcher.log"  # a local run's process output
EXIT_FILE = "exit.json"  # a local run's exit code, written by its supervisor
JOB_LOG = "job.log"  # an HF Jobs run's log, fetched from the job


# ---------------------------------------------------------------------------------------------------------------------
# the run folder


class RunFolder:
    """Paths and writers of one run folder. Only the main process writes (multi-GPU runs share one folder).

    Args:
        root: The run folder (created if missing).
        main_process: Whether this process writes files.
    """

    def __init__(self, root: str | Path, *, main_process: bool = True):
        self.root = Path(root)
        self.main_process = main_process
        if main_process:
            self.root.mkdir(parents=True, exist_ok=True)
        self._status: dict[str, Any] = {}

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics_file(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def traces_file(self) -> Path:
        return self.root / TRACES_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    @property
    def status_file(self) -> Path:
        return self.root / STATUS_FILE

    @property
    def adapter_dir(self) -> Path:
        return self.root / ADAPTER_DIR

    @property
    def eval_file(self) -> Path:
        return self.root / EVAL_FILE

    @property
    def eval_dir(self) -> Path:
        return self.root / EVAL_DIR

    def checkpoints_dir(self, phase: str | None = None) -> Path:
        return self.root / CHECKPOINTS_DIR / phase if phase else self.root / CHECKPOINTS_DIR

    def last_checkpoint(self, phase: str | None = None) -> Path | None:
        """The newest complete `checkpoint-N` folder of a phase, or None."""
        folder = self.checkpoints_dir(phase)
        if not folder.is_dir():
            return None
        done = []
        for path in folder.glob("checkpoint-*"):
            # A checkpoint counts once its trainer state is written (the Trainer writes it last).
            if path.is_dir() and path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file():
                done.append((int(path.name.split("-")[-1]), path))
        return max(done)[1] if done else None

    # -- phases (multi-phase runs: teacher traces -> sft -> grpo; rollouts -> dpo) --

    @property
    def phases_file(self) -> Path:
        return self.root / PHASES_FILE

    def phases(self) -> dict[str, dict[str, Any]]:
        """{phase: {"offset": first run step, "done": bool, "end_step": last run step}} in run order."""
        if not self.phases_file.is_file():
            return {}
        return json.loads(self.phases_file.read_text(encoding="utf-8"))

    def mark_phase(self, phase: str, **fields: Any) -> None:
        if not self.main_process:
            return
        phases = self.phases()
        phases.setdefault(phase, {}).update(fields)
        _atomic_write(self.phases_file, json.dumps(phases, indent=2))

    def phase_done(self, phase: str) -> bool:
        return bool(self.phases().get(phase, {}).get("done"))

    def trim_for_resume(self) -> dict[str, int]:
        """Before a resumed run appends: keep the metrics/trace rows its checkpoints account for, drop the rest.

        A finished phase keeps all its rows; an unfinished one keeps rows up to its last checkpoint (later rows are
        redone by the resumed run); a row cut by the kill is dropped. Returns {phase: last step kept}.
        """
        limits: dict[str, int] = {}
        for phase, info in self.phases().items():
            if info.get("done"):
                limits[phase] = int(info.get("end_step", 0))
            elif "checkpoints" in info:  # a training phase: up to its last checkpoint
                sub = info.get("checkpoints")
                limits[phase] = int(info.get("offset", 0)) + checkpoint_step(self.last_checkpoint(sub))
            else:  # an unfinished data phase (rollouts, teacher traces) is redone whole
                limits[phase] = -1
        kept = self.keep_rows_up_to(self.metrics_file, limits)
        self.keep_rows_up_to(self.traces_file, limits)
        logger.info("resume: kept %d metrics rows (last step per phase: %s)", kept, limits)
        return limits

    # -- status --

    def write_status(self, state: str | None = None, **fields: Any) -> dict[str, Any]:
        """Update status.json atomically (write + rename), so a poller never reads half a file."""
        if state is not None:
            self._status["state"] = state
        self._status.update(fields)
        self._status["updated_at"] = time.time()
        if self.main_process:
            _atomic_write(self.status_file, json.dumps(self._status, indent=2, default=str))
        return dict(self._status)

    # -- metrics and traces --

    def append_jsonl(self, path: Path, rows: list[dict[str, Any]]) -> None:
        if not self.main_process or not rows:
            return
        with path.open("a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def keep_rows_up_to(self, path: Path, steps: dict[str, int]) -> int:
        """Rewrite a JSONL file keeping, per phase, the rows with step <= steps[phase] (one per step and kind).

        Called on resume: rows written after the checkpoint are redone by the resumed run, and a row cut by a kill
        (a partial last line) is dropped, so no step is lost or counted twice. Returns the number of rows kept.
        """
        if not self.main_process or not path.is_file():
            return 0
        kept: dict[tuple, dict] = {}
        for _, row in iter_jsonl(path, skip_invalid=True, rows="a row"):  # a line cut by the kill is dropped
            phase = row.get("phase", "train")
            limit = steps.get(phase, 0)
            step = row.get("step")
            if isinstance(step, int) and step <= limit:
                key = (phase, step, row.get("kind", "train"), row.get("index"))
                kept[key] = row  # the last write of a step wins
        rows = sorted(kept.values(), key=lambda r: r.get("step", 0))  # stable: order within a step is kept
        _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n" for r in rows))
        return len(rows)


def checkpoint_step(checkpoint: Path | None) -> int:
    """The global step a trainer checkpoint was saved at (0 for None)."""
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("global_step", 0))


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """A run's status for a UI: status.json, with a "running" run whose process is gone reported as "failed".

    Args:
        run_dir: The run folder.
    """
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return {"state": "missing", "error": f"no {STATUS_FILE} in {run_dir}"}
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return {"state": "unknown", "error": f"unreadable {STATUS_FILE}: {e}"}
    if status.get("state") == "running" and status.get("host") == socket.gethostname() and status.get("pid"):
        try:
            os.kill(int(status["pid"]), 0)
        except ProcessLookupError:
            status["state"] = "failed"
            status["error"] = (f"the training process (pid {status['pid']}) exited without finishing; resume with "
                               f"--resume true --output_dir {run_dir}")
        except PermissionError:
            pass
    return status



def metric_value(value: Any) -> float | None:
    """A metric's value as a float, or None for anything that is not a finite number (missing, NaN, a flag, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def read_metrics(source: str | Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """The metrics rows of a run: the one reader of metrics.jsonl (the Space, plots and `publish` use it).

    Args:
        source: A run folder, or a metrics file.
        strict: For a file given by a user: a missing file and a bad line raise. Otherwise (a run being written or
            killed) a missing file is no rows and a partial or non-object line is skipped.

    Raises:
        FileNotFoundError: (strict) no metrics file there.
        jsonl.JsonlError: (strict, a ValueError) naming the file and line of a row that is not a JSON object.
    """
    path = Path(source)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        if strict:
            raise FileNotFoundError(f"no metrics file at {path} (a training run writes {METRICS_FILE} in its folder)")
        return []
    return read_jsonl(path, skip_invalid=not strict, rows="a metrics row")


def run_metrics(run_dir: str | Path, log_text: str | None = None) -> list[dict[str, Any]]:
    """The metrics rows to draw for a run: its metrics.jsonl, or, while that file is elsewhere (an HF Jobs run keeps
    it in its container until it publishes), the rows its log lines carry (`metrics_from_log`).

    Args:
        run_dir: The run folder.
        log_text: The run's log, read when the folder has no metrics file (None: no fallback).
    """
    if (Path(run_dir) / METRICS_FILE).is_file() or not log_text:
        return read_metrics(run_dir)
    return metrics_from_log(log_text)


def is_run_folder(path: str | Path) -> bool:
    """Whether `path` is a training run's folder (it has a status file or a final adapter)."""
    folder = Path(path)
    return folder.is_dir() and ((folder / STATUS_FILE).is_file() or (folder / ADAPTER_DIR).is_dir())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


_STEP_LINE = re.compile(r"\bstep (\d+)/\S+ ((?:[\w/.-]+=\S+ ?)+)\s*$")


def metrics_from_log(text: str) -> list[dict[str, Any]]:
    """The training metric rows of a run recovered from its log: the `step N/T key=value ...` lines `RunCallback`
    writes (values rounded to 4 significant digits).

    For a run whose metrics.jsonl lives elsewhere, e.g. in an HF Jobs container: its log is all a watcher sees
    until the job publishes. Later lines for the same step (a resumed run) replace earlier ones.

    Args:
        text: The log (train.log, or the job's stdout/stderr).
    """
    rows: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        match = _STEP_LINE.search(line)
        if not match:
            continue
        row: dict[str, Any] = {"step": int(match.group(1)), "kind": "train"}
        for pair in match.group(2).split():
            key, _, value = pair.partition("=")
            try:
                row[key] = float(value)
            except ValueError:
                row[key] = {"True": True, "False": False}.get(value, value)
        rows[row["step"]] = row
    return [rows[step] for step in sorted(rows)]

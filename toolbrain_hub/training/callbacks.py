"""What a training run reports while it trains: train.log (`RunLog`), one metrics row per logged step with sampled
rollouts, status.json and the eval cadence (`RunCallback`), the zero-variance alarm (`ZeroVarianceMonitor`) and the
progress bar (`ProgressBar`).

The run folder these write to (file names, `RunFolder`, status and metrics readers) is `toolbrain_hub.runs.folder`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import deque
from typing import Any

from transformers import TrainerCallback

from ..runs.folder import RunFolder

logger = logging.getLogger("toolbrain_hub.training")


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class RunLog:
    """Sends the library's, TRL's and transformers' log records to <run>/train.log.

    When the application has not configured logging, the library's warnings (the zero-variance alarm, dropped
    tasks, fallbacks) also go to stderr, as Python would show them without the file handler. Where stderr is not a
    terminal (HF Jobs, CI, `nohup`), the progress bar is off, so the library's INFO lines go there too: one line per
    step with its metrics, which is also what draws a job's live curves (`metrics_from_log`).
    """

    LOGGERS = ("toolbrain_hub", "trl", "transformers", "peft", "accelerate")

    def __init__(self, run: RunFolder):
        self.handler: logging.Handler | None = None
        self.console: logging.Handler | None = None
        if run.main_process:
            self.handler = logging.FileHandler(run.log_file, encoding="utf-8")
            self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self.handler.setLevel(logging.INFO)
            library = logging.getLogger("toolbrain_hub")
            if not logging.getLogger().handlers and not library.handlers:
                self.console = logging.StreamHandler()
                self.console.setLevel(logging.WARNING if _is_terminal(sys.stderr) else logging.INFO)
                self.console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        self._levels: dict[str, int] = {}

    def __enter__(self) -> RunLog:
        if self.handler is not None:
            for name in self.LOGGERS:
                log = logging.getLogger(name)
                self._levels[name] = log.level
                if log.getEffectiveLevel() > logging.INFO and name == "toolbrain_hub":
                    log.setLevel(logging.INFO)
                log.addHandler(self.handler)
            if self.console is not None:
                logging.getLogger("toolbrain_hub").addHandler(self.console)
        return self

    def __exit__(self, *exc) -> None:
        if self.handler is not None:
            for name in self.LOGGERS:
                log = logging.getLogger(name)
                log.removeHandler(self.handler)
                log.setLevel(self._levels.get(name, logging.NOTSET))
            if self.console is not None:
                logging.getLogger("toolbrain_hub").removeHandler(self.console)
            self.handler.close()


class ZeroVarianceMonitor:
    """Watches the fraction of GRPO groups whose rewards were all equal (zero advantage: nothing learned).

    Warns loudly (a WARNING in the log and on stderr, and `zero_variance/alarm` = 1 in the metrics) when, over the
    last `window` logged steps, more than `threshold` of the groups had zero reward variance. The usual cause is
    that no tool call was recognized, so every rollout scored the same.

    Args:
        threshold: Fraction of zero-variance groups above which to warn.
        window: Number of logged steps to average over.
    """

    def __init__(self, threshold: float = 0.5, window: int = 10):
        self.threshold = threshold
        self.window = window
        self.values: deque[float] = deque(maxlen=window)
        self.calls: deque[float] = deque(maxlen=window)
        self.warnings = 0
        self._last_warned_step: int | None = None

    def update(self, step: int, logs: dict[str, Any]) -> dict[str, float]:
        """Feed one log row; returns the metrics to add to it."""
        frac = logs.get("frac_reward_zero_std")
        if not isinstance(frac, int | float) or math.isnan(frac):
            return {}
        self.values.append(float(frac))
        calls = logs.get("tools/call_frequency")
        if isinstance(calls, int | float) and not math.isnan(calls):
            self.calls.append(float(calls))
        mean = sum(self.values) / len(self.values)
        enough = len(self.values) >= min(self.window, 3)
        alarm = enough and mean > self.threshold
        if alarm and (self._last_warned_step is None or step - self._last_warned_step >= self.window):
            self._last_warned_step = step
            self.warnings += 1
            calls_mean = sum(self.calls) / len(self.calls) if self.calls else None
            cause = ""
            if calls_mean is not None and calls_mean == 0:
                cause = (" No tool call was recognized in any rollout: check that the model writes calls the parser "
                         "reads (tagged, fenced or bare JSON) and that max_completion_length leaves room for one.")
            elif calls_mean is not None:
                cause = f" Tool calls per rollout: {calls_mean:.2f}."
            logger.warning(
                "ZERO-VARIANCE REWARDS at step %d: in %.0f%% of the groups over the last %d logged steps every "
                "rollout of a task got the same reward, so GRPO's advantages are zero and nothing is learned.%s "
                "Consider more generations per task, a higher temperature, or rewards that separate the rollouts "
                "(partial credit, a judge).", step, 100 * mean, len(self.values), cause)
        return {"zero_variance/frac_groups": mean, "zero_variance/alarm": 1.0 if alarm else 0.0}


class RunCallback(TrainerCallback):
    """Writes metrics rows, sampled traces and status for one training phase, and runs the eval cadence.

    Args:
        run: The run folder.
        phase: Phase name written in every row ("train" for single-phase runs; "sft"/"grpo" in distillation).
        step_offset: Added to the trainer's step (steps of earlier phases), so steps increase over the run.
        total_steps: Steps of the whole run, for status.json.
        zero_variance: A monitor for GRPO, or None.
        trace_samples: Rollouts per logged step to write to traces.jsonl (GRPO; read from the trainer's logs).
        task_ids: {query: task id}, to record which task a sampled rollout ran.
        evaluate: Called as `evaluate(model, step)` before training, every `eval_steps` steps and at the end;
            returns a dict of metrics, written as an "eval" row with `eval/` keys.
        eval_steps: Evaluation cadence (0: never during training).
    """

    def __init__(self, run: RunFolder, *, phase: str = "train", step_offset: int = 0, total_steps: int | None = None,
                 zero_variance: ZeroVarianceMonitor | None = None, trace_samples: int = 0,
                 evaluate: Any = None, eval_steps: int = 0, task_ids: dict[str, str] | None = None):
        self.run = run
        self.phase = phase
        self.step_offset = step_offset
        self.total_steps = total_steps
        self.zero_variance = zero_variance
        self.trace_samples = trace_samples
        self.evaluate = evaluate
        self.eval_steps = eval_steps
        self.task_ids = task_ids or {}  # query -> task id, to name the task of a sampled rollout
        self.trainer = None  # set by `attach`, to read sampled rollouts
        self.last_row: dict[str, Any] = {}
        self._step_start: float | None = None
        self._step_times: list[float] = []
        self._last_tokens: tuple[float, float] | None = None  # (num_tokens, time)

    def attach(self, trainer) -> RunCallback:
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_tokens = None
        self.run.write_status("running", phase=self.phase, step=self.step_offset + state.global_step,
                              total=self.total_steps)
        # The "before" evaluation, at the run's first step only: a later phase starts where the last one's final
        # evaluation left off.
        if self.evaluate is not None and self.eval_steps and state.global_step == 0 and self.step_offset == 0:
            self.run_eval(kwargs.get("model"), 0)

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_start is not None:
            self._step_times.append(time.perf_counter() - self._step_start)
            self._step_start = None
        step = self.step_offset + state.global_step
        self.run.write_status(step=step)
        if self.evaluate is not None and self.eval_steps and state.global_step % self.eval_steps == 0:
            self.run_eval(kwargs.get("model"), state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        # The "after" evaluation, unless the cadence just ran it.
        if self.evaluate is not None and self.eval_steps and state.global_step % self.eval_steps:
            self.run_eval(kwargs.get("model"), state.global_step)

    def run_eval(self, model, trainer_step: int) -> dict[str, Any]:
        step = self.step_offset + trainer_step
        start = time.perf_counter()
        metrics = self.evaluate(model, step) or {}
        row = {"step": step, "phase": self.phase, "kind": "eval", "time": time.time(),
               "eval_time_s": time.perf_counter() - start, **{f"eval/{k}": v for k, v in metrics.items()}}
        self.run.append_jsonl(self.run.metrics_file, [row])
        logger.info("eval at step %d: %s", step, _short_metrics(metrics))
        return row

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            self.run.write_status(summary={k: v for k, v in logs.items() if isinstance(v, int | float)})
            return
        step = self.step_offset + state.global_step
        now = time.time()
        row: dict[str, Any] = {"step": step, "phase": self.phase, "kind": "eval" if _is_eval(logs) else "train",
                               "time": now}
        for key, value in logs.items():
            if isinstance(value, int | float | str | bool) or value is None:
                row[key] = value
        if row["kind"] == "train":
            if self._step_times:
                row.setdefault("step_time", sum(self._step_times) / len(self._step_times))
                self._step_times = []
            tokens = logs.get("num_tokens", logs.get("num_input_tokens_seen"))
            if isinstance(tokens, int | float):
                if self._last_tokens is not None and now > self._last_tokens[1]:
                    row["tokens_per_s"] = (tokens - self._last_tokens[0]) / (now - self._last_tokens[1])
                elif row.get("step_time"):
                    # first row: tokens of the steps so far over their time
                    done = max(state.global_step, 1)
                    row["tokens_per_s"] = tokens / (row["step_time"] * done)
                self._last_tokens = (float(tokens), now)
            if self.zero_variance is not None:
                row.update(self.zero_variance.update(step, logs))
        self.run.append_jsonl(self.run.metrics_file, [row])
        self.last_row = row
        if row["kind"] == "train":
            self.run.write_status(step=step, total=self.total_steps, last_metrics=_headline(row))
            self.run.append_jsonl(self.run.traces_file, self._sampled_traces(step))
            logger.info("step %d/%s %s", step, self.total_steps or "?", _short_metrics(row))

    def _sampled_traces(self, step: int) -> list[dict[str, Any]]:
        """Up to `trace_samples` rollouts of the last generation batch, from GRPOTrainer's completion log."""
        logs = getattr(self.trainer, "_logs", None)
        if not self.trace_samples or not isinstance(logs, dict) or not logs.get("completion"):
            return []
        from ..traces.trace import Trace

        prompts, completions = list(logs["prompt"]), list(logs["completion"])
        advantages = list(logs.get("advantages", []))
        rewards = {name: list(values) for name, values in logs.get("rewards", {}).items()}
        n = len(completions)
        picks = sorted({round(i * (n - 1) / max(self.trace_samples - 1, 1)) for i in range(min(self.trace_samples, n))})
        rows = []
        for index in picks:
            prompt, completion = prompts[index], completions[index]
            messages = (prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]) + (
                completion if isinstance(completion, list) else [{"role": "assistant", "content": str(completion)}])
            try:
                trace = Trace.from_messages(messages, metadata={"step": step})
                trace.task_id = self.task_ids.get(trace.query)
                trace = trace.to_dict()
            except (ValueError, TypeError) as e:
                trace = {"error": f"could not build a trace: {e}"}
            rows.append({
                "step": step, "phase": self.phase, "index": index, "kind": "rollout",
                "rewards": {name: _finite(values[index]) for name, values in rewards.items() if index < len(values)},
                "advantage": _finite(advantages[index]) if index < len(advantages) else None,
                "completion": completion, "trace": trace,
            })
        return rows


class ProgressBar(TrainerCallback):
    """A tqdm bar over the run's steps showing the reward (or loss) and the step time; replaces the Trainer's."""

    def __init__(self, total: int, *, initial: int = 0, step_offset: int = 0, desc: str = "train",
                 disable: bool | None = None):
        self.total = total
        self.initial = initial
        self.step_offset = step_offset
        self.desc = desc
        self.disable = disable
        self.bar = None
        self._start = None

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(total=self.total, initial=self.step_offset + state.global_step, desc=self.desc,
                            dynamic_ncols=True, disable=self.disable, unit="step")
            self._done = self.step_offset + state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            now = self.step_offset + state.global_step
            self.bar.update(now - self._done)
            self._done = now

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs or "train_runtime" in logs:
            return
        shown = {}
        for key, label in (("reward", "reward"), ("loss", "loss"), ("step_time", "s/step"),
                           ("tools/call_frequency", "calls")):
            value = logs.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                shown[label] = f"{value:.3g}"
        if shown:
            self.bar.set_postfix(shown, refresh=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def install_callbacks(trainer, run_callback: RunCallback, progress: ProgressBar | None) -> None:
    """Add the run callback and swap the Trainer's progress printer for our bar."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    run_callback.attach(trainer)
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    if progress is not None:
        trainer.add_callback(progress)


def _is_eval(logs: dict[str, Any]) -> bool:
    return any(k.startswith("eval_") for k in logs)


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _headline(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("reward", "reward_std", "loss", "kl", "step_time", "tokens_per_s", "tools/call_frequency",
            "tools/failure_frequency", "zero_variance/alarm")
    return {k: row[k] for k in keys if k in row}


def _short_metrics(row: dict[str, Any]) -> str:
    parts = []
    for key, value in row.items():
        if key in ("step", "phase", "kind", "time", "epoch"):
            continue
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, int | bool):
            parts.append(f"{key}={value}")
    return " ".join(parts)

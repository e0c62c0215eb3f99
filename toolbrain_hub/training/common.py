"""What every algorithm shares: callbacks and progress, model loading, TRL arguments, task data, rewards, phases.

The run folder it writes (file names, `RunFolder`, status and metrics readers) is `toolbrain_hub.runs.folder`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..config.train import TrainConfig
from ..errors import ConfigError
from ..runs.folder import RunFolder, checkpoint_step
from ..tools.implementations import load_implementations

logger = logging.getLogger("toolbrain_hub.training")


# ---------------------------------------------------------------------------------------------------------------------
# logging to train.log


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False



@dataclass
class TrainResult:
    """Where a finished run put things.

    Args:
        output_dir: The run folder.
        adapter_dir: The final adapter (with the tokenizer and agent_spec.json).
        steps: Optimizer steps over all phases.
        metrics: The last metrics row.
        pushed_to: The Hub repo the agent was published to (`push_to`), if any.
    """

    output_dir: Path
    adapter_dir: Path
    steps: int
    metrics: dict[str, Any] = field(default_factory=dict)
    pushed_to: str | None = None


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


# ---------------------------------------------------------------------------------------------------------------------
# callbacks


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
        if self.evaluate is not None and self.eval_steps and state.global_step == 0:
            self.run_eval(kwargs.get("model"), 0)  # the "before" evaluation

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


# ---------------------------------------------------------------------------------------------------------------------
# devices, unsloth, model loading


def pick_device(config: TrainConfig) -> str:
    """"cuda" or "cpu" for this process (with accelerate, each process uses its own local GPU)."""
    import torch

    if config.device == "cpu":
        return "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but no CUDA GPU is visible")
    return "cuda" if torch.cuda.is_available() else "cpu"


def precision_args(device: str) -> dict[str, Any]:
    """TRL/Trainer precision flags: bf16 on a GPU that has it, fp32 on CPU (TRL defaults to bf16, an error there)."""
    import torch

    if device == "cpu":
        return {"use_cpu": True, "bf16": False, "fp16": False}
    bf16 = torch.cuda.is_bf16_supported()
    return {"use_cpu": False, "bf16": bf16, "fp16": not bf16}


def unsloth_choice(config: TrainConfig, device: str) -> tuple[bool, str]:
    """Whether to load the model with unsloth, and why (logged either way)."""
    import importlib.util

    if config.unsloth == "off":
        return False, "unsloth is off in the config: using transformers + peft"
    installed = importlib.util.find_spec("unsloth") is not None
    if device != "cuda":
        if config.unsloth == "on":
            raise ConfigError("unsloth is 'on' but there is no GPU: unsloth needs CUDA")
        return False, "unsloth skipped: no GPU (it only accelerates CUDA training); using transformers + peft"
    if not installed:
        if config.unsloth == "on":
            raise ConfigError("unsloth is 'on' but not installed: pip install -r requirements-unsloth.txt")
        return False, ("unsloth not installed: falling back to transformers + peft (for ~2x faster GPU training "
                       "install it in its own environment: pip install -r requirements-unsloth.txt)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if config.unsloth == "on":
            raise ConfigError("unsloth is 'on' but this is a multi-process run; unsloth supports one GPU")
        return False, "unsloth skipped: multi-GPU run (unsloth supports one GPU); using transformers + peft"
    return True, "unsloth found on a GPU: loading the model and LoRA with unsloth"


def lora_config(config: TrainConfig):
    from peft import LoraConfig

    targets = config.lora.target_modules
    return LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules="all-linear" if targets == ["all-linear"] else list(targets),
                      task_type="CAUSAL_LM")


def load_policy(config: TrainConfig, *, adapter: str | Path | None = None, progress: bool = True, tokenizer=None,
                prompt_tokens: int | None = None, source=None):
    """Load the policy for training: (model, tokenizer, peft_config, backend).

    With unsloth the returned model already has its LoRA adapter (peft_config is None); otherwise the trainer adds
    it from `peft_config`. With `adapter`, that adapter is loaded trainable (distillation's GRPO phase).

    Args:
        config: The run's config (model, quantization, lora, unsloth, device, threads).
        adapter: A LoRA adapter folder to continue training.
        progress: Show progress bars while preparing a built-in model.
        tokenizer: The model's tokenizer when already loaded (to measure the task prompts first); reused.
        prompt_tokens: The prompt budget (`prompt_budget`): with unsloth, its max_seq_length is this plus
            `max_completion_length` (None: unsloth's default).
        source: The run's model pinned by `locate_model` (a Hub repo at one commit); None: located here.
    """
    from ..models.loading import (
        cpu_has_bf16,
        load_tokenizer,
        locate_model,
        pick_dtype,
        quantization_config,
        set_threads,
    )

    set_threads(config.threads)
    device = pick_device(config)
    source = source or locate_model(config.model, progress=progress)
    path = source.path
    use_unsloth, reason = unsloth_choice(config, device)
    logger.info(reason)
    if use_unsloth:
        return _load_with_unsloth(config, source, adapter, prompt_tokens)

    import torch
    from transformers import AutoModelForCausalLM

    dtype = pick_dtype(config.dtype, device)
    if device == "cpu" and dtype == torch.float32 and cpu_has_bf16():
        logger.info("this CPU has bfloat16 units: dtype: bfloat16 trains about 2x faster than float32 here")
    quant = quantization_config(config.quantization, dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "revision": source.revision}
    if quant is not None:
        kwargs["quantization_config"] = quant
        # Quantized weights are placed at load time: this process's GPU, or the CPU (bitsandbytes runs there too).
        local = int(os.environ.get("LOCAL_RANK", "0"))
        kwargs["device_map"] = {"": f"cuda:{local}"} if device == "cuda" else {"": "cpu"}
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path, revision=source.revision)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as e:
        from ..models.loading import ModelError

        raise ModelError(f"Cannot load model {config.model!r}: {e}") from None
    peft_config = lora_config(config)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        peft_config = None
    return model, tokenizer, peft_config, "transformers"


def _load_with_unsloth(config: TrainConfig, source, adapter: str | Path | None, prompt_tokens: int | None):
    from unsloth import FastLanguageModel  # imported first so it can patch transformers/TRL

    from ..models.loading import pick_dtype

    options: dict[str, Any] = {} if prompt_tokens is None else {
        "max_seq_length": prompt_tokens + config.max_completion_length}
    if source.revision is not None and adapter is None:
        options["revision"] = source.revision
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(adapter or source.path), **options,
        dtype=None if config.dtype == "auto" else pick_dtype(config.dtype, "cuda"),
        load_in_4bit=config.quantization == "4bit", load_in_8bit=config.quantization == "8bit")
    if adapter is None:
        targets = config.lora.target_modules
        model = FastLanguageModel.get_peft_model(
            model, r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
            target_modules=targets if targets != ["all-linear"] else
            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False,
            random_state=config.seed)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, None, "unsloth"


def trainer_args(cls, config: TrainConfig, run: RunFolder, *, phase: str | None = None, max_steps: int | None = None,
                 **extra: Any):
    """TRL config (GRPOConfig, DPOConfig, SFTConfig) with the run's common settings.

    Args:
        cls: The TRL config class.
        config: The run's config.
        run: The run folder (checkpoints go to <run>/checkpoints[/<phase>]).
        phase: Sub-folder of the checkpoints for multi-phase runs.
        max_steps: Steps of this phase (default: config.max_steps).
        **extra: Algorithm-specific fields.
    """
    device = pick_device(config)
    args = {
        "output_dir": str(run.checkpoints_dir(phase)),
        "learning_rate": config.learning_rate,
        "max_steps": max_steps or config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps" if config.save_steps else "no",
        "save_steps": config.save_steps or 500,
        "save_total_limit": config.save_total_limit,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": "none",
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
        "save_only_model": False,
        **precision_args(device),
    }
    # transformers >= 5.20 renamed gradient checkpointing to activation checkpointing (the old name warns).
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    args[f"{prefix}_checkpointing"] = config.gradient_checkpointing
    args[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False} if config.gradient_checkpointing else None
    args.update(extra)
    return cls(**args)


# ---------------------------------------------------------------------------------------------------------------------
# tasks, tools, environment, rewards


@dataclass
class TaskData:
    """The run's tasks with their tool environment.

    Args:
        train: Training rows (the task columns, `prompt` as chat messages; `environment` when tool sets differ).
        eval: Held-out rows (the "test" split), or None.
        tool_specs: Every tool of the run.
        environment_factory: TRL's `environment_factory`: one factory, or {name: factory} routed by `environment`.
        system_prompt: The system prompt in the prompts (the agent must be run with the same).
        dropped: Tasks dropped because their prompt exceeds `max_prompt_length`.
        longest_prompt: Tokens of the longest rendered prompt kept (tools included), or None when not measured.
    """

    train: Any
    eval: Any
    tool_specs: list
    environment_factory: Any
    system_prompt: str | None = None
    dropped: int = 0
    longest_prompt: int | None = None

    def factory_for(self, row: dict[str, Any]):
        if isinstance(self.environment_factory, dict):
            return self.environment_factory[row["environment"]]
        return self.environment_factory

    def environment_for(self, row: dict[str, Any]):
        return self.factory_for(row)()

    def tools_for(self, row: dict[str, Any]) -> list[dict]:
        """The tool schemas a row's prompt is rendered with (exactly what TRL renders: the environment's methods)."""
        return [dict(schema) for schema in self.factory_for(row).tool_schemas]

    @property
    def tool_schemas(self) -> list[dict]:
        """Every tool as the chat template renders it in training (for the agent spec)."""
        factories = self.environment_factory.values() if isinstance(self.environment_factory, dict) else [
            self.environment_factory]
        seen: dict[str, dict] = {}
        for factory in factories:
            for schema in factory.tool_schemas:  # {"type": "function", "function": {"name": ...}}
                seen.setdefault(schema["function"]["name"], dict(schema))
        return [seen[name] for name in sorted(seen)]

    def close(self) -> None:
        factories = self.environment_factory.values() if isinstance(self.environment_factory, dict) else [
            self.environment_factory]
        closed = set()
        for factory in factories:
            if id(factory.backend) not in closed:
                closed.add(id(factory.backend))
                factory.close()


def _mcp_arg(server: str) -> Any:
    import shlex

    return server if server.startswith(("http://", "https://")) else shlex.split(server)


def _with_system_prompt(prompt: list[dict[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    rest = [m for m in prompt if m.get("role") != "system"]
    return [{"role": "system", "content": system_prompt}, *rest]


def load_task_data(config: TrainConfig, tokenizer=None) -> TaskData:
    """Read the tasks and tools, build the environment, and drop tasks whose prompt is too long.

    Setup problems (not a task dataset, tools the environment cannot provide) raise `ConfigError` naming the field.

    Args:
        config: The run's config (tasks, tools, implementations/mcp_server/simulator, system_prompt, max_tasks,
            max_prompt_length, eval_tasks).
        tokenizer: Measures the rendered prompts (`TaskData.longest_prompt`) and drops those longer than
            `max_prompt_length`, if set (skipped without a tokenizer).
    """
    from ..environment.environment import ToolEnvironmentError
    from ..tasks.taskset import TaskError

    try:
        return _load_task_data(config, tokenizer)
    except TaskError as e:
        raise ConfigError(f"tasks: {e}") from None
    except ToolEnvironmentError as e:
        field = "implementations" if config.implementations else "mcp_server" if config.mcp_server else "tools"
        raise ConfigError(f"{field}: {e}") from None


def _load_task_data(config: TrainConfig, tokenizer=None) -> TaskData:
    from ..environment.environment import make_environment_factory, make_routed_environments
    from ..tasks.taskset import load_task_tools, load_tasks
    from ..tools.schemas import load_tools

    if not config.tasks:
        raise ConfigError(f"tasks is required for algorithm {config.algorithm!r}")
    splits = load_tasks(config.tasks)
    if "train" not in splits:
        raise ConfigError(f"tasks: {config.tasks!r} has no 'train' split (has {', '.join(splits)})")
    train = splits["train"]
    evaluation = splits["test"] if "test" in splits else None
    if config.max_tasks is not None and len(train) > config.max_tasks:
        train = train.shuffle(seed=config.seed).select(range(config.max_tasks))
    if evaluation is not None and len(evaluation) > config.eval_tasks:
        evaluation = evaluation.select(range(config.eval_tasks))

    if config.tools:
        specs = load_tools(config.tools)
    else:
        try:
            specs = load_task_tools(config.tasks)
        except FileNotFoundError:
            specs = None  # the rows' tools columns then define them
    system_prompt = config.system_prompt
    if system_prompt is not None:
        train = train.map(lambda row: {"prompt": _with_system_prompt(row["prompt"], system_prompt)})
        if evaluation is not None:
            evaluation = evaluation.map(lambda row: {"prompt": _with_system_prompt(row["prompt"], system_prompt)})
    else:
        first = train[0]["prompt"] if len(train) else []
        system_prompt = next((m["content"] for m in first if m.get("role") == "system"), None)

    names = [s.name for s in specs] if specs else []
    implementations = load_implementations(config.implementations, names) if config.implementations else None
    mcp = _mcp_arg(config.mcp_server) if config.mcp_server else None
    simulator = None
    if config.simulator:
        from ..models.chat import get_chat_model

        simulator = get_chat_model(config.simulator)
    options = {"implementations": implementations, "mcp": mcp, "simulator": simulator}
    declared = set(train["tools"]) if "tools" in train.column_names else set()
    if specs is None and not declared:
        raise ConfigError(f"tools: {config.tasks!r} carries no tools (no tools.json, no 'tools' column); "
                          "give tools: FILE")
    # One environment serves every row unless rows have different tool sets (or retrieval picks per row).
    routed = config.tool_top_k is not None or (bool(declared) and (specs is None or not _same_tools(declared, specs)))
    if routed:
        train, factory = make_routed_environments(train, specs, top_k=config.tool_top_k, **options)
        if evaluation is not None:
            evaluation, eval_factories = make_routed_environments(evaluation, specs, top_k=config.tool_top_k,
                                                                  **options)
            factory = {**eval_factories, **factory}
        if specs is None:
            pooled: dict[str, Any] = {}
            for f in factory.values():
                for spec in f.tool_specs:
                    pooled.setdefault(spec.name, spec)
            specs = list(pooled.values())
    else:
        factory = make_environment_factory(specs, **options)
    data = TaskData(train=train, eval=evaluation, tool_specs=list(specs), environment_factory=factory,
                    system_prompt=system_prompt)
    if len(data.train) == 0:
        raise ConfigError(f"tasks: {config.tasks!r} has no training task")
    if tokenizer is not None:
        limit = config.max_prompt_length
        data.train, data.dropped, longest = _drop_long_prompts(data, data.train, tokenizer, limit, "train")
        if len(data.train) == 0:
            raise ConfigError(f"max_prompt_length: {limit} tokens drops every training task: their prompts (tools "
                              f"included) are {longest[0]} to {longest[1]} tokens with this model's tokenizer. Set "
                              f"max_prompt_length to {longest[1]} or more (--max_prompt_length {longest[1]}), leave "
                              "it unset (no limit), or shorten the tool descriptions")
        data.longest_prompt = longest[2]
        if data.eval is not None:
            data.eval, _, eval_longest = _drop_long_prompts(data, data.eval, tokenizer, limit, "test")
            data.longest_prompt = max(data.longest_prompt, eval_longest[2] or 0)
    return data


def tools_only_data(config: TrainConfig) -> TaskData:
    """TaskData without tasks (SFT on a traces file, DPO on a preference dataset): the tools of `config.tools`."""
    from ..environment.environment import make_environment_factory
    from ..tools.schemas import load_tools

    if not config.tools:
        raise ConfigError(f"tools is required for {config.algorithm} without tasks: the tools the traces use")
    specs = load_tools(config.tools)
    return TaskData(train=[], eval=None, tool_specs=specs, environment_factory=make_environment_factory(specs),
                    system_prompt=config.system_prompt)


def _same_tools(declared: set[str], specs) -> bool:
    """Whether every row declares exactly the run's tools (then one environment serves all)."""
    names = {s.name for s in specs}
    for text in declared:
        try:
            items = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            return False
        row_names = {(i.get("function") or i).get("name") for i in items if isinstance(i, dict)}
        if row_names != names:
            return False
    return True


def prompt_length(tokenizer, prompt: list[dict[str, Any]], tools: list[dict]) -> int:
    ids = tokenizer.apply_chat_template(prompt, tools=tools or None, add_generation_prompt=True, tokenize=True,
                                        return_dict=False)
    return len(ids)


def _drop_long_prompts(data: TaskData, dataset, tokenizer, limit: int | None, split: str):
    """(the rows whose rendered prompt fits `limit` (None: all), how many were dropped, (shortest, longest, longest
    kept) prompt in tokens, 0s for an empty split)."""
    lengths = [prompt_length(tokenizer, row["prompt"], data.tools_for(row)) for row in dataset]
    keep = [i for i, n in enumerate(lengths) if limit is None or n <= limit]
    dropped = len(lengths) - len(keep)
    if dropped:
        logger.warning("%d of %d %s tasks dropped: their prompt (tools included) is longer than max_prompt_length=%d "
                       "tokens (prompts: %d to %d tokens); set max_prompt_length to %d, or leave it unset (no "
                       "limit), to keep them", dropped, len(lengths), split, limit, min(lengths), max(lengths),
                       max(lengths))
    if lengths:
        logger.info("%s prompts: %d to %d tokens (tools included)", split, min(lengths), max(lengths))
    shortest, longest = (min(lengths), max(lengths)) if lengths else (0, 0)
    longest_kept = max((lengths[i] for i in keep), default=0)
    return (dataset.select(keep) if dropped else dataset), dropped, (shortest, longest, longest_kept)


@dataclass
class RewardSetup:
    """The run's reward functions in TRL's signature, their weights, and the judge (if any)."""

    funcs: list[Any]
    weights: list[float]
    judge: Any = None

    @property
    def names(self) -> list[str]:
        return [getattr(f, "__name__", "reward") for f in self.funcs]


def _import_reward(name: str):
    import importlib

    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"rewards.{name}: cannot import module {module_name!r}: {e}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(f"rewards.{name}: module {module_name!r} has no function {attr!r}")
    return func


def build_rewards(config: TrainConfig, extra: dict[Any, float] | None = None) -> RewardSetup:
    """Built-in rewards by name, "module:function" rewards, Python callables, and the judge, with weights.

    Each becomes its own TRL reward function (TRL logs `rewards/<name>/mean` and `/std` for each) and the weights
    go to `GRPOConfig.reward_weights`.

    Args:
        config: The run's config (rewards, judge).
        extra: More rewards from Python: {f(trace, **row) or batch reward: weight}.
    """
    from ..rewards.functions import get_reward, reward_name, to_trl_reward

    funcs, weights, seen = [], [], set()

    def add(func, name: str, weight: float):
        if name in seen:
            raise ConfigError(f"rewards: two rewards are named {name!r}")
        seen.add(name)
        funcs.append(to_trl_reward(func, name=name))
        weights.append(float(weight))

    for name, weight in config.rewards.items():
        if ":" in name:
            func = _import_reward(name)
            add(func, reward_name(func), weight)
        else:
            add(get_reward(name), name, weight)
    for func, weight in (extra or {}).items():
        add(func, reward_name(func), weight)
    judge = None
    if config.judge is not None:
        from ..models.chat import get_chat_model
        from ..rewards.judge import GroupJudge

        settings = config.judge
        model = get_chat_model(settings.model, token=config_token(settings.token_env, "judge.token_env"),
                               timeout=settings.timeout)
        judge = GroupJudge(model, settings.rubric, max_retries=settings.max_retries, fallback=settings.fallback,
                           timeout=settings.timeout)
        funcs.append(judge.as_reward_func("llm_judge"))
        weights.append(float(settings.weight))
    if not funcs:
        raise ConfigError("rewards: no reward function (give rewards or a judge)")
    return RewardSetup(funcs=funcs, weights=weights, judge=judge)


def config_token(env: str | None, field: str) -> str | None:
    """`chat.endpoint_token` for a config field: a named variable that is unset is a config error."""
    from ..models.chat import ChatError, endpoint_token

    try:
        return endpoint_token(env, field=field)
    except ChatError as e:
        raise ConfigError(str(e)) from None


def run_trainer(trainer, config: TrainConfig, run: RunFolder, *, phase: str, checkpoints: str | None = None,
                step_offset: int = 0) -> int:
    """Train one phase, resuming from its last checkpoint when the config says so; returns the phase's steps.

    Args:
        trainer: A TRL trainer with the run callbacks installed.
        config: The run's config (`resume`).
        run: The run folder (phase bookkeeping in phases.json).
        phase: The phase name.
        checkpoints: Its checkpoint sub-folder (None: <run>/checkpoints).
        step_offset: Run steps before this phase.
    """
    checkpoint = run.last_checkpoint(checkpoints) if config.resume else None
    run.mark_phase(phase, offset=step_offset, checkpoints=checkpoints, done=False)
    if checkpoint is not None:
        logger.info("phase %s: resuming from %s (step %d)", phase, checkpoint, checkpoint_step(checkpoint))
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    steps = int(trainer.state.global_step)
    run.mark_phase(phase, done=True, end_step=step_offset + steps)
    return steps


def load_policy_tokenizer(source):
    """The tokenizer of the run's model (`models.locate_model`'s source), to measure the task prompts."""
    from ..models.loading import load_tokenizer

    return load_tokenizer(source.path, revision=source.revision)


def prompt_budget(config: TrainConfig, data: TaskData) -> int | None:
    """Prompt tokens to plan sequences for: `max_prompt_length` when set, else the longest measured task prompt
    (None without tasks: then sequences are not truncated)."""
    return config.max_prompt_length or data.longest_prompt


@dataclass
class Policy:
    """The model being trained, as `load_policy` returns it (peft_config is None when the model has its adapter)."""

    model: Any
    tokenizer: Any
    peft_config: Any
    backend: str


def run_single_phase(config: TrainConfig, run: RunFolder, build, *, progress: bool = True):
    """The one-phase algorithms' skeleton (GRPO, DPO, SFT): load the policy and the tasks, build the trainer, train
    (resuming when asked), save the adapter with its agent spec.

    Args:
        config: The run's config.
        run: The run folder.
        build: `build(policy, data, evaluate) -> (trainer, run_callback)`: the algorithm's own part (its dataset and
            TRL trainer); `evaluate` is the held-out evaluation for the eval cadence (or None).
        progress: Show progress bars.

    Returns:
        The run's `TrainResult`.
    """
    from ..models.loading import locate_model

    source = locate_model(config.model, progress=progress)  # a Hub model: one commit for the whole run
    # The tasks first, with the tokenizer alone: a prompt-length or dataset problem is reported before the model loads.
    tokenizer = load_policy_tokenizer(source)
    data = load_task_data(config, tokenizer) if config.tasks else tools_only_data(config)
    try:
        policy = Policy(*load_policy(config, progress=progress, tokenizer=tokenizer,
                                     prompt_tokens=prompt_budget(config, data), source=source))
        spec = make_agent_spec(config, policy.tokenizer, data, source)
        trainer, callback = build(policy, data, make_evaluator(config, run, data, policy.tokenizer, spec))
        steps = run_trainer(trainer, config, run, phase="train")
        adapter = save_adapter(trainer, run, spec)
    finally:
        data.close()
    return TrainResult(output_dir=run.root, adapter_dir=adapter, steps=steps, metrics=callback.last_row)


# ---------------------------------------------------------------------------------------------------------------------
# the trained agent


def make_agent_spec(config: TrainConfig, tokenizer, data: TaskData, source):
    """The agent spec of this run: the base model exactly (`source`, from `models.locate_model`: its commit and
    `models.model_provenance`), and the prompt, tools, template, parser and limits the rollouts use."""
    from ..agent.core import AgentSpec
    from ..models.loading import model_provenance

    return AgentSpec.for_training(
        config.model, tokenizer, data.environment_factory, revision=source.revision,
        base_model_source=model_provenance(source), system_prompt=data.system_prompt,
        max_turns=config.max_turns + 1, max_new_tokens=config.max_completion_length, temperature=0.0,
        top_p=1.0, tool_top_k=config.tool_top_k)


def save_adapter(trainer, run: RunFolder, spec) -> Path:
    """Save the final adapter and tokenizer to <run>/adapter, with agent_spec.json there and in the run folder."""
    trainer.save_model(str(run.adapter_dir))
    if run.main_process:
        spec.save(run.adapter_dir)
        spec.save(run.root)
    return run.adapter_dir


def make_evaluator(config: TrainConfig, run: RunFolder, data: TaskData, tokenizer, spec):
    """`evaluate(model, step) -> metrics` on the held-out tasks for the eval cadence, or None when off.

    Runs `toolbrain_hub.evaluation.evaluate` on the model being trained, prompted with the run's agent spec (the
    same prompt, tools and parser as the rollouts), greedy. The step-0 result is the run's "before", each later one
    its "after", kept by `evaluation.save_before_after` (<run>/eval/before, <run>/eval/after, and their comparison in
    <run>/eval.json, which `publish` puts on the model card).
    """
    if not config.eval_steps:
        return None
    if data.eval is None or len(data.eval) == 0:
        logger.warning("eval_steps is %d but the tasks have no test split: no evaluation during training",
                       config.eval_steps)
        return None
    from ..evaluation import evaluate

    rows = [dict(row) for row in data.eval]
    names = [s.name for s in data.tool_specs]
    implementations = load_implementations(config.implementations, names) if config.implementations else None
    mcp = _mcp_arg(config.mcp_server) if config.mcp_server else None

    def run_evaluation(model, step: int) -> dict[str, Any]:
        was_training = model.training
        model.eval()
        try:
            result = evaluate((model, tokenizer), rows, spec=spec, progress=False, implementations=implementations,
                              mcp=mcp, batch_size=config.eval_batch_size)
        finally:
            if was_training:
                model.train()
        if run.main_process:
            _save_evaluation(run, result, step)
        return {k: v for k, v in result.metrics.items()
                if isinstance(v, int | float) and not isinstance(v, bool)}

    return run_evaluation


def _save_evaluation(run: RunFolder, result, step: int) -> None:
    from ..evaluation import save_before_after

    # The step-0 evaluation (the base model with the untrained adapter) is the run's "before"; later ones its "after".
    save_before_after(run_dir=run.root, **({"before": result} if step == 0 else {"after": result}))

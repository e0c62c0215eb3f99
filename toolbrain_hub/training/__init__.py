"""Training: one `TrainConfig` runs GRPO, DPO, supervised or distillation training on TRL, into a run folder.

```python
from toolbrain_hub.training import train
result = train("run.yaml")                      # or a TrainConfig, or a dict
result.adapter_dir                              # <run>/adapter: LoRA adapter + tokenizer + agent_spec.json
```

The run folder layout, the metrics and the status file are described in `toolbrain_hub.runs.folder`.
Multi-GPU: `accelerate launch --config_file accelerate_config.yaml -m toolbrain_hub.cli train run.yaml`; every
process trains its share, only the main process writes the run folder.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..config.visitor import check_untrusted_config, untrusted
from ..errors import ConfigError

__all__ = ["TrainResult", "train", "read_status", "read_metrics"]

from ..runs.folder import ADAPTER_DIR, CHECKPOINTS_DIR, METRICS_FILE, STATUS_FILE, read_metrics, read_status
from .phases import TrainResult

logger = logging.getLogger("toolbrain_hub.training")


def _as_config(config: TrainConfig | dict | str | Path) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    if isinstance(config, str | Path):
        return TrainConfig.from_yaml(config)
    raise ConfigError(f"train() takes a TrainConfig, a dict or a YAML path, got {type(config).__name__}")


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _check_output_dir(config: TrainConfig, root: Path) -> None:
    # Never overwrite a run: a folder that already has training output needs --resume true or another output_dir.
    if config.resume:
        return
    used = [name for name in (STATUS_FILE, METRICS_FILE, ADAPTER_DIR, CHECKPOINTS_DIR) if (root / name).exists()]
    if used:
        raise ConfigError(f"output_dir {str(root)!r} already holds a run ({', '.join(used)}): continue it with "
                          f"--resume true, or choose another output_dir")


def train(config: TrainConfig | dict | str | Path, *, reward_funcs: dict[Any, float] | None = None,
          progress: bool = True) -> TrainResult:
    """Run a training config end to end and return where the results are.

    Validates the whole config before anything is loaded; creates the run folder (config.yaml, status.json,
    metrics.jsonl, traces.jsonl, train.log, checkpoints/, adapter/); trains; saves the adapter with its agent spec;
    pushes it when `push_to` is set. A failure marks status.json "failed" with the error and re-raises.

    Args:
        config: A TrainConfig, a dict of its fields, or a YAML file.
        reward_funcs: Extra rewards from Python, `{f(trace, **row) -> float: weight}` (or batch rewards), added to
            the config's.
        progress: Show a progress bar.
    """
    config = _as_config(config).validate()
    if untrusted():  # a Space visitor's run: whatever route the config took, it runs none of the visitor's code
        check_untrusted_config(config, app_sets_output_dir=True)
    from ..runs.folder import RunFolder
    from .callbacks import RunLog

    root = config.resolved_output_dir()
    if _is_main_process():
        _check_output_dir(config, root)
    config.output_dir = str(root)
    run = RunFolder(root, main_process=_is_main_process())
    if run.main_process:
        config.to_yaml(run.config_file)
    run.write_status("running", algorithm=config.algorithm, step=0, total=_total_steps(config), error=None,
                     pid=os.getpid(), host=socket.gethostname(), started_at=time.time(), output_dir=str(root),
                     adapter_dir=None, resumed=config.resume)
    with RunLog(run), warnings.catch_warnings():
        # TRL 1.16 calls transformers' renamed gradient-checkpointing methods every step: noise, not a problem.
        warnings.filterwarnings("ignore", message=r"`\w*gradient_checkpointing\w*` is deprecated",
                                category=FutureWarning)
        logger.info("run %s: %s on %s, %d steps", root, config.algorithm, config.model, _total_steps(config))
        try:
            if config.resume:
                run.trim_for_resume()
            result = _dispatch(config, run, reward_funcs=reward_funcs, progress=progress)
        except BaseException as e:
            error = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            run.write_status("failed", error=error)
            logger.error("run failed: %s", error)
            raise
        run.write_status("completed", step=result.steps, adapter_dir=str(result.adapter_dir), finished_at=time.time())
        logger.info("run completed: %d steps; adapter and agent spec in %s", result.steps, result.adapter_dir)
        if config.push_to and run.main_process:
            # The run is complete and stays so; a failed push is reported (push_error) and raised, and can be
            # retried with `toolbrain-hub publish RUN_DIR --repo REPO`.
            try:
                result.pushed_to = _publish(run.root, config.push_to)
            except Exception as e:
                run.write_status(push_error=f"{type(e).__name__}: {e}")
                logger.error("publishing to %s failed: %s (retry: toolbrain-hub publish %s --repo %s)",
                             config.push_to, e, run.root, config.push_to)
                raise
            run.write_status(pushed_to=result.pushed_to)
    return result


def _total_steps(config: TrainConfig) -> int:
    if config.algorithm == "distill":
        return config.max_steps + config.distill_grpo_steps
    if config.algorithm == "grpo":
        return config.native_format_steps + config.max_steps
    return config.max_steps


def _dispatch(config: TrainConfig, run, *, reward_funcs, progress: bool) -> TrainResult:
    if config.algorithm == "grpo" and config.native_format_steps:
        from .native_format import run_grpo_with_warmup

        return run_grpo_with_warmup(config, run, extra_rewards=reward_funcs, progress=progress)
    if config.algorithm == "grpo":
        from .grpo import run_grpo

        return run_grpo(config, run, extra_rewards=reward_funcs, progress=progress)
    if config.algorithm == "dpo":
        from .dpo import run_dpo

        return run_dpo(config, run, extra_rewards=reward_funcs, progress=progress)
    if config.algorithm == "sft":
        from .sft import run_sft

        return run_sft(config, run, progress=progress)
    if config.algorithm == "distill":
        from .distill import run_distill

        return run_distill(config, run, extra_rewards=reward_funcs, progress=progress)
    raise ConfigError(f"algorithm must be one of grpo, dpo, sft, distill, got {config.algorithm!r}")


def _publish(run_dir: Path, repo_id: str) -> str:
    """Publish the finished run as an agent repo (adapter, agent spec, model card, curves) with `publish.publish`."""
    from ..publishing.publisher import publish

    result = publish(run_dir, repo_id)
    logger.info("published the agent to %s", result.url_or_path)
    return result.repo_id or repo_id

"""The model being trained: the device and precision of the run, unsloth or transformers + peft, the LoRA config,
loading the policy (and its tokenizer), and the TRL arguments every algorithm shares.

Which device and dtype is `toolbrain_hub.models.loading`'s choice (`pick_device`, `pick_dtype`); this module only
reads them from the `TrainConfig` and turns them into the Trainer's flags.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..errors import ConfigError
from ..models.builtin import ModelError
from ..models.loading import (
    cpu_has_bf16,
    gpu_has_bf16,
    load_tokenizer,
    locate_model,
    pick_device,
    pick_dtype,
    quantization_config,
    set_threads,
)
from ..runs.folder import RunFolder

logger = logging.getLogger("toolbrain_hub.training")


@dataclass
class Policy:
    """The model being trained, as `load_policy` returns it (peft_config is None when the model has its adapter)."""

    model: Any
    tokenizer: Any
    peft_config: Any
    backend: str


def training_device(config: TrainConfig) -> str:
    """"cuda" or "cpu" for this process (with accelerate, each process uses its own local GPU): `models.pick_device`
    of `config.device`; asking for "cuda" where no CUDA GPU is visible is a `ConfigError`.

    Args:
        config: The run's config (device: "auto", "cpu" or "cuda").
    """
    try:
        return pick_device(config.device)
    except ModelError as e:
        raise ConfigError(str(e)) from None


def precision_args(device: str) -> dict[str, Any]:
    """TRL/Trainer precision flags: bf16 on a GPU that has it (`models.gpu_has_bf16`), else fp16 there, fp32 on CPU
    (TRL defaults to bf16, an error there).

    Args:
        device: What `training_device` chose.
    """
    if device == "cpu":
        return {"use_cpu": True, "bf16": False, "fp16": False}
    bf16 = gpu_has_bf16(device)
    return {"use_cpu": False, "bf16": bf16, "fp16": not bf16}


def unsloth_choice(config: TrainConfig, device: str) -> tuple[bool, str]:
    """Whether to load the model with unsloth, and why (logged either way).

    Args:
        config: The run's config (unsloth: "auto", "on" or "off").
        device: What `training_device` chose.
    """
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
    """The run's LoRA settings as a peft `LoraConfig` (for the trainer to add the adapter).

    Args:
        config: The run's config (lora).
    """
    from peft import LoraConfig

    targets = config.lora.target_modules
    return LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules="all-linear" if targets == ["all-linear"] else list(targets),
                      task_type="CAUSAL_LM")


def load_policy_tokenizer(source):
    """The tokenizer of the run's model, to measure the task prompts before the model loads.

    Args:
        source: The run's model as `models.locate_model` pinned it.
    """
    return load_tokenizer(source.path, revision=source.revision)


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
        prompt_tokens: The prompt budget (`task_data.prompt_budget`): with unsloth, its max_seq_length is this plus
            `max_completion_length` (None: unsloth's default).
        source: The run's model pinned by `locate_model` (a Hub repo at one commit); None: located here.
    """
    set_threads(config.threads)
    device = training_device(config)
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
        raise ModelError(f"Cannot load model {config.model!r}: {e}") from None
    peft_config = lora_config(config)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
        peft_config = None
    return model, tokenizer, peft_config, "transformers"


def _load_with_unsloth(config: TrainConfig, source, adapter: str | Path | None, prompt_tokens: int | None):
    from unsloth import FastLanguageModel  # imported first so it can patch transformers/TRL

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
    device = training_device(config)
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

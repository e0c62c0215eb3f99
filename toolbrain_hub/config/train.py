"""`TrainConfig`: one training run, from YAML, CLI flags or Python, validated before any model loads.

TRL style: a flat dataclass of plain fields, with two small nested sections (`lora`, `judge`). The same names work
everywhere::

    # run.yaml
    algorithm: grpo
    model: qwen2.5-coder-0.5b-instruct
    tasks: ./my_tasks
    rewards: {expected_calls: 1.0, format: 0.2}
    lora: {r: 16, alpha: 32}

    $ toolbrain-hub train run.yaml --learning_rate 1e-4 --lora.r 8 --max_steps 30

    >>> TrainConfig.from_yaml("run.yaml", overrides=["--learning_rate", "1e-4"]).validate()

Every problem raises `ConfigError` naming the field ("lora.r must be a positive integer, got -1"); the CLI prints
it and exits with code 2.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
import warnings
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.builtin import DEFAULT_MODEL

__all__ = ["ALGORITHMS", "ConfigError", "JudgeSettings", "LoraSettings", "TrainConfig"]

ALGORITHMS = ("grpo", "dpo", "sft", "distill")
QUANTIZATIONS = ("none", "8bit", "4bit")
UNSLOTH_MODES = ("auto", "on", "off")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
# A tool call (~30 tokens), its result in the chat template (~30) and a short answer: below this budget TRL drops
# the tool result (it counts toward max_completion_length), the rollout ends at the call and the answer turn is
# never trained (measured: 126 of 130 rollouts with 64 tokens, bench/RESULTS.md).
MIN_TOOL_COMPLETION_LENGTH = 128
# Right tool and arguments first; the tagged call format (what the template parses at inference) a little, and only
# on calls that ran validly; no invented tools, no calls when none is needed; the gold answer where the task has one.
# On every task these weights rank a right call in any format above a rejected or wrong one, and that above an
# invented tool or broken JSON; totals lie in [-1.2, 1.7] (the argument: toolbrain_hub/rewards/builtin.py).
DEFAULT_REWARDS = {"expected_calls": 1.0, "answer_match": 0.5, "format": 0.2, "invented_tool": 0.5,
                   "unneeded_tool": 0.5}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")




@dataclass
class LoraSettings:
    """LoRA adapter settings (QLoRA when `TrainConfig.quantization` is 4bit or 8bit).

    Args:
        r: Rank of the update matrices.
        alpha: Scaling numerator (the update is scaled by alpha / r).
        dropout: Dropout on the LoRA input.
        target_modules: Module names to adapt, or ["all-linear"].
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class JudgeSettings:
    """The LLM group judge used as an extra reward (see `toolbrain_hub.rewards.judge.GroupJudge`).

    Args:
        model: A local model (built-in name, folder, Hub id) or an OpenAI-compatible endpoint URL ("url#model").
        weight: Weight of the judge's score in the total reward.
        rubric: Scoring guidance (default: the judge's built-in rubric).
        max_retries: Extra attempts after an invalid reply or a timeout.
        fallback: None (fail loudly), "mean", or a number in [0, 1] used when the judge gives no valid scores.
        timeout: Seconds per judge request.
        token_env: Name of the environment variable holding the endpoint token (default: $TOOLBRAIN_ENDPOINT_TOKEN,
            shared by every endpoint; the token itself never goes in a config file).
    """

    model: str = ""
    weight: float = 1.0
    rubric: str | None = None
    max_retries: int = 2
    fallback: str | float | None = None
    timeout: float = 120.0
    token_env: str | None = None


@dataclass
class TrainConfig:
    """One training run. Field names follow TRL's where one exists.

    Args:
        algorithm: "grpo", "dpo" (on-policy pairs, or `preferences`), "sft" (on traces) or "distill".
        model: The policy: a built-in name, a folder or a Hub repo id.
        tasks: Task dataset: a folder written by `save_to_disk`/`generate_tasks`, or a Hub dataset repo id.
        tools: Tool schema file; optional when the tasks carry their tools.
        implementations: A Python file (or module) whose functions implement the tools. Without it (and without
            `mcp_server`) tools run schema-only: calls are validated and answered from the task's expected results.
        mcp_server: An MCP server to run the tools: an http(s) URL or a stdio command line.
        simulator: Schema-only tools: a chat model (local or endpoint) that invents plausible results.
        tool_top_k: Show each task only its k most relevant tools (embedding retrieval); None: all.
        system_prompt: System prompt of the agent (default: the agent spec's own).
        rewards: Built-in reward names (or "module:function" for your own) and their weights.
        judge: An LLM group judge as an extra reward, or None.
        lora: LoRA settings.
        quantization: "none", "8bit" or "4bit" (QLoRA with bitsandbytes; works on CPU too).
        unsloth: "auto" (use it when installed and on a GPU), "on" (fail without it) or "off".
        dtype: Weights' dtype: "auto" (bfloat16 on a GPU that has it, else float32), "float32", "bfloat16" or
            "float16". On a CPU with bf16 units (AVX512-BF16/AMX) "bfloat16" trains about 2x faster than float32.
        learning_rate: Optimizer learning rate.
        max_steps: Optimizer steps.
        num_generations: GRPO group size (rollouts per task); also the DPO candidate count per task.
        per_device_train_batch_size: Sequences per device per step (GRPO: rollouts; must hold whole groups).
        gradient_accumulation_steps: Steps accumulated before an optimizer update.
        max_turns: Tool-calling iterations per rollout (TRL's `max_tool_calling_iterations`).
        max_completion_length: Token budget of a whole rollout's model output (all turns).
        max_prompt_length: None (default): no limit; every task is kept and the longest rendered prompt (tools
            included, measured with the model's tokenizer before training) sizes the sequence budgets. A number:
            tasks whose rendered prompt is longer are dropped, with a warning naming the longest prompt.
        temperature: Sampling temperature of rollouts.
        top_p: Nucleus sampling of rollouts.
        beta: GRPO's KL coefficient (0 skips the reference model's forward pass).
        seed: Random seed.
        eval_steps: Evaluate on the held-out tasks (the "test" split) before training, every N steps and at the
            end (0: no evaluation during training).
        eval_tasks: Number of held-out tasks for that evaluation.
        eval_batch_size: Episodes generated together in that evaluation.
        save_steps: Save a resumable checkpoint every N steps (0: only the final adapter).
        save_total_limit: Checkpoints kept (older ones are deleted).
        logging_steps: Write a metrics row every N steps.
        trace_samples: Rollouts per logged step written to traces.jsonl.
        threads: torch CPU threads (None: torch's default). 1 is fastest for tiny models, 2+ for the 0.5B.
        gradient_checkpointing: Recompute activations in backward (much less memory for a little more time).
        device: "auto", "cpu" or "cuda".
        output_dir: The run folder (default: runs/<algorithm>-<time>).
        resume: Continue from the last checkpoint in `output_dir`.
        push_to: A Hub repo id to publish the final adapter to.
        max_tasks: Use at most this many training tasks.
        preferences: DPO only: a dataset (folder or repo) with prompt/chosen/rejected instead of on-policy pairs.
        dpo_margin: DPO only: minimum reward gap between the best and worst rollout of a task to form a pair.
        dpo_beta: DPO only: the DPO temperature (strength of the implicit KL penalty).
        traces: SFT only: a traces file (JSONL of chat messages) or dataset; default: gold traces from the tasks.
        teacher: Distill only: the teacher model (local or endpoint, as for `judge.model`).
        teacher_token_env: Distill only: the environment variable holding the teacher endpoint's token (default:
            $TOOLBRAIN_ENDPOINT_TOKEN).
        reward_threshold: Distill only: keep teacher traces whose total reward is at least this (1.0: with the
            default rewards only right, valid calls reach it; a flawed call scores at most 0.7).
        distill_grpo_steps: Distill only: GRPO steps after the supervised phase (0: none).
        zero_variance_threshold: Warn when more than this fraction of groups had identical rewards...
        zero_variance_window: ...over the last this many logged steps.
    """

    algorithm: str = "grpo"
    model: str = DEFAULT_MODEL
    tasks: str = ""
    tools: str | None = None
    implementations: str | None = None
    mcp_server: str | None = None
    simulator: str | None = None
    tool_top_k: int | None = None
    system_prompt: str | None = None
    rewards: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REWARDS))
    judge: JudgeSettings | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    quantization: str = "none"
    unsloth: str = "auto"
    dtype: str = "auto"
    learning_rate: float = 2e-5
    max_steps: int = 60
    num_generations: int = 4
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_turns: int = 2
    max_completion_length: int = 128
    max_prompt_length: int | None = None
    temperature: float = 0.9
    top_p: float = 1.0
    beta: float = 0.0
    seed: int = 42
    eval_steps: int = 0
    eval_tasks: int = 16
    eval_batch_size: int = 8
    save_steps: int = 10
    save_total_limit: int | None = 2
    logging_steps: int = 1
    trace_samples: int = 4
    threads: int | None = None
    gradient_checkpointing: bool = True
    device: str = "auto"
    output_dir: str = ""
    resume: bool = False
    push_to: str | None = None
    max_tasks: int | None = None
    preferences: str | None = None
    dpo_margin: float = 0.1
    dpo_beta: float = 0.1
    traces: str | None = None
    teacher: str | None = None
    teacher_token_env: str | None = None
    reward_threshold: float = 1.0
    distill_grpo_steps: int = 0
    zero_variance_threshold: float = 0.5
    zero_variance_window: int = 10

    # ----- construction -----

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> TrainConfig:
        """Build a config from a mapping (as read from YAML); unknown keys and wrong types raise `ConfigError`.

        Args:
            data: Field names to values; `lora` and `judge` may be mappings.
            source: How to name the origin in error messages (a file name).
        """
        if not isinstance(data, dict):
            raise ConfigError(_where(source) + f"a config must be a mapping of field names to values, got "
                                               f"{type(data).__name__}")
        return _build(cls, data, prefix="", source=source)

    @classmethod
    def from_yaml(cls, path: str | Path, *, overrides: list[str] | None = None) -> TrainConfig:
        """Read a YAML config file, then apply `--key value` overrides (see `apply_overrides`)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{path}{where}: invalid YAML: {e.problem or e}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
        config = cls.from_dict(data or {}, source=str(path))
        if overrides:
            config = config.apply_overrides(overrides)
        return config

    def apply_overrides(self, args: list[str]) -> TrainConfig:
        """A copy with `--key value` (or `--key=value`) overrides applied; nested fields as `--lora.r 8`.

        Values are read by the field's type: numbers, booleans (true/false), `none` for optional fields, lists as
        `a,b,c`, and mappings as `name=weight,name=weight` or inline YAML (`{a: 1}`).
        """
        data = self.to_dict()
        i = 0
        while i < len(args):
            arg = args[i]
            if not arg.startswith("--") or len(arg) == 2:
                raise ConfigError(f"expected --field value, got {arg!r}")
            key, sep, value = arg[2:].partition("=")
            if not sep:
                if i + 1 >= len(args) or (args[i + 1].startswith("--") and not _is_number(args[i + 1])):
                    # A bare boolean flag (--resume) means true.
                    if _field_type(TrainConfig, key.replace("-", "_")) is bool:
                        value = "true"
                    else:
                        raise ConfigError(f"--{key} needs a value")
                else:
                    value = args[i + 1]
                    i += 1
            i += 1
            key = key.replace("-", "_")
            _set_path(data, key, _parse_cli_value(key, value))
        return TrainConfig.from_dict(data, source="command line")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready); `from_dict(to_dict())` gives an equal config."""
        return _to_plain(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML text; also written to `path` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ----- validation -----

    def validate(self) -> TrainConfig:
        """Check every field (and their combinations) without loading anything heavy; returns self.

        Raises:
            ConfigError: naming the first bad field.
        """
        _check_choice("algorithm", self.algorithm, ALGORITHMS)
        _check_text("model", self.model)
        _check_model_ref("model", self.model)
        needs_tasks = not ((self.algorithm == "dpo" and self.preferences) or (self.algorithm == "sft" and self.traces))
        if needs_tasks:
            if not self.tasks or not str(self.tasks).strip():
                raise ConfigError(f"tasks is required for algorithm {self.algorithm!r}: a task folder or a Hub "
                                  f"dataset repo id")
        if self.tasks:
            _check_data_ref("tasks", self.tasks)
        elif not self.tools:
            raise ConfigError(f"tools is required for {self.algorithm} without tasks: the tool schema file the "
                              f"{'traces' if self.algorithm == 'sft' else 'preferences'} use")
        for name in ("tools", "implementations"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
                if not (name == "implementations" and _is_module_name(value)) and not Path(value).expanduser().exists():
                    raise ConfigError(f"{name}: file {value!r} does not exist")
        if self.mcp_server is not None:
            _check_text("mcp_server", self.mcp_server)
        if self.implementations and self.mcp_server:
            raise ConfigError("implementations and mcp_server are exclusive: the tools run in one place")
        if self.simulator is not None:
            _check_text("simulator", self.simulator)
            if self.implementations or self.mcp_server:
                raise ConfigError("simulator is for schema-only tools; it cannot be combined with implementations "
                                  "or mcp_server")
            _check_model_ref("simulator", self.simulator)
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ConfigError(f"system_prompt must be text, got {type(self.system_prompt).__name__}")

        self._validate_rewards()
        if self.judge is not None:
            self._validate_judge()

        lora = self.lora
        _check_int("lora.r", lora.r, minimum=1)
        _check_number("lora.alpha", lora.alpha, positive=True)
        _check_number("lora.dropout", lora.dropout)
        if not 0.0 <= lora.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {lora.dropout}")
        if not lora.target_modules or not all(isinstance(m, str) and m.strip() for m in lora.target_modules):
            raise ConfigError(f"lora.target_modules must be a non-empty list of module names (or ['all-linear']), "
                              f"got {lora.target_modules!r}")

        _check_choice("quantization", self.quantization, QUANTIZATIONS)
        _check_choice("unsloth", self.unsloth, UNSLOTH_MODES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("dtype", self.dtype, DTYPES)
        if self.unsloth == "on":
            import importlib.util

            if importlib.util.find_spec("unsloth") is None:
                raise ConfigError("unsloth is 'on' but unsloth is not installed: pip install -r "
                                  "requirements-unsloth.txt in a GPU environment, or set unsloth: auto")
            if self.device == "cpu":
                raise ConfigError("unsloth is 'on' but device is 'cpu': unsloth needs a GPU")

        _check_number("learning_rate", self.learning_rate, positive=True)
        for name in ("max_steps", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "max_turns", "max_completion_length", "logging_steps", "eval_tasks",
                     "eval_batch_size", "zero_variance_window"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("seed", "eval_steps", "save_steps", "trace_samples", "distill_grpo_steps"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("threads", "max_tasks", "save_total_limit", "tool_top_k", "max_prompt_length"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.algorithm in ("grpo", "dpo") or (self.algorithm == "distill" and self.distill_grpo_steps):
            if self.num_generations < 2:
                raise ConfigError(f"num_generations must be at least 2 for {self.algorithm} (rewards are compared "
                                  f"within a group), got {self.num_generations}")
        if self.algorithm == "grpo" or (self.algorithm == "distill" and self.distill_grpo_steps):
            world = int(os.environ.get("WORLD_SIZE", "1"))
            batch = self.per_device_train_batch_size * self.gradient_accumulation_steps * world
            if batch % self.num_generations:
                raise ConfigError(
                    f"per_device_train_batch_size ({self.per_device_train_batch_size}) x gradient_accumulation_steps "
                    f"({self.gradient_accumulation_steps}) x processes ({world}) = {batch} must be a multiple of "
                    f"num_generations ({self.num_generations}), so every step holds whole groups")
        rollouts = self.algorithm in ("grpo", "dpo") or (self.algorithm == "distill" and self.distill_grpo_steps)
        if rollouts and self.max_completion_length < MIN_TOOL_COMPLETION_LENGTH:
            warnings.warn(f"max_completion_length {self.max_completion_length} cannot hold a tool call, its result "
                          f"and an answer: TRL counts the result in this budget and drops one that overflows, so "
                          f"rollouts end at the call and the answer turn is not trained; use "
                          f"{MIN_TOOL_COMPLETION_LENGTH} or more", UserWarning, stacklevel=2)
        _check_number("temperature", self.temperature, positive=True)
        _check_number("top_p", self.top_p, positive=True)
        if self.top_p > 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        _check_number("beta", self.beta)
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        for name in ("gradient_checkpointing", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        _check_number("zero_variance_threshold", self.zero_variance_threshold)
        if not 0.0 <= self.zero_variance_threshold <= 1.0:
            raise ConfigError(f"zero_variance_threshold must be in [0, 1], got {self.zero_variance_threshold}")

        if not isinstance(self.output_dir, str):
            raise ConfigError(f"output_dir must be a path, got {type(self.output_dir).__name__}")
        if self.resume:
            if not self.output_dir:
                raise ConfigError("resume needs output_dir: the run folder to continue")
            if not Path(self.output_dir).expanduser().is_dir():
                raise ConfigError(f"resume: output_dir {self.output_dir!r} does not exist")
        if self.push_to is not None:
            _check_text("push_to", self.push_to)
            if not _REPO_ID.match(self.push_to):
                raise ConfigError(f"push_to must be a Hub repo id like 'user/name', got {self.push_to!r}")

        if self.preferences is not None:
            _check_text("preferences", self.preferences)
            _check_data_ref("preferences", self.preferences)
        _check_number("dpo_margin", self.dpo_margin)
        if self.dpo_margin < 0:
            raise ConfigError(f"dpo_margin must be >= 0, got {self.dpo_margin}")
        _check_number("dpo_beta", self.dpo_beta, positive=True)
        if self.traces is not None:
            _check_text("traces", self.traces)
            _check_data_ref("traces", self.traces)
        _check_number("reward_threshold", self.reward_threshold)
        if self.algorithm == "distill":
            if not self.teacher or not str(self.teacher).strip():
                raise ConfigError("teacher is required for algorithm 'distill': a local model or an endpoint URL")
            _check_model_ref("teacher", self.teacher)
        if self.teacher_token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                                   str(self.teacher_token_env)):
            raise ConfigError(f"teacher_token_env must be an environment variable name, got {self.teacher_token_env!r}")
        return self

    def _validate_rewards(self) -> None:
        if not isinstance(self.rewards, dict):
            raise ConfigError(f"rewards must be a mapping of reward names to weights, got "
                              f"{type(self.rewards).__name__}")
        on_policy = self.algorithm in ("grpo", "distill") or (self.algorithm == "dpo" and not self.preferences)
        if on_policy and not self.rewards and self.judge is None:
            raise ConfigError(f"rewards: {self.algorithm} needs at least one reward (or a judge)")
        known = _known_rewards()
        for name, weight in self.rewards.items():
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"rewards: reward names must be text, got {name!r}")
            _check_number(f"rewards.{name}", weight)
            if ":" in name:  # "module:function", a user reward; resolved (imported) when the run starts
                module, _, func = name.partition(":")
                if not module or not func.isidentifier():
                    raise ConfigError(f"rewards.{name}: a custom reward is written 'module:function'")
            elif known is not None and name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                raise ConfigError(f"rewards.{name}: unknown reward" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                  + f". Known: {', '.join(sorted(known))}")

    def _validate_judge(self) -> None:
        judge = self.judge
        _check_text("judge.model", judge.model)
        _check_model_ref("judge.model", judge.model)
        _check_number("judge.weight", judge.weight)
        _check_int("judge.max_retries", judge.max_retries, minimum=0)
        _check_number("judge.timeout", judge.timeout, positive=True)
        fallback = judge.fallback
        if fallback is not None and fallback != "mean":
            if isinstance(fallback, bool) or not isinstance(fallback, int | float) or not 0 <= fallback <= 1:
                raise ConfigError(f"judge.fallback must be null, 'mean' or a number in [0, 1], got {fallback!r}")
        if judge.token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(judge.token_env)):
            raise ConfigError(f"judge.token_env must be an environment variable name, got {judge.token_env!r}")

    # ----- derived values -----

    def resolved_output_dir(self) -> Path:
        """`output_dir`, or runs/<algorithm>-<YYYYmmdd-HHMMSS> when empty."""
        if self.output_dir:
            return Path(self.output_dir).expanduser()
        import time

        return Path("runs") / f"{self.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------------------------------------------------------------
# helpers


def _known_rewards() -> list[str] | None:
    """Names of the built-in rewards, or None while the rewards module is unavailable."""
    try:
        from .. import rewards
    except ImportError:
        return None
    for attr in ("available_rewards", "list_rewards"):
        fn = getattr(rewards, attr, None)
        if callable(fn):
            return list(fn())
    registry = getattr(rewards, "REWARDS", None) or getattr(rewards, "BUILTIN_REWARDS", None)
    return list(registry) if registry else None


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}"
                          + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty text, got {value!r}")


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")


def _check_number(name: str, value: Any, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value


def _check_data_ref(name: str, value: Any) -> None:
    """A folder/file that must exist, or something shaped like a Hub repo id."""
    _check_text(name, value)
    path = Path(value).expanduser()
    if path.exists():
        return
    if _looks_like_path(value) or value.count("/") != 1 or not _REPO_ID.match(value):
        raise ConfigError(f"{name}: {value!r} is neither an existing folder or file nor a Hub repo id ('user/name')")


def _check_model_ref(name: str, value: str) -> None:
    if value.startswith(("http://", "https://")):
        return
    from ..models.builtin import BUILTIN_MODELS

    if value in BUILTIN_MODELS or Path(value).expanduser().is_dir():
        return
    if _looks_like_path(value):
        raise ConfigError(f"{name}: model folder {value!r} does not exist")
    if value.count("/") != 1 or not _REPO_ID.match(value):
        hint = difflib.get_close_matches(value, list(BUILTIN_MODELS), n=1)
        raise ConfigError(f"{name}: {value!r} is not a built-in model, a folder or a Hub repo id"
                          + (f" (did you mean {hint[0]!r}?)" if hint else "")
                          + f". Built-in: {', '.join(BUILTIN_MODELS)}")


def _is_module_name(value: str) -> bool:
    return not value.endswith(".py") and all(part.isidentifier() for part in value.split("."))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional  # noqa: UP007
    return tp, False


def _field_type(cls: type, path: str) -> Any:
    head, _, rest = path.partition(".")
    hints = _hints(cls)
    if head not in hints:
        return None
    tp, _ = _unwrap(hints[head])
    if rest:
        return _field_type(tp, rest) if is_dataclass(tp) else None
    return tp


def _build(cls: type, data: dict[str, Any], *, prefix: str, source: str | None) -> Any:
    hints = _hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in hints:
            hint = difflib.get_close_matches(str(key), names, n=1)
            raise ConfigError(_where(source) + f"unknown field {full!r}"
                              + (f" (did you mean {prefix}{hint[0]!r}?)" if hint else ""))
        kwargs[key] = _coerce(full, hints[key], value, source)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a missing required field of a nested section
        raise ConfigError(_where(source) + f"{prefix.rstrip('.') or cls.__name__}: {e}") from None


def _coerce(name: str, tp: Any, value: Any, source: str | None) -> Any:
    """Check/convert a value read from YAML to the field's type; strings holding numbers become numbers."""
    base, optional = _unwrap(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(_where(source) + f"{name} cannot be null")
    if is_dataclass(base):
        if isinstance(value, base):
            return value
        if not isinstance(value, dict):
            raise ConfigError(_where(source) + f"{name} must be a mapping, got {value!r}")
        return _build(base, value, prefix=f"{name}.", source=source)
    origin = typing.get_origin(base)
    if base is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(_where(source) + f"{name} must be true or false, got {value!r}")
    if base is int:
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(_where(source) + f"{name} must be an integer, got {value!r}")
        return value
    if base is float:
        # YAML 1.1 reads "1e-4" (no dot) as a string: accept numeric strings.
        if isinstance(value, str) and _is_number(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(_where(source) + f"{name} must be a number, got {value!r}")
        return float(value)
    if base is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(_where(source) + f"{name} must be text, got {value!r}")
        return str(value)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(_where(source) + f"{name} must be a list, got {value!r}")
        (item_tp,) = typing.get_args(base)
        return [_coerce(f"{name}[{i}]", item_tp, v, source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(_where(source) + f"{name} must be a mapping, got {value!r}")
        _, val_tp = typing.get_args(base)
        return {str(k): _coerce(f"{name}.{k}", val_tp, v, source) for k, v in value.items()}
    # str | float (judge.fallback): keep what YAML gave, validate() checks the value.
    return value


def _to_plain(obj: Any) -> Any:
    if is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if not rest:
        data[head] = value
        return
    section = data.get(head)
    if section is None:
        tp, _ = _unwrap(_hints(TrainConfig).get(head, Any))
        if not is_dataclass(tp):
            raise ConfigError(f"--{key}: {head!r} has no sub-fields")
        section = {f.name: (f.default if f.default is not MISSING else f.default_factory())
                   for f in fields(tp) if f.default is not MISSING or f.default_factory is not MISSING}
        data[head] = section
    if not isinstance(section, dict):
        raise ConfigError(f"--{key}: {head!r} has no sub-fields")
    _set_path(section, rest, value)


def _parse_cli_value(key: str, text: str) -> Any:
    """A command-line string read by the type of the field it overrides (validated afterwards by from_dict)."""
    import yaml

    head = key.partition(".")[0]
    if head not in _hints(TrainConfig):
        names = [f.name for f in fields(TrainConfig)]
        hint = difflib.get_close_matches(head, names, n=1)
        raise ConfigError(f"unknown field {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    tp = _field_type(TrainConfig, key)
    optional = _unwrap(_hints(TrainConfig)[head])[1] if "." not in key else True
    if text.strip().lower() in ("none", "null", "~") and optional:
        return None
    if tp is bool:
        low = text.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"--{key} must be true or false, got {text!r}")
    if tp in (int, float, str):
        return text
    origin = typing.get_origin(tp)
    if origin is dict or (tp is not None and is_dataclass(tp)):
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                return yaml.safe_load(stripped)
            except yaml.YAMLError as e:
                raise ConfigError(f"--{key}: not a valid mapping: {e}") from None
        out: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in stripped.split(","))):
            name, eq, value = part.partition("=")
            if not eq:
                raise ConfigError(f"--{key} takes name=value pairs separated by commas, got {part!r}")
            out[name.strip()] = value.strip()
        return out
    if origin is list:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                return yaml.safe_load(stripped)
            except yaml.YAMLError as e:
                raise ConfigError(f"--{key}: not a valid list: {e}") from None
        return stripped
    return yaml.safe_load(text)

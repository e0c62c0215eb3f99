"""`TrainConfig`: the fields every training run has (model, tasks, tools, rewards, LoRA/QLoRA, devices, steps,
evaluation, checkpoints, output), the base of one config class per algorithm (`GRPOTrainConfig`,
`DPOTrainConfig`, `SFTTrainConfig`, `DistillTrainConfig`), which add only their own fields and checks.

TRL style: flat dataclasses of plain fields, each with its help in `field(metadata={"help": ...})`, and two nested
sections (`lora`, `judge`). The same names work everywhere::

    # run.yaml
    algorithm: grpo
    model: qwen2.5-coder-0.5b-instruct
    tasks: ./my_tasks
    rewards: {expected_calls: 1.0, format: 0.2}
    lora: {r: 16, alpha: 32}

    $ toolbrain-hub train run.yaml --learning_rate 1e-4 --lora.r 8 --max_steps 30
    $ toolbrain-hub train run.yaml --help          # the fields of the file's algorithm, with their help

    >>> TrainConfig.from_yaml("run.yaml", overrides=["--learning_rate", "1e-4"]).validate()
    >>> TrainConfig(algorithm="dpo", tasks="./my_tasks", dpo_beta=0.2)   # a DPOTrainConfig

`TrainConfig(...)`, `from_dict` and `from_yaml` build the class of the `algorithm` they are given (as
`pathlib.Path(...)` builds a `PosixPath`). A field of another algorithm is not an error when it holds that
algorithm's default: the config.yaml of runs made before the split holds every field of every algorithm. Any other
value is kept aside (`config.ignored`; `--algorithm` switching to its algorithm takes it up), and `validate()`
checks it and warns that this algorithm ignores it.

Every problem raises `ConfigError` naming the field, with its help; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.builtin import DEFAULT_MODEL
from . import checks, others, parsing
from .checks import setting
from .helptext import documented
from .sections import JudgeSettings, LoraSettings

__all__ = ["ALGORITHMS", "DEFAULT_REWARDS", "TrainConfig", "config_classes"]

ALGORITHMS = ("grpo", "dpo", "sft", "distill")
ALGORITHM_HELP = ("The trainer: grpo, dpo, sft or distill. Each has its own fields: toolbrain-hub train --help "
                  "--algorithm NAME lists them.")
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
# invented tool or broken JSON; totals lie in [-1.2, 1.7] (the argument: toolbrain_hub/rewards/functions.py).
DEFAULT_REWARDS = {"expected_calls": 1.0, "answer_match": 0.5, "format": 0.2, "invented_tool": 0.5,
                   "unneeded_tool": 0.5}


def algorithm_field(name: str):
    """The `algorithm` field of a config class, whose default names the class's algorithm.

    Args:
        name: The algorithm.
    """
    return setting(name, help=ALGORITHM_HELP, check=checks.choice(*ALGORITHMS))


def _tasks(name: str, value: Any) -> None:
    if value:  # empty: required or not depending on the algorithm (`_check_sources`)
        checks.data_ref(name, value)


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, got {type(value).__name__}")


def _path(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a path, got {type(value).__name__}")


class _PicksAlgorithm(type):
    """`TrainConfig(**fields)` builds the config class of `fields["algorithm"]`; other algorithms' fields among the
    keyword arguments are sorted out as `from_dict` does. (A `__new__` could pick the class, but the dataclass
    `__init__` would still receive the other algorithms' arguments: older code and the Space's form pass them.)"""

    def __call__(cls, *args: Any, **kwargs: Any):
        target = cls._pick(kwargs.get("algorithm", args[0] if args else None))
        kept, ignored = others.sort_out(target, kwargs, config_classes(), source=None, coerce=False)
        config = type.__call__(target, *args, **kept)
        config._ignored = ignored
        return config


@documented
@dataclass
class TrainConfig(metaclass=_PicksAlgorithm):
    """One training run: the fields every algorithm has. `TrainConfig(algorithm=...)` builds the algorithm's own
    config class; field names follow TRL's where one exists."""

    algorithm: str = algorithm_field("grpo")
    model: str = setting(DEFAULT_MODEL, help="The policy to train: a built-in model name, a model folder or a Hub "
                                             "repo id.", check=checks.model_ref)
    tasks: str = setting("", help="Task dataset: a folder (generate_tasks / save_to_disk) or a Hub dataset repo id.",
                         check=_tasks)
    tools: str | None = setting(None, help="Tool schema file; optional when the tasks carry their tools.",
                                check=checks.existing_file)
    implementations: str | None = setting(
        None, help="A Python file or module whose functions run the tools. Without it (and without mcp_server) tools "
                   "are schema-only: calls are checked and answered from the tasks' expected results.",
        check=checks.file_or_module)
    mcp_server: str | None = setting(None, help="An MCP server that runs the tools: an http(s) URL or a stdio "
                                                "command line.", check=checks.text)
    simulator: str | None = setting(None, help="For schema-only tools: a chat model (local or endpoint URL) that "
                                               "invents plausible tool results.", check=checks.model_ref)
    tool_top_k: int | None = setting(None, help="Show each task only its k most relevant tools (embedding "
                                                "retrieval); none: all.", check=checks.positive_int)
    system_prompt: str | None = setting(None, help="The agent's system prompt (default: the agent spec's own).",
                                        check=_string)
    rewards: dict[str, float] = setting(factory=lambda: dict(DEFAULT_REWARDS), check=checks.rewards,
                                        help="Reward names (built-in, or module:function for your own) and weights.")
    judge: JudgeSettings | None = setting(None, help="An LLM group judge as an extra reward (judge.model, "
                                                     "judge.weight, ...); none: no judge.")
    lora: LoraSettings = setting(factory=LoraSettings, help="The LoRA adapter (lora.r, lora.alpha, lora.dropout, "
                                                            "lora.target_modules).")
    quantization: str = setting("none", help="4bit: QLoRA with bitsandbytes (works on CPU too); 8bit; none.",
                                check=checks.choice(*QUANTIZATIONS))
    unsloth: str = setting("auto", help="auto: use unsloth when installed and on a GPU; on: fail without it; off.",
                           check=checks.choice(*UNSLOTH_MODES))
    dtype: str = setting("auto", help="Weights' dtype; auto: bfloat16 on a GPU that has it, else float32. On a CPU "
                                      "with bf16 units bfloat16 trains about 2x faster.",
                         check=checks.choice(*DTYPES))
    learning_rate: float = setting(2e-5, help="Optimizer learning rate.", check=checks.positive)
    max_steps: int = setting(60, help="Optimizer steps.", check=checks.positive_int)
    per_device_train_batch_size: int = setting(4, help="Sequences per device per step.", check=checks.positive_int)
    gradient_accumulation_steps: int = setting(1, help="Steps accumulated before an optimizer update.",
                                               check=checks.positive_int)
    max_turns: int = setting(2, help="Tool-calling iterations per episode (TRL's max_tool_calling_iterations).",
                             check=checks.positive_int)
    max_completion_length: int = setting(128, help="Token budget of an episode's whole model output (all turns, "
                                                   "tool results included).", check=checks.positive_int)
    max_prompt_length: int | None = setting(
        None, help="none: keep every task (the longest prompt, measured with the tokenizer, sizes the budgets); a "
                   "number: drop tasks whose prompt (tools included) is longer, with a warning.",
        check=checks.positive_int)
    seed: int = setting(42, help="Random seed.", check=checks.whole(0))
    eval_steps: int = setting(0, help="Evaluate on the held-out tasks before training, every N steps and at the end "
                                      "(0: no evaluation during training).", check=checks.whole(0))
    eval_tasks: int = setting(16, help="Held-out tasks in that evaluation.", check=checks.positive_int)
    eval_batch_size: int = setting(8, help="Episodes generated together in that evaluation.",
                                   check=checks.positive_int)
    save_steps: int = setting(10, help="Save a resumable checkpoint every N steps (0: only the final adapter).",
                              check=checks.whole(0))
    save_total_limit: int | None = setting(2, help="Checkpoints kept (older ones are deleted); none: all.",
                                           check=checks.positive_int)
    logging_steps: int = setting(1, help="Write a metrics row every N steps.", check=checks.positive_int)
    threads: int | None = setting(None, help="torch CPU threads (none: torch's default); 1 is fastest for tiny "
                                             "models, 2+ for the 0.5B model.", check=checks.positive_int)
    gradient_checkpointing: bool = setting(True, help="Recompute activations in the backward pass: much less "
                                                      "memory for a little more time.", check=checks.boolean)
    device: str = setting("auto", help="auto, cpu or cuda.", check=checks.choice(*DEVICES))
    output_dir: str = setting("", help="The run folder (default: runs/<algorithm>-<time>).", check=_path)
    resume: bool = setting(False, help="Continue the run in output_dir from its last checkpoint.",
                           check=checks.boolean)
    push_to: str | None = setting(None, help="A Hub repo id (user/name) to publish the final adapter to.",
                                  check=checks.repo_id)
    max_tasks: int | None = setting(None, help="Train on at most this many tasks; none: all.",
                                    check=checks.positive_int)

    # ----- the config class of each algorithm -----

    @classmethod
    def _pick(cls, algorithm: Any) -> type[TrainConfig]:
        """The class to build for `algorithm`: its config class from `TrainConfig`, the class itself otherwise."""
        own = others.algorithm_of(cls)
        if cls is TrainConfig:
            algorithm = own if algorithm is None else algorithm
            classes = config_classes()
            if not isinstance(algorithm, str) or algorithm not in classes:
                checks.choice(*ALGORITHMS)("algorithm", algorithm)
            return classes[algorithm]
        if algorithm is not None and algorithm != own:
            raise ConfigError(f"algorithm: {cls.__name__} is the {own!r} config, got {algorithm!r} "
                              f"(TrainConfig(algorithm={algorithm!r}) builds that algorithm's config)")
        return cls

    @property
    def ignored(self) -> dict[str, Any]:
        """Fields of other algorithms this config was given with a value that is not their default (their
        algorithms use them, this one does not); `validate()` checks them and warns. `apply_overrides` keeps them,
        so `--algorithm` switching to their algorithm takes them up."""
        return dict(getattr(self, "_ignored", {}))

    # ----- construction -----

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> TrainConfig:
        """Build the config of `data["algorithm"]` from a mapping (as read from YAML); unknown keys and wrong types
        raise `ConfigError` with the field's help.

        Args:
            data: Field names to values; `lora` and `judge` may be mappings.
            source: How to name the origin in error messages (a file name).
        """
        if not isinstance(data, dict):
            raise ConfigError(parsing.where(source) + f"a config must be a mapping of field names to values, got "
                                                      f"{type(data).__name__}")
        try:
            target = cls._pick(data.get("algorithm"))
        except ConfigError as e:
            raise ConfigError(parsing.where(source) + str(e)) from None
        kept, ignored = others.sort_out(target, data, config_classes(), source=source, coerce=True)
        config = parsing.build(target, kept, source=source)
        config._ignored = ignored
        return config

    @classmethod
    def from_yaml(cls, path: str | Path, *, overrides: list[str] | None = None) -> TrainConfig:
        """Read a YAML config file, then apply `--field value` overrides (see `apply_overrides`).

        Args:
            path: The YAML file.
            overrides: Command-line words, e.g. ["--max_steps", "10"].
        """
        config = cls.from_dict(parsing.read_yaml(path) or {}, source=str(path))
        return config.apply_overrides(overrides) if overrides else config

    def apply_overrides(self, args: list[str]) -> TrainConfig:
        """A copy with `--field value` (or `--field=value`) overrides applied; nested fields as `--lora.r 8`.

        Values are read by the field's type: numbers, booleans (true/false), `none` for optional fields, lists as
        `a,b,c`, and mappings as `name=weight,name=weight` or inline YAML (`{a: 1}`). `--algorithm` may change the
        algorithm: the result is that algorithm's config (with the `ignored` fields it uses).

        Args:
            args: The command-line words.
        """
        data = {**self.ignored, **self.to_dict()}
        owners = others.owners(config_classes())

        def owner(key: str) -> type | None:
            head = key.partition(".")[0]
            return type(self) if head in self.__dataclass_fields__ else (owners[head][0] if head in owners else None)

        def is_flag(key: str) -> bool:
            return owner(key) is not None and parsing.field_type(owner(key), key)[0] is bool

        for key, text in parsing.split_overrides(args, is_flag=is_flag):
            cls = owner(key)
            if cls is None:
                raise others.unknown(type(self), key, config_classes(), source=None)
            head = key.partition(".")[0]
            tp, optional = parsing.field_type(cls, key)
            section, _ = parsing.field_type(cls, head)
            value = parsing.parse_cli_value(key, text, tp, optional=optional or "." in key)
            parsing.set_path(data, key, value, section)
        return TrainConfig.from_dict(data, source="command line")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready) of this algorithm's fields; `from_dict(to_dict())` gives an equal config."""
        return parsing.to_plain(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML text; also written to `path` when given.

        Args:
            path: A file to write.
        """
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ----- validation -----

    def validate(self) -> TrainConfig:
        """Check every field (its own check, with its help in the message), then their combinations, without
        loading anything heavy; returns self.

        Raises:
            ConfigError: naming the first bad field.
        """
        type(self)._pick(self.algorithm)
        checks.check_fields(self)
        others.check_ignored(self, config_classes())
        self._check_sources()
        self._check_runtime()
        self._check_algorithm()
        return self

    def _replaces_tasks(self) -> str | None:
        """The field whose data replaces the tasks when set (DPO: preferences, SFT: traces), or None."""
        return None

    def _check_algorithm(self) -> None:
        """The checks of the algorithm's own combinations (each config class has its own)."""

    def _check_sources(self) -> None:
        """Where tasks, tools and tool results come from."""
        if not self.tasks:
            other = self._replaces_tasks()
            if other is None:
                raise ConfigError(f"tasks is required for algorithm {self.algorithm!r}: a task folder or a Hub "
                                  f"dataset repo id")
            if not self.tools:
                raise ConfigError(f"tools is required for {self.algorithm} without tasks: the tool schema file the "
                                  f"{other} use")
        if self.implementations and self.mcp_server:
            raise ConfigError("implementations and mcp_server are exclusive: the tools run in one place")
        if self.simulator is not None and (self.implementations or self.mcp_server):
            raise ConfigError("simulator is for schema-only tools; it cannot be combined with implementations or "
                              "mcp_server")

    def _check_runtime(self) -> None:
        """unsloth's requirements and resuming."""
        if self.unsloth == "on":
            import importlib.util

            if importlib.util.find_spec("unsloth") is None:
                raise ConfigError("unsloth is 'on' but unsloth is not installed: pip install -r "
                                  "requirements-unsloth.txt in a GPU environment, or set unsloth: auto")
            if self.device == "cpu":
                raise ConfigError("unsloth is 'on' but device is 'cpu': unsloth needs a GPU")
        if self.resume:
            if not self.output_dir:
                raise ConfigError("resume needs output_dir: the run folder to continue")
            if not Path(self.output_dir).expanduser().is_dir():
                raise ConfigError(f"resume: output_dir {self.output_dir!r} does not exist")

    def _require_rewards(self) -> None:
        """Rollouts are scored: at least one reward or a judge."""
        if not self.rewards and self.judge is None:
            raise ConfigError(f"rewards: {self.algorithm} needs at least one reward (or a judge)")

    def _warn_short_completions(self) -> None:
        """Rollouts with a budget too small for a tool call, its result and an answer train nothing of the answer."""
        if self.max_completion_length < MIN_TOOL_COMPLETION_LENGTH:
            warnings.warn(f"max_completion_length {self.max_completion_length} cannot hold a tool call, its result "
                          f"and an answer: TRL counts the result in this budget and drops one that overflows, so "
                          f"rollouts end at the call and the answer turn is not trained; use "
                          f"{MIN_TOOL_COMPLETION_LENGTH} or more", UserWarning, stacklevel=4)

    # ----- derived values -----

    def resolved_output_dir(self) -> Path:
        """`output_dir`, or runs/<algorithm>-<YYYYmmdd-HHMMSS> when empty."""
        if self.output_dir:
            return Path(self.output_dir).expanduser()
        import time

        return Path("runs") / f"{self.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}"


def config_classes() -> dict[str, type[TrainConfig]]:
    """The config class of each algorithm, in `ALGORITHMS` order (the subclasses of `TrainConfig`, by the default of
    their `algorithm` field; the shallowest one when a class is subclassed further)."""
    found: dict[str, type[TrainConfig]] = {}
    level = TrainConfig.__subclasses__()
    while level:
        for cls in level:
            declared = getattr(cls, "__dataclass_fields__", {}).get("algorithm")
            if declared is not None:
                found.setdefault(declared.default, cls)
        level = [sub for cls in level for sub in cls.__subclasses__()]
    return {name: found[name] for name in ALGORITHMS if name in found}

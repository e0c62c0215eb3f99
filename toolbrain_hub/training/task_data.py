"""The run's tasks and tools: `TaskData` (training and held-out rows with their tool environment), reading them from
the config, and measuring the rendered prompts (tools included) to size sequences and drop prompts that are too long.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..config.base import TrainConfig
from ..errors import ConfigError
from ..tools.implementations import load_implementations

logger = logging.getLogger("toolbrain_hub.training")


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
        """The tool schemas a row's prompt is rendered with: its environment's tools, each as its full JSON schema
        (what TRL renders for the environment's methods on a `grpo.prepare_tokenizer`-ed tokenizer)."""
        return [dict(schema) for schema in self.factory_for(row).tool_schemas]

    @property
    def tool_schemas(self) -> list[dict]:
        """Every tool as the chat template renders it in training: its full JSON schema, sorted by name."""
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
    from ..environment.backends import ToolEnvironmentError
    from ..tasks.taskset import TaskError

    try:
        return _load_task_data(config, tokenizer)
    except TaskError as e:
        raise ConfigError(f"tasks: {e}") from None
    except ToolEnvironmentError as e:
        field = "implementations" if config.implementations else "mcp_server" if config.mcp_server else "tools"
        raise ConfigError(f"{field}: {e}") from None


def _load_task_data(config: TrainConfig, tokenizer=None) -> TaskData:
    from ..environment.factories import make_environment_factory, make_routed_environments
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
    from ..environment.factories import make_environment_factory
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


def prompt_budget(config: TrainConfig, data: TaskData) -> int | None:
    """Prompt tokens to plan sequences for: `max_prompt_length` when set, else the longest measured task prompt
    (None without tasks: then sequences are not truncated)."""
    return config.max_prompt_length or data.longest_prompt

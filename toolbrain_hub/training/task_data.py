"""The run's tasks and tools: `TaskData` (training and held-out rows with their tool environment), reading them from
the config, and measuring the rendered prompts (tools included) to size sequences and drop prompts that are too long.
"""

from __future__ import annotations

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
    from ..tasks.taskset import load_tasks

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

    system_prompt = config.system_prompt
    if system_prompt is not None:
        train = train.map(lambda row: {"prompt": _with_system_prompt(row["prompt"], system_prompt)})
        if evaluation is not None:
            evaluation = evaluation.map(lambda row: {"prompt": _with_system_prompt(row["prompt"], system_prompt)})
    else:
        first = train[0]["prompt"] if len(train) else []
        system_prompt = next((m["content"] for m in first if m.get("role") == "system"), None)
    train, evaluation, specs, factory = _environments(config, train, evaluation)
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


def _environments(config: TrainConfig, train, evaluation):
    """The tool environment of the run's tasks: (train, eval, every tool, the factory or {name: factory}).

    A task that lists its own tools (its `tools` column) is trained and evaluated with exactly those definitions;
    `config.tools` (else the task set's tools.json) serves tasks that list none. When every task has the same tool
    set (a generated task set) one environment serves all; otherwise (tasks imported with their own tools, mixed task
    sets, `tool_top_k`) each row is routed to the environment of its tool set.
    """
    from ..environment.environment import declared_tool_names
    from ..environment.factories import make_environment_factory, make_routed_environments
    from ..tasks.taskset import load_task_tools
    from ..tools.schemas import load_tools

    splits = [train] if evaluation is None else [train, evaluation]
    texts = [text for split in splits for text in (split["tools"] if "tools" in split.column_names
                                                   else [None] * len(split))]
    listed = list(dict.fromkeys(t for t in texts if t and t.strip() != "[]"))  # each distinct tools column
    lacking = any(not t or t.strip() == "[]" for t in texts)  # rows that list no tools: they get the base tools
    base = load_tools(config.tools) if config.tools else None
    if base is None and lacking:
        try:
            base = load_task_tools(config.tasks)
        except FileNotFoundError:
            raise ConfigError(f"tools: tasks of {config.tasks!r} list no tools (no 'tools' column) and it has no "
                              "tools.json; give tools: FILE") from None
    if not listed and not base:
        raise ConfigError(f"tools: {config.tasks!r} carries no tools (no tools.json, no 'tools' column); "
                          "give tools: FILE")
    # One environment serves all when the tasks need one tool set (a generated task set); otherwise (tasks with
    # their own tools, mixed task sets, retrieval) each row gets the environment of its tools.
    single = config.tool_top_k is None and (not listed or (not lacking and len(listed) == 1))
    names = sorted({s.name for s in base or []} | {n for text in listed for n in declared_tool_names(text)})
    options = {"implementations": None, "mcp": _mcp_arg(config.mcp_server) if config.mcp_server else None,
               "simulator": None}
    if config.implementations:
        # Routed rows may mix your tools with imported ones: those without an implementation run schema-only.
        options["implementations"] = load_implementations(config.implementations, names, partial=not single)
    if config.simulator:
        from ..models.chat import get_chat_model

        options["simulator"] = get_chat_model(config.simulator)
    if single:
        specs = base if not listed else load_tools(listed[0], name=f"{config.tasks!r} column 'tools'")
        return train, evaluation, list(specs), make_environment_factory(specs, **options)
    both = train if evaluation is None else _concatenate(train, evaluation)
    # `tools:` with implementations or an MCP server says which definitions are yours: a task's tool of the same name
    # but another schema (an imported `get_weather`) is not run on them.
    owned = bool(config.tools) and bool(config.implementations or config.mcp_server)
    routed, factories = make_routed_environments(both, base if lacking or owned else None,
                                                 top_k=config.tool_top_k, **options)
    train = routed.select(range(len(train)))
    if evaluation is not None:
        evaluation = routed.select(range(len(train), len(routed)))
    schema_only = [key for key, f in factories.items() if f.backend.label in ("schema-only", "simulated")]
    if schema_only and (options["implementations"] or options["mcp"]):
        logger.warning("%d of %d tool sets have no implementation: their tasks' calls are answered %s",
                       len(schema_only), len(factories), factories[schema_only[0]].backend.label)
    pool = next(iter(factories.values())).tool_pool
    return train, evaluation, list(pool), factories


def _concatenate(train, evaluation):
    from datasets import concatenate_datasets

    return concatenate_datasets([train, evaluation if evaluation.features == train.features else
                                 evaluation.cast(train.features)])


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

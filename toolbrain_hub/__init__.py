"""ToolBrain Hub: teach LLM agents to use tools with reinforcement learning, from schemas to a published agent.

The public API, imported lazily so `import toolbrain_hub` stays fast (torch and transformers load on first use):

    from toolbrain_hub import load_tools, generate_tasks, load_tasks, TrainConfig, train, evaluate, publish, load_agent

Every error meant for a user (a bad schema, config, task set or agent folder, a Hub refusal...) derives from
`ToolBrainError`, so `except ToolBrainError` catches them all.
"""

from __future__ import annotations

import importlib
import logging

# bitsandbytes (imported by peft whenever it is installed) tries an optional Hub-hosted CPU kernel and warns on every
# process start when the `kernels` package is absent: noise in every log, with nothing for the user to do.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: "kernels-community" not in str(record.msg))

__version__ = "0.1.0"

_EXPORTS = {
    "ToolBrainError": "errors",  # the base of every error a user sees (the CLI prints it and exits with code 2)
    "ToolSpec": "tools",
    "load_tools": "tools",
    "ToolSchemaError": "tools",
    "generate_tasks": "tasks",
    "load_tasks": "tasks",
    "save_tasks": "tasks",
    "push_tasks": "tasks",
    "parse_tool_calls": "traces",
    "Trace": "traces",
    "get_chat_model": "models.chat",
    "load_model": "models",
    "GroupJudge": "rewards.judge",
    "JudgeError": "rewards.judge",
    "ToolRetriever": "tools.retrieval",
    "TrainConfig": "config",
    "train": "training",
    "evaluate": "evaluation",
    "publish": "publishing",
    "AgentSpec": "agent",
    "load_agent": "agent",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolbrain_hub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

"""How tools reach a chat template: each tool's JSON Schema, whole, in the OpenAI function format.

Chat templates take tools as schemas, `{"type": "function", "function": {"name", "description", "parameters"}}`, or
as Python callables, which transformers turns into schemas with `get_json_schema` (type hints and docstring). That
conversion keeps argument names, simple types, descriptions, enums and the required set, and loses the rest of what
a call is validated against: nested object properties, array item types, defaults, formats, ranges, patterns, `$ref`s.
TRL's `GRPOTrainer(environment_factory=...)` hands the chat template the environment's tool methods, i.e. callables;
left to `get_json_schema`, the model would be trained on less than it is scored against.

So a callable made from a `ToolSpec` (`ToolSpec.to_callable`, the environment's tool methods) carries its tool's full
schema in the attribute `tool_schema`, and `install_tool_schemas(tokenizer)` makes that tokenizer's
`apply_chat_template` render such a callable as that schema. The callables keep doing the work (TRL runs the calls
through them); only what the model reads changes. Every other renderer (evaluation, the deployed agent, SFT and DPO
datasets, rollouts outside TRL) is given the schemas themselves (`ToolEnvironment.tool_schemas`, an agent spec's
`tools`), so all of them render the same prompt.

The tokenizer instance is patched, not transformers: only the tokenizers a run hands to TRL change, and only for
callables that carry a schema (any other tool, a dict or a plain function, renders exactly as before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["TOOL_SCHEMA_ATTRIBUTE", "install_tool_schemas", "template_tools"]

TOOL_SCHEMA_ATTRIBUTE = "tool_schema"


def template_tools(tools: list[Any] | None) -> list[Any] | None:
    """`tools` as a chat template should see them: each callable that carries a schema (`TOOL_SCHEMA_ATTRIBUTE`)
    replaced by that schema; schemas and other callables unchanged.

    Args:
        tools: What `apply_chat_template(tools=...)` was given (schemas, callables, or None).
    """
    if tools is None:
        return None
    return [getattr(tool, TOOL_SCHEMA_ATTRIBUTE, tool) if callable(tool) else tool for tool in tools]


def install_tool_schemas(tokenizer):
    """Make `tokenizer.apply_chat_template` render tool callables made from ToolSpecs as their full JSON schemas.

    TRL's GRPO loop renders each prompt with `processing_class.apply_chat_template(..., tools=[the environment's
    bound tool methods])`; after this, those methods render as `ToolSpec.to_openai()` (see the module docstring),
    exactly the schemas the agent spec stores and inference renders. Idempotent; the inner tokenizer of a processor
    is patched too.

    Args:
        tokenizer: A tokenizer or a processor (with `.tokenizer`).

    Returns:
        The same tokenizer.
    """
    inner = getattr(tokenizer, "tokenizer", None)
    for target in (tokenizer, inner) if inner is not None and inner is not tokenizer else (tokenizer,):
        if getattr(target, "_toolbrain_tool_schemas", False):
            continue
        target.apply_chat_template = _with_full_schemas(target.apply_chat_template)
        target._toolbrain_tool_schemas = True
    return tokenizer


def _with_full_schemas(apply_chat_template: Callable) -> Callable:
    def render(conversation, tools=None, *args, **kwargs):
        return apply_chat_template(conversation, template_tools(tools), *args, **kwargs)

    render.__doc__ = apply_chat_template.__doc__
    return render

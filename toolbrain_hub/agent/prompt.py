"""Prompt rendering shared by training and inference: the token ids of a conversation, built as in training.

`render_prompt_ids(spec, tokenizer, messages)` builds the ids the way TRL's GRPO tool loop does: the prompt is
rendered once with the tools and the generation prompt, each assistant turn contributes the ids the model generated,
and each run of tool results contributes the template's suffix for it (TRL's `_get_tool_suffix_ids`).
"""

from __future__ import annotations

from typing import Any

from .spec import AgentSpec

__all__ = ["render_prompt_ids"]


def render_prompt_ids(spec: AgentSpec, tokenizer: Any, messages: list[dict], *, tools: list[dict] | None = None,
                      add_generation_prompt: bool = True) -> list[int]:
    """Token ids of a conversation, built exactly as TRL's GRPO tool loop builds them in training.

    The leading messages up to the first assistant turn are rendered once with the tools (and the generation prompt);
    each assistant message adds its `completion_ids` if it carries them (the ids the model generated, as TRL keeps
    them), else the template's rendering of it up to its end-of-turn token; each run of tool (or user) messages adds
    the template's suffix for them, which ends with the next generation prompt.

    Args:
        spec: The agent spec (chat template, template kwargs, tools).
        tokenizer: The model's tokenizer.
        messages: Dicts with "role" and "content"; assistant messages may carry "completion_ids" or "tool_calls";
            tool messages should carry "name".
        tools: Tool schemas to show instead of `spec.tools` (a retrieved subset).
        add_generation_prompt: End with the assistant generation prompt when the last message is not the assistant's
            (ignored after an assistant message, as in TRL).

    Raises:
        ValueError: no message before the first assistant turn, or a template that is not prefix-preserving.
    """
    tools = spec.tools if tools is None else tools
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    if first == 0:
        raise ValueError("a conversation must start with a system or user message, not an assistant one")
    head = [_template_message(m) for m in messages[:first]]
    ids = list(_apply(spec, tokenizer, head, tools=tools or None,
                      add_generation_prompt=add_generation_prompt or first < len(messages)))
    i = first
    while i < len(messages):
        message = messages[i]
        if message["role"] == "assistant":
            completion = message.get("completion_ids")
            ids += list(completion) if completion is not None else _assistant_ids(spec, tokenizer, message)
            i += 1
            continue
        j = i
        while j < len(messages) and messages[j]["role"] != "assistant":
            j += 1
        ids += _suffix_ids(spec, tokenizer, [_template_message(m) for m in messages[i:j]])
        i = j
    return ids


def _template_message(message: dict) -> dict:
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message["role"] == "tool":
        out["name"] = message.get("name") or "tool"
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def _apply(spec: AgentSpec, tokenizer: Any, messages: list[dict], **kwargs) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, chat_template=spec.chat_template, tokenize=True, return_dict=False,
                                        **kwargs, **spec.chat_template_kwargs)
    if hasattr(ids, "keys"):  # some processors return a dict even with return_dict=False
        ids = ids["input_ids"]
    return list(ids)


def _eos_trimmed(tokenizer: Any, ids: list[int]) -> list[int]:
    # Templates render "<|im_end|>\n" after a turn; a generated turn ends at the end-of-turn token itself.
    positions = [k for k, token in enumerate(ids) if token == tokenizer.eos_token_id]
    return ids[: positions[-1] + 1] if positions else ids


def _suffix_ids(spec: AgentSpec, tokenizer: Any, run: list[dict]) -> list[int]:
    # Same construction as TRL's `GRPOTrainer._get_tool_suffix_ids`: render a dummy turn with and without the new
    # messages and keep the difference, so the ids match TRL's even for templates that look back at earlier turns.
    assistant: dict = {"role": "assistant", "content": ""}
    if run[0]["role"] == "tool":
        assistant["tool_calls"] = [{"type": "function", "function": {"name": run[0]["name"], "arguments": {}}}]
    dummy = [{"role": "user", "content": "dummy"}, assistant]
    prefix = _eos_trimmed(tokenizer, _apply(spec, tokenizer, dummy, add_generation_prompt=False))
    full = _apply(spec, tokenizer, dummy + run, add_generation_prompt=True)
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template is not prefix-preserving: the rendered turn does not extend the "
                         "conversation; use training_chat_template(tokenizer)")
    return full[len(prefix):]


def _assistant_ids(spec: AgentSpec, tokenizer: Any, message: dict) -> list[int]:
    # What the model would have generated for this turn: the template's rendering of it, up to end-of-turn.
    dummy = [{"role": "user", "content": "dummy"}]
    prefix = _apply(spec, tokenizer, dummy, add_generation_prompt=True)
    full = _apply(spec, tokenizer, dummy + [_template_message(message)], add_generation_prompt=False)
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template is not prefix-preserving for assistant turns")
    turn = full[len(prefix):]
    end = next((k for k, token in enumerate(turn) if token == tokenizer.eos_token_id), None)
    return turn if end is None else turn[: end + 1]

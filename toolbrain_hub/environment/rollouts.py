"""Episodes outside TRL's GRPO loop: a chat model (the policy, a teacher) runs tasks in the tool environment.

Used where no TRL trainer generates: DPO's on-policy candidates, distillation's teacher traces, and the gold traces
for supervised training. The loop is the one GRPO runs and the deployed agent follows: render the chat with the
tools, generate, parse the calls (tagged, fenced or bare JSON: `traces.parse_tool_calls`), run them in the
environment, append the results as `role: "tool"` messages, repeat up to `max_turns` tool iterations.

Completions are TRL-style message lists (assistant messages with structured `tool_calls`, tool messages), so the
same reward functions score them, and `apply_chat_template` renders them in the model's canonical tool-call form for
SFT and DPO.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..traces.parsing import ParsedReply, parse_tool_calls
from ..traces.trace import Trace

logger = logging.getLogger("toolbrain_hub.training")


@dataclass
class Episode:
    """One task run to the end: the prompt messages, the completion messages, the trace and its rewards.

    Args:
        row: The task row (dataset columns).
        prompt: The chat messages given to the model (system + user).
        completion: What followed: assistant turns and tool results.
        rewards: {reward name: value}, filled by `score_episodes`.
        total: The weighted total reward.
    """

    row: dict[str, Any]
    prompt: list[dict[str, Any]]
    completion: list[dict[str, Any]] = field(default_factory=list)
    rewards: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.prompt + self.completion

    def trace(self) -> Trace:
        return Trace.from_messages(self.messages, task_id=_str_or_none(self.row.get("id")))

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.row.get("id"), "prompt": self.prompt, "completion": self.completion,
                "rewards": self.rewards, "total": self.total, "trace": self.trace().to_dict()}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _tool_message(name: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": content}


def assistant_message(reply: ParsedReply) -> dict[str, Any]:
    """An assistant message for a parsed reply; calls become structured `tool_calls` (rendered by the template)."""
    return reply.to_message()


def run_episodes(chat_model, rows: list[dict[str, Any]], environment_for: Callable[[dict[str, Any]], Any], *,
                 tools_for: Callable[[dict[str, Any]], list[dict]], max_turns: int = 2, max_new_tokens: int = 128,
                 temperature: float = 0.0, num_samples: int = 1, seed: int | None = None,
                 batch_size: int = 8, progress: bool = False, desc: str = "episodes",
                 should_stop: Callable[[], bool] | None = None) -> list[Episode]:
    """Run every task `num_samples` times with a chat model in the tool environment.

    Args:
        chat_model: A `toolbrain_hub.models.chat.ChatModel` (local policy or teacher, or an endpoint).
        rows: Task rows with a `prompt` column (chat messages).
        environment_for: Returns a fresh environment for a row (a `ToolEnvironment`; `reset(**row)` is called here).
        tools_for: Returns the tool schemas (chat-template format) the row's prompt is rendered with.
        max_turns: Tool-calling iterations per episode (TRL's `max_tool_calling_iterations`).
        max_new_tokens: Generation budget per model turn.
        temperature: Sampling temperature (0: greedy).
        num_samples: Episodes per task (DPO candidates).
        seed: Seed for sampling.
        batch_size: Conversations generated together.
        progress: Show a tqdm bar.
        desc: The bar's label.
        should_stop: Checked before every generation call; once it returns True, `stopping.Stopped` is raised
            ("<desc> stopped after N of M episodes").

    Returns:
        Episodes in task order, `num_samples` consecutive ones per task.
    """
    from tqdm.auto import tqdm

    from ..stopping import check

    episodes: list[Episode] = []
    envs: list[Any] = []
    for row in rows:
        for _ in range(num_samples):
            env = environment_for(row)
            observation = env.reset(**row)
            prompt = [dict(m) for m in row["prompt"]]
            if observation:  # TRL appends reset()'s text to the last user message; do the same
                prompt[-1] = {**prompt[-1], "content": f"{prompt[-1]['content']}{observation}"}
            episodes.append(Episode(row=row, prompt=prompt))
            envs.append(env)
    active = list(range(len(episodes)))
    turn = finished = 0
    with tqdm(total=len(episodes), desc=desc, disable=not progress, unit="episode") as bar:
        while active:
            still: list[int] = []
            for start in range(0, len(active), batch_size):
                chunk = active[start:start + batch_size]
                # One generate call per tool set: episodes with different tools cannot share a rendered batch.
                by_tools: dict[str, tuple[list[dict], list[int]]] = {}
                for i in chunk:
                    tools = tools_for(episodes[i].row)
                    by_tools.setdefault(json.dumps(tools, sort_keys=True), (tools, []))[1].append(i)
                for tools, group in by_tools.values():
                    check(should_stop, f"{desc} stopped after {finished} of {len(episodes)} episodes")
                    replies = chat_model.chat_batch([episodes[i].messages for i in group], tools=tools,
                                                    max_new_tokens=max_new_tokens, temperature=temperature,
                                                    seed=None if seed is None else seed + turn)
                    for i, reply in zip(group, replies, strict=True):
                        parsed = parse_tool_calls(reply.text)
                        episodes[i].completion.append(assistant_message(parsed))
                        if parsed.calls and turn < max_turns:
                            for call in parsed.calls:
                                episodes[i].completion.append(_tool_message(call.name, envs[i](call.name,
                                                                                                call.arguments)))
                            still.append(i)
                        else:
                            finished += 1
                            bar.update(1)
            active = still
            turn += 1
    return episodes


def score_episodes(episodes: list[Episode], reward_funcs: list[Callable], weights: list[float]) -> None:
    """Fill each episode's `rewards` and `total` with TRL-signature reward functions (as GRPO computes them).

    Args:
        episodes: The episodes.
        reward_funcs: `(prompts, completions, **columns) -> list[float]` functions (rewards.to_trl_reward, the judge).
        weights: One weight per function.
    """
    if not episodes:
        return
    prompts = [e.prompt for e in episodes]
    completions = [e.completion for e in episodes]
    keys = [k for k in episodes[0].row if k not in ("prompt", "completion")]
    columns = {k: [e.row.get(k) for e in episodes] for k in keys}
    for func, weight in zip(reward_funcs, weights, strict=True):
        values = func(prompts=prompts, completions=completions, **columns)
        name = getattr(func, "__name__", "reward")
        for episode, value in zip(episodes, values, strict=True):
            value = float("nan") if value is None else float(value)
            episode.rewards[name] = value
            if value == value:  # NaN (a reward that does not apply) adds nothing, as in TRL
                episode.total += weight * value


def gold_episode(row: dict[str, Any], env) -> Episode:
    """The reference episode of a task: its expected calls run in the environment, then its gold answer (if any).

    Args:
        row: A task row (`prompt`, `expected_calls` JSON, `gold_answer`).
        env: A tool environment for the row.
    """
    expected = row.get("expected_calls") or "[]"
    calls = json.loads(expected) if isinstance(expected, str) else list(expected)
    episode = Episode(row=row, prompt=[dict(m) for m in row["prompt"]])
    env.reset(**row)
    if calls:
        episode.completion.append({"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": c["name"], "arguments": c.get("arguments") or {}}}
            for c in calls]})
        for c in calls:
            episode.completion.append(_tool_message(c["name"], env(c["name"], c.get("arguments") or {})))
    gold = row.get("gold_answer")
    if gold:
        episode.completion.append({"role": "assistant", "content": str(gold)})
    return episode

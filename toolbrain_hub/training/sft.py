"""Supervised training on traces with TRL's `SFTTrainer`, on the assistant tokens only.

Traces come from a file or dataset (`TrainConfig.traces`: chat messages, `Trace` JSON, or a run's traces.jsonl), from
a teacher (distillation), or, by default, from the tasks themselves: each task's expected calls run in the tool
environment, then its gold answer when it has one ("gold traces").

Each trace is rendered by the chat template with its tools, so tool calls appear in the template's canonical
(tagged) form whatever form they were written in. `assistant_only_loss=True` trains on the assistant turns only:
TRL swaps in its training variant of the template with `{% generation %}` markers (the Qwen2.5 template has one),
and tool results, the prompt and the system message are masked out.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..config.base import TrainConfig
from ..environment.rollouts import Episode, gold_episode
from ..errors import ConfigError
from ..jsonl import JsonlError, iter_jsonl
from ..runs.folder import RunFolder
from .callbacks import ProgressBar, RunCallback, install_callbacks
from .phases import run_single_phase
from .policy import trainer_args
from .task_data import TaskData, prompt_budget

logger = logging.getLogger("toolbrain_hub.training")

_MESSAGE_KEYS = ("role", "content", "tool_calls", "name")


def clean_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with only what the chat template reads (role, content, tool_calls, name)."""
    out = []
    for message in messages:
        clean = {k: message[k] for k in _MESSAGE_KEYS if message.get(k) is not None}
        clean.setdefault("content", "")
        out.append(clean)
    return out


def trace_messages(trace, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """A `traces.Trace` as chat messages: system, user query, assistant turns with tool calls, tool results."""
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": trace.query})
    for turn in trace.turns:
        if turn.role != "assistant":
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.text})
            for result in turn.results:
                messages.append({"role": "tool", "name": result.name, "content": result.content})
            continue
        message: dict[str, Any] = {"role": "assistant", "content": turn.text}
        if turn.calls:
            message["tool_calls"] = [c.to_openai() for c in turn.calls]
        messages.append(message)
        for result in turn.results:
            messages.append({"role": "tool", "name": result.name, "content": result.content})
    return messages


def load_trace_rows(source: str, *, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """Rows {"messages", "tools"?} from a traces source.

    Accepts a JSONL file whose lines hold `messages` (chat messages, optionally `tools`), a `Trace` (as written by
    `traces.save_traces`), or a run's traces.jsonl row (`{"trace": ...}`); or a dataset folder / Hub repo with a
    `messages` column.

    Args:
        source: The file, folder or repo id.
        system_prompt: Put in front of traces that are converted from `Trace` JSON.

    Raises:
        ConfigError: naming the file and line of a row that is neither.
    """
    from ..traces.trace import Trace

    path = Path(source).expanduser()
    rows: list[dict[str, Any]] = []
    if path.is_file():
        try:
            lines = list(iter_jsonl(path, rows="a trace row"))
        except JsonlError as e:
            raise ConfigError(f"traces: {e}") from None
        for n, data in lines:
            if isinstance(data.get("messages"), list):
                rows.append({"messages": data["messages"], "tools": data.get("tools")})
            elif isinstance(data.get("trace"), dict) or isinstance(data.get("turns"), list):
                try:
                    trace = Trace.from_dict(data.get("trace") or data)
                except (ValueError, TypeError, KeyError) as e:
                    raise ConfigError(f"traces: {source}, line {n}: not a valid trace: {e}") from None
                rows.append({"messages": trace_messages(trace, system_prompt), "tools": data.get("tools")})
            else:
                raise ConfigError(f"traces: {source}, line {n}: expected 'messages' (chat messages) or a trace "
                                  "('turns')")
        return rows
    from datasets import load_dataset, load_from_disk

    try:
        dataset = load_from_disk(str(path)) if (path / "dataset_info.json").is_file() else load_dataset(source,
                                                                                                         split="train")
    except Exception as e:  # noqa: BLE001 - any loading problem is a bad config value
        raise ConfigError(f"traces: cannot read {source!r}: {type(e).__name__}: {e}") from None
    if "messages" not in dataset.column_names:
        raise ConfigError(f"traces: {source!r} has no 'messages' column (columns: {dataset.column_names})")
    return [{"messages": row["messages"], "tools": row.get("tools")} for row in dataset]


def episodes_to_rows(episodes: list[Episode], data: TaskData) -> list[dict[str, Any]]:
    return [{"messages": episode.messages, "tools": data.tools_for(episode.row)} for episode in episodes]


def gold_rows(data: TaskData) -> list[dict[str, Any]]:
    """Gold traces of the training tasks (tasks with nothing to learn from are skipped)."""
    episodes = []
    for row in data.train:
        episode = gold_episode(row, data.environment_for(row))
        if any(m["role"] == "assistant" for m in episode.completion):
            episodes.append(episode)
    skipped = len(data.train) - len(episodes)
    if skipped:
        logger.info("gold traces: %d tasks skipped (no expected call and no gold answer)", skipped)
    return episodes_to_rows(episodes, data)


def sft_dataset(rows: list[dict[str, Any]], default_tools: list[dict] | None):
    """A conversational dataset for SFTTrainer: `messages` and `tools` (JSON; per-row or the run's tools).

    Messages are stored as JSON values: Arrow would otherwise merge the argument objects of different tool calls
    into one struct and fill the missing keys with nulls, changing what the template renders.
    """
    from datasets import Dataset, Features, Json, Value

    records = []
    for row in rows:
        tools = row.get("tools") or default_tools or []
        if isinstance(tools, str):
            tools = json.loads(tools)
        records.append({"messages": clean_messages(row["messages"]), "tools": json.dumps(tools)})
    return Dataset.from_list(records, features=Features({"messages": Json(), "tools": Value("string")}))


def sft_max_length(config: TrainConfig, prompt_tokens: int | None) -> int | None:
    """TRL's `max_length` for a conversation: the prompt budget (`task_data.prompt_budget`) + every model turn + room
    for tool results (about one completion's worth per turn); None (no truncation) when the prompts are unmeasured."""
    if prompt_tokens is None:
        return None
    return prompt_tokens + 2 * config.max_completion_length * (config.max_turns + 1)


def build_trainer(config: TrainConfig, run: RunFolder, *, model, tokenizer, peft_config, dataset, phase: str = "train",
                  checkpoint_phase: str | None = None, max_steps: int | None = None, step_offset: int = 0,
                  total_steps: int | None = None, evaluate=None, progress: bool = True,
                  prompt_tokens: int | None = None, learning_rate: float | None = None):
    """An SFTTrainer (assistant-only loss) wired to the run folder. Returns (trainer, run_callback).

    `prompt_tokens` is the prompt budget (`task_data.prompt_budget`) that sizes `max_length` (`sft_max_length`);
    `learning_rate` replaces the config's (GRPO's native-format warm-up has its own).
    """
    from trl import SFTConfig, SFTTrainer

    extra = {} if learning_rate is None else {"learning_rate": learning_rate}
    args = trainer_args(SFTConfig, config, run, phase=checkpoint_phase, max_steps=max_steps,
                        assistant_only_loss=True, max_length=sft_max_length(config, prompt_tokens), packing=False,
                        **extra)
    trainer = SFTTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=dataset,
                         peft_config=peft_config)
    steps = max_steps or config.max_steps
    callback = RunCallback(run, phase=phase, step_offset=step_offset, total_steps=total_steps or steps,
                           evaluate=evaluate, eval_steps=config.eval_steps)
    bar = ProgressBar(total_steps or steps, step_offset=step_offset, desc="sft", disable=not progress or None)
    install_callbacks(trainer, callback, bar)
    return trainer, callback


def run_sft(config: TrainConfig, run: RunFolder, *, progress: bool = True):
    """Supervised training on traces (a file/dataset, or the tasks' gold traces); saves the adapter and spec."""
    def build(policy, data, evaluate):
        if config.traces:
            rows = load_trace_rows(config.traces, system_prompt=data.system_prompt)
            source = config.traces
        else:
            rows = gold_rows(data)
            source = "gold traces of the tasks"
        if not rows:
            raise ConfigError(f"traces: no training trace in {source}")
        dataset = sft_dataset(rows, data.tool_schemas)
        logger.info("SFT: %d traces from %s, backend %s", len(dataset), source, policy.backend)
        return build_trainer(config, run, model=policy.model, tokenizer=policy.tokenizer,
                             peft_config=policy.peft_config, dataset=dataset, evaluate=evaluate, progress=progress,
                             prompt_tokens=prompt_budget(config, data))

    return run_single_phase(config, run, build, progress=progress)

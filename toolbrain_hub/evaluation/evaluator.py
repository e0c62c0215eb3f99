"""Evaluate an agent on held-out tasks: multi-turn episodes in the tool environment, then metrics over the traces.

```python
from toolbrain_hub.evaluation import compare, evaluate

before = evaluate("qwen2.5-coder-0.5b-instruct", "./my_tasks")   # the base model, prompted as training prompts it
after = evaluate("runs/grpo-20261125", "./my_tasks")             # the run's adapter + agent spec
table = compare(before, after)
print(table.to_markdown()); table.plot("comparison.png")
```

Episodes are run the way the model is trained and deployed. For a local transformers model the prompt is built with
the agent spec (`agent.render_prompt_ids`: the training chat template, system prompt and tool schemas, each tool's
full JSON schema or, for a tool of the spec, the schema its training prompt showed; each assistant turn replays the
exact ids the model generated, as TRL's GRPO loop and the deployed `SpecAgent` do). Generation is
greedy and batched over the episodes still running. Replies are read with `traces.parse_tool_calls`; calls run in the
`environment` module's tool environment (schema-only by default: validated, recorded and answered from the task's
recorded results, or by real implementations / an MCP server when given). An episode ends with a reply without a
well-formed call, or after the spec's `max_turns` model turns (the last turn's calls are not run, as in TRL). Any
other `ChatModel` (an endpoint, a scripted policy) runs through `environment.rollouts.run_episodes` at the text level.

What is scored, and how, is in `evaluation.metrics`; the models and folders that can be evaluated in
`evaluation.policies`; before/after comparisons in `evaluation.comparison`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..traces.trace import Trace
from .metrics import EvalError, EvalResult, fmt_value
from .policies import _Policy, load_policy

logger = logging.getLogger(__name__)

__all__ = ["answer_judge", "evaluate"]


# ---------------------------------------------------------------------------------------------------------------------
# Tasks and environments


def _task_rows(tasks: Any, split: str | None, limit: int | None) -> tuple[list[dict[str, Any]], str | None]:
    """Task rows as dicts, and a name for the source."""
    from ..tasks.request_files import is_request_file, is_request_folder, load_request_files
    from ..tasks.taskset import load_tasks

    source = None
    if isinstance(tasks, (str, Path)):
        source = str(tasks)
        path = Path(source).expanduser()
        if is_request_file(path) or is_request_folder(path):  # hand-written requests (bench/heldout): "test" only
            tasks = load_request_files(path).dataset
            if split not in tasks:
                raise EvalError(f"{source}: request files have only a 'test' split, not {split!r}")
            tasks = tasks[split]
        elif (source.startswith((".", "/", "~")) or path.exists()) and not path.is_dir():
            raise EvalError(f"{source}: no such task dataset folder or request file (a .json file with 'tools' and "
                            "'requests')")
        else:
            tasks = load_tasks(str(path) if path.is_dir() else source, split=split)
    elif isinstance(tasks, dict) and tasks and all(hasattr(v, "column_names") for v in tasks.values()):  # DatasetDict
        if split not in tasks:
            raise EvalError(f"the tasks have no split {split!r} (they have {', '.join(tasks)})")
        tasks = tasks[split]
    if limit is not None:
        if limit < 1:
            raise EvalError(f"limit must be at least 1, got {limit}")
        tasks = tasks.select(range(min(limit, len(tasks)))) if hasattr(tasks, "select") else list(tasks)[:limit]
    # A routed training split carries its `environment` column: routing is redone here for the evaluated agent.
    rows = [{k: v for k, v in dict(row).items() if k != "environment"} for row in tasks]
    if not rows:
        raise EvalError(f"no tasks to evaluate{' in ' + source if source else ''}")
    for i, row in enumerate(rows):
        missing = [c for c in ("expected_calls",) if c not in row]
        if not row.get("prompt") and not row.get("query"):
            missing.append("prompt or query")
        if missing:
            raise EvalError(f"task {row.get('id', i)!r} lacks {', '.join(missing)}")
        if not row.get("prompt"):
            row["prompt"] = [{"role": "user", "content": str(row["query"])}]
    return rows, source


def _environments(rows: list[dict[str, Any]], spec: Any, *, implementations: Any, mcp: Any
                  ) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Route each row to a tool environment (schema-only, implementations or MCP), as training does.

    A task that lists its tools (its `tools` column) is run with exactly those, whatever the agent was trained on:
    they are rendered in its prompt, and its calls are validated against them and run. Only tasks that list none use
    the agent spec's tools. Returns (the rows with their `environment`, the factories, where the tools came from).
    """
    from ..environment.environment import declared_tool_names
    from ..environment.factories import make_routed_environments

    listed = [bool(r.get("tools")) and str(r.get("tools")).strip() != "[]" for r in rows]
    tools = spec.tool_specs() if spec is not None and not all(listed) else None
    if tools is None and not all(listed) and implementations is None and mcp is None:
        task = rows[listed.index(False)]
        raise EvalError(f"task {task.get('id', listed.index(False))!r} lists no tools (no 'tools' column) and no agent "
                        "spec names any")
    source = "tasks" if all(listed) else "agent spec" if not any(listed) else "tasks and agent spec"
    names = {t.name for t in tools or []}
    for r, has in zip(rows, listed, strict=True):
        if has:
            text = r["tools"] if isinstance(r["tools"], str) else json.dumps(r["tools"], default=str)
            names |= declared_tool_names(text)
    if isinstance(implementations, (str, Path)):
        from ..tools.implementations import load_implementations  # a .py file or module, as in a training config

        if not names:
            raise EvalError("implementations given as a file need the tools' names: the tasks carry no tools")
        # Tasks whose tools the file does not define run schema-only (an agent evaluated on another task set).
        implementations = load_implementations(str(implementations), sorted(names), partial=True)
    if isinstance(implementations, dict):
        implementations = {k: v for k, v in implementations.items() if k in names}
    top_k = getattr(spec, "tool_top_k", None)
    retrieval_model = None
    if top_k is not None:
        from ..tools.retrieval import DEFAULT_EMBEDDER

        retrieval_model = spec.retrieval_model or DEFAULT_EMBEDDER
    routed, factories = make_routed_environments(rows, tools, top_k=top_k, retrieval_model=retrieval_model,
                                                 implementations=implementations, mcp=mcp)
    return routed, factories, source


def _trained_tools(spec: Any) -> dict[str, tuple[dict, dict]]:
    """{tool name: (its definition, the schema its prompt showed in training)} of an agent spec (empty without one)."""
    if spec is None:
        return {}
    rendered = {tool["function"]["name"]: tool for tool in spec.tools}
    return {tool.name: (tool.to_dict(), rendered[tool.name]) for tool in spec.tool_specs() if tool.name in rendered}


def _shown_tools(factory: Any, trained: dict[str, tuple[dict, dict]]) -> list[dict]:
    """The tools an episode's prompt shows: its environment's, each as the agent spec rendered it in training when the
    spec defines that very tool (so an agent trained before full schemas were rendered keeps its training prompt),
    else the tool's full JSON schema."""
    shown = []
    for tool, schema in zip(factory.tool_specs, factory.tool_schemas, strict=True):
        definition, rendered = trained.get(tool.name, (None, None))
        shown.append(rendered if definition == tool.to_dict() else schema)
    return shown


def _spec_for(policy: _Policy, rows: list[dict[str, Any]], factories: dict[str, Any], max_turns: int | None,
              max_new_tokens: int | None):
    """The agent spec episodes run with: the adapter's, or the one training would write for these tasks."""
    from dataclasses import replace

    from ..agent.spec import AgentSpec
    from ..config.base import TrainConfig

    spec = policy.spec
    if spec is None:
        defaults = TrainConfig()
        system = next((m.get("content") for m in rows[0]["prompt"] if m.get("role") == "system"), None)
        spec = AgentSpec.for_training(policy.name, policy.tokenizer, factories, system_prompt=system,
                                      max_turns=defaults.max_turns + 1,
                                      max_new_tokens=defaults.max_completion_length)
    changes = {}
    if max_turns is not None:
        changes["max_turns"] = max_turns
    if max_new_tokens is not None:
        changes["max_new_tokens"] = max_new_tokens
    return replace(spec, **changes) if changes else spec


# ---------------------------------------------------------------------------------------------------------------------
# Episodes


def _generate(model: Any, prompts: list[list[int]], *, max_new_tokens: int, eos: list[int], pad: int,
              should_stop: Callable[[], bool] | None = None) -> list[list[int]]:
    """Greedy generation for a batch of prompt ids (left-padded); each result ends at its first end-of-turn token.
    `should_stop` ends it at the next token (the caller then raises `stopping.Stopped`)."""
    import torch

    from ..stopping import stopping_criteria

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    device = getattr(model, "device", "cpu")
    with torch.inference_mode():
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=False, temperature=None, top_p=None, top_k=None, eos_token_id=eos,
                             pad_token_id=pad, stopping_criteria=stopping_criteria(should_stop))
    return [_cut_at_eos(row, eos) for row in out[:, width:].tolist()]


def _cut_at_eos(ids: list[int], eos: list[int]) -> list[int]:
    # A turn ends at its end-of-turn token, which is kept (TRL and the deployed SpecModel keep it too).
    end = next((k for k, token in enumerate(ids) if token in eos), None)
    return list(ids) if end is None else list(ids[: end + 1])


def _run_spec_episodes(policy: _Policy, spec: Any, rows: list[dict[str, Any]], factories: dict[str, Any], *,
                       batch_size: int, progress: bool, should_stop: Callable[[], bool] | None = None
                       ) -> list[Trace]:
    """Episodes with a local model, prompted token for token as in training (see the module docstring)."""
    from tqdm.auto import tqdm

    from ..agent.prompt import render_prompt_ids
    from ..agent.runtime import SpecModel
    from ..environment.backends import row_query
    from ..stopping import check
    from ..traces.parsing import parse_tool_calls

    tokenizer = policy.tokenizer
    # The end-of-turn ids the deployed agent stops at.
    eos = SpecModel(spec, policy.model, tokenizer, generate_fn=policy.generate_fn).eos_token_ids
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    trained = _trained_tools(spec)
    envs, messages, tools, counts = [], [], [], []
    for row in rows:
        factory = factories[row["environment"]]
        env = factory()
        env.reset(**row)
        envs.append(env)
        start = spec.initial_messages(row_query(row)) if spec.system_prompt is not None else \
            [dict(m) for m in row["prompt"]]
        messages.append(start)
        tools.append(_shown_tools(factory, trained))
        counts.append([])
    active = list(range(len(rows)))
    turn = finished = 0
    with tqdm(total=len(rows), desc="eval", unit="task", disable=not progress) as bar:
        while active:
            turn += 1
            prompts = {i: render_prompt_ids(spec, tokenizer, messages[i], tools=tools[i]) for i in active}
            order = sorted(active, key=lambda i: len(prompts[i]))  # similar lengths together: less padding
            still = []
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                stopped = f"evaluation stopped after {finished} of {len(rows)} tasks"
                check(should_stop, stopped)
                if policy.generate_fn is not None:
                    outputs = [_cut_at_eos(policy.generate_fn(list(prompts[i])), eos) for i in chunk]
                else:
                    outputs = _generate(policy.model, [prompts[i] for i in chunk],
                                        max_new_tokens=spec.max_new_tokens, eos=eos, pad=pad, should_stop=should_stop)
                check(should_stop, stopped)  # a generation cut short by the stop is no result
                for i, ids in zip(chunk, outputs, strict=True):
                    body = ids[:-1] if ids and ids[-1] in eos else ids
                    text = tokenizer.decode(body, skip_special_tokens=True)
                    messages[i].append({"role": "assistant", "content": text, "completion_ids": ids})
                    counts[i].append((len(prompts[i]), len(ids)))
                    calls = parse_tool_calls(text).calls
                    if calls and turn < spec.max_turns:
                        for call in calls:
                            messages[i].append({"role": "tool", "name": call.name,
                                                "content": envs[i](call.name, call.arguments)})
                        still.append(i)
                    else:
                        finished += 1
                        bar.update(1)
            active = still
    traces = []
    for row, conversation, per_turn in zip(rows, messages, counts, strict=True):
        plain = [{k: v for k, v in m.items() if k != "completion_ids"} for m in conversation]
        trace = Trace.from_messages(plain, task_id=_str(row.get("id")), query=row_query(row))
        for turn_obj, (prompt_tokens, completion_tokens) in zip(trace.model_turns, per_turn, strict=True):
            turn_obj.prompt_tokens, turn_obj.completion_tokens = prompt_tokens, completion_tokens
        traces.append(trace)
    return traces


def _run_chat_episodes(policy: _Policy, rows: list[dict[str, Any]], factories: dict[str, Any], *, max_turns: int,
                       max_new_tokens: int, batch_size: int, progress: bool,
                       should_stop: Callable[[], bool] | None = None) -> list[Trace]:
    """Episodes with a ChatModel (endpoint, scripted policy): the text-level loop shared with DPO and distillation."""
    from ..environment.backends import row_query
    from ..environment.rollouts import run_episodes

    trained = _trained_tools(policy.spec)
    episodes = run_episodes(policy.chat_model, rows, lambda row: factories[row["environment"]](),
                            tools_for=lambda row: _shown_tools(factories[row["environment"]], trained),
                            max_turns=max_turns - 1, max_new_tokens=max_new_tokens, temperature=0.0,
                            batch_size=batch_size, progress=progress, desc="eval", should_stop=should_stop)
    traces = []
    for episode in episodes:
        trace = episode.trace()
        trace.query = row_query(episode.row)
        traces.append(trace)
    return traces


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def evaluate(model_or_agent: Any, tasks: Any, *, split: str = "test", limit: int | None = None,
             max_turns: int | None = None, max_new_tokens: int | None = None, batch_size: int = 8,
             progress: bool = True, implementations: dict[str, Any] | str | None = None, mcp: Any = None,
             spec: Any = None, device: str = "auto", dtype: str = "auto", threads: int | None = None,
             should_stop: Callable[[], bool] | None = None, judge: Any = None) -> EvalResult:
    """Run every task as a multi-turn episode and score the traces.

    Any agent runs on any task set: a task that lists its tools (its `tools` column) is run with exactly those,
    rendered in its prompt with the agent's own chat template, system prompt and parser, and its calls validated and
    run against them; only tasks that list none use the agent spec's tools. `info["tools_source"]` says whose tools
    were used ("tasks", "agent spec" or both), `info["tools"]` where the calls ran.

    Args:
        model_or_agent: What to evaluate (see `load_policy`): a model name/folder/Hub id, a run or adapter folder
            with agent_spec.json, a loaded `(model, tokenizer)`, or a `ChatModel`.
        tasks: A task dataset folder or Hub dataset repo id (`tasks.load_tasks`), a Dataset / DatasetDict, or a list
            of task rows.
        split: The split to read from a folder, repo or DatasetDict.
        limit: Evaluate only the first N tasks.
        max_turns: Model turns per episode (default: the agent spec's; for a model without one, the training
            default, `TrainConfig.max_turns + 1`).
        max_new_tokens: Tokens per model turn (default: the agent spec's).
        batch_size: Episodes generated together.
        progress: Show a tqdm bar.
        implementations: Run the tools for real (default: schema-only): `{tool name: callable}`, or a .py file or
            module defining functions named as the tools (this runs its code: only for your own tools). Tasks whose
            tools it defines none of run schema-only; a task whose tools it defines in part is an error.
        mcp: An MCP server to run the tools (see `environment.make_environment_factory`).
        spec: An `AgentSpec` to prompt with, overriding the one from the folder (e.g. a run's spec for an in-training
            evaluation of its model).
        device: Device for models loaded here.
        dtype: Weights' dtype for models loaded here ("auto", "float32", "bfloat16", "float16").
        threads: torch threads (None: torch's default).
        should_stop: Checked after loading the model, between generation batches and between generated tokens; once
            it returns True the evaluation ends with `stopping.Stopped` (nothing is scored or saved).
        judge: An answer judge (`rewards.answer_judge.AnswerJudge`, or a model or endpoint spec to make one from:
            "URL#model" with $TOOLBRAIN_ENDPOINT_TOKEN, a model name, folder or Hub id): each task with a gold answer
            gets a label (CORRECT, INCORRECT or NO_ANSWER) in its per-task row and its trace's metadata, and the
            metrics gain the judged rates (`metrics.JUDGED_METRICS`). A task the judge gives no label for (after its
            retries) is left unlabelled, logged and counted in `info["judge_failures"]`. None: no judge, as before.

    Returns:
        An EvalResult (metrics, per-task rows, traces, breakdown by kind and difficulty).

    Raises:
        EvalError: unusable model path or tasks; `tasks.TaskError` for a folder or repo that is not a task dataset.
        stopping.Stopped: `should_stop` asked to stop; the message says how many tasks had been run.
    """
    from ..stopping import check

    if batch_size < 1:
        raise EvalError(f"batch_size must be at least 1, got {batch_size}")
    if max_turns is not None and max_turns < 1:
        raise EvalError(f"max_turns must be at least 1, got {max_turns}")
    rows, source = _task_rows(tasks, split, limit)  # tasks first: a bad path fails before a model loads
    judge = answer_judge(judge, device=device, dtype=dtype, threads=threads)
    policy = load_policy(model_or_agent, device=device, dtype=dtype, threads=threads)
    check(should_stop, f"evaluation stopped after loading the model, before the first of {len(rows)} tasks")
    if spec is not None:
        policy.spec = spec
    start = time.perf_counter()
    routed, factories, tools_source = _environments(rows, policy.spec, implementations=implementations, mcp=mcp)
    try:
        if policy.chat_model is not None:
            turns = max_turns or (policy.spec.max_turns if policy.spec is not None else _default_turns())
            tokens = max_new_tokens or (policy.spec.max_new_tokens if policy.spec is not None else _default_tokens())
            traces = _run_chat_episodes(policy, routed, factories, max_turns=turns, max_new_tokens=tokens,
                                        batch_size=batch_size, progress=progress, should_stop=should_stop)
        else:
            run_spec = _spec_for(policy, rows, factories, max_turns, max_new_tokens)
            turns, tokens = run_spec.max_turns, run_spec.max_new_tokens
            traces = _run_spec_episodes(policy, run_spec, routed, factories, batch_size=batch_size,
                                        progress=progress, should_stop=should_stop)
    finally:
        for factory in {id(f.backend): f for f in factories.values()}.values():  # factories share a backend
            factory.close()
    elapsed = time.perf_counter() - start
    for trace, row in zip(traces, rows, strict=True):
        trace.metadata.update({"model": policy.name, "kind": row.get("kind"), "difficulty": row.get("difficulty")})
    info = {"model": policy.name, "dataset": source, "split": split if source or not isinstance(tasks, list) else None,
            "max_turns": turns, "max_new_tokens": tokens, "greedy": True,
            "tools": _where_calls_ran(routed, factories), "tools_source": tools_source,
            "tool_sets": len(factories),
            "elapsed_s": round(elapsed, 3), "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if judge is not None:
        info.update(_judge_traces(judge, traces, rows, progress=progress, should_stop=should_stop))
    result = EvalResult.from_traces(traces, rows, info=info)
    logger.info("evaluated %s on %d tasks in %.1f s: correctness %s", policy.name, len(rows), elapsed,
                fmt_value(result.metrics["correctness"]))
    return result


def answer_judge(judge: Any, *, timeout: float = 120.0, **local: Any) -> Any:
    """The answer judge an evaluation uses: None, an `AnswerJudge` as given, or one made from a `ChatModel` or a spec
    (an endpoint "URL#model", sent $TOOLBRAIN_ENDPOINT_TOKEN when set; a model name, folder or Hub id, run here).

    Args:
        judge: None, an AnswerJudge, a ChatModel or a spec.
        timeout: Seconds per judge request (endpoints).
        **local: For a judge run here: `models.chat.LocalChatModel`'s device, dtype, threads.

    Raises:
        EvalError: a spec that is not text.
    """
    from ..models.chat import ChatModel, endpoint_token, get_chat_model
    from ..rewards.answer_judge import AnswerJudge

    if judge is None or isinstance(judge, AnswerJudge):
        return judge
    if not isinstance(judge, ChatModel):
        if not isinstance(judge, str) or not judge.strip():
            raise EvalError(f"judge must be an AnswerJudge, a chat model or a model or endpoint name, got {judge!r}")
        endpoint = judge.startswith(("http://", "https://"))
        judge = get_chat_model(judge.strip(), token=endpoint_token() if endpoint else None, timeout=timeout,
                               **({} if endpoint else local))
    return AnswerJudge(judge, timeout=timeout)


def _judge_traces(judge: Any, traces: list[Trace], rows: list[dict[str, Any]], *, progress: bool,
                  should_stop: Callable[[], bool] | None) -> dict[str, Any]:
    """Label each trace's answer with the judge (`metadata["judge_label"]`, None for a task without a gold answer or
    one the judge gave no label for); returns what `info` records about the judge."""
    from tqdm.auto import tqdm

    from ..rewards.judge import JudgeError
    from ..stopping import check

    failures = 0
    pairs = list(zip(traces, rows, strict=True))
    for i, (trace, row) in enumerate(tqdm(pairs, desc="judge", unit="task", disable=not progress)):
        check(should_stop, f"evaluation stopped while judging, after {i} of {len(rows)} answers")
        try:
            graded = judge.label_trace(trace, row)
        except JudgeError as e:
            failures += 1
            logger.warning("judge gave no label for task %r: %s", row.get("id"), e)
            graded = None
        trace.metadata["judge_label"] = None if graded is None else graded.label
        if graded is not None:
            trace.metadata["judge_explanation"] = graded.explanation
    return {"judge": judge.model_id, "judge_failures": failures, "judge_stats": judge.stats.to_dict()}


def _where_calls_ran(rows: list[dict[str, Any]], factories: dict[str, Any]) -> str:
    """How the tasks' calls ran: "schema-only", "implementations", "mcp", "simulated", or a mix with task counts."""
    from collections import Counter

    counts = Counter(factories[row["environment"]].backend.label for row in rows)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{label} ({n} tasks)" for label, n in counts.most_common())


def _default_turns() -> int:
    from ..config.base import TrainConfig

    return TrainConfig().max_turns + 1


def _default_tokens() -> int:
    from ..config.base import TrainConfig

    return TrainConfig().max_completion_length

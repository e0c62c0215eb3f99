"""GRPO's native tool-call warm-up (`native_format_steps`, toolbrain_hub/training/native_format.py), on CPU.

The policy is a pinned model (tests/pinned.py): it calls get_weather for Paris in bare JSON, as the default model
writes its calls, then answers pinned.ANSWER after the tool result. It knows the tagged form of the same call as a
runner-up, 3 logits behind, which only a LoRA adapter on gate_proj can reach (`build_pinned_model(runner_up=...)`):
what it writes before and after training is fixed by construction, on any CPU, so the tests can count call forms.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pinned
import pytest

from toolbrain_hub.config import TrainConfig
from toolbrain_hub.runs import RunFolder
from toolbrain_hub.training import read_metrics, read_status, train

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "data" / "weather_openai.json"
BARE = json.dumps(pinned.CALL)
PARIS = [pinned.CALL]
# The training tasks: three the pinned call solves, and three it does not (another city, another tool, no tool).
TRAIN = [("What's the weather in Paris right now?", PARIS), ("Is it raining in Paris?", PARIS),
         ("Paris weather, please.", PARIS),
         ("How warm is it in Lyon?", [{"name": "get_weather", "arguments": {"city": "Lyon"}}]),
         ("Forecast for Paris over the next 3 days?", [{"name": "get_forecast",
                                                         "arguments": {"location": "Paris", "days": 3}}]),
         ("Tell me a joke about clouds.", [])]
TEST = [("Weather in Paris today?", PARIS), ("Is it sunny in Paris?", PARIS)]


@pytest.fixture(scope="module")
def bare_model_dir(tmp_path_factory):
    from toolbrain_hub.models.tiny import build_pinned_model

    return build_pinned_model(tmp_path_factory.mktemp("pinned-bare"), first_reply=BARE,
                              after_tool_reply=pinned.ANSWER, runner_up=pinned.FIRST_REPLY)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    """The tasks above as a task dataset folder (written by `save_tasks`, read as any task set)."""
    from datasets import Dataset, DatasetDict

    from toolbrain_hub.tasks.taskset import DEFAULT_SYSTEM_PROMPT, GenerationReport, TaskSet, coverage, task_features
    from toolbrain_hub.tools import load_tools

    tools = load_tools(str(TOOLS))
    tools_json = json.dumps([t.to_openai() for t in tools])

    def rows(tasks, split):
        return [{"id": f"{split}-{i}", "query": query, "tools": tools_json, "expected_calls": json.dumps(calls),
                 "prompt": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": query}],
                 "gold_answer": "", "difficulty": "easy", "kind": "single" if calls else "no_tool", "split": split,
                 "generator": "hand"} for i, (query, calls) in enumerate(tasks)]

    dataset = DatasetDict({"train": Dataset.from_list(rows(TRAIN, "train"), features=task_features()),
                           "test": Dataset.from_list(rows(TEST, "test"), features=task_features())})
    report = GenerationReport(generator="hand", seed=0, requested=len(TRAIN) + len(TEST), kept=len(TRAIN) + len(TEST),
                              coverage=coverage(dataset, tools))
    return TaskSet(dataset=dataset, tools=tools, report=report).save(tmp_path_factory.mktemp("tasks"))


@pytest.fixture
def base(bare_model_dir, task_dir, tmp_path):
    return {"algorithm": "grpo", "model": str(bare_model_dir), "tasks": str(task_dir),
            "output_dir": str(tmp_path / "run"), "native_format_steps": 6, "max_steps": 2, "num_generations": 2,
            "per_device_train_batch_size": 2, "max_completion_length": 128, "learning_rate": 1e-3,
            "native_format_learning_rate": 0.05, "threads": 1,
            "seed": 0, "save_steps": 0, "device": "cpu", "gradient_checkpointing": False,
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["gate_proj"]}}


def call_forms(traces) -> dict[str, int]:
    """Calls over traces by the form they were written in (what a native-format rate counts)."""
    from toolbrain_hub.training.native_format import call_forms as forms

    total: dict[str, int] = {}
    for trace in traces:
        for form, n in forms(trace).items():
            total[form] = total.get(form, 0) + n
    return total


def test_own_bare_calls_become_tagged_sft_tokens_with_tool_results_masked(base, tmp_path):
    """The rewritten rows hold the model's own calls (same names and arguments), in the template's tagged form, and
    the SFT loss sees them but never the tool's result."""
    from toolbrain_hub.traces import parse_tool_calls
    from toolbrain_hub.training import sft
    from toolbrain_hub.training.native_format import warmup_rows
    from toolbrain_hub.training.policy import Policy, load_policy
    from toolbrain_hub.training.task_data import load_task_data

    config = TrainConfig.from_dict(base).validate()
    run = RunFolder(tmp_path / "rows")
    policy = Policy(*load_policy(config, progress=False))
    data = load_task_data(config, policy.tokenizer)
    try:
        rows = warmup_rows(config, run, policy, data, progress=False)
    finally:
        data.close()

    # what the model wrote: a bare-JSON call on every task; kept: the three it solves
    rollouts = [json.loads(line) for line in run.traces_file.read_text().splitlines()]
    assert len(rollouts) == len(TRAIN) and {r["kind"] for r in rollouts} == {"native_rollout"}
    assert [r["kept"] for r in rollouts] == [calls == PARIS for _, calls in TRAIN]
    for r in rollouts:
        first = r["trace"]["turns"][0]
        assert first["format"] == "bare" and [c["name"] for c in first["calls"]] == ["get_weather"]
    assert len(rows) == 3
    for row in rows:
        calls = [c for m in row["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
        assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
            (pinned.CALL["name"], pinned.CALL["arguments"])]
        assert row["messages"][-1] == {**row["messages"][-1], "role": "assistant", "content": pinned.ANSWER}

    (metrics,) = [r for r in read_metrics(run.root) if r.get("kind") == "native_format"]
    assert metrics["native_format/episodes"] == 6 and metrics["native_format/kept"] == 3
    assert metrics["native_format/rewritten"] == 3 and metrics["native_format/calls"] == 6
    assert metrics["native_format/rate_before"] == 0.0 and metrics["native_format/skipped"] == 0.0

    # what the loss sees: the same call inside <tool_call> tags, and the answer; never the prompt or the tool result
    trainer, _ = sft.build_trainer(config, run, model=policy.model, tokenizer=policy.tokenizer,
                                   peft_config=policy.peft_config, dataset=sft.sft_dataset(rows, data.tool_schemas),
                                   max_steps=1, progress=False)
    tag = policy.tokenizer.convert_tokens_to_ids("<tool_call>")
    for example, row in zip(trainer.train_dataset, rows, strict=True):
        trained_ids = [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
        trained = policy.tokenizer.decode(trained_ids)
        assert tag in trained_ids
        reply = parse_tool_calls(trained.split("<|im_end|>")[0])
        assert reply.format == "tagged" and [(c.name, c.arguments) for c in reply.calls] == [
            (pinned.CALL["name"], pinned.CALL["arguments"])]
        assert pinned.ANSWER in trained
        result = next(m["content"] for m in row["messages"] if m["role"] == "tool")
        assert result not in trained and "<tool_response>" not in trained and "helpful assistant" not in trained


def test_warmup_then_grpo_makes_the_agent_write_native_calls(base, caplog):
    """Before: every call bare (native-format rate 0). The warm-up trains on the model's own right calls in tagged
    form, GRPO follows, and the trained agent writes every call tagged, on held-out tasks too."""
    run = Path(base["output_dir"])
    with caplog.at_level(logging.INFO, logger="toolbrain_hub.training"):
        result = train({**base, "eval_steps": 100, "eval_tasks": 2}, progress=False)
    steps = base["native_format_steps"] + base["max_steps"]
    assert result.steps == steps and read_status(run)["state"] == "completed" and read_status(run)["total"] == steps
    train_rows = [r for r in read_metrics(run) if r.get("kind") == "train"]
    assert [(r["phase"], r["step"]) for r in train_rows] == (
        [("native_format", s) for s in range(1, 7)] + [("grpo", 7), ("grpo", 8)])
    phases = json.loads((run / "phases.json").read_text())
    assert list(phases) == ["native_rollouts", "native_format", "grpo"] and all(p["done"] for p in phases.values())
    assert len((run / "native_format_traces.jsonl").read_text().splitlines()) == 3
    log = (run / "train.log").read_text()
    assert "native-format warm-up: 6 rollouts" in log and "3 rewritten into the chat template's call form" in log
    assert "native_format: SFT on 3 traces, 6 steps, learning rate 0.05" in log  # its own rate; GRPO's is 1e-3
    # evaluated before the warm-up, after it, and after GRPO (a later phase does not repeat the one before it)
    assert [r["step"] for r in read_metrics(run) if r.get("kind") == "eval"] == [0, 6, 8]

    # the evaluations on the held-out tasks, before the warm-up and after GRPO, greedy as the deployed agent
    from toolbrain_hub.traces import load_traces

    before = call_forms(load_traces(str(run / "eval" / "before" / "traces.jsonl")))
    after = call_forms(load_traces(str(run / "eval" / "after" / "traces.jsonl")))
    assert before == {"bare": 2} and after == {"tagged": 2}
    evals = {r["step"]: r for r in read_metrics(run) if r.get("kind") == "eval"}
    assert evals[0]["eval/native_format_rate"] == 0.0 and evals[8]["eval/native_format_rate"] == 1.0
    assert evals[0]["eval/correctness"] == evals[8]["eval/correctness"] == 1.0  # the same calls, only their form



def test_a_resumed_run_trains_on_the_same_rows_and_skips_finished_phases(base, caplog):
    """A run stopped in GRPO, before its first checkpoint: resumed, it reads the warm-up's rows back, keeps the SFT
    adapter, and redoes only GRPO from that adapter."""
    import shutil

    run = Path(base["output_dir"])
    config = {**base, "native_format_steps": 2, "save_steps": 1}
    train(config, progress=False)
    rows = (run / "native_format_traces.jsonl").read_text()
    before = [r for r in read_metrics(run) if r.get("phase") != "grpo"]
    # what a kill before GRPO's first checkpoint leaves: no GRPO checkpoint, no adapter, GRPO not marked
    phases = json.loads((run / "phases.json").read_text())
    del phases["grpo"]
    (run / "phases.json").write_text(json.dumps(phases))
    shutil.rmtree(run / "checkpoints" / "grpo")
    shutil.rmtree(run / "adapter")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="toolbrain_hub.training"):
        result = train({**config, "resume": True}, progress=False)
    assert result.steps == 4 and read_status(run)["state"] == "completed"
    assert "native_rollouts: 3 episodes of the native-format warm-up from the interrupted run" in caplog.text
    assert "native_format: supervised phase already done (2 steps)" in caplog.text
    assert "native-format warm-up:" not in caplog.text  # no new rollouts
    assert (run / "native_format_traces.jsonl").read_text() == rows
    after = read_metrics(run)
    assert [r for r in after if r.get("phase") != "grpo"] == before  # nothing redone, nothing counted twice
    assert [r["step"] for r in after if r.get("phase") == "grpo"] == [3, 4]


def test_no_right_call_skips_the_warmup_and_trains_grpo(base, tiny_model_dir, caplog):
    """The random tiny model makes no right call: the warm-up says so and GRPO runs its steps from the base model."""
    run = Path(base["output_dir"])
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.training"):
        result = train({**base, "model": str(tiny_model_dir), "max_completion_length": 128, "max_tasks": 4,
                        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}}, progress=False)
    assert result.steps == 2 and read_status(run)["total"] == 2
    assert "native-format warm-up SKIPPED: none of the policy's 4 rollouts" in caplog.text
    (row,) = [r for r in read_metrics(run) if r.get("kind") == "native_format"]
    assert row["native_format/skipped"] == 1.0 and row["native_format/kept_with_calls"] == 0
    assert [(r["phase"], r["step"]) for r in read_metrics(run) if r.get("kind") == "train"] == [("grpo", 1),
                                                                                                 ("grpo", 2)]
    assert list(json.loads((run / "phases.json").read_text())) == ["native_rollouts", "grpo"]
    assert (run / "adapter" / "adapter_config.json").is_file()


def test_a_template_without_tool_calls_has_no_native_form(tiny_model_dir):
    from transformers import AutoTokenizer

    from toolbrain_hub.training.native_format import template_writes_calls

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    row = {"tools": json.loads(TOOLS.read_text())["tools"], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": pinned.CALL}]},
        {"role": "tool", "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": pinned.ANSWER}]}
    assert template_writes_calls(tokenizer, row)
    # a template that knows no tools (as SmolLM2's): it drops the call, so there is no native form to train
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    assert not template_writes_calls(tokenizer, row)

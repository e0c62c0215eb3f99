"""Training end to end on the tiny random model (CPU, OMP_NUM_THREADS=1): every algorithm, QLoRA, resume after
SIGKILL, the zero-variance alarm, and bare-JSON tool calls executed inside TRL's GRPO loop."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolbrain_hub.config import TrainConfig
from toolbrain_hub.errors import ConfigError
from toolbrain_hub.runs import RunFolder
from toolbrain_hub.training import read_metrics, read_status, train
from toolbrain_hub.training.callbacks import ZeroVarianceMonitor
from toolbrain_hub.training.policy import precision_args, training_device, unsloth_choice

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "data" / "weather_openai.json"


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    from toolbrain_hub.tasks import generate_tasks

    folder = tmp_path_factory.mktemp("tasks")
    generate_tasks(str(TOOLS), num=16, seed=0, test_size=0.25, progress=False).save(folder)
    return folder


@pytest.fixture
def base(tiny_model_dir, task_dir, tmp_path):
    return {"model": str(tiny_model_dir), "tasks": str(task_dir), "output_dir": str(tmp_path / "run"),
            "max_steps": 2, "num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 16,
            "threads": 1, "seed": 0, "save_steps": 0, "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj",
                                                                                                      "v_proj"]}}


def train_rows(run_dir) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r.get("kind") == "train"]


def assert_finished_run(run_dir: Path, steps: int) -> None:
    status = read_status(run_dir)
    assert status["state"] == "completed", status
    assert status["step"] == steps and status["adapter_dir"] == str(run_dir / "adapter")
    for name in ("config.yaml", "metrics.jsonl", "train.log", "agent_spec.json", "adapter/adapter_config.json",
                 "adapter/adapter_model.safetensors", "adapter/agent_spec.json", "adapter/tokenizer_config.json"):
        assert (run_dir / name).is_file(), name
    assert [r["step"] for r in train_rows(run_dir)] == list(range(1, steps + 1))
    # the resolved config reloads as it ran
    assert TrainConfig.from_yaml(run_dir / "config.yaml").output_dir == str(run_dir)


# ---------------------------------------------------------------------------------------------------------------------
# GRPO


def test_grpo_end_to_end_with_eval_and_zero_variance_alarm(base):
    from toolbrain_hub.agent import AgentSpec

    run = Path(base["output_dir"])
    result = train({**base, "max_steps": 3, "eval_steps": 2, "eval_tasks": 2, "trace_samples": 2,
                    "zero_variance_window": 2}, progress=False)
    assert result.steps == 3 and result.adapter_dir == run / "adapter"
    assert_finished_run(run, 3)
    rows = train_rows(run)
    for key in ("loss", "reward", "reward_std", "rewards/expected_calls/mean", "rewards/expected_calls/std",
                "rewards/format/mean", "tools/call_frequency", "tools/failure_frequency", "step_time",
                "tokens_per_s", "frac_reward_zero_std", "zero_variance/alarm"):
        assert key in rows[-1], key
    # the random model makes no tool call: every rollout of a group scores the same, and the run says so loudly
    assert all(r["frac_reward_zero_std"] == 1.0 for r in rows)
    assert rows[-1]["zero_variance/alarm"] == 1.0
    log = (run / "train.log").read_text()
    assert "ZERO-VARIANCE REWARDS" in log and "No tool call was recognized" in log
    # the log alone (all a watcher of an HF Jobs run sees) gives back every step's metrics
    from toolbrain_hub.runs import metrics_from_log

    from_log = metrics_from_log(log)
    assert [r["step"] for r in from_log] == [r["step"] for r in rows] == [1, 2, 3]
    for logged, row in zip(from_log, rows, strict=True):
        for key in ("reward", "loss", "rewards/expected_calls/mean", "step_time"):
            assert logged[key] == pytest.approx(row[key], rel=1e-3, abs=1e-9), key
    # eval before (step 0), at the cadence (2) and after (3)
    evals = [r for r in read_metrics(run) if r.get("kind") == "eval"]
    assert [r["step"] for r in evals] == [0, 2, 3]
    assert "eval/correctness" in evals[0] and (run / "eval").is_dir()
    traces = [json.loads(line) for line in (run / "traces.jsonl").read_text().splitlines()]
    assert {t["step"] for t in traces} == {1, 2, 3} and all("trace" in t and "rewards" in t for t in traces)
    assert all(t["trace"]["task_id"].startswith("task-") for t in traces)  # each rollout names its task
    spec = AgentSpec.load(run / "adapter")
    assert spec.base_model == base["model"] and spec.max_turns == 3  # max_turns tool iterations + the final turn
    assert sorted(spec.tool_names) == ["get_air_quality", "get_forecast", "get_weather"]
    assert spec.system_prompt and spec.parser == "toolbrain-json"


def test_zero_variance_monitor_thresholds():
    monitor = ZeroVarianceMonitor(threshold=0.5, window=3)
    assert monitor.update(1, {"frac_reward_zero_std": 1.0})["zero_variance/alarm"] == 0.0  # too few steps yet
    assert monitor.update(2, {"frac_reward_zero_std": 0.25})["zero_variance/alarm"] == 0.0
    out = monitor.update(3, {"frac_reward_zero_std": 1.0, "tools/call_frequency": 0.0})
    assert out["zero_variance/alarm"] == 1.0 and out["zero_variance/frac_groups"] == pytest.approx(0.75)
    assert monitor.warnings == 1
    monitor.update(4, {"frac_reward_zero_std": 1.0})
    assert monitor.warnings == 1  # not repeated every step
    for step in (5, 6, 7):
        out = monitor.update(step, {"frac_reward_zero_std": 0.0})
    assert out["zero_variance/alarm"] == 0.0
    assert monitor.update(8, {}) == {}  # rows without the metric (SFT, DPO) are ignored


def test_bare_json_call_is_executed_in_trls_grpo_loop(base, tiny_model_dir):
    """A call written as bare JSON (the default model's habit) is parsed, run by the environment inside TRL's own
    multi-turn loop, shown to the model, and scored. The policy is scripted: half the rollouts call the tool, half
    answer in text, so the group's rewards differ."""
    from toolbrain_hub.training import grpo
    from toolbrain_hub.training.policy import load_policy
    from toolbrain_hub.training.reward_setup import build_rewards
    from toolbrain_hub.training.task_data import load_task_data

    config = TrainConfig.from_dict({**base, "max_steps": 1, "trace_samples": 2, "max_completion_length": 400,
                                    "max_tasks": 2}).validate()
    run = RunFolder(config.output_dir)
    model, tokenizer, peft_config, _ = load_policy(config, progress=False)
    data = load_task_data(config, tokenizer)
    rewards = build_rewards(config)
    trainer, callback = grpo.build_trainer(config, run, model=model, tokenizer=tokenizer, peft_config=peft_config,
                                           data=data, rewards=rewards, progress=False)
    call = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    seen_prompts: list[str] = []

    def scripted_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        completions = []
        for i, ids in enumerate(prompt_ids):
            text = tokenizer.decode(ids)
            seen_prompts.append(text)
            if "<tool_response>" in text:
                reply = "It is sunny in Paris."
            else:
                reply = f"Let me check. {call}" if i % 2 == 0 else "I cannot tell."
            completions.append(tokenizer.encode(reply + "<|im_end|>", add_special_tokens=False))
        return completions, None

    trainer._generate_single_turn = scripted_turn  # scripted policy; everything else is TRL's loop
    trainer.train()

    rows = train_rows(run.root)
    assert rows[0]["tools/call_frequency"] > 0 and rows[0]["tools/failure_frequency"] == 0.0
    assert rows[0]["frac_reward_zero_std"] == 0.0  # calling vs not calling is rewarded differently
    # the tool's result went back to the model in the template's tool-response turn
    assert any("<tool_response>" in p and "get_weather" in p for p in seen_prompts)
    # the prompts showed each tool's JSON schema whole (ranges included), as the agent spec and evaluation do
    assert '"minimum": 1, "maximum": 14' in seen_prompts[0]
    assert all(json.dumps(schema, ensure_ascii=False) in seen_prompts[0] for schema in data.tool_schemas)
    envs = [env for pool in trainer._environment_pool.values() for env in pool]
    calls = [c for env in envs for c in env.calls]
    assert calls and calls[0].name == "get_weather" and calls[0].arguments == {"city": "Paris"} and calls[0].ok
    sampled = [json.loads(line) for line in run.traces_file.read_text().splitlines()]
    called = [s for s in sampled if s["trace"]["totals"]["tool_calls"]]
    assert called, sampled
    turn = called[0]["trace"]["turns"][0]
    assert turn["format"] == "bare" and turn["results"] and not turn["results"][0]["error"]
    assert called[0]["rewards"]["format"] == pytest.approx(0.3)  # bare JSON earns less than the tagged form
    data.close()


def test_parse_hook_reads_every_call_form(tiny_model_dir):
    from trl.chat_template_utils import parse_response

    from toolbrain_hub.models import load_tokenizer
    from toolbrain_hub.training.grpo import install_tool_call_parser

    tokenizer = install_tool_call_parser(load_tokenizer(str(tiny_model_dir)))
    forms = {
        "tagged": '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call><|im_end|>',
        "fenced": 'Sure:\n```json\n{"name": "add", "arguments": {"a": 1}}\n```<|im_end|>',
        "bare": 'Sure: {"name": "add", "arguments": {"a": 1}}<|im_end|>',
    }
    for form, text in forms.items():
        ids = tokenizer.encode(text, add_special_tokens=False)
        message = parse_response(tokenizer, ids, prefix=[], tools=[])  # exactly how TRL's GRPO loop calls it
        assert message["tool_calls"] == [{"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}]
        assert message["tool_call_format"] == form
    plain = parse_response(tokenizer, tokenizer.encode("Hello.<|im_end|>", add_special_tokens=False), prefix=[])
    assert "tool_calls" not in plain and plain["content"] == "Hello."


def test_grpo_qlora_4bit_on_cpu(base):
    from toolbrain_hub.training.policy import load_policy

    run = Path(base["output_dir"])
    train({**base, "quantization": "4bit"}, progress=False)
    assert_finished_run(run, 2)
    assert json.loads((run / "adapter" / "adapter_config.json").read_text())["r"] == 4
    # the policy really is nf4-quantized (bitsandbytes on CPU)
    model, *_ = load_policy(TrainConfig.from_dict({**base, "quantization": "4bit"}), progress=False)
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())


def test_resume_after_sigkill_continues_without_losing_or_repeating_rows(base, tmp_path, capsys):
    run = Path(base["output_dir"])
    config_file = tmp_path / "run.yaml"
    TrainConfig.from_dict({**base, "max_steps": 10, "save_steps": 2, "save_total_limit": None}).to_yaml(config_file)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, "-m", "toolbrain_hub.cli", "train", str(config_file), "--no-progress"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    try:
        while not (run / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "no checkpoint-4 within 120 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = max((r["step"] for r in train_rows(run)), default=0)
    assert 4 <= killed_at < 10, "the run must be killed mid-way"
    assert json.loads((run / "status.json").read_text())["state"] == "running"
    assert read_status(run)["state"] == "failed"  # the dead process is noticed

    # a second start without --resume refuses to overwrite the run (exit code 2, before any model loads)
    from toolbrain_hub.cli import main

    assert main(["train", str(config_file)]) == 2
    assert "already holds a run" in capsys.readouterr().err

    resumed = subprocess.run(command + ["--resume", "true"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_finished_run(run, 10)  # steps 1..10, each exactly once
    log = (run / "train.log").read_text()
    assert "resuming from" in log and "checkpoint-" in log
    state = json.loads((run / "checkpoints" / "checkpoint-10" / "trainer_state.json").read_text())
    assert state["global_step"] == 10
    first_run = [r for r in train_rows(run) if r["step"] <= 4]
    assert all(r["time"] < resumed_start(run) for r in first_run)  # rows up to the checkpoint were kept


def resumed_start(run: Path) -> float:
    return json.loads((run / "status.json").read_text())["started_at"]


def test_keep_rows_up_to_drops_cut_and_later_rows(tmp_path):
    folder = RunFolder(tmp_path)
    rows = [{"step": s, "phase": "train", "kind": "train"} for s in (1, 2, 3, 3, 4)]
    folder.append_jsonl(folder.metrics_file, rows)
    with folder.metrics_file.open("a") as f:
        f.write('{"step": 5, "pha')  # the kill cut this line
    assert folder.keep_rows_up_to(folder.metrics_file, {"train": 3}) == 3
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]


# ---------------------------------------------------------------------------------------------------------------------
# SFT, DPO, distillation


def test_sft_on_gold_traces_trains_assistant_tokens_only(base, tiny_model_dir):
    from toolbrain_hub.training import sft
    from toolbrain_hub.training.policy import load_policy
    from toolbrain_hub.training.task_data import load_task_data

    run = Path(base["output_dir"])
    train({**base, "algorithm": "sft"}, progress=False)
    assert_finished_run(run, 2)
    assert re.search(r"SFT: \d+ traces from gold traces of the tasks", (run / "train.log").read_text())

    # what the loss sees: the assistant's tagged call and answer, never the prompt or the tool's result
    config = TrainConfig.from_dict({**base, "algorithm": "sft", "output_dir": str(run) + "-mask"}).validate()
    model, tokenizer, peft_config, _ = load_policy(config, progress=False)
    data = load_task_data(config, tokenizer)
    rows = sft.gold_rows(data)
    trainer, _ = sft.build_trainer(config, RunFolder(config.output_dir), model=model, tokenizer=tokenizer,
                                   peft_config=peft_config, dataset=sft.sft_dataset(rows, data.tool_schemas),
                                   progress=False)
    trained = [tokenizer.decode([t for t, label in zip(example["input_ids"], example["labels"], strict=True)
                                 if label != -100]) for example in trainer.train_dataset]
    with_call = [text for text in trained if "<tool_call>" in text]
    assert with_call and '"name": ' in with_call[0]
    # the conversations are rendered with each tool's JSON schema whole, as GRPO, evaluation and the agent render them
    shown = tokenizer.decode(trainer.train_dataset[0]["input_ids"])
    assert all(json.dumps(schema, ensure_ascii=False) in shown for schema in data.tool_schemas)
    for text in trained:
        assert "<tool_response>" not in text and "helpful assistant" not in text and "<tools>" not in text
        assert text.strip().endswith("<|im_end|>")  # the end of turn is learned too


@pytest.mark.numeric
def test_sft_learns_a_tool_use_trace(tiny_model_dir, tmp_path):
    """Training teaches, measured on robust quantities: SFT on one tool-use trace lowers the loss (6.1 -> 4.9 nats),
    and the saved adapter, loaded as an agent, makes each assistant turn of the trace far more likely than the base
    model does. What the tiny model then writes is not asserted on: its logits span under 2 units, so its greedy text
    flips with the last bits of the arithmetic (flow tests use the pinned model of tests/pinned.py instead)."""
    import torch

    from toolbrain_hub.agent import load_agent, render_prompt_ids

    trace = [{"role": "system", "content": "You answer weather questions."},
             {"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
             {"role": "tool", "name": "get_weather", "content": "Sunny and 21 degrees in Paris"},
             {"role": "assistant", "content": "It is sunny in Paris."}]
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"messages": trace}) + "\n")
    run = tmp_path / "run"
    train({"algorithm": "sft", "model": str(tiny_model_dir), "tools": str(TOOLS), "traces": str(traces),
           "max_steps": 120, "per_device_train_batch_size": 1, "learning_rate": 1e-2, "save_steps": 0,
           "output_dir": str(run), "device": "cpu", "threads": 1, "gradient_checkpointing": False,
           "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["all-linear"]}}, progress=False)
    losses = [r["loss"] for r in train_rows(run)]
    assert losses[-1] < losses[0] - 0.8, losses

    agent = load_agent(run, verbosity_level=-1)
    model, tokenizer = agent.model.model, agent.model.tokenizer

    def turn_nll(k: int) -> float:
        """Mean negative log-likelihood of the assistant turn trace[k] given the conversation before it."""
        prompt = render_prompt_ids(agent.spec, tokenizer, trace[:k])
        ids = torch.tensor([render_prompt_ids(agent.spec, tokenizer, trace[: k + 1])])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt) - 1: -1]
        return float(torch.nn.functional.cross_entropy(logits, ids[0, len(prompt):]))

    for k in (2, 4):  # the tool call, the answer after the tool result
        trained = turn_nll(k)
        with model.disable_adapter():
            before = turn_nll(k)
        assert trained < before - 0.5, (k, before, trained)


def test_dpo_on_policy_pairs(base):
    from toolbrain_hub.traces import Trace

    def answer_length(trace: Trace, **row) -> float:
        """A real reward that separates the random model's rollouts: longer answers score higher."""
        return len(trace.final_answer or "") / 100

    run = Path(base["output_dir"])
    train({**base, "algorithm": "dpo", "max_tasks": 4, "dpo_margin": 0.001}, reward_funcs={answer_length: 1.0},
          progress=False)
    assert_finished_run(run, 2)
    pairs = [json.loads(line) for line in (run / "dpo_pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen_reward"] - p["rejected_reward"] >= 0.001 for p in pairs)
    rollouts = [json.loads(line) for line in (run / "traces.jsonl").read_text().splitlines()]
    assert len(rollouts) == 8 and {r["role"] for r in rollouts} >= {"chosen", "rejected"}
    assert all("answer_length" in r["rewards"] for r in rollouts)


def test_dpo_without_reward_differences_says_what_to_change(base):
    with pytest.raises(ConfigError, match="dpo_margin: no task had rollouts whose rewards differ"):
        train({**base, "algorithm": "dpo", "max_tasks": 2, "rewards": {"answer_match": 1.0}}, progress=False)
    assert read_status(base["output_dir"])["state"] == "failed"


def test_dpo_on_a_preference_file(base, tmp_path):
    prefs = tmp_path / "prefs.jsonl"
    call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    rows = [{"prompt": [{"role": "user", "content": f"Weather in Paris? ({i})"}],
             "chosen": [{"role": "assistant", "content": "", "tool_calls": [call]}],
             "rejected": [{"role": "assistant", "content": "No idea."}]} for i in range(4)]
    prefs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = Path(base["output_dir"])
    train({**base, "algorithm": "dpo", "tasks": "", "tools": str(TOOLS), "preferences": str(prefs)}, progress=False)
    assert_finished_run(run, 2)
    assert "4 preference pairs" in (run / "train.log").read_text()


def test_distill_teacher_sft_then_grpo(base, tiny_model_dir):
    run = Path(base["output_dir"])
    train({**base, "algorithm": "distill", "teacher": str(tiny_model_dir), "reward_threshold": -10.0,
           "max_tasks": 4, "distill_grpo_steps": 1}, progress=False)
    assert_finished_run(run, 3)
    rows = train_rows(run)
    assert [(r["phase"], r["step"]) for r in rows] == [("sft", 1), ("sft", 2), ("grpo", 3)]
    phases = json.loads((run / "phases.json").read_text())
    assert list(phases) == ["teacher", "sft", "grpo"] and all(p["done"] for p in phases.values())
    teacher = [json.loads(line) for line in (run / "teacher_traces.jsonl").read_text().splitlines()]
    assert len(teacher) == 4 and all(t["messages"][0]["role"] == "system" for t in teacher)


def test_distill_threshold_nobody_reaches(base, tiny_model_dir):
    with pytest.raises(ConfigError, match="reward_threshold: none of the teacher's 2 traces reached 100"):
        train({**base, "algorithm": "distill", "teacher": str(tiny_model_dir), "reward_threshold": 100.0,
               "max_tasks": 2}, progress=False)


# ---------------------------------------------------------------------------------------------------------------------
# devices


def test_unsloth_fallback_is_explained(base):
    config = TrainConfig.from_dict(base)
    use, reason = unsloth_choice(config, "cpu")
    assert not use and "no GPU" in reason
    config.unsloth = "off"
    assert unsloth_choice(config, "cuda") == (False, "unsloth is off in the config: using transformers + peft")
    config.unsloth = "on"
    with pytest.raises(ConfigError, match="unsloth needs CUDA"):
        unsloth_choice(config, "cpu")


def test_training_device_reads_the_config(base):
    import torch

    config = TrainConfig.from_dict({**base, "device": "cpu"})
    assert training_device(config) == "cpu"
    assert precision_args("cpu") == {"use_cpu": True, "bf16": False, "fp16": False}
    config.device = "auto"
    assert training_device(config) == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        config.device = "cuda"
        with pytest.raises(ConfigError, match=r"^device is 'cuda' but no CUDA GPU is visible$"):
            training_device(config)


def test_trainer_args_follow_the_device(base):
    from toolbrain_hub.training.grpo import grpo_args
    from toolbrain_hub.training.reward_setup import build_rewards

    config = TrainConfig.from_dict({**base, "device": "cpu", "max_turns": 3}).validate()
    args = grpo_args(config, RunFolder(config.output_dir), build_rewards(config))
    assert args.use_cpu is True and args.bf16 is False and args.gradient_checkpointing is True
    assert args.output_dir == str(Path(config.output_dir) / "checkpoints")
    assert args.max_tool_calling_iterations == 3 and args.num_generations == 2
    assert args.reward_weights == list(config.rewards.values())


@pytest.mark.gpu
def test_gpu_run_uses_bf16_and_qlora(base):
    """On a CUDA GPU: bf16 where supported, the 4-bit policy on the GPU, and the unsloth decision explained."""
    import importlib.util

    import torch

    from toolbrain_hub.training.policy import load_policy

    config = TrainConfig.from_dict({**base, "quantization": "4bit", "device": "auto"}).validate()
    assert training_device(config) == "cuda"
    assert precision_args("cuda")["bf16"] == torch.cuda.is_bf16_supported()
    run = Path(base["output_dir"])
    train({**base, "quantization": "4bit", "eval_steps": 2, "eval_tasks": 2}, progress=False)
    assert_finished_run(run, 2)
    log = (run / "train.log").read_text()
    if importlib.util.find_spec("unsloth") is None:
        assert "unsloth not installed: falling back to transformers + peft" in log
    model, *_ = load_policy(config, progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())


def test_push_to_publishes_the_finished_run(base, hub_server, monkeypatch):
    """`push_to` publishes the completed run as an agent repo (over real HTTP to the test Hub), with the before/after
    evaluation from the eval cadence."""
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    run = Path(base["output_dir"])
    result = train({**base, "eval_steps": 2, "eval_tasks": 2, "push_to": "alice/tiny-grpo"}, progress=False)
    assert result.pushed_to == "alice/tiny-grpo"
    status = read_status(run)
    assert status["state"] == "completed" and status["pushed_to"] == "alice/tiny-grpo"
    assert (run / "eval.json").is_file() and (run / "eval" / "before" / "eval.json").is_file()
    files = set(HfApi().list_repo_files("alice/tiny-grpo", token=hub_server.token))
    assert {"adapter_model.safetensors", "adapter_config.json", "agent_spec.json", "README.md", "eval.json"} <= files


def test_trim_for_resume_redoes_unfinished_data_phases(tmp_path):
    folder = RunFolder(tmp_path)
    folder.mark_phase("rollouts", offset=0, done=False)  # killed while rolling out DPO candidates
    folder.append_jsonl(folder.traces_file, [{"step": 0, "phase": "rollouts", "kind": "rollout", "index": i}
                                             for i in range(3)])
    folder.append_jsonl(folder.metrics_file, [{"step": 0, "phase": "rollouts", "kind": "eval"}])
    assert folder.trim_for_resume() == {"rollouts": -1}
    assert folder.traces_file.read_text() == "" and read_metrics(tmp_path) == []
    folder.mark_phase("rollouts", done=True, end_step=0)
    folder.mark_phase("train", offset=0, checkpoints=None, done=False)
    folder.append_jsonl(folder.traces_file, [{"step": 0, "phase": "rollouts", "kind": "rollout", "index": 0}])
    folder.append_jsonl(folder.metrics_file, [{"step": 1, "phase": "train", "kind": "train"}])
    assert folder.trim_for_resume() == {"rollouts": 0, "train": 0}  # no checkpoint yet: step 1 is redone
    assert len(folder.traces_file.read_text().splitlines()) == 1 and read_metrics(tmp_path) == []


def test_grpo_with_an_llm_judge_endpoint_logs_judge_stats(base, monkeypatch):
    """The judge (an OpenAI-compatible endpoint over real HTTP) is one of the rewards; its stats reach metrics.jsonl.
    Its token comes from $TOOLBRAIN_ENDPOINT_TOKEN when the config names no variable."""
    sys.path.insert(0, str(ROOT / "tests"))
    from openai_server import ScriptedOpenAIServer

    def longest_wins(body: dict) -> str:
        traces = re.findall(r'<trace id="(\d+)">\n(.*?)\n</trace>', body["messages"][1]["content"], re.DOTALL)
        longest = max(len(text) for _, text in traces) or 1
        return json.dumps({"scores": [{"trace_id": tid, "explanation": "longer", "score": round(len(t) / longest, 3)}
                                      for tid, t in traces]})

    run = Path(base["output_dir"])
    monkeypatch.setenv("TOOLBRAIN_ENDPOINT_TOKEN", "tok-endpoint")
    with ScriptedOpenAIServer(longest_wins) as server:
        train({**base, "max_steps": 2, "judge": {"model": server.url, "weight": 1.0}}, progress=False)
        assert server.request_count == 2  # one judge call per group
        assert {h["authorization"] for h in server.headers} == {"Bearer tok-endpoint"}
    assert "tok-endpoint" not in (run / "train.log").read_text() + (run / "config.yaml").read_text()
    assert_finished_run(run, 2)
    rows = train_rows(run)
    assert all(r["llm_judge/calls"] == 1.0 and r["llm_judge/fallbacks"] == 0.0 for r in rows)
    assert "rewards/llm_judge/mean" in rows[0] and "llm_judge/latency_s" in rows[0]


def test_prompt_lengths_default_keeps_every_task_and_a_limit_says_what_to_set(base, tmp_path, caplog, monkeypatch):
    """With the tiny model a 3-tool set renders prompts longer than 1024 tokens (the old default limit): by default
    every task is kept and the longest prompt is measured; a limit that drops tasks says which value keeps them; one
    that drops every task stops the run before the model is loaded, naming the value to use."""
    from toolbrain_hub.models import load_tokenizer
    from toolbrain_hub.tasks import generate_tasks
    from toolbrain_hub.training import phases
    from toolbrain_hub.training.task_data import load_task_data, prompt_budget, prompt_length

    tasks = tmp_path / "shop_tasks"
    generate_tasks(str(ROOT / "tests" / "data" / "shop_bare.json"), num=16, seed=0, test_size=0.25,
                   progress=False).save(tasks)
    tokenizer = load_tokenizer(base["model"])
    config = TrainConfig.from_dict({**base, "tasks": str(tasks)}).validate()
    data = load_task_data(config, tokenizer)
    lengths = sorted(prompt_length(tokenizer, row["prompt"], data.tools_for(row)) for row in data.train)
    assert len(data.train) == 12 and data.dropped == 0 and lengths[-1] > 1024
    assert data.longest_prompt >= lengths[-1] and prompt_budget(config, data) == data.longest_prompt

    limit = lengths[len(lengths) // 2]
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.training"):
        data = load_task_data(TrainConfig.from_dict({**config.to_dict(), "max_prompt_length": limit}), tokenizer)
    assert data.dropped == sum(n > limit for n in lengths) > 0 and len(data.train) == 12 - data.dropped
    assert data.longest_prompt <= limit
    assert f"longer than max_prompt_length={limit} tokens" in caplog.text
    assert f"set max_prompt_length to {lengths[-1]}, or leave it unset (no limit), to keep them" in caplog.text

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the tasks were checked")

    monkeypatch.setattr(phases, "load_policy", no_model)
    too_short = lengths[0] - 1
    with pytest.raises(ConfigError, match=(
            rf"^max_prompt_length: {too_short} tokens drops every training task: their prompts \(tools included\) "
            rf"are {lengths[0]} to {lengths[-1]} tokens with this model's tokenizer\. Set max_prompt_length to "
            rf"{lengths[-1]} or more \(--max_prompt_length {lengths[-1]}\), leave it unset")):
        train({**config.to_dict(), "max_prompt_length": too_short}, progress=False)
    assert "drops every training task" in read_status(base["output_dir"])["error"]


def test_setup_errors_name_the_field(base, tmp_path):
    not_tasks = tmp_path / "not_tasks"
    not_tasks.mkdir()
    with pytest.raises(ConfigError, match="^tasks: .*not a task dataset"):
        train({**base, "tasks": str(not_tasks)}, progress=False)
    impl = tmp_path / "impl.py"
    impl.write_text("def get_weather(city: str, unit: str = 'celsius'):\n    return 'sunny'\n")
    with pytest.raises(ConfigError, match=r"^implementations: .*defines no function for the tools"):
        train({**base, "implementations": str(impl), "output_dir": str(tmp_path / "run2")}, progress=False)
    with pytest.raises(ConfigError, match=r"^judge.token_env: the environment variable NO_SUCH_TOKEN_VAR is not set"):
        train({**base, "judge": {"model": "http://127.0.0.1:9/v1", "token_env": "NO_SUCH_TOKEN_VAR"},
               "output_dir": str(tmp_path / "run3")}, progress=False)


def test_python_implementations_run_the_tools(base, tmp_path):
    from toolbrain_hub.training.task_data import load_task_data

    impl = tmp_path / "weather_impl.py"
    impl.write_text("def get_weather(city, unit='celsius'):\n    return f'22 degrees {unit} in {city}'\n"
                    "def get_forecast(location, days, include_hourly=False):\n    return [location] * days\n"
                    "def get_air_quality(latitude, longitude):\n    return {'aqi': 42}\n")
    config = TrainConfig.from_dict({**base, "implementations": str(impl)}).validate()
    data = load_task_data(config)
    env = data.environment_for(data.train[0])
    env.reset(**data.train[0])
    assert env("get_weather", {"city": "Oslo"}) == "22 degrees celsius in Oslo"
    assert "error" in env("get_weather", {"town": "Oslo"})  # schema-checked before the function runs
    data.close()


IMPORTS = ROOT / "tests" / "data" / "imports"


@pytest.fixture(scope="module")
def mixed_task_dir(task_dir, tmp_path_factory):
    """The generated weather tasks plus imported xLAM and Glaive rows: three tools named get_weather, three schemas."""
    from toolbrain_hub.tasks import save_tasks
    from toolbrain_hub.tasks.importers import import_tasks
    from toolbrain_hub.tasks.taskset import concat_tasks

    mixed = concat_tasks(task_dir, import_tasks(IMPORTS / "xlam.json", "xlam", test_size=0.25),
                         import_tasks(IMPORTS / "glaive.jsonl", "glaive", test_size=0.25))
    return save_tasks(mixed, tmp_path_factory.mktemp("mixed") / "tasks")


def test_grpo_trains_on_tasks_with_their_own_tools(base, mixed_task_dir):
    """Each row is trained with its own tools, also when rows define the same tool name differently."""
    from toolbrain_hub.agent import AgentSpec
    from toolbrain_hub.training.task_data import load_task_data

    config = TrainConfig.from_dict({**base, "tasks": str(mixed_task_dir)}).validate()
    data = load_task_data(config)
    assert isinstance(data.environment_factory, dict) and len(data.environment_factory) > 3
    rows = [*data.train, *data.eval]
    shown = {}
    for row in rows:
        weather = [t["function"] for t in data.tools_for(row) if t["function"]["name"] == "get_weather"]
        if weather:
            shown[row["generator"]] = sorted(weather[0]["parameters"]["properties"])
    assert shown == {"schema": ["city", "unit"], "import:xlam": ["city", "units"],
                     "import:glaive": ["days", "location"]}
    glaive = next(r for r in rows if r["generator"] == "import:glaive" and '"get_weather"' in r["tools"])
    env = data.environment_for(glaive)
    env.reset(**{k: v for k, v in glaive.items() if k != "environment"})
    # answered with the result the dataset recorded for this call (its `tool_results`), not an "ok" echo
    assert json.loads(env("get_weather", {"location": "Bergen", "days": 1})) == {"forecast": "rain", "temperature": 9}
    assert "invalid arguments" in env("get_weather", {"city": "Bergen"})  # not the generated tasks' schema
    data.close()
    result = train({**base, "tasks": str(mixed_task_dir), "max_steps": 1}, progress=False)
    assert result.steps == 1 and read_status(base["output_dir"])["state"] == "completed"
    spec = AgentSpec.load(Path(base["output_dir"]) / "adapter")
    assert {"get_weather", "stock_quote", "convert_currency"} <= set(spec.tool_names)


def test_implementations_run_your_tools_and_imported_tools_are_schema_only(base, mixed_task_dir, tmp_path):
    from toolbrain_hub.training.task_data import load_task_data

    impl = tmp_path / "weather_impl.py"
    impl.write_text("def get_weather(city, unit='celsius'):\n    return f'22 degrees {unit} in {city}'\n"
                    "def get_forecast(location, days, include_hourly=False):\n    return [location] * days\n"
                    "def get_air_quality(latitude, longitude):\n    return {'aqi': 42}\n")
    config = TrainConfig.from_dict({**base, "tasks": str(mixed_task_dir), "implementations": str(impl),
                                    "tools": str(TOOLS)}).validate()
    data = load_task_data(config)
    rows = [*data.train, *data.eval]
    labels = {}
    for row in rows:
        labels.setdefault(row["generator"], set()).add(data.factory_for(row).backend.label)
    # the generated tasks run your functions; imported ones (an xLAM and a Glaive get_weather of other schemas
    # included) are answered schema-only
    assert labels == {"schema": {"implementations"}, "import:xlam": {"schema-only"},
                      "import:glaive": {"schema-only"}}
    mine = next(r for r in rows if r["generator"] == "schema")
    env = data.environment_for(mine)
    env.reset(**{k: v for k, v in mine.items() if k != "environment"})
    assert env("get_weather", {"city": "Oslo"}) == "22 degrees celsius in Oslo"
    data.close()


@pytest.mark.numeric  # two kernels' results compared within a tolerance
def test_completion_only_lm_head_gives_the_same_log_probs_and_gradients(tiny_model_dir):
    """On CPU, TRL's fused LM head projects every position unless told to score only labelled ones; the patched
    (compact) path must give the same per-token log-probabilities, entropies and gradients."""
    import torch
    import trl.trainer.utils as trl_utils
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from toolbrain_hub.training.grpo import score_completion_positions_only

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    add_fused_lm_head(model, temperature=0.9, outputs=("log_probs", "entropy"))
    ids = torch.randint(5, 200, (2, 24), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # left padding
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-7] = -100  # only the last 7 tokens are the completion

    def run():
        model.zero_grad()
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        grad = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
        return out.log_probs.detach(), out.entropy.detach(), grad

    original = trl_utils._use_triton
    try:
        trl_utils._use_triton = lambda device: False  # TRL's own choice on CPU: every position
        full = run()
        assert score_completion_positions_only()
        assert trl_utils._use_triton(torch.device("cpu")) is True
        compact = run()
    finally:
        trl_utils._use_triton = original
    assert torch.count_nonzero(full[0]) > 0
    for a, b in zip(full, compact, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

"""TrainConfig: YAML round trip, CLI overrides, and validation errors that name the field (no model is loaded)."""

from __future__ import annotations

import warnings

import pytest

from toolbrain_hub.cli import main
from toolbrain_hub.config import JudgeSettings, TrainConfig
from toolbrain_hub.errors import ConfigError


@pytest.fixture
def tasks_dir(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    return folder


@pytest.fixture
def config(tasks_dir):
    return TrainConfig(model="tiny-random-qwen2", tasks=str(tasks_dir))


def test_defaults_validate(config):
    assert config.validate() is config
    assert config.algorithm == "grpo" and config.gradient_checkpointing is True
    # the defaults ask for the format reward: GRPO needs a reason to learn the tagged call form
    assert "format" in config.rewards and "expected_calls" in config.rewards
    # no prompt limit by default: every task is kept (training measures the prompts with the model's tokenizer)
    assert config.max_prompt_length is None


def test_yaml_round_trip(config, tmp_path):
    config.lora.r = 8
    config.rewards = {"expected_calls": 1.0, "format": 0.25}
    config.judge = JudgeSettings(model="tiny-random-qwen2", weight=0.5, fallback="mean")
    config.threads = 2
    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    again = TrainConfig.from_yaml(path)
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_yaml_reads_scientific_notation_without_a_dot(tasks_dir, tmp_path):
    # YAML 1.1 reads 1e-4 as a string; a number field must still take it
    path = tmp_path / "run.yaml"
    path.write_text(f"tasks: {tasks_dir}\nmodel: tiny-random-qwen2\nlearning_rate: 1e-4\n")
    assert TrainConfig.from_yaml(path).learning_rate == pytest.approx(1e-4)


def test_cli_overrides(config):
    out = config.apply_overrides([
        "--learning_rate", "1e-4", "--lora.r", "8", "--lora.target_modules", "q_proj,v_proj",
        "--rewards", "expected_calls=1,format=0.5", "--resume", "--max_steps=7", "--threads", "none",
        "--judge.model", "tiny-random-qwen2", "--judge.weight", "0.3", "--quantization", "4bit",
        "--max_prompt_length", "2048",
    ])
    assert out.learning_rate == pytest.approx(1e-4)
    assert out.lora.r == 8 and out.lora.target_modules == ["q_proj", "v_proj"]
    assert out.lora.alpha == config.lora.alpha  # untouched nested fields keep their values
    assert out.rewards == {"expected_calls": 1.0, "format": 0.5}
    assert out.resume is True and out.max_steps == 7 and out.threads is None
    assert out.judge == JudgeSettings(model="tiny-random-qwen2", weight=0.3)
    assert out.quantization == "4bit" and out.max_prompt_length == 2048
    assert out.apply_overrides(["--max_prompt_length", "none"]).max_prompt_length is None
    assert config.learning_rate == 2e-5  # the original is not modified


@pytest.mark.parametrize("override, message", [
    (["--lerning_rate", "1"], "unknown field 'lerning_rate' (did you mean 'learning_rate'?)"),
    (["--max_steps", "ten"], "max_steps must be an integer, got 'ten'"),
    (["--resume", "maybe"], "--resume must be true or false"),
    (["--lora.rank", "4"], "unknown field 'lora.rank'"),
    (["--rewards", "expected_calls"], "--rewards takes name=value pairs"),
    (["stray"], "expected --field value, got 'stray'"),
])
def test_bad_overrides(config, override, message):
    with pytest.raises(ConfigError) as e:
        config.apply_overrides(override)
    assert message in str(e.value)


@pytest.mark.parametrize("changes, message", [
    ({"algorithm": "ppo"}, "algorithm must be one of grpo, dpo, sft, distill, got 'ppo'"),
    ({"lora": {"r": -1}}, "lora.r must be a positive integer, got -1"),
    ({"lora": {"alpha": 0}}, "lora.alpha must be a positive number, got 0"),
    ({"lora": {"dropout": 1.0}}, "lora.dropout must be in [0, 1), got 1.0"),
    ({"lora": {"target_modules": []}}, "lora.target_modules must be a non-empty list"),
    ({"quantization": "3bit"}, "quantization must be one of none, 8bit, 4bit, got '3bit'"),
    ({"unsloth": "yes"}, "unsloth must be one of auto, on, off, got 'yes'"),
    ({"device": "tpu"}, "device must be one of auto, cpu, cuda, got 'tpu'"),
    ({"dtype": "int8"}, "dtype must be one of auto, float32, bfloat16, float16, got 'int8'"),
    ({"eval_batch_size": 0}, "eval_batch_size must be a positive integer, got 0"),
    ({"learning_rate": 0}, "learning_rate must be a positive number, got 0"),
    ({"max_steps": 0}, "max_steps must be a positive integer, got 0"),
    ({"num_generations": 1}, "num_generations must be at least 2 for grpo"),
    ({"per_device_train_batch_size": 3}, "must be a multiple of num_generations (4)"),
    ({"max_turns": 0}, "max_turns must be a positive integer, got 0"),
    ({"max_completion_length": -5}, "max_completion_length must be a positive integer, got -5"),
    ({"max_prompt_length": 0}, "max_prompt_length must be a positive integer, got 0"),
    ({"temperature": 0}, "temperature must be a positive number, got 0"),
    ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
    ({"beta": -0.1}, "beta must be >= 0, got -0.1"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"threads": 0}, "threads must be a positive integer, got 0"),
    ({"save_steps": -1}, "save_steps must be an integer >= 0, got -1"),
    ({"rewards": {"expected_cals": 1.0}}, "rewards.expected_cals: unknown reward (did you mean 'expected_calls'?)"),
    ({"rewards": {"format": "high"}}, "rewards.format must be a number, got 'high'"),
    ({"rewards": {}}, "rewards: grpo needs at least one reward (or a judge)"),
    ({"rewards": {"mymod:": 1.0}}, "a custom reward is written 'module:function'"),
    ({"judge": {"model": "tiny-random-qwen2", "fallback": 2}}, "judge.fallback must be null, 'mean' or a number"),
    ({"judge": {"model": ""}}, "judge.model must be a non-empty text"),
    ({"judge": {"model": "tiny-random-qwen2", "token_env": "not a name"}}, "judge.token_env must be an environment"),
    ({"push_to": "not a repo"}, "push_to must be a Hub repo id like 'user/name', got 'not a repo'"),
    ({"tasks": "./no/such/folder"}, "tasks: './no/such/folder' is neither an existing folder"),
    ({"tasks": ""}, "tasks is required for algorithm 'grpo'"),
    ({"model": "qwen-tiny"}, "model: 'qwen-tiny' is not a built-in model, a folder or a Hub repo id"),
    ({"model": "./missing-model"}, "model: model folder './missing-model' does not exist"),
    ({"tools": "./missing.json"}, "tools: file './missing.json' does not exist"),
    ({"algorithm": "distill"}, "teacher is required for algorithm 'distill'"),
    ({"resume": True}, "resume needs output_dir"),
    ({"resume": True, "output_dir": "./no-such-run"}, "resume: output_dir './no-such-run' does not exist"),
    ({"dpo_margin": -1}, "dpo_margin must be >= 0, got -1"),
    ({"algorithm": "dpo", "dpo_beta": 0}, "dpo_beta must be a positive number, got 0"),
    ({"zero_variance_threshold": 2}, "zero_variance_threshold must be in [0, 1], got 2"),
    ({"implementations": "tools.py", "mcp_server": "python server.py"}, "file 'tools.py' does not exist"),
    ({"simulator": "tiny-random-qwen2", "mcp_server": "python s.py"}, "simulator is for schema-only tools"),
    ({"gradient_checkpointing": "yes"}, "gradient_checkpointing must be true or false, got 'yes'"),
    ({"unknown_knob": 1}, "unknown field 'unknown_knob'"),
])
def test_validation_names_the_field(config, changes, message):
    data = config.to_dict()
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict) and key != "rewards":
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(data).validate()
    assert message in str(e.value)


def test_a_completion_budget_too_short_for_a_tool_result_warns(config):
    with pytest.warns(UserWarning, match="max_completion_length 64 cannot hold a tool call, its result"):
        TrainConfig.from_dict({**config.to_dict(), "max_completion_length": 64}).validate()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TrainConfig.from_dict({**config.to_dict(), "max_completion_length": 128}).validate()  # the default: quiet
        TrainConfig.from_dict({**config.to_dict(), "algorithm": "sft", "max_completion_length": 64}).validate()
    assert not [w for w in caught if "max_completion_length" in str(w.message)]


def test_sft_on_traces_needs_tools_without_tasks(tmp_path):
    traces = tmp_path / "traces.jsonl"
    traces.write_text("")
    with pytest.raises(ConfigError, match="tools is required for sft without tasks"):
        TrainConfig(algorithm="sft", model="tiny-random-qwen2", tasks="", traces=str(traces)).validate()


def test_yaml_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("algorithm: grpo\nlora: {r: 4\nmax_steps: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml, line \d+, column \d+: invalid YAML"):
        TrainConfig.from_yaml(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="a config must be a mapping"):
        TrainConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


def test_invalid_config_fails_before_anything_is_written(config, tmp_path):
    from toolbrain_hub.training import train

    out = tmp_path / "run"
    bad = config.apply_overrides(["--output_dir", str(out), "--lora.r", "0"])
    with pytest.raises(ConfigError, match="lora.r must be a positive integer, got 0"):
        train(bad, progress=False)
    assert not out.exists()


def test_cli_exit_code_2_names_the_field(config, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    assert main(["train", str(path), "--lora.r", "-1"]) == 2
    assert "lora.r must be a positive integer, got -1" in capsys.readouterr().err
    assert main(["train", str(path), "--quantization", "2bit"]) == 2
    assert "quantization must be one of none, 8bit, 4bit, got '2bit'" in capsys.readouterr().err


def test_cli_dry_run_prints_the_resolved_config(config, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    assert main(["train", str(path), "--dry-run", "--max_steps", "5", "--lora.alpha", "8"]) == 0
    printed = capsys.readouterr().out
    import yaml

    data = yaml.safe_load(printed)
    assert data["max_steps"] == 5 and data["lora"]["alpha"] == 8 and data["tasks"] == config.tasks


def test_examples_parse():
    from pathlib import Path

    examples = sorted(Path(__file__).parent.parent.glob("examples/train_*.yaml"))
    assert {p.stem for p in examples} >= {"train_grpo", "train_dpo", "train_sft", "train_distill"}
    for path in examples:
        config = TrainConfig.from_yaml(path)
        assert config.algorithm in path.stem

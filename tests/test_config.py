"""TrainConfig: YAML round trip, CLI overrides, and validation errors that name the field (no model is loaded)."""

from __future__ import annotations

import warnings
from pathlib import Path

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
    ({"judge": {"model": "tiny-random-qwen2", "fallback": 2}}, "judge.fallback must be null, 'mean', a number"),
    ({"judge": {"model": "tiny-random-qwen2", "kind": "answers"}}, "judge.kind must be one of group, answer"),
    ({"judge": {"model": "tiny-random-qwen2", "kind": "answer", "fallback": "mean"}},
     "the answer judge falls back to a label"),
    ({"judge": {"model": "tiny-random-qwen2", "fallback": "CORRECT"}}, "labels are for judge.kind: answer"),
    ({"judge": {"model": "tiny-random-qwen2", "kind": "answer", "rubric": "be fair"}},
     "judge.rubric is for the group judge"),
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
    ({"native_format_steps": -1}, "native_format_steps must be an integer >= 0, got -1"),
    ({"native_format_steps": 1.5}, "native_format_steps must be an integer"),
    ({"native_format_learning_rate": 0}, "native_format_learning_rate must be a positive number, got 0"),
    ({"algorithm": "distill", "teacher": "tiny-random-qwen2", "native_format_steps": 5},
     "native_format_steps is a warm-up for algorithm 'grpo'"),
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


def test_native_format_warmup_is_a_grpo_knob(config):
    """`native_format_steps` (GRPO's native tool-call warm-up): off by default, set from YAML or the command line,
    and a warning when no reward would keep the form it teaches."""
    assert config.native_format_steps == 0
    warmed = config.apply_overrides(["--native_format_steps", "20"]).validate()
    assert warmed.native_format_steps == 20 and TrainConfig.from_dict(warmed.to_dict()).native_format_steps == 20
    with pytest.warns(UserWarning, match="native_format_steps without the 'format' reward"):
        TrainConfig.from_dict({**warmed.to_dict(), "rewards": {"expected_calls": 1.0}}).validate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warmed.validate()  # the default rewards pay for the tagged form: quiet
        TrainConfig.from_dict({**config.to_dict(), "rewards": {"expected_calls": 1.0}}).validate()  # no warm-up


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


# ---------------------------------------------------------------------------------------------------------------------
# one config class per algorithm


def test_train_config_builds_the_config_class_of_its_algorithm(tasks_dir, tmp_path):
    import toolbrain_hub
    from toolbrain_hub.config import (
        ALGORITHMS,
        DistillTrainConfig,
        DPOTrainConfig,
        GRPOTrainConfig,
        SFTTrainConfig,
        config_classes,
    )

    assert toolbrain_hub.TrainConfig is TrainConfig
    assert config_classes() == {"grpo": GRPOTrainConfig, "dpo": DPOTrainConfig, "sft": SFTTrainConfig,
                                "distill": DistillTrainConfig}
    assert tuple(config_classes()) == ALGORITHMS
    assert type(TrainConfig()) is GRPOTrainConfig
    for algorithm, cls in config_classes().items():
        config = TrainConfig(algorithm=algorithm)
        assert type(config) is cls and isinstance(config, TrainConfig) and config.algorithm == algorithm
        assert type(TrainConfig.from_dict({"algorithm": algorithm})) is cls
        assert type(cls()) is cls and cls().algorithm == algorithm
    dpo = TrainConfig(algorithm="dpo", model="tiny-random-qwen2", tasks=str(tasks_dir), dpo_beta=0.3, dpo_margin=0.2)
    assert type(dpo) is DPOTrainConfig and (dpo.dpo_beta, dpo.dpo_margin) == (0.3, 0.2)
    assert dpo.validate() is dpo
    path = tmp_path / "dpo.yaml"
    dpo.to_yaml(path)
    assert TrainConfig.from_yaml(path) == dpo and type(TrainConfig.from_yaml(path)) is DPOTrainConfig
    assert dpo.resolved_output_dir().name.startswith("dpo-")
    with pytest.raises(ConfigError, match="GRPOTrainConfig is the 'grpo' config, got 'dpo'"):
        GRPOTrainConfig(algorithm="dpo")
    with pytest.raises(ConfigError, match="algorithm must be one of grpo, dpo, sft, distill, got 'ppo'"):
        TrainConfig(algorithm="ppo")
    with pytest.raises(TypeError):  # a name no algorithm has is a Python error, as for any dataclass
        TrainConfig(algorithm="grpo", learning_rat=0.1)


def test_each_algorithm_has_its_own_fields_on_the_shared_ones():
    from dataclasses import fields

    from toolbrain_hub.config import config_classes

    shared = {f.name for f in fields(TrainConfig)}
    assert {"model", "tasks", "tools", "rewards", "judge", "lora", "quantization", "device", "max_steps",
            "learning_rate", "output_dir", "push_to"} <= shared
    own = {name: {f.name for f in fields(cls)} - shared for name, cls in config_classes().items()}
    assert own["grpo"] == {"num_generations", "temperature", "top_p", "beta", "trace_samples",
                           "zero_variance_threshold", "zero_variance_window", "native_format_steps",
                           "native_format_learning_rate"}
    assert own["dpo"] == {"num_generations", "temperature", "preferences", "dpo_margin", "dpo_beta"}
    assert own["sft"] == {"traces"}
    # distillation ends with optional GRPO steps: the GRPO fields set them
    assert own["distill"] == own["grpo"] | {"teacher", "teacher_token_env", "reward_threshold", "distill_grpo_steps"}
    for name, cls in config_classes().items():
        assert set(cls().to_dict()) == shared | own[name]


def test_every_field_has_help():
    from dataclasses import fields

    from toolbrain_hub.config import LoraSettings, config_classes

    for cls in [*config_classes().values(), LoraSettings, JudgeSettings]:
        for f in fields(cls):
            assert len(f.metadata.get("help", "")) > 10, f"{cls.__name__}.{f.name} has no help"
        assert "Args:" in cls.__doc__ and all(f"{f.name}: " in cls.__doc__ for f in fields(cls))


def test_yaml_errors_show_the_field_help(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("algorithm: grpo\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_yaml(path)
    assert str(e.value) == (f"{path}: unknown field 'learning_rat' (did you mean 'learning_rate'?). learning_rate: "
                            "Optimizer learning rate.")
    path.write_text("algorithm: grpo\nmax_steps: many\n")
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_yaml(path)
    assert str(e.value) == f"{path}: max_steps must be an integer, got 'many'. max_steps: Optimizer steps."
    path.write_text("algorithm: sft\ndpo_bet: 0.2\n")  # near a field of another algorithm: says whose
    with pytest.raises(ConfigError, match=r"unknown field 'dpo_bet' \(did you mean 'dpo_beta', a dpo field\?\)\. "
                                          r"dpo_beta: The DPO temperature"):
        TrainConfig.from_yaml(path)
    path.write_text("algorithm: grpo\nlora: {rank: 4}\n")
    with pytest.raises(ConfigError, match=r"unknown field 'lora.rank' \(did you mean 'lora.r'\?\)\. lora.r: Rank"):
        TrainConfig.from_yaml(path)
    with pytest.raises(ConfigError, match=r"lora.r must be a positive integer, got 0\. lora.r: Rank"):
        TrainConfig.from_dict({"lora": {"r": 0}}).validate()


def test_a_run_folder_of_the_single_class_version_loads_and_resumes(tmp_path, tasks_dir):
    """0.1 wrote every field of every algorithm into a run's config.yaml; the other algorithms' fields there hold
    their defaults, so they load quietly, and the config writes back only its own fields."""
    import yaml

    old = (Path(__file__).parent / "data" / "run_config_v0_1.yaml").read_text()
    assert "dpo_beta: 0.1" in old and "traces: null" in old and "teacher: null" in old
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = TrainConfig.from_yaml(run / "config.yaml",
                                       overrides=["--tasks", str(tasks_dir), "--resume", "--output_dir", str(run)])
        assert config.validate() is config
    assert config.algorithm == "grpo" and config.ignored == {} and config.resume is True
    assert (config.max_steps, config.num_generations, config.threads) == (2, 2, 1)
    assert "dpo_beta" not in config.to_yaml() and "teacher" not in config.to_dict()
    # the same file for the other algorithms: quiet but for the GRPO value this run set (num_generations: 2)
    data = yaml.safe_load(old)
    for algorithm in ("dpo", "sft", "distill"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = TrainConfig.from_dict({**data, "algorithm": algorithm, "tasks": str(tasks_dir),
                                            "teacher": "tiny-random-qwen2" if algorithm == "distill" else None})
            assert loaded.validate().algorithm == algorithm
        unused = {"num_generations": 2} if algorithm == "sft" else {}
        assert loaded.ignored == unused and len(caught) == len(unused), [str(w.message) for w in caught]


def test_a_field_of_another_algorithm_is_checked_and_ignored_with_a_warning(tasks_dir):
    # The Space's SFT runs wrote the form's group size; an SFT config has no use for it.
    data = {"algorithm": "sft", "model": "tiny-random-qwen2", "tasks": str(tasks_dir), "num_generations": 8,
            "beta": "0.04", "temperature": 0.9}
    config = TrainConfig.from_dict(data)
    assert not hasattr(config, "num_generations")
    assert config.ignored == {"num_generations": 8, "beta": 0.04}  # read by their type; 0.9 is the default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config.validate()
    assert [str(w.message) for w in caught] == [
        "num_generations is a grpo, dpo and distill field; algorithm 'sft' does not use it: ignored",
        "beta is a grpo and distill field; algorithm 'sft' does not use it: ignored"]
    with pytest.raises(ConfigError, match=r"beta must be >= 0, got -1\.0\. beta: KL coefficient"):
        TrainConfig.from_dict({**data, "num_generations": 4, "beta": -1}).validate()
    with pytest.raises(ConfigError, match="num_generations must be an integer, got 'many'"):
        TrainConfig.from_dict({**data, "num_generations": "many"})
    # --algorithm switching to their algorithm takes them up
    grpo = config.apply_overrides(["--algorithm", "grpo", "--per_device_train_batch_size", "8"])
    assert (type(grpo).__name__, grpo.num_generations, grpo.beta, grpo.ignored) == ("GRPOTrainConfig", 8, 0.04, {})
    # Python keyword arguments follow the same rule
    assert TrainConfig(algorithm="sft", num_generations=4, teacher=None).ignored == {}
    assert TrainConfig(algorithm="grpo", teacher="tiny-random-qwen2").ignored == {"teacher": "tiny-random-qwen2"}


def test_train_help_lists_the_fields_of_an_algorithm_with_their_help(tmp_path, capsys):
    import re
    from dataclasses import fields

    from toolbrain_hub.config import DPOTrainConfig, config_classes

    def flat(text: str) -> str:
        return re.sub(r"\s+", " ", text)

    assert main(["train", "--help", "--algorithm", "dpo"]) == 0
    out = flat(capsys.readouterr().out)
    for f in fields(DPOTrainConfig):  # every DPO field, with its help from the field's metadata
        assert f"--{f.name} " in out and flat(f.metadata["help"]) in out, f.name
    assert "--lora.r INT Rank of the update matrices. (default: 16)" in out
    assert "--quantization none|8bit|4bit" in out
    assert "--traces" not in out and "--beta " not in out and "--teacher" not in out

    path = tmp_path / "sft.yaml"
    path.write_text("algorithm: sft\nmax_steps: 3\n")
    assert main(["train", str(path), "--help"]) == 0  # the file's algorithm
    out = flat(capsys.readouterr().out)
    assert "sft fields: --traces" in out and "--num_generations" not in out and "--max_steps INT" in out

    assert main(["train", "--help"]) == 0  # every algorithm
    out = flat(capsys.readouterr().out)
    for name, cls in config_classes().items():
        assert f"{name} fields" in out
        assert all(f"--{f.name} " in out for f in fields(cls))
    assert "distill fields (and the grpo fields)" in out

    assert main(["train", "--help", "--algorithm", "ppo"]) == 2
    assert "algorithm must be one of grpo, dpo, sft, distill, got 'ppo'" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "train needs a config file" in capsys.readouterr().err


def test_the_algorithm_option_before_the_file_overrides_it(config, tmp_path, capsys):
    import yaml

    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    assert main(["train", "--algorithm", "sft", str(path), "--dry-run"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["algorithm"] == "sft" and "num_generations" not in data

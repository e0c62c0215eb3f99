"""Model resolution: built-in names, folders, verification errors that name the package, loading options."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from toolbrain_hub import models
from toolbrain_hub.models import BuiltinModel, DataPart, ModelError


def _fake_distribution(root, package: str, payload: bytes) -> DataPart:
    """Install a minimal distribution (dist-info + one data file) under `root`, as pip would lay it out."""
    module = package.replace("-", "_")
    (root / module / "data").mkdir(parents=True)
    (root / module / "data" / "part.bin").write_bytes(payload)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"{module}/data/part.bin,,\n")
    return DataPart(package, f"{module}/data/part.bin", len(payload), hashlib.sha256(payload).hexdigest())


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    parts = [_fake_distribution(site, f"toolbrain-test-part{i}", bytes([i]) * (1000 + i)) for i in (1, 2)]
    monkeypatch.syspath_prepend(str(site))
    return parts


def test_assemble_joins_verified_parts(fake_parts, tmp_path):
    joined = b"".join(bytes([i]) * (1000 + i) for i in (1, 2))
    spec = BuiltinModel("fake", "", "", "apache-2.0", parts=tuple(fake_parts),
                        gguf_sha256=hashlib.sha256(joined).hexdigest())
    out = models.assemble_gguf(spec, tmp_path / "out" / "m.gguf", progress=False)
    assert out.read_bytes() == joined


def test_corrupted_part_names_the_package(fake_parts, tmp_path):
    bad = DataPart(fake_parts[1].package, fake_parts[1].path, fake_parts[1].size, "0" * 64)
    spec = BuiltinModel("fake", "", "", "apache-2.0", parts=(fake_parts[0], bad))
    with pytest.raises(ModelError, match="toolbrain-test-part2.*corrupted"):
        models.assemble_gguf(spec, tmp_path / "m.gguf", progress=False)
    assert not (tmp_path / "m.gguf").exists()


def test_missing_part_names_the_package_and_the_fix(tmp_path):
    spec = BuiltinModel("fake", "", "", "apache-2.0", parts=(DataPart("toolbrain-not-installed", "x/y.bin", 1, ""),))
    with pytest.raises(ModelError, match="toolbrain-not-installed.*not installed.*requirements-model.txt"):
        models.assemble_gguf(spec, tmp_path / "m.gguf", progress=False)


def test_default_model_parts_are_installed_and_match_the_pinned_sizes():
    for part in models.BUILTIN_MODELS[models.DEFAULT_MODEL].parts:
        assert models._locate_part(part).stat().st_size == part.size


def test_tiny_builtin_is_prepared_once_and_loads(tmp_path):
    path = models.prepare_model(models.TINY_MODEL, cache=tmp_path, progress=False)
    assert (path / ".complete").exists() and (path / "config.json").exists()
    stamp = (path / "config.json").stat().st_mtime_ns
    assert models.prepare_model(models.TINY_MODEL, cache=tmp_path, progress=False) == path
    assert (path / "config.json").stat().st_mtime_ns == stamp  # not rebuilt
    model, tokenizer = models.load_model(models.TINY_MODEL, cache=tmp_path, device="cpu")
    assert model.dtype.is_floating_point and tokenizer.pad_token is not None


def test_resolution_of_folders_repo_ids_and_bad_paths(tiny_model_dir):
    assert models.resolve_model_path(tiny_model_dir) == str(tiny_model_dir)
    assert models.resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve_model_path("./no/such/folder")
    with pytest.raises(ModelError, match="Unknown built-in"):
        models.prepare_model("no-such-model")


def test_loading_options_are_validated():
    with pytest.raises(ModelError, match="dtype"):
        models.pick_dtype("float8", "cpu")
    with pytest.raises(ModelError, match="quantization"):
        models.quantization_config("3bit", None)


def test_tiny_model_loads_in_4bit_on_cpu(tiny_model_dir):
    import torch

    model, _ = models.load_model(tiny_model_dir, device="cpu", quantization="4bit")
    assert any("4bit" in type(m).__name__ for m in model.modules())
    with torch.inference_mode():
        out = model(torch.tensor([[1, 2, 3]]))
    assert torch.isfinite(out.logits).all()


def test_cli_models_list_and_unknown_name_exit_code():
    ok = subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", "models", "list"], capture_output=True, text=True)
    assert ok.returncode == 0 and models.DEFAULT_MODEL in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", "models", "prepare", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Unknown built-in model 'nope'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.default_model
def test_default_model_prepare_is_cached_and_calls_a_tool(default_model_dir):
    """The real default model, from the packaged weights, answers the weather question with a parsed tool call."""
    from toolbrain_hub.chat import LocalChatModel
    from toolbrain_hub.traces import parse_tool_calls

    cli = subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", "models", "prepare"], capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0 and str(default_model_dir) in cli.stdout
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city.",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    model = LocalChatModel(str(default_model_dir), device="cpu")
    reply = model.chat([{"role": "user", "content": "What is the weather in Paris?"}], tools=tools, max_new_tokens=48)
    calls = parse_tool_calls(reply.text).calls
    assert [c.name for c in calls] == ["get_weather"], reply.text
    assert calls[0].arguments.get("city", "").lower().startswith("paris")


def test_a_folder_without_a_model_is_named_in_the_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match=f"{tmp_path}.*holds no model"):
        models.load_model(tmp_path, device="cpu")


# ---------------------------------------------------------------------------------------------------------------------
# the pinned model (tests/pinned.py): replies fixed by construction, for tests of the flow


def _greedy_with_margin(model, tokenizer, messages: list[dict], tools: list[dict]) -> tuple[str, float]:
    """The greedy reply to `messages` and the smallest lead of the chosen token over the runner-up (logits)."""
    import torch

    ids = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=True,
                                        return_dict=False)
    prompt = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8,
                             do_sample=False, output_scores=True, return_dict_in_generate=True)
    lead = min(float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in out.scores)
    return tokenizer.decode(out.sequences[0, len(ids):], skip_special_tokens=True), lead


@pytest.mark.numeric  # the margins are what keeps the replies the same under other kernels (CI: AVX2-only)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls transformers' renamed gradient-checkpointing check
def test_pinned_model_replies_hold_by_a_wide_margin(pinned_model_dir):
    """Every greedy choice of the pinned model leads the runner-up by tens of logits (kernels and thread counts move
    logits by ~1e-6), at any prompt length, and still does with every linear layer perturbed by a random LoRA."""
    import json

    import pinned
    from peft import LoraConfig, get_peft_model

    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    call = {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": pinned.CALL}]}
    result = {"role": "tool", "name": "get_weather", "content": json.dumps({"error": "no implementation"})}
    model, tokenizer = models.load_model(pinned_model_dir, device="cpu")
    noisy = get_peft_model(models.load_model(pinned_model_dir, device="cpu")[0],
                           LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    for policy in (model, noisy.eval()):
        for question in ("Weather in Paris?", "Please tell me about the weather in Oslo. " * 300):  # 8 / ~3,000 tokens
            messages = [{"role": "user", "content": question}]
            reply, lead = _greedy_with_margin(policy, tokenizer, messages, tools)
            assert reply == pinned.FIRST_REPLY and lead > 50, (reply, lead)
            reply, lead = _greedy_with_margin(policy, tokenizer, [*messages, call, result], tools)
            assert reply == pinned.ANSWER and lead > 50, (reply, lead)


def test_pinned_model_refuses_replies_it_cannot_pin(tmp_path):
    from toolbrain_hub.tiny import build_pinned_model

    with pytest.raises(ValueError, match="must not repeat a token"):
        build_pinned_model(tmp_path, first_reply="<tool_call>x</tool_call><tool_call>", after_tool_reply="ok")
    with pytest.raises(ValueError, match="the chat template's own tokens"):
        build_pinned_model(tmp_path, first_reply="<tool_call>\n</tool_call>", after_tool_reply="ok")
    with pytest.raises(ValueError, match="non-empty"):
        build_pinned_model(tmp_path, first_reply="", after_tool_reply="ok")

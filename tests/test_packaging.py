"""Packaging: the built wheel holds the library and only the library, installs into a fresh virtual environment with
nothing but its declared dependencies and loads a published agent there; the lock file pins the whole environment
and agrees with requirements.txt, requirements-dev.txt and pyproject.toml."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
TOOLS = ROOT / "tests" / "data" / "weather_openai.json"
# What the build reads; the build runs on a copy, so a stale build/ folder in the checkout cannot leak into the wheel.
BUILD_INPUTS = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "NOTICE", "toolbrain_hub", "datasets_cards"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the sources (no network: the build uses this environment's setuptools)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(root), str(src)], check=True, capture_output=True)
    return next(root.glob("toolbrain_hub-*.whl"))


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()


def test_wheel_holds_only_the_library_with_its_card_templates_and_console_script(wheel):
    names = wheel_names(wheel)
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"toolbrain_hub"}  # no space/, no
    # datasets_cards/ in site-packages, where they would collide with other projects' packages of those names
    # Every module of the package, subpackages included, is in the wheel.
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "toolbrain_hub").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules - names == set()
    # The card templates ship as package data, byte for byte the repository's datasets_cards/ (their one source).
    templates = sorted(p.name for p in (ROOT / "datasets_cards").glob("*.md"))
    assert {"dataset_card.md", "model_card.md"} <= set(templates)
    with zipfile.ZipFile(wheel) as archive:
        for name in templates:
            assert archive.read(f"toolbrain_hub/card_templates/{name}") == (ROOT / "datasets_cards" / name).read_bytes()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "toolbrain-hub = toolbrain_hub.cli:main" in entry_points


def test_wheel_declares_runtime_dependencies_and_extras(wheel):
    metadata = wheel_metadata(wheel)
    requires = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    default = {canonicalize_name(r.name) for r in requires if r.marker is None}
    assert {"torch", "transformers", "peft", "smolagents", "huggingface-hub"} <= default
    extras = {line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Provides-Extra:")}
    assert {"train", "space", "gpu", "retrieval", "mcp", "default-model"} <= extras
    # Training, the UI and quantization stay out of a plain install.
    assert not default & {"trl", "datasets", "gradio", "bitsandbytes", "sentence-transformers"}


# ----------------------------------------------------------------------------------------------------- the lock file

def lock_pins(text: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, hashes)} of a hash-pinned requirements file (pip-compile's or one written by hand);
    fails on an entry that is not `name==version`."""
    pins: dict[str, tuple[str, list[str]]] = {}
    # One entry: a requirement line and its backslash-continued `--hash` lines (comments stripped first).
    body = "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())
    for entry in re.split(r"(?<!\\)\n", body):
        entry = entry.replace("\\\n", " ").strip()
        if not entry:
            continue
        spec, *options = entry.split(" --")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", spec.strip())
        assert match, f"requirements.lock: {entry[:80]!r} is not pinned as name==version"
        hashes = [o.split("=", 1)[1].strip() for o in options if o.startswith("hash=")]
        pins[canonicalize_name(match[1])] = (match[2], hashes)
    return pins


def direct_pins(*files: Path) -> dict[str, str]:
    pins = {}
    for path in files:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                requirement = Requirement(line)
                [spec] = requirement.specifier
                assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
                pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_lock_pins_every_package_with_hashes_and_agrees_with_the_requirements():
    pins = lock_pins(LOCK.read_text())
    assert len(pins) > 50  # the whole environment, not just the direct requirements
    unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
    assert unhashed == []
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for _, hashes in pins.values() for h in hashes)
    direct = direct_pins(ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
    for name, version in direct.items():
        assert name in pins, f"{name} is in requirements*.txt but not in requirements.lock: run `make lock`"
        # The lock's torch is the CPU build of the same release (2.13.0+cpu for 2.13.0).
        assert Version(pins[name][0]).public == Version(version).public, \
            f"{name}: requirements*.txt pins {version}, requirements.lock {pins[name][0]}: run `make lock`"
    assert pins["torch"][0].endswith("+cpu")  # PyPI's build of the same version is the multi-GB CUDA one


def test_declared_dependency_ranges_admit_the_locked_versions():
    pins = lock_pins(LOCK.read_text())
    pins.update(lock_pins((ROOT / "requirements-model.txt").read_text()))  # the default model's data wheels
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += [r for r in extra if not r.startswith(project["name"] + "[")]
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"pyproject.toml declares {name}, which the lock does not test"
        assert requirement.specifier.contains(pins[name][0]), \
            f"pyproject.toml: {line!r} excludes the tested {name}=={pins[name][0]}"


# ------------------------------------------------------------------------------------ the wheel in a fresh environment

LOAD_SCRIPT = """
import json, sys
from pathlib import Path

import toolbrain_hub
from toolbrain_hub import load_agent
from toolbrain_hub.hub.cards import template_path

def get_weather(city: str, unit: str = "celsius") -> str:
    '''Current weather.

    Args:
        city: City name.
        unit: Temperature unit.
    '''
    return f"Sunny in {city}"

agent = load_agent(sys.argv[1], base_model=sys.argv[2], tools={"get_weather": get_weather}, verbosity_level=0,
                   max_steps=1)
agent.run("Weather in Paris?")  # one model turn, whatever the barely trained model says
print(json.dumps({
    "package": toolbrain_hub.__file__,
    "agent": type(agent).__name__,
    "tools": sorted(agent.tools),
    "weather": agent.tools["get_weather"](city="Paris"),
    "forecast": json.loads(agent.tools["get_forecast"](location="Oslo", days=2)),
    "model_card": str(template_path("model_card")),
}))
"""


def constraints_from_lock(dest: Path) -> Path:
    """The lock's exact versions, without hashes: which packages get installed is left to the wheel's metadata."""
    pins = lock_pins(LOCK.read_text())
    dest.write_text("".join(f"{name}=={version}\n" for name, (version, _) in sorted(pins.items())))
    return dest


@pytest.mark.slow
def test_wheel_installs_alone_and_loads_a_published_agent(wheel, tiny_model_dir, tmp_path):
    """Install the wheel into a new venv with only its declared dependencies (versions held to the lock's) and load
    an agent published by this checkout; about 2 minutes, mostly pip."""
    from toolbrain_hub.publishing import publish
    from toolbrain_hub.training import train

    trace = [{"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
             {"role": "tool", "name": "get_weather", "content": "Sunny in Paris"},
             {"role": "assistant", "content": "It is sunny."}]
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"messages": trace}) + "\n")
    train({"algorithm": "sft", "model": "tiny-random-qwen2", "tools": str(TOOLS), "traces": str(traces),
           "max_steps": 2, "per_device_train_batch_size": 1, "save_steps": 0, "output_dir": str(tmp_path / "run"),
           "device": "cpu", "gradient_checkpointing": False, "lora": {"r": 4, "alpha": 8}}, progress=False)
    agent_dir = Path(publish(tmp_path / "run", out_dir=tmp_path / "agent").url_or_path)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # No PYTHONPATH and another working directory: the venv must find toolbrain_hub in its own site-packages.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
                              str(constraints_from_lock(tmp_path / "constraints.txt")), str(wheel)],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                               env=env, check=True).stdout
    names = {canonicalize_name(p["name"]) for p in json.loads(installed)}
    assert not names & {"trl", "datasets", "gradio", "bitsandbytes", "sentence-transformers"}  # extras stay out

    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    result = subprocess.run([str(python), str(script), str(agent_dir), str(tiny_model_dir)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    site_packages = str(venv / "lib")
    assert loaded["package"].startswith(site_packages)
    assert loaded["model_card"].startswith(site_packages) and loaded["model_card"].endswith(
        "toolbrain_hub/card_templates/model_card.md")
    assert loaded["agent"] == "SpecAgent"
    assert set(loaded["tools"]) >= {"get_weather", "get_forecast", "get_air_quality"}
    assert loaded["weather"] == "Sunny in Paris"
    assert "tools={'get_forecast': get_forecast}" in loaded["forecast"]["error"]  # schema-only: says what to pass


# ------------------------------------------------------------------------------------------------------ CI's AVX2 pass

@pytest.mark.numeric
def test_the_avx2_pass_holds_torch_to_avx2_kernels():
    """.ci/run re-runs `-m numeric` with ATEN_CPU_CAPABILITY=avx2 (and ONEDNN_MAX_CPU_ISA=AVX2): torch must have
    taken it, or that pass would silently test the default kernels twice."""
    import torch

    wanted = os.environ.get("ATEN_CPU_CAPABILITY")
    if not wanted:
        pytest.skip("checks CI's AVX2 pass (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 pytest -m numeric)")
    assert os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2"
    assert torch.backends.cpu.get_cpu_capability() == wanted.upper()

"""One error hierarchy: every user-facing exception derives from ToolBrainError, and the CLI shows any of them as one
line with exit code 2."""

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import toolbrain_hub
from toolbrain_hub.errors import ToolBrainError

ROOT = Path(__file__).resolve().parents[1]

# Exceptions used only inside the library, never shown to a user, so they are not ToolBrainErrors.
INTERNAL = {
    # Caught inside the task generators: a failed draw becomes a rejected candidate's reason ("sampling_failed: ...").
    "toolbrain_hub.tasks.sampling.SamplingError",
    # Caught by the dataset importer for each row: an unconvertible row is counted by its reason in the report.
    "toolbrain_hub.tasks.formats.ImportProblem",
    # A tool backend's report of a failed call: the environment returns its message to the model as the tool result.
    "toolbrain_hub.environment.backends.ToolCallError",
    # Caught by the email corpus reader for each file: a file it cannot use is counted by its reason, never fatal.
    "toolbrain_hub.email.corpus._Skip",
}

# Optional extras (GPU, MCP, retrieval, the default model) a module may need at import; without them it is skipped.
OPTIONAL_PACKAGES = {"unsloth", "vllm", "bitsandbytes", "mcp", "sentence_transformers", "gguf"}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(toolbrain_hub.__path__, "toolbrain_hub."):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] in OPTIONAL_PACKAGES:
                continue
            raise
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_exception_of_the_package_is_a_tool_brain_error_or_listed_as_internal():
    found = _package_exceptions()
    # The walk really reached the modules (a walk that found nothing would pass vacuously).
    for name in ["toolbrain_hub.errors.ConfigError", "toolbrain_hub.tools.checks.ToolSchemaError",
                 "toolbrain_hub.jobs.registry.RunNotFoundError", "toolbrain_hub.cli.common.UsageError"]:
        assert name in found, name
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, ToolBrainError))
    assert outside == sorted(INTERNAL), "derive these from ToolBrainError, or list them in INTERNAL with the reason"


def test_the_built_in_bases_still_catch_them():
    from toolbrain_hub.config.visitor import VisitorError
    from toolbrain_hub.errors import ConfigError
    from toolbrain_hub.hub import HubError
    from toolbrain_hub.jobs.registry import RunNotFoundError

    assert issubclass(ConfigError, ValueError) and issubclass(VisitorError, ToolBrainError)
    assert issubclass(HubError, RuntimeError)
    error = RunNotFoundError("no run 'x' for this user")
    assert isinstance(error, KeyError) and isinstance(error, ToolBrainError)
    assert str(error) == "no run 'x' for this user"  # not quoted the way KeyError quotes its key


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("stage", ["config", "tool schema", "agent folder"])
def test_cli_shows_an_error_of_any_stage_as_one_line_and_exit_2(stage, tmp_path):
    if stage == "config":
        (tmp_path / "train.yaml").write_text("algorithm: grpo\nlearning_rat: 0.1\n")
        args, expected = ["train", "train.yaml", "--dry-run"], "unknown field 'learning_rat'"
    elif stage == "tool schema":
        tool = {"type": "function", "function": {"name": "get weather", "parameters": {"type": "object"}}}
        (tmp_path / "tools.json").write_text(json.dumps([tool]))
        args, expected = ["tools", "validate", "tools.json"], "tool 'get weather'"
    else:
        args, expected = ["chat", str(tmp_path / "no_such_agent"), "hi"], "no_such_agent: no such folder"
    out = _cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], out.stderr

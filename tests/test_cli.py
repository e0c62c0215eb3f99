"""The top-level command: help, and one-line errors with exit code 2 whichever way it is started."""

import subprocess
import sys

import pytest

ENTRY_POINTS = [[sys.executable, "-m", "toolbrain_hub.cli"], [str(__import__("pathlib").Path(sys.executable).parent
                                                                   / "toolbrain-hub")]]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=["python -m", "console script"])
def test_usage_errors_exit_2_without_traceback(entry, tmp_path):
    out = subprocess.run(entry + ["chat", str(tmp_path), "hi", "--tools", "tools.py"], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "--trust-tools-file" in out.stderr and "Traceback" not in out.stderr


def test_help_lists_every_command():
    out = subprocess.run(ENTRY_POINTS[0] + ["--help"], capture_output=True, text=True, check=True)
    for command in ["models", "tools", "tasks", "train", "eval", "publish", "chat", "email"]:
        assert f"    {command}" in out.stdout

"""Every name the package exports resolves to a real object, and importing the package stays light."""

import subprocess
import sys

import toolbrain_hub


def test_every_export_resolves():
    for name in toolbrain_hub.__all__:
        assert getattr(toolbrain_hub, name) is not None, name


def test_import_does_not_load_torch():
    code = "import sys, toolbrain_hub; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

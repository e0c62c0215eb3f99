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


def test_tool_brain_error_is_exported_and_is_the_base_of_the_exported_errors():
    from toolbrain_hub.errors import ToolBrainError

    assert "ToolBrainError" in toolbrain_hub.__all__
    assert toolbrain_hub.ToolBrainError is ToolBrainError
    for name in ["ToolSchemaError", "JudgeError"]:
        assert issubclass(getattr(toolbrain_hub, name), toolbrain_hub.ToolBrainError), name


def test_importing_the_error_base_loads_nothing_else_of_the_package():
    # errors.py is the bottom of the import graph: any module may import it without cycles or cost.
    code = ("import sys; from toolbrain_hub import ToolBrainError; "
            "print(sorted(m for m in sys.modules if m.startswith('toolbrain_hub')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['toolbrain_hub', 'toolbrain_hub.errors']"

"""Every name the package exports resolves to a real object, and importing the package stays light."""

import importlib
import subprocess
import sys

import pytest

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


# The public API: removing or renaming one of these breaks users' code, so it takes a deliberate edit here.
PUBLIC_NAMES = ["AgentSpec", "GroupJudge", "JudgeError", "ToolBrainError", "ToolRetriever", "ToolSchemaError",
                "ToolSpec", "Trace", "TrainConfig", "evaluate", "generate_tasks", "get_chat_model", "load_agent",
                "load_model", "load_tasks", "load_tools", "parse_tool_calls", "publish", "push_tasks", "save_tasks",
                "train"]

# Where these names lived before the package was split by stage (the flat modules of 0.1): the same import lines
# keep working, through each stage package's exports.
FLAT_MODULE_PATHS = {
    "toolbrain_hub.tools": ["ToolSpec", "load_tools", "ToolSchemaError"],
    "toolbrain_hub.tasks": ["generate_tasks", "load_tasks", "save_tasks", "push_tasks"],
    "toolbrain_hub.traces": ["parse_tool_calls", "Trace"],
    "toolbrain_hub.models": ["load_model"],
    "toolbrain_hub.config": ["TrainConfig"],
    "toolbrain_hub.training": ["train"],
    "toolbrain_hub.evaluation": ["evaluate"],
    "toolbrain_hub.publishing": ["publish"],
    "toolbrain_hub.agent": ["AgentSpec", "load_agent"],
}


def test_the_public_names_are_exactly_these():
    assert sorted(toolbrain_hub.__all__) == PUBLIC_NAMES


@pytest.mark.parametrize("module", sorted(FLAT_MODULE_PATHS))
def test_the_old_import_paths_still_give_the_same_objects(module):
    loaded = importlib.import_module(module)
    for name in FLAT_MODULE_PATHS[module]:
        assert getattr(loaded, name) is getattr(toolbrain_hub, name), f"{module}.{name}"


def test_the_public_functions_are_not_shadowed_by_a_package_of_the_same_name():
    # Importing a subpackage sets it as an attribute of its parent: a stage package named like a public function
    # (`publish`) would replace the function once anything imported it.
    code = ("import toolbrain_hub, toolbrain_hub.publishing, toolbrain_hub.training, toolbrain_hub.evaluation; "
            "print([callable(getattr(toolbrain_hub, n)) for n in ('publish', 'train', 'evaluate')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[True, True, True]"

"""The package's shape (ARCHITECTURE.md): folders are the stages of the data flow, and each imports only from below.

Every `import` in the package counts, also the ones inside functions (a circle hidden in a function is still a
circle: it only fails later, at the first call). The order below is the one ARCHITECTURE.md draws.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "toolbrain_hub"

# Bottom to top. A module may import its own stage and the stages before it, never one after it.
STAGES = ["errors", "stopping", "jsonl", "hub", "models", "traces", "runs", "tools", "tasks", "email", "environment",
          "rewards", "config", "agent", "evaluation", "publishing", "training", "jobs", "cli"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports, wherever in the file the import statement is."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import grpo` imports the submodule, not the package's own __init__
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            targets = [m for m in submodules if m in modules] or [module]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the root package (its exports are lazy, by name)


def test_the_stages_cover_every_module():
    unplaced = sorted(m for m in _modules() if _stage(m) is not None and _stage(m) not in STAGES)
    assert not unplaced, f"place these in a stage of STAGES (and ARCHITECTURE.md): {unplaced}"


def test_each_stage_imports_only_from_the_stages_below_it():
    upward = []
    for module, targets in _graph().items():
        stage = _stage(module)
        for target in targets:
            other = _stage(target)
            if stage is None or other is None:
                continue
            if STAGES.index(other) > STAGES.index(stage):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports going up the data flow:\n" + "\n".join(sorted(upward))


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle():
    graph = _graph()
    graph.pop("toolbrain_hub", None)  # the root's exports are resolved lazily by name, after everything is loaded
    assert _circles(graph) == []


def test_the_circle_finder_finds_circles(tmp_path):
    # The check above cannot pass vacuously: the same finder reports a circle, and sees an import that sits
    # inside a function.
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    probe = tmp_path / "spec.py"
    probe.write_text("def f():\n    from ..environment.rollouts import run_episodes\n", encoding="utf-8")
    modules = {"toolbrain_hub.agent.spec": probe, "toolbrain_hub.environment.rollouts": tmp_path / "rollouts.py"}
    assert _imports("toolbrain_hub.agent.spec", probe, modules) == {"toolbrain_hub.environment.rollouts"}


@pytest.mark.parametrize("stage", [s for s in STAGES if (PACKAGE / s).is_dir()])
def test_every_stage_package_says_what_it_holds(stage):
    init = PACKAGE / stage / "__init__.py"
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init} needs a docstring"


def test_no_module_passes_600_lines():
    # A module that long holds several concepts: split it by what it holds (ARCHITECTURE.md) before it grows more.
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long, f"split these modules: {long}"

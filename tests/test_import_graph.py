"""The import graph of edgekit's own modules, read with ``ast``: no cycles, and the layers hold.

Every import counts, at module level or inside a function (and under TYPE_CHECKING): an
in-function import is there to keep TensorFlow and friends lazy, never to dodge a cycle
between edgekit's own modules.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.conftest import REPO

# Repository folder -> the package name it installs as (pyproject's package-dir).
FOLDERS = {"edgekit": "edgekit", "targets": "edgekit.targets", "converters": "edgekit.converters"}


@cache
def modules() -> dict[str, Path]:
    """Every module of the three folders, by its installed dotted name."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imported(module: str) -> set[str]:
    """The project modules ``module`` imports (``from a import b`` counts as a.b when that is a module)."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base for alias in node.names)
    return {name for name in names if name in modules() and name != module}


def graph() -> dict[str, set[str]]:
    return {module: imported(module) for module in modules()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_modules_and_their_imports():
    found = modules()
    assert {"edgekit.cli", "edgekit.targets.cpu", "edgekit.converters.keras_tflite"} <= set(found)
    assert "edgekit.target" in imported("edgekit.targets.cpu")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_compression_knows_nothing_of_recipes_registry_or_targets():
    """Compression steps take a model and data; the flow maps recipes and targets onto them."""
    banned = ("edgekit.recipe", "edgekit.registry", "edgekit.targets")
    problems = {
        module: sorted(name for name in imported(module) if name.startswith(banned))
        for module in modules()
        if module.startswith("edgekit.compression")
    }
    assert {module: names for module, names in problems.items() if names} == {}


def test_the_device_runtime_imports_only_itself_and_the_core_helpers():
    """``edgekit.runtime`` runs on a Pi without TensorFlow: it may not reach the training side."""
    # The device side is a room of its own (limits, images, environment live in it); below it
    # only the bundle format, the TFLite reader, atomic writes and the flat core helpers.
    allowed = ("edgekit.runtime", "edgekit.bundle", "edgekit.tflite", "edgekit.output", "edgekit.errors", "edgekit._quiet", "edgekit._compat",
               "edgekit._version", "edgekit.vocabulary")  # fmt: skip
    reached, todo = set(), [m for m in modules() if m.startswith("edgekit.runtime")]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(imported(module))
    assert sorted(m for m in reached if not m.startswith(allowed)) == []


def test_the_rooms_below_the_runtime_import_nothing_above_them():
    """The bundle format, the TFLite reader and output safety are standard library and
    numpy only: the device runtime stands on them, so they may not reach back up."""
    below = ("edgekit.bundle", "edgekit.tflite", "edgekit.output")
    allowed = (*below, "edgekit.errors", "edgekit._version")
    problems = {
        module: sorted(name for name in imported(module) if not name.startswith(allowed))
        for module in modules()
        if module.startswith(below)
    }
    assert {module: names for module, names in problems.items() if names} == {}


# The rooms from the top down (docs/layout.md): a module may import its own layer or one below.
LAYERS = (
    ("edgekit.cli", "edgekit.__main__", "edgekit.commands"),
    ("edgekit.flows",),
    ("edgekit.compression", "edgekit.training", "edgekit.models", "edgekit.data", "edgekit.measure", "edgekit.report", "edgekit.flavours",
     "edgekit.remote", "edgekit.targets", "edgekit.converters", "edgekit.recipe", "edgekit.distributed"),
    ("edgekit.runtime",),
    ("edgekit.bundle", "edgekit.tflite", "edgekit.output"),
    ("edgekit.errors", "edgekit._compat", "edgekit._quiet", "edgekit._version", "edgekit.vocabulary", "edgekit.target", "edgekit.registry",
     "edgekit.terminal", "edgekit.interrupts"),
)  # fmt: skip


def layer(module: str) -> int | None:
    """The module's layer (0 is the top); None for the package's own lazy facade."""
    for depth, rooms in enumerate(LAYERS):
        if any(module == room or module.startswith(room + ".") for room in rooms):
            return depth
    return None


def test_every_module_has_a_layer_and_imports_point_down():
    assert sorted(m for m in modules() if layer(m) is None) == ["edgekit"]
    upward = [
        f"{module} (layer {layer(module)}) imports {name} (layer {layer(name)})"
        for module in modules()
        for name in imported(module)
        if layer(module) is not None and layer(name) is not None and layer(name) < layer(module)
    ]
    assert upward == []

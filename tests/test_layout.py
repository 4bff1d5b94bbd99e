"""The house in rooms: folders per concept, private by default, the recipe stops at the flows.

Read with ``ast`` (nothing is imported but the package itself, where a test says so):

- at most 15 modules lie flat in ``edgekit/``; the rest live in the folder of their concept;
- every module is private (``_name``, or inside a ``_package``) or says what it offers in a
  static ``__all__`` whose names it defines (a package whose ``__init__`` is only a docstring
  offers its modules);
- no module imports another module's private name: a ``_name`` attribute never crosses a
  module line, and a private module is imported only from inside the package that holds it;
- no module imports a name another module does not list in its ``__all__`` (its public surface);
- only the commands, the flows, the recipe module and the recipe → stage values mapping
  (``edgekit/flows/from_recipe.py``) have a parameter named ``recipe``: stages, caches,
  manifests and outputs take the sections and values they use.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from functools import cache

import pytest

from tests.conftest import REPO
from tests.test_import_graph import modules


def private(name: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))


@cache
def tree(module: str) -> ast.Module:
    path = modules()[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@cache
def declared_all(module: str) -> tuple[str, ...] | None:
    """The module's ``__all__`` if it assigns one (a list or tuple of string literals)."""
    for node in tree(module).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value), f"{module}: __all__ must be a list of names"
            return tuple(value)
    return None


def defined_names(module: str) -> set[str]:
    """Names bound at the top of a module: defs, classes, assignments, imports."""
    names: set[str] = set()
    for node in tree(module).body:
        nodes = [node]
        if isinstance(node, ast.If):  # TYPE_CHECKING imports
            nodes = node.body
        for item in nodes:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(item.name)
            elif isinstance(item, ast.Assign):
                names.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                names.add(item.target.id)
            elif isinstance(item, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in item.names)
    return names


def package_of(module: str) -> str:
    return module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]


def imports(module: str):
    """(imported module, name or None) for every ``from X import name`` / ``import X``, absolute."""
    package = package_of(module)
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                yield base, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def may_import_private_module(importer: str, target: str) -> bool:
    """A private module (or one inside a private package) belongs to the package that holds
    it: its siblings and their subpackages may import it, nobody else."""
    parts = target.split(".")
    first = next(i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__"))
    owner = ".".join(parts[:first])
    return importer == owner or importer.startswith(owner + ".")


def test_at_most_15_modules_lie_flat():
    flat = sorted(path.name for path in (REPO / "edgekit").glob("*.py"))
    assert len(flat) <= 15, flat


def test_every_module_is_private_or_declares_its_public_names():
    undeclared, undefined = [], {}
    for module in modules():
        if private(module) or module.endswith("__main__"):
            continue
        if modules()[module].name == "__init__.py" and not defined_names(module):
            continue  # a folder's docstring, nothing to export
        names = declared_all(module)
        if names is None:
            undeclared.append(module)
            continue
        if module == "edgekit":  # the package loads its names lazily (see test_public_api_is_lazy)
            continue
        missing = sorted(set(names) - defined_names(module) - _submodules(module))
        if missing:
            undefined[module] = missing
    assert undeclared == []
    assert undefined == {}


def _submodules(package: str) -> set[str]:
    return {name.rpartition(".")[2] for name in modules() if name.rpartition(".")[0] == package}


def test_no_module_imports_another_modules_private_names():
    crossing = []
    for importer in modules():
        for base, name in imports(importer):
            if not base.startswith("edgekit") or base not in modules():
                continue
            target = f"{base}.{name}" if name and f"{base}.{name}" in modules() else base
            if private(target) and target != importer and not may_import_private_module(importer, target):
                crossing.append(f"{importer} imports {target}")
            elif target == base and name and name.startswith("_") and not name.startswith("__") and base != importer:
                crossing.append(f"{importer} imports {base}.{name}")
    assert crossing == []


def test_modules_import_only_what_others_list_as_public():
    outside = []
    for importer in modules():
        for base, name in imports(importer):
            if not name or base not in modules() or f"{base}.{name}" in modules() or private(base) or base == "edgekit":
                continue
            offered = declared_all(base) or ()
            if name not in offered:
                outside.append(f"{importer}: {name} from {base}")
    assert outside == []


# Where a function may take the whole recipe: the commands, the flows, the recipe itself and
# the one module that unpacks it for the stages.
RECIPE_TAKERS = ("edgekit/commands/", "edgekit/flows/fit/", "edgekit/flows/sweep/", "edgekit/recipe.py", "edgekit/flows/from_recipe.py")
FLOWS = ("build.py", "convert.py", "analyze.py", "compress.py")


def test_only_flows_take_the_whole_recipe():
    takers = []
    for module, path in modules().items():
        relative = path.relative_to(REPO).as_posix()
        allowed = relative.startswith(RECIPE_TAKERS) or (relative.startswith("edgekit/flows/") and path.name in FLOWS)
        for node in ast.walk(tree(module)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if any(a.arg == "recipe" for a in arguments) and not allowed:
                    takers.append(f"{relative}:{node.lineno} {getattr(node, 'name', 'lambda')}")
    assert takers == []
    stages = [f"{n.name}" for n in ast.walk(tree("edgekit.flows.stages")) if isinstance(n, ast.FunctionDef) and "recipe" in n.name]
    assert stages == []


def test_public_api_is_lazy_and_shows_real_signatures():
    import edgekit

    assert set(edgekit.__all__) == set(dir(edgekit))
    assert {"EdgekitError", "BudgetError", "EdgekitWarning"} <= set(edgekit.__all__)
    compress = inspect.signature(edgekit.compress).parameters
    assert {"ratio", "epochs", "qat_epochs", "batch_size", "learning_rate", "seed"} <= set(compress)
    assert not any(p.kind is p.VAR_KEYWORD for p in compress.values())
    assert {"out", "overrides", "trust_model", "cache", "fresh", "keep_going", "force"} <= set(inspect.signature(edgekit.build).parameters)
    from edgekit.errors import BudgetError, EdgekitError

    assert edgekit.BudgetError is BudgetError and issubclass(edgekit.BudgetError, edgekit.EdgekitError) and edgekit.EdgekitError is EdgekitError
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        edgekit.nothing  # noqa: B018


def test_importing_edgekit_loads_no_submodule_until_asked():
    code = (
        "import sys, edgekit\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('edgekit.') and m != 'edgekit._version')\n"
        "edgekit.compress\n"
        "print(loaded, 'edgekit.flows.compress' in sys.modules, 'tensorflow' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert result.stdout.strip() == "[] True False"

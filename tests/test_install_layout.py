"""One installed top-level name: targets/ and converters/ install as edgekit.targets and
edgekit.converters, and every module is importable under exactly one name.

``converters`` is also the name of an unrelated PyPI package; an install writing a top-level
``converters`` would overwrite it. The repository keeps its folders (the project's layout),
pyproject maps them into ``edgekit``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, build_wheel

PROBE = """
import importlib.util, json, sys
import edgekit.converters, edgekit.registry as registry, edgekit.targets
if "{load}" == "all":  # needs the dependencies; a --no-deps install only finds the modules
    for name in registry.target_names():
        registry.get_target(name)
    registry.get_converter("keras_tflite")
print(json.dumps({{
    "targets": edgekit.targets.__file__,
    "converters": edgekit.converters.__file__,
    "cpu": importlib.util.find_spec("edgekit.targets.cpu").origin,
    "top_level": sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("targets", "converters")}}),
}}))
"""


def _site_packages(venv: Path) -> Path:
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    return Path(purelib)


def test_pip_install_no_deps_adds_only_edgekit(tmp_path):
    """``pip install --no-deps`` of the package into a fresh venv: edgekit and its dist-info, nothing else."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = _site_packages(venv)
    before = set(os.listdir(site))
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps", "--no-index", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    added = sorted(set(os.listdir(site)) - before)
    assert len(added) == 2 and added[0] == "edgekit" and added[1].startswith("edgekit_tflite-") and added[1].endswith(".dist-info"), added
    # Importable from the install alone (run outside the checkout), under the one name only.
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE.format(load="find")], capture_output=True, text=True, cwd=tmp_path, timeout=120, env={"PATH": os.environ["PATH"]})
    assert probe.returncode == 0, probe.stderr
    found = __import__("json").loads(probe.stdout)
    assert found["targets"] == str(site / "edgekit" / "targets" / "__init__.py")
    assert found["converters"] == str(site / "edgekit" / "converters" / "__init__.py")
    assert found["cpu"] == str(site / "edgekit" / "targets" / "cpu.py")
    assert found["top_level"] == []
    for name in ("targets", "converters"):
        refused = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {name}"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert "ModuleNotFoundError" in refused.stderr


def test_editable_checkout_maps_the_folders_into_edgekit():
    """This test run imports the checkout: edgekit.targets is the repository's targets/ folder."""
    import edgekit.converters
    import edgekit.targets

    assert Path(edgekit.targets.__file__) == REPO / "targets" / "__init__.py"
    assert Path(edgekit.converters.__file__) == REPO / "converters" / "__init__.py"
    assert not [m for m in sys.modules if m.split(".")[0] in ("targets", "converters")]


@pytest.mark.parametrize("name", ["targets", "converters", "targets.cpu", "converters.keras_tflite"])
def test_the_folders_refuse_a_second_name(name):
    """From the repository root (as pytest and ``python -m`` put it on sys.path) ``import targets``
    would load every module a second time, with a second copy of each class: refused."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import {name}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    package = name.split(".")[0]
    assert f"import edgekit.{package}, not '{package}'" in result.stderr


def test_a_whole_build_of_imports_uses_one_name():
    """Every target and converter loaded through the registry, in a fresh interpreter started
    in the repository root: nothing is imported as top-level targets/converters."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(load="all")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert __import__("json").loads(result.stdout)["top_level"] == []

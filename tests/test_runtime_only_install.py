"""A fresh virtual environment with only ``pip install '.[runtime]'``: no TensorFlow, and
``edgekit predict`` / ``edgekit bench`` work on a real bundle. Slow: it creates a venv and
installs numpy, LiteRT and Pillow (from the local package index or cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, source_copy, SHARED
from tests.device_bundles import tiny_bundles

pytestmark = pytest.mark.slow
LIMIT_MB = 150
VENV_OWN = {"pip", "setuptools", "wheel"}  # what `python -m venv` puts there before our install

SIZE_SCRIPT = """
import json
from importlib.metadata import distributions
from pathlib import Path
sizes = {}
for dist in distributions():
    files = [Path(dist.locate_file(f)) for f in dist.files or []]
    sizes[dist.metadata["Name"].lower()] = sum(p.stat().st_size for p in files if p.is_file())
print(json.dumps(sizes))
"""


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory):
    """A venv with this checkout installed as ``.[runtime]`` (from a clean copy of the source)."""
    root = tmp_path_factory.mktemp("runtime-only")
    source = source_copy(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"{source}[runtime]"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.fail(f"pip install '.[runtime]' failed:\n{install.stderr[-3000:]}")
    return venv


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_tensorflow_is_not_installed(runtime_venv, tmp_path):
    result = run(runtime_venv, "python", "-c", "import importlib.util as u; print(u.find_spec('tensorflow'), u.find_spec('tf_keras'))", cwd=tmp_path)
    assert result.stdout.split() == ["None", "None"], result.stderr


def test_predict_and_bench_work_without_tensorflow(runtime_venv, tmp_path_factory, tmp_path):
    bundle = tiny_bundles(tmp_path_factory)["int8"]
    digits = np.load(SHARED / "data" / "mnist10k.npz")["x"][-3:] if (SHARED / "data" / "mnist10k.npz").exists() else np.zeros((3, 28, 28), np.uint8)
    np.save(tmp_path / "digits.npy", digits)
    predicted = run(runtime_venv, "edgekit", "predict", str(bundle), str(tmp_path / "digits.npy"), "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    document = json.loads(predicted.stdout)
    assert document["runtime"]["name"] == "ai_edge_litert" and len(document["predictions"]) == 3
    benched = run(runtime_venv, "edgekit", "bench", str(bundle), "--runs", "20", "--min-time", "0.1", "--json", "-", cwd=tmp_path)
    assert benched.returncode == 0, benched.stderr
    result = json.loads(benched.stdout)["results"][0]
    assert result["runtime"]["name"] == "ai_edge_litert" and result["latency_us"]["runs"] >= 20
    probe = run(runtime_venv, "python", "-c", "import sys, edgekit.cli as c\ntry: c.cli.main(args=['predict', sys.argv[1], sys.argv[2]], standalone_mode=False)\nexcept SystemExit: pass\nprint('tensorflow' in sys.modules)", str(bundle), str(tmp_path / "digits.npy"), cwd=tmp_path)
    assert probe.stdout.strip().splitlines()[-1] == "False", probe.stderr  # cli, not main(): predict runs in this process, not a supervised child


def test_install_is_under_150_mb(runtime_venv, tmp_path):
    """What `pip install '.[runtime]'` adds to a fresh venv (the venv's own pip/setuptools excluded)."""
    sizes = json.loads(run(runtime_venv, "python", "-c", SIZE_SCRIPT, cwd=tmp_path).stdout)
    added = {name: size for name, size in sizes.items() if name not in VENV_OWN}
    total_mb = sum(added.values()) / 1e6
    breakdown = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in sorted(added.items(), key=lambda kv: -kv[1]) if size > 1e6)
    whole_venv_mb = sum(p.stat().st_size for p in runtime_venv.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    print(f"runtime install: {total_mb:.1f} MB ({breakdown}); whole venv {whole_venv_mb:.1f} MB")
    assert total_mb < LIMIT_MB, f"runtime install is {total_mb:.1f} MB (MB = 10^6 bytes): {breakdown}; whole venv {whole_venv_mb:.1f} MB"

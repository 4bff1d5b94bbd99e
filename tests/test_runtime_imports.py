"""The device path imports numpy and one interpreter: never TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.device_bundles import tiny_bundles

HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "keras")


def python(code: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


LOADED_HEAVY = f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"


def test_importing_the_device_modules_loads_no_tensorflow():
    code = "import sys\nimport edgekit.runtime, edgekit.runtime.bundle, edgekit.runtime.bench, edgekit.remote.ssh\n"
    code += "import edgekit.commands.predict, edgekit.commands.bench, edgekit.commands.deploy, edgekit.commands.verify\n"
    assert python(code + LOADED_HEAVY) == "[]"


def test_predict_and_bench_run_without_importing_tensorflow(tmp_path_factory, tmp_path):
    bundle = tiny_bundles(tmp_path_factory)["int8"]
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    code = (
        "import sys\nfrom edgekit.cli import main\n"
        "for argv in (['predict', sys.argv[1], sys.argv[2]], ['bench', sys.argv[1], '--runs', '5', '--min-time', '0'], ['verify', sys.argv[1]]):\n"
        "    try:\n        main(argv)\n    except SystemExit as exc:\n        assert not exc.code, argv\n"
    )
    assert python(code + LOADED_HEAVY, str(bundle), str(tmp_path / "x.npy")) == "[]"


def test_backends_resolve_in_the_documented_order():
    from edgekit.commands._device import RUNTIMES
    from edgekit.runtime.backends import BACKENDS, resolve_backend

    assert tuple(BACKENDS) == RUNTIMES == ("ai_edge_litert", "tflite_runtime", "tensorflow")
    pytest.importorskip("ai_edge_litert")
    assert resolve_backend().name == "ai_edge_litert"

"""Listing a model's ops for the mcu and ethos-u checks needs no tflite-micro.

The checks read the flatbuffer with edgekit's own reader (``edgekit.tflite.graph``); only the
mcu package step runs the TFLM interpreter. Each case runs in a child process in which
``import tflite_micro`` fails, and must place the ops exactly as this process does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.targets.ethos_u import ETHOS_U
from edgekit.targets.mcu import MCU
from edgekit.tflite.graph import read_tflite

NO_TFLM = (
    "import sys\n"
    "sys.modules['tflite_micro'] = None  # any import of tflite_micro now raises ImportError\n"
    "try:\n"
    "    import tflite_micro\n"
    "except ImportError:\n"
    "    pass\n"
    "else:\n"
    "    raise SystemExit('tflite_micro imported')\n"
)


def _child(code: str, cli_env) -> str:
    done = subprocess.run([sys.executable, "-c", NO_TFLM + code], capture_output=True, text=True, env=cli_env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("mode", ["int8", "dynamic", "float16"])
def test_mcu_check_places_ops_without_tflite_micro(tiny_tflite, tmp_path, cli_env, mode):
    path = tmp_path / f"{mode}.tflite"
    path.write_bytes(tiny_tflite[mode])
    code = (
        "import json\n"
        "from edgekit.targets.mcu import MCU\n"
        f"print(json.dumps(MCU.check(open({str(path)!r}, 'rb').read()).to_dict()))\n"
        "assert sys.modules['tflite_micro'] is None\n"
    )
    assert json.loads(_child(code, cli_env)) == MCU.check(tiny_tflite[mode]).to_dict()


def test_inspect_mcu_and_ethos_u_without_tflite_micro(tiny_tflite, tmp_path, cli_env):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tiny_tflite["int8"])
    code = (
        "from edgekit.cli import main\n"
        "try:\n"
        f"    main(['inspect', {str(path)!r}, '-t', 'mcu', '-t', 'ethos-u', '--json'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
    )
    targets = json.loads(_child(code, cli_env))["targets"]
    assert targets["mcu"]["ops"] == MCU.check(tiny_tflite["int8"]).to_dict()["ops"]
    assert targets["ethos-u"]["ops"] == ETHOS_U.check(tiny_tflite["int8"]).to_dict()["ops"]
    assert targets["mcu"]["runnable"] and {op["placement"] for op in targets["mcu"]["ops"]} == {"tflm"}


def test_sparse_tensors_are_refused(tmp_path):
    """A sparse-encoded model (the converter's EXPERIMENTAL_SPARSITY): TFLM has no DENSIFY."""
    from edgekit._compat import keras, tf

    layers = keras().layers
    model = keras().Sequential([layers.Input((64,)), layers.Dense(64, use_bias=False)])
    kernel = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    kernel[np.abs(kernel) < 1.5] = 0.0  # about 87 % zeros
    model.layers[-1].set_weights([kernel])
    converter = tf().lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf().lite.Optimize.EXPERIMENTAL_SPARSITY]
    sparse = converter.convert()

    assert read_tflite(sparse).sparse_tensor_count >= 1
    report = MCU.check(sparse)
    assert not report.runnable
    assert [p.op for p in report.ops if p.placement == "refused"] == ["DENSIFY"]

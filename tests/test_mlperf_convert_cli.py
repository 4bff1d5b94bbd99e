"""Slow tier: `edgekit convert` on the five MLPerf Tiny reference models (real third-party files).

Every model converts through the CLI for the Edge TPU (a per-op report, or a clear reason it
cannot run as stored), the microcontroller and the Ethos-U NPU; the microcontroller artifact
is no larger than the MLPerf reference int8 file (+5 %).
"""

import json
import subprocess

import numpy as np
import pytest

from tests.conftest import edgekit_command, mlperf_path
from tests.test_mlperf_mcu_ethos import CASES

pytestmark = pytest.mark.slow
SAMPLES = 100


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlperf-data")
    paths = {}
    for name, case in CASES.items():
        paths[name] = folder / f"{name}.npz"
        np.savez(paths[name], x=case.inputs(SAMPLES, 1))
    return paths


@pytest.mark.parametrize("target", ["edgetpu", "mcu", "ethos-u"])
@pytest.mark.parametrize("name", list(CASES))
def test_cli_converts_mlperf_model(name, target, data_files, cli_env, tmp_path):
    case = CASES[name]
    model = mlperf_path(*case.keras)
    result = subprocess.run(
        edgekit_command("convert", str(model), "--target", target, "--data", str(data_files[name]), "--out", str(tmp_path)),
        capture_output=True, text=True, env=cli_env, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (bundle,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((bundle / "manifest.json").read_text())
    report = manifest["target_report"]
    assert report["ops"] and all(op["placement"] for op in report["ops"])
    if not report["runnable"]:
        assert report["notes"], "a target that cannot run the model must say why"
    if target == "mcu":
        reference = mlperf_path(*case.reference).stat().st_size
        assert manifest["metrics"]["bytes"] <= reference * 1.05
        assert report["details"]["arena_bytes"] > 0
    if target == "ethos-u":
        assert 0 < report["details"]["npu_op_share"] <= 1

"""The seed's PyTorch SimpleCNN, end to end: trained in PyTorch by the sample script, then
``edgekit build samples/simple_cnn_torch.toml`` prunes, clusters and QAT-fine-tunes it for all
five targets, measured against the PyTorch float model (slow: about four minutes)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed (pip install 'edgekit-tflite[torch]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (torch.onnx.export needs it)")

from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch_sample")
    trained = subprocess.run([sys.executable, str(REPO / "samples" / "train_simple_cnn_torch.py"), "--out", str(folder)], capture_output=True, text=True, timeout=900)
    assert trained.returncode == 0, trained.stderr[-2000:]
    float_accuracy = float(trained.stdout.split("test digits: ")[1].split(" %")[0]) / 100
    shutil.copyfile(REPO / "samples" / "simple_cnn_torch.toml", folder / "simple_cnn_torch.toml")
    from edgekit.flows.build import build

    return build(folder / "simple_cnn_torch.toml", out=folder / "out"), float_accuracy


def test_all_five_targets_are_pruned_clustered_and_within_half_a_point_of_pytorch(built):
    result, pytorch_accuracy = built
    report = result.report
    assert report["import"]["reference"] == "PyTorch" and report["import"]["max_error_relative"] < 1e-4
    assert report["float_model"]["accuracy"] == pytest.approx(pytorch_accuracy, abs=1e-4)  # the reference is PyTorch's own
    artifacts = {a["target"]: a for a in report["artifacts"]}
    assert set(artifacts) == {"reference", "cpu", "gpu", "edgetpu", "mcu", "ethos-u"}
    for target in ("cpu", "gpu", "edgetpu", "mcu", "ethos-u"):
        assert artifacts[target]["sparsity"] >= 0.8, target
        assert max(artifacts[target]["unique_weights_per_kernel"].values()) <= 16, target
    assert artifacts["cpu"]["accuracy"] >= pytorch_accuracy - 0.005


def test_the_bundles_record_the_layout_they_take(built):
    import json

    result, _ = built
    manifest = json.loads((result.out_dir / "bundles" / "simple_cnn_torch-cpu-int8" / "manifest.json").read_text())
    (spec,) = manifest["inputs"]
    assert (spec["layout"], spec["source_layout"], spec["shape"][1:]) == ("NHWC", "NCHW", [32, 32, 3])
    assert np.allclose(spec["normalization"]["std"], [255.0])

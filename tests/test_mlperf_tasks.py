"""Real third-party models through ``edgekit convert`` as users run it (slow tier):

- MLPerf Tiny's AD autoencoder: per-output fidelity and the ROC AUC of the reconstruction error
  on a labelled set made here (no ToyADMOS audio ships: "normal" frames are random inputs
  walked onto what the float autoencoder reconstructs, anomalies the same plus noise); no
  top-1 agreement, no labels.txt.
- MobileNetV2 alpha 0.35 at 96 px with 10 classes (``weights=None``) on the mcu target: loads
  and runs in the real TFLM interpreter with its arena measured (the graph fix for its softmax),
  and is a one-line budget verdict for a board it does not fit.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tests.conftest import edgekit_command, mlperf_path

pytestmark = pytest.mark.slow


def anomaly_frames(path, folder):
    """(normal vs anomalous) frames for the AD model, labelled 0/1, and the float model's AUC."""
    from edgekit.measure.tasks import reconstruction_error, roc_auc
    from edgekit.models.load import load_model_file

    model = load_model_file(path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 640)).astype(np.float32)
    for _ in range(8):  # towards what the autoencoder reconstructs: its picture of normal sound
        x = model.predict(x, verbose=0)
    anomalous = x[100:200] + rng.normal(scale=0.05 * x.std(), size=(100, 640)).astype(np.float32)
    x_test = np.concatenate([x[:100], anomalous])
    y_test = np.concatenate([np.zeros(100, np.int64), np.ones(100, np.int64)])
    np.savez(folder / "frames.npz", x_train=x[200:300], x_test=x_test, y_test=y_test)
    return folder / "frames.npz", roc_auc(reconstruction_error(x_test, model.predict(x_test, verbose=0)), y_test)


@pytest.mark.parametrize("target", ["cpu", "mcu"])
def test_mlperf_ad_gets_fidelity_and_auc(tmp_path, cli_env, target):
    model = mlperf_path("ad", "ad01.h5")
    data, float_auc = anomaly_frames(model, tmp_path)
    assert float_auc > 0.85
    out = tmp_path / "out"
    result = subprocess.run(edgekit_command("convert", str(model), "--target", target, "--data", str(data), "--out", str(out)), capture_output=True, text=True, env=cli_env, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "task: regression (the output has the input's 640 values per sample" in result.stdout
    (bundle,) = out.iterdir()
    manifest = json.loads((bundle / "manifest.json").read_text())
    metrics = manifest["metrics"]
    assert "agreement" not in metrics and "accuracy" not in metrics and not (bundle / "labels.txt").exists()
    assert abs(metrics["auc"] - float_auc) < 0.15 and metrics["auc"] > 0.75
    (figures,) = metrics["outputs"].values()
    assert figures["snr_db"] > 15 and figures["cosine"] > 0.99
    if target == "mcu":
        assert manifest["target_report"]["details"]["arena_bytes"] <= 4632  # no hungrier than the reference


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    from edgekit._compat import keras, seed_everything

    folder = tmp_path_factory.mktemp("mobilenet")
    seed_everything(0)
    keras().applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10).save(folder / "mnv2.keras")
    np.savez(folder / "x.npz", x=np.random.default_rng(0).random((32, 96, 96, 3), dtype=np.float32))
    return folder


def test_mobilenetv2_runs_in_tflm_with_its_arena_measured(mobilenet, cli_env):
    out = mobilenet / "out"
    command = edgekit_command("convert", str(mobilenet / "mnv2.keras"), "--target", "mcu", "--data", str(mobilenet / "x.npz"), "--board", "nrf52840", "--out", str(out), "--calibration-samples", "32")
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env, timeout=1200)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads(next(out.glob("*/manifest.json")).read_text())
    details = manifest["target_report"]["details"]
    assert manifest["target_report"]["runnable"] and 0 < details["arena_bytes"] <= 256 * 1024
    assert details["tflm_samples"] == 32 and details["tflm_max_diff_lsb"] <= 1
    assert any("coarsened to 2^-25" in fix for fix in manifest["metrics"]["graph_fixes"])


def test_mobilenetv2_is_a_budget_verdict_for_a_smaller_board(mobilenet, cli_env):
    out = mobilenet / "small"
    command = edgekit_command("convert", str(mobilenet / "mnv2.keras"), "--target", "mcu", "--data", str(mobilenet / "x.npz"), "--board", "nrf52832", "--out", str(out))
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env, timeout=1200)
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: mcu budget ram_kb = 64 exceeded: the tensor arena (RAM), for the activations alone, needs")
    assert "Traceback" not in result.stderr and not list(out.glob("*")) if out.exists() else True

"""``edgekit convert``: a trained Keras file to a target's bundle by post-training quantisation."""

import json
import subprocess

import numpy as np
import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.errors import DataError, InputError
from edgekit.flows.convert import convert_file
from tests.conftest import edgekit_command


@pytest.fixture(scope="module")
def saved(tiny_model, mnist_small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("convert")
    tiny_model.save(folder / "digits.keras")
    x, y, x_test, y_test = mnist_small
    np.savez(folder / "data.npz", x=(x_test * 255).astype(np.uint8), y=y_test)
    return folder


def test_int8_convert_with_data(saved):
    result = convert_file(saved / "digits.keras", target="cpu", data=saved / "data.npz", std=255.0, out=saved / "out")
    manifest = verify_bundle(result.bundle)
    assert manifest["quantization"] == "int8" and manifest["inputs"][0]["dtype"] == "int8"
    assert manifest["inputs"][0]["normalization"]["std"] == [255.0]
    assert result.metrics["agreement"] >= 0.9 and result.metrics["samples"] == 200
    assert 0.5 < result.metrics["accuracy"] <= 1.0
    assert result.target_report["target"] == "cpu"


def test_float16_needs_no_data(saved):
    result = convert_file(saved / "digits.keras", target="cpu:float16", out=saved / "out")
    assert result.metrics["bytes"] > 0 and "agreement" not in result.metrics


def test_int8_without_data_is_refused(saved):
    with pytest.raises(InputError, match="needs representative data"):
        convert_file(saved / "digits.keras", target="cpu", out=saved / "out")


def test_wrong_data_shape(saved, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(DataError, match=r"shape \(32, 32, 3\) but the model takes \(28, 28, 1\)"):
        convert_file(saved / "digits.keras", target="cpu", data=tmp_path / "bad.npz", out=tmp_path)


def test_cli_convert(saved, cli_env, tmp_path):
    result = subprocess.run(
        edgekit_command("convert", str(saved / "digits.keras"), "--target", "cpu", "--data", str(saved / "data.npz"), "--std", "255", "--out", str(tmp_path)),
        capture_output=True, text=True, env=cli_env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "top-1 agreement with the Keras model" in result.stdout and "CONV_2D" in result.stdout
    manifest = json.loads((tmp_path / "digits-cpu-int8" / "manifest.json").read_text())
    assert manifest["target_report"]["runnable"] is True


def test_cli_convert_missing_model(cli_env, tmp_path):
    result = subprocess.run(edgekit_command("convert", str(tmp_path / "none.h5"), "--target", "cpu"), capture_output=True, text=True, env=cli_env, timeout=120)
    assert result.returncode == 2 and "model file not found" in result.stderr

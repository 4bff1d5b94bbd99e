"""The full sample (slow tier): the issue's acceptance figures on 8,000/2,000 MNIST digits."""

import json

import pytest

from edgekit.manifest import verify_bundle
from edgekit.pipeline import build
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build(SAMPLES / "mnist_cnn.toml", out=tmp_path_factory.mktemp("sample") / "out")


def test_float_model_reaches_98_percent(sample):
    assert sample.report["float_model"]["accuracy"] >= 0.98


def test_int8_bundle_meets_the_promises(sample):
    reference, int8 = sample.report["artifacts"]
    assert reference["quantization"] == "float32" and int8["quantization"] == "int8"
    assert abs(int8["accuracy"] - sample.report["float_model"]["accuracy"]) <= 0.005
    assert int8["gzip_bytes"] <= reference["gzip_bytes"] / 10
    assert int8["gzip_bytes"] <= reference["bytes"] / 10
    assert int8["sparsity"] == pytest.approx(0.8, abs=0.01)


def test_same_numbers_in_report_and_manifest(sample):
    report = json.loads((sample.out_dir / "report.json").read_text())
    for artifact in report["artifacts"]:
        manifest = verify_bundle(sample.out_dir / artifact["path"])
        for key in ("accuracy", "agreement", "bytes", "gzip_bytes", "sparsity", "latency_us"):
            assert manifest["metrics"][key] == artifact[key]

"""The full sample (slow tier): the issue's acceptance figures on 8,000/2,000 MNIST digits."""

import json

import numpy as np
import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.flows.build import build
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return build(SAMPLES / "mnist_cnn.toml", out=tmp_path_factory.mktemp("sample") / "out")


def test_float_model_reaches_98_percent(sample):
    assert sample.report["float_model"]["accuracy"] >= 0.98


def test_int8_bundle_meets_the_promises(sample):
    artifacts = {a["name"].removeprefix("mnist_cnn-"): a for a in sample.report["artifacts"]}
    reference, int8 = artifacts["float32"], artifacts["cpu-int8"]
    assert reference["quantization"] == "float32" and int8["quantization"] == "int8"
    assert abs(int8["accuracy"] - sample.report["float_model"]["accuracy"]) <= 0.005
    assert int8["gzip_bytes"] <= reference["gzip_bytes"] / 10
    assert int8["gzip_bytes"] <= reference["bytes"] / 10
    assert 0.8 - 0.01 <= int8["sparsity"] <= 0.82  # 80 % pruned; dense1 at 4 clusters (zero kept) adds a few zeros (81.0 %)


def test_int8_is_one_fifteenth_of_float32_gzip_within_a_third_of_a_point(sample):
    """Pruning + 16 clusters + PCQAT: at most 1/15 of the float32 gzip, within 0.3 points."""
    targets = {a["target"]: a for a in sample.report["artifacts"]}  # one artifact per target, float32 first
    reference, int8 = targets["reference"], targets["cpu"]
    assert int8["gzip_bytes"] * 15 <= reference["gzip_bytes"]
    assert round(reference["accuracy"] - int8["accuracy"], 5) <= 0.003
    assert max(int8["unique_weights_per_kernel"].values()) <= 16
    assert {s["layer"] for s in int8["skipped_layers"]} == {"conv1", "probabilities"}


@pytest.fixture(scope="module")
def tiny_mcu(tmp_path_factory):
    return build(SAMPLES / "mnist_tiny_mcu.toml", out=tmp_path_factory.mktemp("mcu") / "out")


def test_tiny_mcu_sample_fits_64k_flash_and_32k_arena(tiny_mcu):
    """Distilled student: >= 97 % int8 through the interpreter, model bytes <= 64 KB, and the
    tensor arena tflite-micro allocates for it <= 32 KB."""
    int8 = {a["target"]: a for a in tiny_mcu.report["artifacts"]}["mcu"]
    assert int8["quantization"] == "int8" and int8["accuracy"] >= 0.97
    assert int8["bytes"] <= 64 * 1024
    assert tiny_mcu.report["compression"]["distill"]["student_params"] * 3 < tiny_mcu.report["float_model"]["params"]
    micro = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = (tiny_mcu.out_dir / int8["path"] / "model.tflite").read_bytes()
    interpreter = micro.Interpreter.from_bytes(model, arena_size=32 * 1024)  # fails if 32 KB is not enough
    interpreter.set_input(np.zeros((1, 28, 28, 1), np.int8), 0)
    interpreter.invoke()


def test_same_numbers_in_report_and_manifest(sample):
    report = json.loads((sample.out_dir / "report.json").read_text())
    for artifact in report["artifacts"]:
        manifest = verify_bundle(sample.out_dir / artifact["path"])
        for key in ("accuracy", "agreement", "bytes", "gzip_bytes", "sparsity", "latency_us"):
            assert manifest["metrics"][key] == artifact[key]


def test_phone_bundle_metadata_reads_back_field_for_field(sample):
    """The sample's cpu-int8 bundle, read with mediapipe's flatc code (not edgekit's)."""
    from edgekit.converters.metadata import associated_files
    from tests.independent_readers import independent_read, mediapipe_readers

    meta_schema, model_schema = mediapipe_readers()
    (artifact,) = [a for a in sample.report["artifacts"] if a["name"].endswith("cpu-int8")]
    bundle = sample.out_dir / artifact["path"]
    manifest = verify_bundle(bundle)
    assert "README.md" in manifest["files"]
    model = (bundle / "model.tflite").read_bytes()
    found = independent_read(model, meta_schema, model_schema)
    assert (found["name"], found["input_name"], found["output_name"]) == ("MNIST digit classifier", "image", "probabilities")
    normalization = manifest["inputs"][0]["normalization"]
    assert (found["mean"], found["std"]) == (normalization["mean"], normalization["std"])
    assert associated_files(model)["labels.txt"].decode().split() == manifest["labels"]


def test_all_five_targets_are_bundled_with_their_reports(sample):
    targets = {a["target"]: a for a in sample.report["artifacts"]}
    assert set(targets) == {"reference", "cpu", "gpu", "edgetpu", "mcu", "ethos-u"}
    mcu = targets["mcu"]["target_report"]["details"]
    assert mcu["tflm_samples"] == 2000 and mcu["tflm_top1_agreement"] >= 0.995
    assert mcu["arena_bytes"] > 0 and mcu["flash_bytes_uncompressed"] == targets["mcu"]["bytes"]
    vela = targets["ethos-u"]["target_report"]["details"]
    assert 0 < vela["npu_op_share"] <= 1 and vela["sram_bytes"] > 0 and vela["inference_time_ms"] > 0
    for name in ("gpu", "edgetpu"):
        ops = targets[name]["target_report"]["ops"]
        assert ops and all(op["placement"] for op in ops)


def test_mcu_artifact_as_shipped_is_a_sixth_of_float32_and_as_accurate(sample):
    """Issue 16: the shipped mcu flatbuffer (LUT-compressed, in the bundle's mcu/ folder) is at
    most 1/6 of the float32 model's bytes, loads in TFLM within its reported arena, and its TFLM
    accuracy on the 2,000 test digits is within 0.5 points of the float model's."""
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec
    from edgekit.runtime import open_model
    from edgekit.runtime.interpreter import quantize
    from edgekit.targets import _tflm

    artifacts = {a["target"]: a for a in sample.report["artifacts"]}
    bundle = sample.out_dir / artifacts["mcu"]["path"]
    details = artifacts["mcu"]["target_report"]["details"]
    (shipped_path,) = (bundle / "mcu").glob("*_mcu.tflite")
    shipped = shipped_path.read_bytes()
    assert len(shipped) == details["flash_bytes"] and details["lut_compressed_tensors"] >= 1
    assert len(shipped) * 6 <= artifacts["reference"]["bytes"]
    ds = load_dataset(DataSpec(source="mnist"))
    q = quantize(ds.normalize(ds.x_test), open_model((bundle / "model.tflite").read_bytes(), default_delegates=False).inputs[0])
    outputs = _tflm.run(_tflm.load(shipped, details["arena_bytes"]), q)
    accuracy = float(np.mean(outputs.argmax(-1) == ds.y_test))
    assert abs(accuracy - sample.report["float_model"]["accuracy"]) <= 0.005


def test_gpu_bundle_is_measured_on_the_gpu_accelerator(sample):
    """The sample's gpu-float16 bundle: fully accelerated on a named adapter, outputs against the CPU."""
    from tests._gpu_conformance import ask_directly

    (gpu,) = [a for a in sample.report["artifacts"] if a["target"] == "gpu"]
    found = gpu["target_report"]["details"]["gpu_accelerator"]
    if not found["measured"]:
        pytest.skip(f"no GPU accelerator here: {found['reason']}")
    assert found["fully_accelerated"] is True and found["on_gpu"] == "all" and found["adapter"]["name"]
    assert found["latency_us"]["adapter"] == found["adapter"]["name"] and found["latency_us"]["p50"] > 0
    (output,) = found["outputs"]
    assert output["samples"] >= 500 and output["top1_agreement"] >= 0.999 and output["max_abs_error"] < 1e-3
    model = (sample.out_dir / gpu["path"] / "model.tflite").read_bytes()
    assert ask_directly(model, found["driver"]) == "True"

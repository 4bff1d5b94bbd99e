"""The gpu target: float16 models, ops the GPU delegate cannot run reported op by op."""

from __future__ import annotations

import pytest

from edgekit.errors import ModelError
from edgekit.registry import get_target
from edgekit.tflite_graph import read_tflite
from tests._accel_models import build


@pytest.fixture(scope="module")
def float16_models():
    from edgekit.converters.keras_tflite import convert_keras

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = convert_keras(build(name), quantization="float16")
        return cache[name]

    return get


def placements(report):
    return {(row.op, row.placement) for row in report.ops}


def test_gpu_target_is_registered_as_float16_with_float_io():
    gpu = get_target("gpu")
    assert (gpu.quantization, gpu.artifact_io_dtype) == ("float16", "float32")
    assert get_target("gpu:float32").quantization == "float32"


def test_supported_model_runs_entirely_on_the_gpu(tiny_tflite):
    report = get_target("gpu").check(tiny_tflite["float16"])
    graph = read_tflite(tiny_tflite["float16"])
    assert report.runnable and report.details["gpu_partitions"] == 1
    assert report.details["gpu_ops"] == len(graph.main.operators) and report.details["cpu_ops"] == 0
    assert {row.placement for row in report.ops} == {"gpu"}
    assert sum(row.count for row in report.ops) == len(graph.main.operators)
    assert "DEQUANTIZE" in {row.op for row in report.ops}  # float16 weights


@pytest.mark.parametrize(
    "name, unsupported",
    [("rfft2d", {"RFFT2D", "COMPLEX_ABS"}), ("top_k", {"TOPK_V2"}), ("where", {"WHERE"}), ("cumsum", {"CUMSUM"})],
)
def test_unsupported_ops_fall_back_to_the_cpu(float16_models, name, unsupported):
    report = get_target("gpu").check(float16_models(name))
    for row in report.ops:
        if row.op in unsupported:
            assert row.placement == "cpu"
            assert row.reason.startswith("Operation is not supported.") and row.op in row.reason
    assert unsupported <= {row.op for row in report.ops if row.placement == "cpu"}
    assert ("CONV_2D", "gpu") in placements(report)
    assert report.runnable and report.details["cpu_ops"] >= len(unsupported)


def test_partitions_and_the_default_single_delegated_partition(float16_models):
    report = get_target("gpu").check(float16_models("cumsum"))
    assert report.details["gpu_partitions"] == 2 and report.details["max_delegated_partitions"] == 1
    convs = {row.placement: row for row in report.ops if row.op == "CONV_2D"}
    assert convs["gpu"].count == 1 and convs["cpu"].count == 1
    assert "outside the delegated partition" in convs["cpu"].reason
    assert any("2 GPU partitions" in note for note in report.notes)


def test_five_dimensional_tensors_are_incompatible(float16_models):
    report = get_target("gpu").check(float16_models("five_d"))
    mul = next(row for row in report.ops if row.op == "MUL")
    assert mul.placement == "cpu" and "5-D tensor" in mul.reason
    assert mul.reason.startswith("OP is supported, but tensor type/shape isn't compatible.")


def test_int8_models_from_elsewhere_are_checked_too():
    from tests.conftest import mlperf_path

    report = get_target("gpu").check(mlperf_path("kws", "kws_ref_model.tflite").read_bytes())
    assert report.runnable and report.details["op_count"] == sum(row.count for row in report.ops)


def test_damaged_model_is_a_model_error(tiny_tflite):
    with pytest.raises(ModelError):
        get_target("gpu").check(tiny_tflite["float16"][:200])

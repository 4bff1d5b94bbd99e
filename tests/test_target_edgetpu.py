"""The edgetpu target: full int8, batch 1, per-op placement and the first CPU fallback."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError, ModelError
from edgekit.registry import get_target
from edgekit.runtime import open_model
from edgekit.targets import edgetpu
from edgekit.tflite.graph import Operator, read_tflite
from tests._accel_models import build, calibration


@pytest.fixture(scope="module")
def int8_models():
    from edgekit.converters.keras_tflite import convert_keras

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = convert_keras(
                build(name), quantization="int8", io_dtype="uint8", representative_data=calibration(), batch_size=1
            )
        return cache[name]

    return get


@pytest.fixture(scope="module")
def tiny_static(tiny_model, mnist_small):
    from edgekit.converters.keras_tflite import convert_keras

    return convert_keras(
        tiny_model, quantization="int8", io_dtype="uint8", representative_data=mnist_small[0], calibration_samples=100, batch_size=1
    )


def rows(report, op):
    return {row.placement: row for row in report.ops if row.op == op}


def test_edgetpu_target_data():
    target = get_target("edgetpu")
    assert (target.quantization, target.io_dtype, target.static_batch) == ("int8", "uint8", True)
    assert target.options == {"num_segments": None, "compiler_timeout_s": 180}
    assert target.variant(io_dtype="int8").artifact_io_dtype == "int8"
    with pytest.raises(InputError, match="cannot use quantization"):
        get_target("edgetpu:float16")


def test_fixed_batch_keeps_the_signature_and_the_numbers(tiny_static, tiny_model, mnist_small):
    from edgekit.converters.keras_tflite import convert_keras

    graph = read_tflite(tiny_static)
    image = graph.main.tensors[graph.main.inputs[0]]
    assert image.shape_signature == (1, 28, 28, 1) and image.dtype == "uint8"
    assert not any(t.dynamic for t in graph.main.tensors)
    assert graph.signatures == ("serving_default",)
    dynamic = convert_keras(
        tiny_model, quantization="int8", io_dtype="uint8", representative_data=mnist_small[0], calibration_samples=100
    )
    x = mnist_small[2][:20]
    np.testing.assert_array_equal(open_model(tiny_static).predict(x), open_model(dynamic).predict(x))
    with pytest.raises(InputError, match="batch_size"):
        convert_keras(tiny_model, batch_size=0)


def test_supported_model_maps_entirely(tiny_static):
    report = edgetpu.check(tiny_static)
    total = len(read_tflite(tiny_static).main.operators)
    assert report.runnable and report.details["edgetpu_ops"] == total and report.details["cpu_ops"] == 0
    assert report.details["first_cpu_fallback"] is None and report.details["edgetpu_subgraphs"] == 1
    assert {row.placement for row in report.ops} == {"edgetpu"}
    assert {"CONV_2D", "FULLY_CONNECTED", "QUANTIZE"} <= {row.op for row in report.ops}


def test_dynamic_batch_is_flagged(tiny_tflite):
    report = edgetpu.check(tiny_tflite["int8"])  # converted from Keras: batch -1
    assert report.details["dynamic_batch"] is True and not report.runnable
    assert "static-sized tensors" in report.notes[0] and "batch fixed to 1" in report.notes[0]


def test_standalone_leaky_relu_cuts_the_graph(int8_models):
    report = edgetpu.check(int8_models("leaky_relu"))
    cut = report.details["first_cpu_fallback"]
    assert cut["op"] == "LEAKY_RELU" and cut["reason"] == "Operation not supported"
    convs = rows(report, "CONV_2D")
    assert convs["edgetpu"].count == 1
    assert convs["cpu"].count == 1 and convs["cpu"].reason == "More than one subgraph is not supported"
    assert report.runnable and report.details["edgetpu_subgraphs"] == 1
    assert any("cut at op" in note for note in report.notes)


def test_float_op_inside_an_int8_model(int8_models):
    report = edgetpu.check(int8_models("cumsum"))
    assert rows(report, "CUMSUM")["cpu"].reason == "Operation not supported"
    assert rows(report, "DEQUANTIZE")["cpu"].reason == "Operation not supported"
    data_type = [row for row in report.ops if row.reason.startswith("Operation is working on an unsupported data type")]
    assert data_type and "float32 tensor" in data_type[0].reason
    assert rows(report, "CONV_2D")["edgetpu"].count == 1


def test_more_than_three_non_unit_dimensions(int8_models):
    report = edgetpu.check(int8_models("five_d"))
    mul = rows(report, "MUL")["cpu"]
    assert mul.reason.startswith("Tensor has unsupported rank (up to 3 innermost dimensions mapped)")
    assert "[1, 2, 4, 8, 3]" in mul.reason


def test_float_model_is_not_mapped(tiny_tflite):
    report = edgetpu.check(tiny_tflite["float32"])
    assert not report.runnable and report.details["edgetpu_ops"] == 0
    assert all(
        row.reason.startswith("Operation is working on an unsupported data type") or row.reason.endswith("not supported")
        for row in report.ops
    )


@pytest.mark.parametrize(
    "limit, options, reason",
    [
        ("no_fused_activation", {"fused_activation_function": "RELU"}, "no fused activation function"),
        ("same_dilation", {"dilation_w_factor": 2, "dilation_h_factor": 1}, "x and y dilation must be equal"),
        ("default_weights_format", {"weights_format": 1}, "default fully-connected weights format"),
    ],
)
def test_documented_limitations(limit, options, reason):
    op = Operator(index=0, name="OP", version=1, inputs=(), outputs=(), options=options)
    assert reason in edgetpu.LIMITS[limit](None, op)
    assert edgetpu.LIMITS[limit](None, Operator(index=0, name="OP", version=1, inputs=(), outputs=())) is None


def test_conversion_stage_fixes_the_batch_for_edgetpu_and_gpu(tiny_model, mnist_small):
    from edgekit.compression.run import uncompressed
    from edgekit.flows import stages

    data = stages.ModelData(x_calibration=mnist_small[0], x_test=mnist_small[2], y_test=mnist_small[3], labels=tuple("0123456789"), normalization={})
    settings = stages.ArtifactSettings(name="tiny", calibration_samples=50)
    model = stages.convert_for_target(get_target("edgetpu"), uncompressed(tiny_model), data, settings).model_bytes
    assert edgetpu.check(model).runnable
    assert read_tflite(model).main.tensors[0].shape_signature[0] == 1
    gpu_model = stages.convert_for_target(get_target("gpu"), uncompressed(tiny_model), data, settings).model_bytes
    assert read_tflite(gpu_model).main.tensors[read_tflite(gpu_model).main.inputs[0]].shape_signature[0] == 1
    cpu_model = stages.convert_for_target(get_target("cpu"), uncompressed(tiny_model), data, settings).model_bytes
    assert read_tflite(cpu_model).main.tensors[read_tflite(cpu_model).main.inputs[0]].shape_signature[0] == -1  # XNNPACK batches


def test_third_party_int8_models():
    from tests.conftest import mlperf_path

    report = edgetpu.check(mlperf_path("vww", "vww_96_int8.tflite").read_bytes())
    assert report.details["dynamic_batch"] and report.details["edgetpu_ops"] == report.details["op_count"]


def test_damaged_model_is_a_model_error(tiny_static):
    with pytest.raises(ModelError, match="malformed"):
        edgetpu.check(tiny_static[:-300])

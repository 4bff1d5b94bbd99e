"""The gpu target's static prediction: float16 models, op by op, as the LiteRT GPU accelerator takes them.

Every expectation here was measured on the real accelerator (``tests/test_gpu_accelerator.py``
checks the same models against it; ``benchmarks/gpu_predicted_vs_measured.py`` tabulates it).
"""

from __future__ import annotations

import pytest

from edgekit.errors import InputError, ModelError
from edgekit.registry import get_target
from edgekit.target import PackageInput
from edgekit.tflite.graph import read_tflite
from tests._accel_models import build


@pytest.fixture(scope="module")
def float16_models():
    """{(name, batch): float16 bytes}, converted once; batch 1 is what the gpu target ships."""
    from edgekit.converters.keras_tflite import convert_keras

    cache = {}

    def get(name, batch=1):
        if (name, batch) not in cache:
            cache[(name, batch)] = convert_keras(build(name), quantization="float16", batch_size=batch)
        return cache[(name, batch)]

    return get


def placements(report):
    return {(row.op, row.placement) for row in report.ops}


def test_gpu_target_is_registered_as_float16_with_float_io_at_batch_1():
    gpu = get_target("gpu")
    assert (gpu.quantization, gpu.artifact_io_dtype, gpu.static_batch) == ("float16", "float32", True)
    assert get_target("gpu:float32").quantization == "float32"
    assert gpu.package is not None and gpu.options["accelerator"] == "auto"


def test_supported_model_runs_entirely_on_the_gpu(tiny_tflite):
    report = get_target("gpu").check(tiny_tflite["float16"])
    graph = read_tflite(tiny_tflite["float16"])
    assert report.runnable and report.details["gpu_partitions"] == 1 and report.details["predicted"]
    assert report.details["gpu_ops"] == len(graph.main.operators) and report.details["cpu_ops"] == 0
    assert {row.placement for row in report.ops} == {"gpu"}
    assert sum(row.count for row in report.ops) == len(graph.main.operators)
    assert "DEQUANTIZE" in {row.op for row in report.ops}  # float16 weights go along when everything does


@pytest.mark.parametrize("name, unsupported", [("rfft2d", {"RFFT2D", "COMPLEX_ABS"}), ("l2norm", {"L2_NORMALIZATION"})])
def test_unsupported_ops_fall_back_to_the_cpu(float16_models, name, unsupported):
    report = get_target("gpu").check(float16_models(name))
    for row in report.ops:
        if row.op in unsupported:
            assert row.placement == "cpu"
            assert row.reason.startswith("Operation is not supported.") and row.op in row.reason
    assert unsupported <= {row.op for row in report.ops if row.placement == "cpu"}
    assert ("CONV_2D", "gpu") in placements(report)
    assert report.runnable and report.details["cpu_ops"] >= len(unsupported)


def test_float16_weights_stay_on_the_cpu_when_the_model_is_split(float16_models):
    """LiteRT's FP16GraphPartitionHelper: partly delegated, the weight DEQUANTIZEs run on the CPU
    (the accelerator measured 2 of 6 ops on the GPU for this model, not 4)."""
    report = get_target("gpu").check(float16_models("rfft2d"))
    (dequantize,) = [row for row in report.ops if row.op == "DEQUANTIZE"]
    assert dequantize.placement == "cpu" and "float16 weights" in dequantize.reason
    assert (report.details["gpu_ops"], report.details["op_count"]) == (2, 6)


@pytest.mark.parametrize("name", ["cumsum", "top_k", "leaky_relu"])
def test_ops_the_accelerator_takes_beyond_the_old_documented_list(float16_models, name):
    """CUMSUM and TOPK_V2 are not in the GPU delegate's documented list; ML Drift runs them."""
    report = get_target("gpu").check(float16_models(name))
    assert report.runnable and {row.placement for row in report.ops} == {"gpu"}


@pytest.mark.parametrize("name, batch, op", [("where", 1, "WHERE"), ("where", None, "WHERE"), ("top_k", None, "TOPK_V2"), ("five_d", None, "RESHAPE")])
def test_dynamic_sized_tensors_make_the_accelerator_refuse_the_graph(float16_models, name, batch, op):
    """WHERE (size from the data), TOPK_V2 on a dynamic batch, a RESHAPE to a shape computed while running."""
    report = get_target("gpu").check(float16_models(name, batch))
    assert not report.runnable and report.details["gpu_ops"] == 0
    assert {row.placement for row in report.ops} == {"cpu"}
    (note,) = report.notes
    assert "only takes static-sized tensors" in note and f"{op}'s output" in note


def test_dynamic_batch_alone_is_not_a_refusal(float16_models):
    report = get_target("gpu").check(float16_models("leaky_relu", None))
    assert report.runnable and report.details["cpu_ops"] == 0


def test_partitions_and_the_default_single_delegated_partition(float16_models):
    report = get_target("gpu").check(float16_models("l2norm"))
    assert report.details["gpu_partitions"] == 2 and report.details["max_delegated_partitions"] == 1
    convs = {row.placement: row for row in report.ops if row.op == "CONV_2D"}
    assert convs["gpu"].count == 2 and convs["cpu"].count == 1
    assert "outside the delegated partition" in convs["cpu"].reason
    assert any("2 GPU partitions" in note for note in report.notes)


def test_five_dimensional_tensors_leave_nothing_on_the_gpu(float16_models):
    """At batch 1 the 5-D RESHAPE and MUL fall back, and with them the weight DEQUANTIZE: no GPU op."""
    report = get_target("gpu").check(float16_models("five_d"))
    mul = next(row for row in report.ops if row.op == "MUL")
    assert mul.placement == "cpu" and "5-D tensor" in mul.reason
    assert mul.reason.startswith("OP is supported, but tensor type/shape isn't compatible.")
    assert not report.runnable and report.details["gpu_ops"] == 0


def test_int8_models_from_elsewhere_are_checked_too():
    from tests.conftest import mlperf_path

    report = get_target("gpu").check(mlperf_path("kws", "kws_ref_model.tflite").read_bytes())
    assert report.runnable and report.details["op_count"] == sum(row.count for row in report.ops)


def test_damaged_model_is_a_model_error(tiny_tflite):
    with pytest.raises(ModelError):
        get_target("gpu").check(tiny_tflite["float16"][:200])


@pytest.mark.parametrize("setting, value", [("accelerator", "sometimes"), ("accelerator_samples", 0), ("accelerator_timeout_s", "soon")])
def test_accelerator_settings_are_validated(tiny_tflite, setting, value):
    target = get_target("gpu").variant(**{setting: value})
    with pytest.raises(InputError, match=rf"\[target.gpu\] {setting}"):
        target.package(tiny_tflite["float16"], PackageInput(name="t", options=target.options))


def test_accelerator_off_keeps_the_prediction_and_says_so(tiny_tflite):
    target = get_target("gpu").variant(accelerator="off")
    built = target.package(tiny_tflite["float16"], PackageInput(name="t", options=target.options))
    assert built.runnable is None and built.details["verdict"] == "predicted"
    assert built.details["gpu_accelerator"] == {"measured": False, "reason": 'the GPU accelerator is turned off ([target.gpu] accelerator = "off")'}
    (note,) = built.notes
    assert "static prediction" in note

"""The CPU target's check: measured XNNPACK placement, not a lookup table."""

import pytest

from edgekit.registry import get_target
from edgekit.targets.cpu import check


def placements(report):
    return {(op.op, op.placement): op.count for op in report.ops}


def test_float_model_runs_entirely_on_xnnpack(tiny_tflite):
    report = check(tiny_tflite["float32"])
    assert report.runnable and report.details["xnnpack_partitions"] == 1
    assert all(op.placement == "xnnpack" for op in report.ops)
    assert report.details["xnnpack_ops"] == report.details["op_count"]


def test_int8_softmax_falls_back_to_reference_kernels(tiny_tflite):
    report = check(tiny_tflite["int8"])
    found = placements(report)
    assert found[("CONV_2D", "xnnpack")] == 2 and found[("FULLY_CONNECTED", "xnnpack")] == 2
    assert found[("SOFTMAX", "cpu")] == 1
    cpu_op = next(op for op in report.ops if op.placement == "cpu")
    assert "XNNPACK" in cpu_op.reason
    assert sum(op.count for op in report.ops) == report.details["op_count"]


@pytest.mark.parametrize("spec, quantization, io", [("cpu", "int8", "int8"), ("cpu:float16", "float16", "float32"), ("cpu:dynamic", "dynamic", "float32")])
def test_variants(spec, quantization, io):
    target = get_target(spec)
    assert target.quantization == quantization and target.artifact_io_dtype == io
    assert target.label == f"cpu-{quantization}"


def test_unknown_variant():
    from edgekit.errors import InputError

    with pytest.raises(InputError, match="cannot use quantization 'int4'"):
        get_target("cpu:int4")

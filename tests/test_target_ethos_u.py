"""The ethos-u target and edgekit.converters.vela, with the real Vela compiler."""

from __future__ import annotations

import csv
import io
import re

import pytest

from edgekit.converters.vela import ACCELERATORS, compile_vela, parse_fallbacks
from edgekit.errors import InputError, ModelError, ToolError
from edgekit.registry import get_target
from edgekit.runtime import resolve_backend
from edgekit.target import PackageInput
from edgekit.targets.ethos_u import ETHOS_U
from edgekit.tflite.graph import read_tflite


@pytest.fixture(scope="module")
def vela_result(tiny_tflite):
    return compile_vela(tiny_tflite["int8"])


@pytest.fixture(scope="module")
def built(tiny_tflite):
    return ETHOS_U.package(tiny_tflite["int8"], PackageInput(name="tiny-ethos-u-int8", options=ETHOS_U.options))


def test_registered_by_name():
    assert get_target("ethos-u") is ETHOS_U
    assert ETHOS_U.options["accelerator"] == "ethos-u55-128"
    with pytest.raises(InputError, match="accelerator"):
        ETHOS_U.variant(acclerator="ethos-u65-256")


def test_vela_puts_the_tiny_int8_model_on_the_npu(vela_result):
    assert vela_result.model[4:8] == b"TFL3"
    assert [op.name for op in read_tflite(vela_result.model).all_ops] == ["ethos-u"]
    assert vela_result.accelerator == "ethos-u55-128"
    assert vela_result.npu_ops > 0 and vela_result.cpu_ops == 0
    assert vela_result.npu_op_share == 1.0
    assert vela_result.sram_bytes > 0 and vela_result.flash_bytes > 0
    assert vela_result.cycles_total >= vela_result.cycles_npu > 0
    assert vela_result.inference_time_s > 0
    assert vela_result.inferences_per_second == pytest.approx(1 / vela_result.inference_time_s, rel=1e-3)
    assert vela_result.macs > 0


def test_vela_model_loads_as_bytes(vela_result):
    """LiteRT parses the compiled flatbuffer and sees the one NPU custom op."""
    interpreter = resolve_backend().Interpreter(model_content=vela_result.model)
    assert [op["op_name"] for op in interpreter._get_ops_details()] == ["ethos-u"]


def test_check_reports_placement_per_op(tiny_tflite):
    report = ETHOS_U.check(tiny_tflite["int8"])
    assert report.runnable
    assert {p.placement for p in report.ops} == {"npu"}
    assert report.details["npu_op_share"] == 1.0
    assert report.details["sram_bytes"] > 0


def test_check_float_model_explains_why_nothing_maps(tiny_tflite):
    report = ETHOS_U.check(tiny_tflite["float32"])
    assert not report.runnable
    assert report.details["npu_op_share"] == 0.0
    assert all(p.placement == "cpu" for p in report.ops)
    assert any("Float32" in p.reason for p in report.ops)
    assert any("int8" in note for note in report.notes)


def test_check_float16_model_is_refused_for_the_cpu_part(tiny_tflite):
    report = ETHOS_U.check(tiny_tflite["float16"])
    assert not report.runnable
    assert any("float16" in note for note in report.notes)
    with pytest.raises(ModelError, match="ethos-u"):
        ETHOS_U.package(tiny_tflite["float16"], PackageInput(name="f16", options=ETHOS_U.options))


def test_package_ships_vela_model_c_array_and_figures(built, tiny_tflite):
    files = built.files
    vela_model = files["ethos-u/tiny-ethos-u-int8_vela.tflite"]
    assert [op.name for op in read_tflite(vela_model).all_ops] == ["ethos-u"]
    assert {"ethos-u/model_data.cc", "ethos-u/model_data.h", "ethos-u/op_resolver.h", "ethos-u/README.md"} <= set(files)
    assert f"g_model_data_len = {len(vela_model)};" in files["ethos-u/model_data.cc"].decode()
    assert re.findall(r"resolver\.(Add\w+)\(\)", files["ethos-u/op_resolver.h"].decode()) == ["AddEthosU"]
    row = next(csv.DictReader(io.StringIO(files["ethos-u/vela_summary.csv"].decode())))
    assert row["accelerator_configuration"] == "Ethos_U55_128"
    details = built.details
    for key in ("npu_op_share", "sram_bytes", "flash_bytes", "cycles_total", "inference_time_ms"):
        assert details[key] > 0, key
    assert details["vela_model_bytes"] == len(vela_model)
    assert "ms (Vela estimate)" in built.notes[0]


def test_accelerator_is_configurable(tiny_tflite, built):
    target = ETHOS_U.variant(accelerator="ethos-u65-256")
    result = target.package(tiny_tflite["int8"], PackageInput(name="tiny", options=target.options))
    assert result.details["accelerator"] == "ethos-u65-256"
    assert result.details["cycles_total"] != built.details["cycles_total"]


def test_unknown_accelerator_lists_the_valid_ones(tiny_tflite):
    with pytest.raises(InputError, match="ethos-u55-256") as failure:
        compile_vela(tiny_tflite["int8"], accelerator="ethos-u99")
    assert "ethos-u99" in str(failure.value)
    assert "ethos-u55-128" in ACCELERATORS


def test_missing_vela_is_a_tool_error_with_the_install_command(tiny_tflite, tmp_path):
    with pytest.raises(ToolError, match="pip install ethos-u-vela"):
        compile_vela(tiny_tflite["int8"], vela=str(tmp_path / "no-such-vela"))


def test_vela_failure_is_reported(tiny_tflite):
    with pytest.raises(ToolError, match="vela failed"):
        compile_vela(tiny_tflite["int8"], extra_args=["--no-such-flag"])


def test_vela_timeout_is_reported(tiny_tflite):
    with pytest.raises(ToolError, match="did not finish"):
        compile_vela(tiny_tflite["int8"], timeout=0.01)


def test_not_a_tflite_model_is_refused():
    with pytest.raises(InputError, match="TFL3"):
        compile_vela(b"not a model at all")


def test_fallback_warnings_of_both_vela_front_ends_are_parsed():
    log = (
        "Warning (supported operators) operator: SOFTMAX, ofm: 'out:0'\n"
        "Reason: Operation has tensor with unsupported DataType Float32 (x)\n"
        "Warning: Unsupported TensorFlow Lite semantics for MEAN 'mean_1'. Placing on CPU instead\n"
        " - Axis indices must correspond to height and width axes\n"
    )
    fallbacks = parse_fallbacks(log)
    assert [(f.op, f.tensor) for f in fallbacks] == [("SOFTMAX", "out:0"), ("MEAN", "mean_1")]
    assert fallbacks[1].reason.startswith("Axis indices")

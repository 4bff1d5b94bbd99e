"""The edgetpu_compiler runner and log parser: real published logs, and a stand-in executable."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from edgekit.converters import edgetpu
from edgekit.converters.edgetpu import compile_command, compile_edgetpu, parse_log, parse_size
from edgekit.errors import InputError, ToolError
from edgekit.target import PackageInput

LOGS = Path(__file__).parent / "data" / "edgetpu_logs"
STANDIN = Path(__file__).parent / "data" / "edgetpu_compiler_standin.py"
MiB, KiB = 1024**2, 1024


def log(name: str):
    return parse_log((LOGS / name).read_text())


def test_every_published_log_has_a_source_and_parses():
    readme = (LOGS / "README.md").read_text()
    for path in sorted(LOGS.glob("*.txt")):
        assert f"`{path.name}`" in readme and "https://" in readme
        result = parse_log(path.read_text())
        assert result.models or result.errors, path.name


def test_partial_mapping_log():
    result = log("v2_1_partial.txt")
    assert result.version == "2.1.302470888" and result.succeeded is True
    (model,) = result.models
    assert (model.input_model, model.output_model) == ("model2.tflite", "model2_edgetpu.tflite")
    assert model.on_chip_used_bytes == round(6.86 * MiB)
    assert model.on_chip_remaining_bytes == round(7.75 * KiB)
    assert model.off_chip_used_bytes == round(1.22 * MiB)
    assert (model.edgetpu_subgraphs, model.total_ops, model.compile_ms) == (1, 93, 12264)
    assert (result.ops_on_edgetpu(), result.ops_on_cpu()) == (83, 10)
    assert [(r.op, r.count, r.mapped) for r in model.operators] == [
        ("LOGISTIC", 1, False),
        ("ADD", 10, True),
        ("CONCATENATION", 1, False),
        ("CONCATENATION", 3, True),
    ]
    assert model.operators[0].status == "More than one subgraph is not supported"


def test_all_mapped_log_counts_from_the_table_and_total():
    result = log("v16_all_mapped_segment.txt")
    (model,) = result.models
    assert result.version == "16.0.384591198"
    assert model.ops_on_edgetpu is None  # the compiler omits the line when nothing falls back
    assert model.off_chip_used_bytes == round(41.75 * KiB)
    assert all(row.mapped for row in model.operators) and len(model.operators) == 8
    assert model.edgetpu_op_count() == sum(r.count for r in model.operators)


def test_segment_log_and_empty_table():
    (model,) = log("v16_segment_of_2.txt").models
    assert model.output_model == "rede_modelo3_73_segment_0_of_2_edgetpu.tflite"
    assert model.operators == [] and model.edgetpu_op_count() == 84
    assert model.off_chip_used_bytes == 0


@pytest.mark.parametrize(
    "name, first_error",
    [
        ("v16_failed_large_activations.txt", "ERROR: Restored original execution plan"),
        ("v16_dynamic_tensors.txt", "ERROR: Attempting to use a delegate that only supports static-sized tensors"),
        ("v16_not_parsed.txt", "ERROR: Didn't find op for builtin opcode 'QUANTIZE' version '3'"),
        ("v14_not_quantized.txt", "Invalid model: my_mnist_quant.tflite"),
    ],
)
def test_failure_logs(name, first_error):
    result = log(name)
    assert result.succeeded is False
    assert result.errors[0].startswith(first_error)
    assert all(not m.output_model for m in result.models)


def test_no_subgraph_log():
    result = log("v14_no_subgraphs.txt")
    (model,) = result.models
    assert model.edgetpu_subgraphs == 0 and model.on_chip_used_bytes == 0
    assert result.ops_on_edgetpu() == 0 and result.ops_on_cpu() == 42


def test_old_compiler_available_memory_line():
    (model,) = log("v2_0_available_memory.txt").models
    assert model.on_chip_available_bytes == round(7.62 * MiB) and model.on_chip_remaining_bytes is None
    assert (model.ops_on_edgetpu, model.ops_on_cpu) == (63, 1)


def test_quote_starting_mid_log_and_statuses():
    result = log("mixed_statuses.txt")
    statuses = {r.status for r in result.operators}
    assert "Operation is otherwise supported, but not mapped due to some unspecified limitation" in statuses
    assert "Operation is working on an unsupported data type" in statuses
    assert (result.models[0].total_ops, result.ops_on_edgetpu(), result.ops_on_cpu()) == (267, 261, 6)


def test_operation_log_file():
    (model,) = log("operation_log_file.txt").models
    assert model.input_model == "tflite_quant_model.tflite"
    assert ("RESHAPE", 2, "Tensor has unsupported rank (up to 3 innermost dimensions mapped)") in [
        (r.op, r.count, r.status) for r in model.operators
    ]
    assert model.edgetpu_op_count() == 6 + 37 + 58


def test_parse_size():
    assert parse_size("0.00B") == 0 and parse_size("1.00KiB") == 1024 and parse_size("2MiB") == 2 * MiB
    with pytest.raises(ValueError):
        parse_size("12 parsecs")


def test_compile_command_is_exact():
    assert compile_command("model.tflite") == "edgetpu_compiler -s -o . model.tflite"
    assert (
        compile_command("model.tflite", num_segments=2, timeout_s=300)
        == "edgetpu_compiler -s -o . --num_segments 2 --timeout_sec 300 model.tflite"
    )
    with pytest.raises(InputError, match="num_segments"):
        compile_command("model.tflite", num_segments=0)
    with pytest.raises(InputError, match="compiler_timeout_s"):
        compile_command("model.tflite", timeout_s=-1)


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """``edgetpu_compiler`` on PATH, running the stand-in script; returns the argv record file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "edgetpu_compiler"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    record = tmp_path / "argv.json"
    monkeypatch.setenv("STANDIN_ARGV", str(record))
    return record


MODEL = b"\x1c\x00\x00\x00TFL3" + bytes(32)  # the stand-in only checks the identifier


def test_compile_runs_the_compiler_with_an_argv_list(standin):
    assert edgetpu.find_compiler().endswith("edgetpu_compiler")
    result = compile_edgetpu(MODEL, name="net", num_segments=2, timeout_s=60)
    argv = json.loads(standin.read_text())
    assert argv[1:3] == ["-s", "-o"] and argv[4:8] == ["--num_segments", "2", "--timeout_sec", "60"]
    assert argv[-1].endswith("net.tflite")
    assert sorted(result.files) == [
        "net_segment_0_of_2_edgetpu.log",
        "net_segment_0_of_2_edgetpu.tflite",
        "net_segment_1_of_2_edgetpu.log",
        "net_segment_1_of_2_edgetpu.tflite",
    ]
    assert result.files["net_segment_1_of_2_edgetpu.tflite"] == MODEL
    assert result.log.succeeded and len(result.log.models) == 2
    details = result.report_details()
    assert details["edgetpu_ops"] == 4 and details["cpu_ops"] == 2 and details["segments"] == 2
    assert details["on_chip_memory_bytes"] == 2 * round(1.5 * KiB)
    assert {"op": "LEAKY_RELU", "count": 1, "status": "Operation not supported"} in details["compiler_ops"]


def test_compiler_failure_is_a_tool_error(standin, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "fail")
    with pytest.raises(ToolError, match="exit status 1.*Restored original execution plan"):
        compile_edgetpu(MODEL)


def test_compiler_timeout_is_a_tool_error(standin, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "hang")
    monkeypatch.setattr(edgetpu, "_GRACE_S", 0)
    with pytest.raises(ToolError, match="did not finish within 1 s"):
        compile_edgetpu(MODEL, timeout_s=1)


def test_missing_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert edgetpu.find_compiler() is None
    with pytest.raises(ToolError, match="not on PATH"):
        compile_edgetpu(MODEL)


def test_package_compiles_when_the_compiler_is_there(standin):
    from edgekit.targets.edgetpu import EDGETPU

    built = EDGETPU.package(MODEL, PackageInput(name="m", options=EDGETPU.options))
    assert built.files["model_edgetpu.tflite"] == MODEL
    assert built.details["edgetpu_compiled"] is True and built.details["predicted"] is False
    assert json.loads(standin.read_text())[4:6] == ["--timeout_sec", "180"]


def test_package_ships_the_command_when_the_compiler_is_missing(monkeypatch, tmp_path):
    from edgekit.targets.edgetpu import EDGETPU

    monkeypatch.setenv("PATH", str(tmp_path))
    target = EDGETPU.variant(num_segments=2)
    built = target.package(MODEL, PackageInput(name="m", options=target.options))
    command = "edgetpu_compiler -s -o . --num_segments 2 --timeout_sec 180 model.tflite"
    assert built.details == {"edgetpu_compiled": False, "compile_command": command}
    assert command in built.files["COMPILE_EDGETPU.txt"].decode()
    assert "not compiled" in built.notes[0]


def test_package_reports_a_failed_compile(standin, monkeypatch):
    from edgekit.targets.edgetpu import EDGETPU

    monkeypatch.setenv("STANDIN_MODE", "fail")
    built = EDGETPU.package(MODEL, PackageInput(name="m", options=EDGETPU.options))
    assert built.details["edgetpu_compiled"] is False
    assert "Restored original execution plan" in built.details["compile_error"]


@pytest.mark.slow
def test_build_ships_the_compiled_model_and_the_predicted_placement(standin, tiny_recipe, tmp_path):
    """A recipe with the edgetpu and gpu targets, end to end, with the stand-in compiler on PATH."""
    from edgekit.flows.build import build

    tiny_recipe.write_text(tiny_recipe.read_text().replace('targets = ["cpu"]', 'targets = ["edgetpu", "gpu"]'))
    result = build(tiny_recipe, out=tmp_path / "out", overrides={"train.epochs": 1, "prune.epochs": 1})
    bundles = tmp_path / "out" / "bundles"
    edgetpu_bundle = bundles / "tiny-edgetpu-int8"
    assert (edgetpu_bundle / "model_edgetpu.tflite").read_bytes() == (edgetpu_bundle / "model.tflite").read_bytes()
    reports = {a.target_name: a.target_report for a in result.artifacts if a.target_report}
    assert reports["edgetpu"]["details"]["edgetpu_compiled"] is True
    assert {op["placement"] for op in reports["edgetpu"]["ops"]} == {"edgetpu"}
    assert {op["placement"] for op in reports["gpu"]["ops"]} == {"gpu"}
    argv = json.loads(standin.read_text())
    assert argv[-1].endswith("tiny-edgetpu-int8.tflite") or argv[-1].endswith("model.tflite")

"""The mcu target against the real tflite_micro interpreter, LiteRT's reference kernels and g++."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.conftest import mlperf_path
from edgekit.errors import BudgetError, InputError, ModelError
from edgekit.registry import get_target
from edgekit.runtime import open_model
from edgekit.target import PackageInput
from edgekit.targets import _tflm
from edgekit.targets._litert_compare import litert_reference
from edgekit.targets.mcu import MCU

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")


@pytest.fixture(scope="module")
def built(tiny_tflite, mnist_small):
    """The tiny int8 model packaged once, verified on the 200 fixture test digits."""
    x_test = mnist_small[2]
    return MCU.package(tiny_tflite["int8"], PackageInput(name="tiny-mcu-int8", x_test=x_test, options=MCU.options))


def test_registered_by_name():
    assert get_target("mcu") is MCU
    assert MCU.variant(flash_kb=64, ram_kb=16).options == {"flash_kb": 64, "ram_kb": 16, "board": None}
    with pytest.raises(InputError, match="flash_kb"):
        MCU.variant(flash_kib=64)


def test_check_int8_maps_every_op_to_tflm(tiny_tflite):
    report = MCU.check(tiny_tflite["int8"])
    assert report.runnable
    assert {p.placement for p in report.ops} == {"tflm"}
    ops = open_model(tiny_tflite["int8"], default_delegates=False).op_names()
    assert sum(p.count for p in report.ops) == len(ops)


@pytest.mark.parametrize("mode, reason", [("float16", "float16"), ("dynamic", "hybrid")])
def test_check_refuses_what_tflm_cannot_run(tiny_tflite, mode, reason):
    report = MCU.check(tiny_tflite[mode])
    assert not report.runnable
    refused = [p for p in report.ops if p.placement == "refused"]
    assert refused and all(reason in p.reason for p in refused)
    assert any(reason in note for note in report.notes)
    with pytest.raises(ModelError, match=reason):
        MCU.package(tiny_tflite[mode], PackageInput(name=mode, options=MCU.options))


def test_refusals_agree_with_the_real_interpreter(tiny_tflite):
    """What check() refuses is exactly what tflite_micro fails to load."""
    for mode, model in tiny_tflite.items():
        refused = not MCU.check(model).runnable
        assert refused == (not _tflm.works(model, 1 << 20)), mode


def test_package_runs_in_tflm_and_matches_litert(built):
    details = built.details
    assert details["tflm_samples"] == 200
    assert details["tflm_max_diff_lsb"] <= 1 and details["tflm_litert_kernels"] in ("ref", "builtin")
    for kernels in ("ref", "builtin"):
        assert details[f"tflm_max_diff_lsb_{kernels}"] <= 1
        assert details[f"tflm_within_1_lsb_{kernels}"] == 1.0
        assert details[f"tflm_top1_agreement_{kernels}"] >= 0.995
    assert any("LiteRT" in note for note in built.notes)


def _litert_raw(runner, q):
    outputs = []
    for row in q:
        runner.set_raw_input(row[None])
        runner.invoke()
        outputs.append(runner.raw_output().reshape(-1))
    return np.stack(outputs).astype(int)


def test_tflm_outputs_match_litert_kernels_within_one_lsb(tiny_tflite, mnist_small):
    """From scratch on raw int8 tensors: TFLM against LiteRT's reference and builtin kernels."""
    from edgekit.runtime.interpreter import quantize

    model = tiny_tflite["int8"]
    builtin = open_model(model, default_delegates=False)
    q = quantize(mnist_small[2], builtin.inputs[0])
    tflm = _tflm.run(_tflm.load(model, 1 << 20), q).astype(int)
    assert np.abs(tflm - _litert_raw(litert_reference(model), q)).max() <= 1
    assert np.abs(tflm - _litert_raw(builtin, q)).max() <= 1


def test_arena_is_measured_and_is_the_smallest_that_works(built, tiny_tflite):
    arena = built.details["arena_bytes"]
    assert arena > 0 and built.details["arena_recorded_bytes"] > 0
    assert _tflm.works(tiny_tflite["int8"], arena)
    assert not _tflm.works(tiny_tflite["int8"], arena - 1)


def test_arena_reproduces_the_mlperf_reference_figure():
    """README of ../shared/models/mlperf_tiny: IC needs 55,984 bytes in this tflite-micro."""
    model = mlperf_path("ic", "pretrainedResnet_quant.tflite").read_bytes()
    arena = _tflm.measure_arena(model)
    assert arena.recorded == 55_984
    assert arena.total == 55_984


def test_arena_search_survives_a_recorded_figure_that_is_short():
    """MLPerf AD: the recorder says 3,984 bytes but planning needs more; the search finds it."""
    model = mlperf_path("ad", "ad01_int8.tflite").read_bytes()
    arena = _tflm.measure_arena(model)
    assert arena.recorded == 3_984
    assert arena.total > arena.recorded
    assert _tflm.works(model, arena.total) and not _tflm.works(model, arena.total - 1)


def test_parse_allocations():
    text = (
        "[RecordingMicroAllocator] Arena allocation total 55984 bytes\n"
        "[RecordingMicroAllocator] Arena allocation head 49152 bytes\n"
        "[RecordingMicroAllocator] Arena allocation tail 6832 bytes\n"
    )
    arena = _tflm.parse_allocations(text)
    assert (arena.recorded, arena.head, arena.tail) == (55984, 49152, 6832)


def test_bundle_files_and_flash_figure(built, tiny_tflite):
    assert set(built.files) == {"mcu/model_data.cc", "mcu/model_data.h", "mcu/op_resolver.h", "mcu/README.md"}
    assert built.details["flash_bytes"] == len(tiny_tflite["int8"])
    note = built.files["mcu/README.md"].decode()
    assert f"kTensorArenaSize = {built.details['arena_bytes']};" in note
    assert f"{len(tiny_tflite['int8']):,} bytes" in note


@needs_gxx
def test_model_data_compiles(built, tmp_path):
    for name in ("model_data.cc", "model_data.h"):
        (tmp_path / name).write_bytes(built.files[f"mcu/{name}"])
    subprocess.run([GXX, "-std=c++11", "-Wall", "-Werror", "-c", "model_data.cc"], cwd=tmp_path, check=True, capture_output=True)


def test_op_resolver_registers_exactly_the_models_ops(built, tiny_tflite):
    header = built.files["mcu/op_resolver.h"].decode()
    registered = re.findall(r"resolver\.(Add\w+)\(\)", header)
    ops = set(open_model(tiny_tflite["int8"], default_delegates=False).op_names())
    assert sorted(registered) == sorted(_tflm.BUILTIN_METHODS[op] for op in ops)
    assert "MicroMutableOpResolver<kNumOps>" in header
    assert f"kNumOps = {len(ops)};" in header


@needs_gxx
def test_op_resolver_is_valid_cpp(built, tmp_path):
    """Syntax check against a stand-in header declaring every Add* method edgekit can emit."""
    stub = tmp_path / "tensorflow" / "lite" / "micro"
    stub.mkdir(parents=True)
    methods = "\n".join(f"  TfLiteStatus {m}();" for m in {**_tflm.BUILTIN_METHODS, **_tflm.CUSTOM_METHODS}.values())
    (stub / "micro_mutable_op_resolver.h").write_text(
        "enum TfLiteStatus { kTfLiteOk, kTfLiteError };\n"
        f"namespace tflite {{ template <unsigned int N> class MicroMutableOpResolver {{ public:\n{methods}\n}}; }}\n"
    )
    (tmp_path / "op_resolver.h").write_bytes(built.files["mcu/op_resolver.h"])
    (tmp_path / "use.cc").write_text('#include "op_resolver.h"\nint main() { edgekit::OpResolver r; return edgekit::RegisterOps(r); }\n')
    subprocess.run([GXX, "-std=c++11", "-Wall", "-Werror", "-fsyntax-only", "-I.", "use.cc"], cwd=tmp_path, check=True, capture_output=True)


@pytest.mark.parametrize("budget, least", [("flash_kb", "flash_bytes_at_least"), ("ram_kb", "arena_lower_bound_bytes")])
def test_budget_exceeded_fails_with_the_figures(tiny_tflite, built, budget, least):
    """A budget the model cannot meet at all is refused from the flatbuffer, before TFLM runs:
    the figure is the least it needs (flash with every compressible tensor at 1 bit, the
    activations alone); the budget checks on what ships come after (test_mcu_lut)."""
    target = MCU.variant(**{budget: 1})
    with pytest.raises(BudgetError) as failure:
        target.package(tiny_tflite["int8"], PackageInput(name="tiny", options=target.options))
    message = str(failure.value)
    assert budget in message
    assert f"{built.details[least]:,} bytes" in message


def test_budgets_that_fit_are_recorded(tiny_tflite):
    target = MCU.variant(flash_kb=64, ram_kb=32)
    result = target.package(tiny_tflite["int8"], PackageInput(name="tiny", options=target.options))
    assert result.details["flash_kb"] == 64 and result.details["ram_kb"] == 32


@pytest.mark.parametrize("value", [0, -5, "big", True])
def test_bad_budget_values_are_refused(tiny_tflite, value):
    with pytest.raises(InputError, match="flash_kb"):
        MCU.package(tiny_tflite["int8"], PackageInput(name="tiny", options={"flash_kb": value}))


def test_float32_model_runs_in_tflm(tiny_tflite, mnist_small):
    result = MCU.package(tiny_tflite["float32"], PackageInput(name="f32", x_test=mnist_small[2][:20], options={}))
    assert result.details["tflm_max_abs_diff_ref"] < 1e-4
    assert result.details["tflm_max_abs_diff_builtin"] < 1e-4
    assert "data.f" in result.files["mcu/README.md"].decode()


@pytest.fixture(scope="module")
def per_channel_dense():
    """An int8 MLP with per-channel FULLY_CONNECTED weights (the TF 2.21 converter default)."""
    from edgekit.converters.keras_tflite import convert_keras
    from edgekit._compat import keras

    layers = keras().layers
    model = keras().Sequential([layers.Input((64,)), layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"), layers.Dense(10)])
    x = np.random.default_rng(0).normal(size=(50, 64)).astype(np.float32)
    return convert_keras(model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=50)


def _works_in_child(model: bytes, size: int, tmp_path) -> bool:
    """Probe one arena size in a separate process: this kernel may crash instead of failing."""
    import sys

    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    code = f"import sys; from edgekit.targets import _tflm; sys.exit(0 if _tflm.works(open({str(path)!r}, 'rb').read(), {size}) else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=False).returncode == 0


def test_arena_search_survives_kernels_that_crash_on_a_short_arena(per_channel_dense, tmp_path):
    """tflite-micro's per-channel FULLY_CONNECTED segfaults on some short arenas; the search
    runs in a child process, counts a crash as a failed probe and still finds the minimum."""
    arena = _tflm.measure_arena(per_channel_dense)
    assert arena.total >= arena.recorded > 0
    assert _tflm.works(per_channel_dense, arena.total)
    assert not _works_in_child(per_channel_dense, arena.total - 1, tmp_path)


def test_test_inputs_of_the_wrong_shape_are_refused(tiny_tflite):
    from edgekit.errors import DataError

    with pytest.raises(DataError, match="shape"):
        MCU.package(tiny_tflite["int8"], PackageInput(name="tiny", x_test=np.zeros((3, 32, 32, 1), np.float32), options={}))


def test_a_failed_arena_probe_reports_the_error_not_the_traceback_frames():
    import subprocess

    from edgekit.targets._tflm import _tail

    stderr = (
        "Traceback (most recent call last):\n  File \"runtime.py\", line 123, in __init__\n"
        "    self._interpreter = _runtime.InterpreterWrapper(\n                        ^^^^^^^^^^^^\nMemoryError: std::bad_alloc\n"
    )
    said = _tail(subprocess.CompletedProcess([], 1, stdout="try 1024\n", stderr=stderr))
    assert "MemoryError: std::bad_alloc" in said and "File " not in said and "^" not in said

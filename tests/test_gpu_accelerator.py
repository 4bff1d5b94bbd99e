"""The gpu target measured on the real LiteRT GPU accelerator (a GPU's Vulkan driver, else SwiftShader).

Skipped, with the reason, where no accelerator can be created. Nothing is mocked: crashes are
real LiteRT aborts on damaged files, timeouts are real child processes killed, a missing driver
is a Vulkan ICD that does not exist.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.registry import get_target
from edgekit.runtime.gpu_accelerator import accelerator_missing, run_on_gpu
from edgekit.runtime.gpu_driver import INSTALL_HINT, missing_reason, vulkan_drivers
from edgekit.target import PackageInput
from edgekit.targets import _gpu_measure
from tests._accel_models import SHAPE, build
from tests._gpu_conformance import ask_directly
from tests.conftest import edgekit_command, mlperf_path

GPU = get_target("gpu")


@pytest.fixture(scope="module")
def probes():
    """Float16 op-probe models at batch 1 (as the gpu target ships them), converted once."""
    from edgekit.converters.keras_tflite import convert_keras

    cache: dict[str, bytes] = {}

    def get(name: str) -> bytes:
        if name not in cache:
            cache[name] = convert_keras(build(name), quantization="float16", batch_size=1)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def accelerator(probes):
    """Skip unless the GPU accelerator can be created here; the name of the driver that works."""
    missing = accelerator_missing() or ("" if vulkan_drivers() else missing_reason())
    if missing:
        pytest.skip(f"no GPU accelerator here: {missing} ({INSTALL_HINT})")
    run = run_on_gpu(probes("cnn"))
    if run.status == "unavailable":
        pytest.skip(f"no GPU accelerator here: {run.reason} ({INSTALL_HINT})")
    return run.driver


def package(model: bytes, x=None, **extra):
    x = np.random.default_rng(0).random((16, *SHAPE), dtype=np.float32) if x is None else x
    return GPU.package(model, PackageInput(name="probe", x_test=x, options=GPU.options, **extra))


@pytest.fixture(scope="module")
def gpu_bundle(accelerator, tiny_model, mnist_small, tmp_path_factory):
    """``edgekit convert --target gpu`` of the tiny digits CNN, with real test digits."""
    folder = tmp_path_factory.mktemp("gpu-bundle")
    tiny_model.save(folder / "digits.keras")
    _, _, x_test, y_test = mnist_small
    np.savez(folder / "data.npz", x=np.round(x_test * 255).astype(np.uint8), y=y_test)
    done = run_cli("convert", str(folder / "digits.keras"), "--target", "gpu", "--data", str(folder / "data.npz"), "--std", "255", "--out", str(folder / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    (bundle,) = (folder / "out").iterdir()
    return bundle


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    from tests.conftest import REPO

    env = dict(env or os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, timeout=900)


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and lines and lines[-1].startswith("error: "), done.stderr[-2000:]
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


# --- a bundle edgekit writes ----------------------------------------------------------------


def test_gpu_bundle_is_fully_accelerated_on_the_named_adapter(gpu_bundle, accelerator):
    manifest = json.loads((gpu_bundle / "manifest.json").read_text())
    details = manifest["target_report"]["details"]
    found = details["gpu_accelerator"]
    assert details["verdict"] == "measured" and found["measured"] and found["status"] == "ok"
    assert found["fully_accelerated"] is True and found["on_gpu"] == "all" and found["prediction_agrees"]
    assert found["adapter"]["name"] and found["latency_us"]["adapter"] == found["adapter"]["name"]
    assert found["latency_us"]["p50"] > 0 and found["compile_ms"] > 0
    if found["adapter"]["software"]:
        assert "not phone GPU timings" in found["timing_note"]
    (output,) = found["outputs"]
    assert output["samples"] == 200 and output["top1_agreement"] >= 0.99
    assert output["snr_db"] is None or output["snr_db"] >= 30  # SwiftShader computes in float32: ~130 dB
    assert output["max_abs_error"] < 0.01
    assert any(note.startswith("GPU accelerator (") and "fully accelerated" in note for note in manifest["target_report"]["notes"])


def test_recorded_fully_accelerated_equals_compiled_models_direct_answer(gpu_bundle, accelerator):
    manifest = json.loads((gpu_bundle / "manifest.json").read_text())
    recorded = manifest["target_report"]["details"]["gpu_accelerator"]["fully_accelerated"]
    assert ask_directly((gpu_bundle / "model.tflite").read_bytes(), accelerator) == str(recorded)


def test_accuracy_on_the_gpu_path_where_labels_exist(tiny_tflite, mnist_small, accelerator):
    _, _, x_test, y_test = mnist_small
    built = package(tiny_tflite["float16"], x_test, y_test=y_test)
    (output,) = built.details["gpu_accelerator"]["outputs"]
    assert built.runnable is True
    assert output["accuracy_gpu"] == pytest.approx(output["accuracy_cpu"], abs=0.01) and output["accuracy_gpu"] > 0.5


@pytest.mark.parametrize("heads, count", [("list", 2), pytest.param("dict", 3, marks=pytest.mark.slow)])
def test_every_output_is_compared_by_name(accelerator, heads, count):
    from edgekit.converters.keras_tflite import convert_keras
    from tests._gpu_conformance import _outputs_dict, _outputs_list, _small

    model = convert_keras(_small(_outputs_list if heads == "list" else _outputs_dict)(), quantization="float16", batch_size=1)
    built = package(model, np.random.default_rng(1).random((8, 32, 32, 3), dtype=np.float32))
    outputs = built.details["gpu_accelerator"]["outputs"]
    assert len(outputs) == count and len({o["name"] for o in outputs}) == count
    assert all(o["samples"] == 8 and o["cosine"] > 0.999 and "top1_agreement" not in o for o in outputs)


# --- verdicts short of "fully accelerated" --------------------------------------------------


def test_an_op_outside_the_gpu_set_gets_a_partial_verdict_naming_it(probes, accelerator):
    built = package(probes("rfft2d"))
    found = built.details["gpu_accelerator"]
    assert built.runnable is True and found["on_gpu"] == "partial" and found["fully_accelerated"] is False
    fallback = {row["op"]: row["reason"] for row in found["cpu_fallback"]}
    assert fallback["RFFT2D"] == fallback["COMPLEX_ABS"] == "Operation is not supported."
    assert "float16 weights" in fallback["DEQUANTIZE"]
    assert (found["gpu_ops"], found["cpu_ops"]) == (2, 4) and found["prediction_agrees"]
    assert "RFFT2D" in found["verdict"] and found["verdict"].startswith("partly accelerated")
    assert ask_directly(probes("rfft2d"), accelerator) == "False"


def test_a_dynamic_sized_graph_is_refused_with_the_reason(probes, accelerator):
    built = package(probes("where"))
    found = built.details["gpu_accelerator"]
    assert built.runnable is False and found["status"] == "refused" and found["fully_accelerated"] is False
    assert "only takes static-sized tensors" in found["reason"] and found["prediction_agrees"]
    assert ask_directly(probes("where"), accelerator) == "refused"


def test_litert_counts_xnnpack_as_acceleration_but_the_verdict_does_not(probes, accelerator):
    """A 5-D model: the GPU takes nothing, XNNPACK takes everything, and LiteRT says "fully accelerated"."""
    built = package(probes("five_d"), np.random.default_rng(0).random((4, *SHAPE), dtype=np.float32))
    found = built.details["gpu_accelerator"]
    assert found["fully_accelerated"] is True and ask_directly(probes("five_d"), accelerator) == "True"
    assert found["on_gpu"] == "none" and found["gpu_ops"] == 0 and built.runnable is False
    assert "no op runs on the GPU" in found["verdict"]


def test_a_crash_in_the_accelerator_is_a_verdict_not_a_lost_build(accelerator):
    """A reference MLPerf file with one byte changed makes LiteRT abort while compiling."""
    damaged = bytearray(mlperf_path("ic", "pretrainedResnet_quant.tflite").read_bytes())
    damaged[83425] = 0o320
    run = run_on_gpu(bytes(damaged))
    assert run.status == "crashed" and run.reason.startswith("the GPU accelerator crashed on this model (signal SIG")
    details = _gpu_measure.describe(run, predicted_all_on_gpu=True)
    assert details["status"] == "crashed" and details["reason"] == run.reason and _gpu_measure.runnable(run) is False
    assert _gpu_measure.notes(run, details)[0].endswith(run.reason)


def test_a_hang_is_a_timeout_verdict(probes, accelerator):
    run = run_on_gpu(probes("cnn"), timeout=0.2)
    assert run.status == "timeout" and run.reason.startswith("the GPU accelerator did not finish within 0.2 s (while ")


def test_an_exception_while_running_is_a_failed_verdict(probes, accelerator):
    run = run_on_gpu(probes("cnn"), inputs={12345: np.zeros((1, *SHAPE), np.float32)})  # no such input tensor
    assert run.status == "failed" and run.reason == "the GPU accelerator failed on this model (KeyError: 0)"
    assert _gpu_measure.runnable(run) is False


def test_no_driver_falls_back_to_the_prediction_with_the_reason(probes, accelerator, monkeypatch):
    monkeypatch.setenv("VK_ICD_FILENAMES", "/nonexistent/vk_icd.json")
    built = package(probes("cnn"))
    assert built.runnable is None and built.details["verdict"] == "predicted"
    reason = built.details["gpu_accelerator"]["reason"]
    assert not built.details["gpu_accelerator"]["measured"] and "/nonexistent/vk_icd.json" in reason and "no GPU device" in reason
    (note,) = built.notes
    assert note.startswith("GPU accelerator not run (") and "static prediction" in note


# --- bench and predict on the accelerator ---------------------------------------------------


def test_bench_delegate_gpu_names_the_adapter(gpu_bundle, accelerator, tmp_path):
    done = run_cli("bench", str(gpu_bundle), "--delegate", "gpu", "--runs", "10", "--min-time", "0", "--json", str(tmp_path / "bench.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads((tmp_path / "bench.json").read_text())["results"]
    found = result["accelerator"]
    assert result["delegate"] == "gpu" and result["latency_us"]["runs"] >= 10 and result["init_ms"] > 0
    assert found["adapter"]["name"] in done.stdout.splitlines()[0] and found["fully_accelerated"] is True
    assert f"gpu: {result['model']}: fully accelerated on {found['adapter']['name']}" in done.stdout
    if found["adapter"]["software"]:
        assert "not phone GPU timings" in done.stdout
    assert ask_directly((gpu_bundle / "model.tflite").read_bytes(), accelerator) == str(found["fully_accelerated"])


def test_predict_delegate_gpu_agrees_with_the_cpu(gpu_bundle, mnist_small, accelerator, tmp_path):
    np.save(tmp_path / "digits.npy", np.round(mnist_small[2][:20] * 255).astype(np.uint8))
    gpu = run_cli("predict", str(gpu_bundle), str(tmp_path / "digits.npy"), "--delegate", "gpu", "--json")
    cpu = run_cli("predict", str(gpu_bundle), str(tmp_path / "digits.npy"), "--json")
    assert gpu.returncode == cpu.returncode == 0, gpu.stderr[-2000:]
    on_gpu, on_cpu = json.loads(gpu.stdout), json.loads(cpu.stdout)
    assert on_gpu["runtime"]["delegate"] == "gpu" and on_gpu["accelerator"]["adapter"]["name"]
    assert [p["top"][0]["index"] for p in on_gpu["predictions"]] == [p["top"][0]["index"] for p in on_cpu["predictions"]]
    text = run_cli("predict", str(gpu_bundle), str(tmp_path / "digits.npy"), "--delegate", "gpu")
    assert f"delegate gpu: fully accelerated on {on_gpu['accelerator']['adapter']['name']}" in text.stderr


def test_bench_of_a_model_the_accelerator_refuses_is_one_error_line(probes, accelerator, tmp_path):
    (tmp_path / "where.tflite").write_bytes(probes("where"))
    done = run_cli("bench", str(tmp_path / "where.tflite"), "--delegate", "gpu", "--runs", "3", "--min-time", "0")
    assert done.returncode == 2 and "only takes static-sized tensors" in error_line(done)


def test_bench_and_predict_without_a_driver_say_what_to_install(gpu_bundle, tmp_path):
    import os

    env = dict(os.environ, VK_ICD_FILENAMES="/nonexistent/vk_icd.json")
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    for args in (("bench", str(gpu_bundle), "--delegate", "gpu"), ("predict", str(gpu_bundle), str(tmp_path / "x.npy"), "--delegate", "gpu")):
        done = run_cli(*args, env=env)
        line = error_line(done)
        assert done.returncode == 1 and line.startswith("error: cannot use the GPU accelerator: no GPU device") and "apt-get install chromium" in line


def test_gpu_delegate_with_another_runtime_is_a_usage_error(gpu_bundle, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    bench = run_cli("bench", str(gpu_bundle), "--delegate", "gpu", "--runtime", "tensorflow")
    predict = run_cli("predict", str(gpu_bundle), str(tmp_path / "x.npy"), "--delegate", "gpu", "--runtime", "tensorflow")
    assert bench.returncode == predict.returncode == 2
    assert "--delegate gpu runs LiteRT's GPU accelerator" in error_line(bench) and "--delegate gpu runs LiteRT's GPU accelerator" in predict.stderr


def test_the_gpu_path_imports_no_tensorflow():
    import sys

    code = (
        "import sys\nimport edgekit.runtime.gpu_accelerator, edgekit.runtime.gpu_device, edgekit.runtime._gpu_worker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')))"
    )
    from tests.conftest import REPO

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "[]", done.stderr

"""Hostile models on the device commands (issue 22, findings 1, 2 and 12): real LiteRT, real
processes, real signals.

- a SignatureDef naming subgraph 7 crashed ``predict`` (SIGSEGV) after ``verify`` said ok;
- a 2 KB WHILE model that never ends ran forever and ignored SIGTERM and Ctrl-C;
- a 1.5 KB FILL model filled 3.4 GiB under the process-wide budget;
- a RESHAPE reading its own output was reported as a memory budget problem.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ModelError
from edgekit.tflite.verify import verify_tflite
from tests import runaway_models
from tests.conftest import default_sigint  # a background test run would hand its children SIGINT ignored

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The hostile models, bundles of two of them and an input for each."""
    from edgekit.converters.keras_tflite import convert_keras
    from tests.conftest import tiny_cnn

    folder = tmp_path_factory.mktemp("runaway")
    good = convert_keras(tiny_cnn())
    (folder / "good.tflite").write_bytes(good)
    paths = runaway_models.write_runaway_models(folder, good)
    paths["good"] = folder / "good.tflite"
    while_bytes = paths["while_forever"].read_bytes()
    paths["while_bundle"] = runaway_models.write_bundle_of(folder / "while_bundle", while_bytes)
    paths["signature_bundle"] = runaway_models.write_bundle_of(folder / "signature_bundle", paths["bad_signature"].read_bytes(), described_by=good)
    np.save(folder / "four.npy", np.ones((1, 4), np.float32))
    np.save(folder / "digit.npy", np.zeros((28, 28, 1), np.float32))
    paths["four"], paths["digit"] = folder / "four.npy", folder / "digit.npy"
    return paths


def edgekit(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True, env=_env(**(env or {})), timeout=timeout)


def _env(**extra: str) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **extra)


def _one_error_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# ---- finding 1 and 12: the verifier ----------------------------------------------------------


def test_a_signature_naming_a_missing_subgraph_is_refused_by_name(models):
    with pytest.raises(ModelError, match=r"bad_signature.tflite: inconsistent TFLite model: signature 0 \(serving_default\) runs subgraph 7, but the model has 1"):
        verify_tflite(models["bad_signature"])


def test_a_signature_naming_a_missing_tensor_is_refused(models):
    def edit(m):
        m.signatureDefs[0].outputs[0].tensorIndex = 4000

    with pytest.raises(ModelError, match=r"signature 0 \(serving_default\) output '.+' is tensor 4000, but subgraph 0 has \d+"):
        verify_tflite(runaway_models.edited(models["good"].read_bytes(), edit))


def test_an_operator_naming_a_missing_opcode_is_refused(models):
    def edit(m):
        m.subgraphs[0].operators[0].opcodeIndex = 99

    with pytest.raises(ModelError, match=r"operator 0 uses opcode 99 of \d+"):
        verify_tflite(runaway_models.edited(models["good"].read_bytes(), edit))


def test_a_reshape_reading_its_own_output_is_a_cycle_not_a_memory_problem(models):
    with pytest.raises(ModelError, match=r"operator \d+ \(RESHAPE\) reads tensor \d+, which it writes itself \(a cycle in the graph\)"):
        verify_tflite(models["reshape_cycle"])


def test_a_loop_body_past_the_last_subgraph_is_refused(models):
    hostile = runaway_models.while_calling(models["while_forever"].read_bytes(), body=9)
    with pytest.raises(ModelError, match=r"operator \d+ \(WHILE\) calls subgraph 9, but the model has 3"):
        verify_tflite(hostile)


def test_a_loop_body_that_calls_back_into_main_is_refused(models):
    hostile = runaway_models.while_calling(models["while_forever"].read_bytes(), body=0)
    with pytest.raises(ModelError, match=r"subgraphs call each other in a cycle \(0 -> 0\)"):
        verify_tflite(hostile)


def test_sound_models_with_control_flow_still_verify(models):
    for name in ("good", "while_forever", "fill_bomb"):
        verify_tflite(models[name])


def test_predict_on_a_bundle_whose_signature_names_a_missing_subgraph_is_one_line(models):
    """It used to verify and then die with SIGSEGV (exit 139, no message)."""
    for delegate in ("xnnpack", "none"):
        result = edgekit("predict", models["signature_bundle"], models["digit"], "--delegate", delegate)
        assert result.returncode == 2, result.stderr
        _one_error_line(result, "model.tflite: inconsistent TFLite model: signature 0 (serving_default) runs subgraph 7")


def test_bench_on_a_reshape_cycle_names_the_cycle(models):
    result = edgekit("bench", models["reshape_cycle"])
    assert result.returncode == 2
    line = _one_error_line(result, "reshape_cycle.tflite", "which it writes itself (a cycle in the graph)")
    assert "memory" not in line


# ---- finding 2: time limit, signals, memory -------------------------------------------------


def test_bench_of_a_model_that_never_ends_stops_at_its_time_limit(models):
    started = time.monotonic()
    result = edgekit("bench", models["while_forever"], "--invoke-timeout", 3)
    took = time.monotonic() - started
    assert result.returncode == 2 and took < 3 + 5, (took, result.stderr)
    _one_error_line(result, "while_forever.tflite: still running one inference after 3 s; edgekit stopped it", "--invoke-timeout")


def test_predict_of_a_model_that_never_ends_stops_at_its_time_limit(models):
    started = time.monotonic()
    result = edgekit("predict", models["while_bundle"], models["four"], env={"EDGEKIT_INVOKE_TIMEOUT": "3"})
    took = time.monotonic() - started
    assert result.returncode == 2 and took < 3 + 5, (took, result.stderr)
    _one_error_line(result, "model.tflite: still running one inference after 3 s", "EDGEKIT_INVOKE_TIMEOUT")


def test_timeout_10_ends_a_bench_stuck_in_native_code_within_11_s(models):
    """SIGTERM from ``timeout`` reaches a model stuck in one invoke (the default limit is 60 s)."""
    started = time.monotonic()
    result = subprocess.run(["timeout", "10", sys.executable, "-m", "edgekit", "bench", models["while_forever"]], capture_output=True, text=True, env=_env(), timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 124 and took < 11, (took, result.stderr)
    assert "interrupted; nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert not _runaway_children()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_bench_stuck_in_native_code_and_its_child(models, signum):
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", models["while_forever"]], stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=default_sigint)
    children = _wait_for_children(process.pid)
    _wait_until_invoking(children[0])
    time.sleep(0.5)
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < 3, stderr
    assert stderr.count("interrupted; nothing was written") == 1 and "Traceback" not in stderr, stderr
    assert not [pid for pid in children if _alive(pid)]


def test_the_child_dies_with_a_killed_parent(models):
    """SIGKILL cannot be handled: the kernel ends the child (PR_SET_PDEATHSIG)."""
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", models["while_forever"]], stderr=subprocess.DEVNULL, env=_env())
    children = _wait_for_children(process.pid)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while [pid for pid in children if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if _alive(pid)]


def test_a_crash_in_the_child_is_one_line_never_a_crash_of_edgekit(models):
    """A real SIGSEGV in the interpreter's process (sent to it mid-invoke) becomes one line naming the model."""
    process = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", models["while_forever"]], stderr=subprocess.PIPE, text=True, env=_env())
    child = _wait_for_children(process.pid)[0]
    _wait_until_invoking(child)
    os.kill(child, signal.SIGSEGV)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    _one_error_line(subprocess.CompletedProcess([], 2, "", stderr), "while_forever.tflite: crashed the interpreter (SIGSEGV) while running one inference")


def test_a_fill_bomb_fails_fast_with_one_memory_line(models):
    """Declared [1, 1], 3.4 GiB at run time: the model's own cap (512 MiB here) stops it at once."""
    started = time.monotonic()
    result = edgekit("bench", models["fill_bomb"])
    took = time.monotonic() - started
    assert result.returncode == 2 and took < 15, (took, result.stderr)
    _one_error_line(result, "fill_bomb.tflite", "(FILL) failed to invoke", "more memory than")


def test_a_sound_model_still_benches_and_predicts_through_the_child(models):
    result = edgekit("bench", models["good"], "--runs", 20, "--min-time", 0, "--json", "-")
    assert result.returncode == 0, result.stderr
    assert '"p50"' in result.stdout
    predicted = edgekit("predict", runaway_models.write_bundle_of(models["good"].parent / "good_bundle", models["good"].read_bytes()), models["digit"], "--json")
    assert predicted.returncode == 0 and '"predictions"' in predicted.stdout, predicted.stderr


def _wait_for_children(pid: int, within: float = 30.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        if found:
            return [int(p) for p in found]
        time.sleep(0.05)
    raise AssertionError("the supervised child never started")


def _wait_until_invoking(child: int, within: float = 60.0) -> None:
    """Until the child's watchdog slot says it is inside ``invoke()``."""
    from edgekit.runtime import watch

    environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
    slot = next(item.split(b"=", 1)[1].decode() for item in environ if item.startswith(watch.ENV_SLOT.encode() + b"="))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = watch.read_slot(Path(slot).read_bytes())
        if state.started_ns and state.phase == 1:
            return
        time.sleep(0.05)
    raise AssertionError("the child never started an inference")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _runaway_children() -> list[str]:
    found = subprocess.run(["pgrep", "-f", "edgekit bench .*while_forever"], capture_output=True, text=True).stdout.split()
    return [pid for pid in found if _alive(int(pid))]

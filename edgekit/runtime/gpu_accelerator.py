"""Run a model on LiteRT's GPU accelerator, in a child process, and say what happened.

The accelerator is real: ``CompiledModel`` with ``HardwareAccelerator.GPU | CPU``, on whichever
Vulkan device :mod:`edgekit.runtime.gpu_driver` finds (a real GPU first, else SwiftShader).
It runs in :mod:`edgekit.runtime._gpu_worker` under a timeout, so a driver that crashes or hangs
becomes a :class:`GpuRun` with status ``crashed`` or ``timeout`` instead of a lost build (an
exception while running is ``failed``). Every
other outcome is a status too: ``ok`` (with ``fully_accelerated`` as LiteRT answers it, and the
ops its GPU delegate left to the CPU), ``refused`` (LiteRT would not compile the model for the
GPU) and ``unavailable`` (no accelerator could be created here, and why, in one line).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from edgekit.runtime import gpu_driver, gpu_log
from edgekit.runtime.gpu_log import Adapter, DelegateLog
from edgekit.runtime.supervisor import die_with_parent

__all__ = ["accelerator_missing", "DEFAULT_TIMEOUT_S", "GpuRun", "run_on_gpu"]

DEFAULT_TIMEOUT_S = 600.0
ACCELERATOR_LIBRARY = "libLiteRtWebGpuAccelerator.so"
SOFTWARE_TIMING_NOTE = "{adapter} runs Vulkan on this machine's CPU: its timings are not phone GPU timings"
_working_driver: dict[str, int] = {}  # the index of the driver that gave an adapter, per process


@dataclass(frozen=True)
class GpuRun:
    """What one attempt to run a model on the GPU accelerator found."""

    status: str  # ok | refused | failed | crashed | timeout | unavailable
    reason: str = ""  # one line, for every status but ok
    driver: str | None = None
    log: DelegateLog = field(default_factory=DelegateLog)
    fully_accelerated: bool | None = None  # CompiledModel.is_fully_accelerated(); None when never asked
    compile_ms: float | None = None
    first_inference_ms: float | None = None
    latency_us: Mapping | None = None
    peak_rss_mb: float | None = None
    input_specs: tuple[Mapping, ...] = ()  # {name, index, shape, dtype} as the compiled model has them
    outputs: Mapping[int, np.ndarray] = field(default_factory=dict)  # tensor index -> (N, ...) stacked
    litert_version: str = ""

    @property
    def adapter(self) -> Adapter | None:
        return self.log.adapter

    @property
    def ran(self) -> bool:
        return self.status == "ok"

    @property
    def on_gpu(self) -> str | None:
        """all / partial / none: what the GPU delegate took (XNNPACK may take the rest)."""
        if not self.ran:
            return None
        if self.log.gpu_ops == 0 or (self.log.gpu_partitions == 0 and self.log.gpu_ops is None):
            return "none"
        return "partial" if self.log.partial or not self.fully_accelerated else "all"

    def verdict(self) -> str:
        """One line: where the model runs, or why it does not run on the GPU."""
        where = f" on {self.adapter.name}" if self.adapter else ""
        if self.status != "ok":
            return f"{self.status}: {self.reason}"
        if self.on_gpu == "all":
            return f"fully accelerated{where}"
        ops = f"{self.log.gpu_ops} of {self.log.gpu_ops + self.log.cpu_ops} ops" if self.log.cpu_ops is not None else "some ops"
        fallback = ", ".join(sorted({op for op, _ in self.log.fallback if op != "DEQUANTIZE"})) or "unreported ops"
        if self.on_gpu == "none":
            return f"not accelerated{where}: no op runs on the GPU (on the CPU: {fallback})"
        return f"partly accelerated{where}: {ops} on the GPU, {fallback} on the CPU"

    def timing_note(self) -> str:
        if self.adapter and self.adapter.software:
            return SOFTWARE_TIMING_NOTE.format(adapter=self.adapter.name)
        return ""


def run_on_gpu(
    model_bytes: bytes,
    *,
    inputs: Mapping[int, np.ndarray] | None = None,
    latency: Mapping | None = None,
    threads: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_seconds: float | None = None,
) -> GpuRun:
    """Compile ``model_bytes`` for the GPU and run ``inputs`` ({tensor index: (N, ...)}) through it.

    Without inputs one deterministic random sample is run (enough for the verdict and timing);
    ``latency`` ({runs, warmup, min_time, max_time}) also times it; ``max_seconds`` stops the
    inputs early (the outputs then cover the first samples only). Never raises for what the accelerator
    does; a missing accelerator or driver is the ``unavailable`` status.
    """
    missing = accelerator_missing()
    drivers = gpu_driver.vulkan_drivers()
    if missing or not drivers:
        return GpuRun(status="unavailable", reason=missing or gpu_driver.missing_reason())
    with tempfile.TemporaryDirectory(prefix="edgekit-gpu-") as folder:
        request = _write_request(Path(folder), model_bytes, inputs, latency, threads, max_seconds)
        return _first_working_driver(Path(folder), request, drivers, timeout)


def accelerator_missing() -> str:
    """Why LiteRT's GPU accelerator is not installed here, or ``""`` when it is."""
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.origin:
        return "LiteRT (ai-edge-litert) is not installed: pip install 'edgekit-tflite[runtime]'"
    folder = Path(spec.origin).parent
    if not (folder / "compiled_model.py").is_file() or not (folder / ACCELERATOR_LIBRARY).is_file():
        return f"this ai-edge-litert ({litert_version()}) has no GPU accelerator ({ACCELERATOR_LIBRARY}); pip install 'ai-edge-litert>=2.1'"
    return ""


def litert_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "unknown"


def _write_request(folder: Path, model_bytes: bytes, inputs, latency, threads: int, max_seconds: float | None) -> dict:
    (folder / "model.tflite").write_bytes(bytes(model_bytes))
    request = {"model": "model.tflite", "inputs": None, "latency": dict(latency) if latency else None, "threads": threads, "max_seconds": max_seconds}
    if inputs:
        np.savez(folder / "inputs.npz", **{f"t{int(index)}": np.asarray(array) for index, array in inputs.items()})
        request["inputs"] = "inputs.npz"
    (folder / "request.json").write_text(json.dumps(request))
    return request


def _first_working_driver(folder: Path, request: dict, drivers: list, timeout: float) -> GpuRun:
    """Try each Vulkan driver until one yields a WebGPU adapter (the last working one first)."""
    key = ",".join(d.name for d in drivers)
    order = sorted(range(len(drivers)), key=lambda i: i != _working_driver.get(key))
    tried = []
    for index in order:
        run = _run_worker(folder, drivers[index], timeout)
        if run.status != "unavailable":
            _working_driver[key] = index
            return run
        tried.append(f"{drivers[index].name}: {run.reason}")
    return GpuRun(status="unavailable", reason="no GPU device: " + "; ".join(tried))


def _run_worker(folder: Path, driver: gpu_driver.VulkanDriver, timeout: float) -> GpuRun:
    for stale in ("result.json", "outputs.npz"):
        (folder / stale).unlink(missing_ok=True)
    runtime_dir = folder / "xdg"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    env = driver.child_env(_child_base_env(), str(runtime_dir))
    argv = [sys.executable, "-m", "edgekit.runtime._gpu_worker", str(folder)]
    with open(folder / "stdout.txt", "w+b") as out, open(folder / "stderr.txt", "w+b") as err:
        try:
            done = subprocess.run(argv, stdout=out, stderr=err, env=env, timeout=timeout, check=False, preexec_fn=die_with_parent if os.name == "posix" else None)  # noqa: PLW1509
            returncode = done.returncode
        except subprocess.TimeoutExpired:
            returncode = None
        stdout, stderr = _read(out), _read(err)
    log = gpu_log.parse(stderr)
    return _interpret(folder, driver, log, returncode, stdout, stderr, timeout)


def _interpret(folder: Path, driver, log: DelegateLog, returncode: int | None, stdout: str, stderr: str, timeout: float) -> GpuRun:
    """Turn the worker's exit, log and answer files into one GpuRun."""
    base = dict(driver=driver.name, log=log, litert_version=litert_version())
    if log.no_device and log.adapter is None:
        return GpuRun(status="unavailable", reason=log.no_device, **base)
    result_file = folder / "result.json"
    if result_file.is_file():
        return _from_result(folder, json.loads(result_file.read_text()), log, base)
    where = _last_stage(stdout)
    if returncode is None:
        return GpuRun(status="timeout", reason=f"the GPU accelerator did not finish within {timeout:g} s ({where})", **base)
    return GpuRun(status="crashed", reason=f"the GPU accelerator crashed on this model ({_exit_text(returncode)} {where})", **base)


def _from_result(folder: Path, result: dict, log: DelegateLog, base: dict) -> GpuRun:
    if result["status"] == "refused":
        return GpuRun(status="refused", reason=refusal_reason(log, result.get("error", "")), fully_accelerated=False, **base)
    if result["status"] == "failed":
        return GpuRun(status="failed", reason=f"the GPU accelerator failed on this model ({result['error']})", **base)
    outputs: dict[int, np.ndarray] = {}
    if (folder / "outputs.npz").is_file():
        with np.load(folder / "outputs.npz", allow_pickle=False) as data:
            outputs = {int(key[1:]): data[key] for key in data.files}
    return GpuRun(
        status="ok",
        fully_accelerated=result["fully_accelerated"],
        compile_ms=result.get("compile_ms"),
        first_inference_ms=result.get("first_inference_ms"),
        latency_us=result.get("latency_us"),
        peak_rss_mb=result.get("peak_rss_mb"),
        input_specs=tuple(result.get("inputs", ())),
        outputs=outputs,
        **base,
    )


def refusal_reason(log: DelegateLog, error: str) -> str:
    """Why LiteRT would not compile the model for the GPU, in its own words where it gave them."""
    if log.dynamic_tensor is not None:
        return (
            "the GPU accelerator only takes static-sized tensors and this graph has dynamic-sized ones "
            f"(LiteRT names tensor #{log.dynamic_tensor}); fix the input shapes (batch 1) and avoid ops whose output size depends on the data"
        )
    detail = error if error and error != "RuntimeError" else (log.error_lines[-1] if log.error_lines else "no reason given")
    return f"LiteRT could not compile the model for the GPU: {detail}"


def _child_base_env() -> dict[str, str]:
    """This environment, with the child importing the same edgekit as this process (the
    folder above the edgekit package this module belongs to)."""
    root = str(Path(__file__).resolve().parents[2])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def _read(handle) -> str:
    handle.flush()
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def _last_stage(stdout: str) -> str:
    stages = [line[len("stage ") :] for line in stdout.splitlines() if line.startswith("stage ")]
    return f"while {stages[-1]}" if stages else "while starting"


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"

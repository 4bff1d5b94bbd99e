"""The device commands on the real GPU accelerator: ``predict --delegate gpu``, and what
``bench --delegate gpu`` (:func:`edgekit.runtime.bench.bench_on_gpu`) shares with it.

Both go through :func:`edgekit.runtime.gpu_accelerator.run_on_gpu`, so the accelerator runs in a
child process: compile, first inference, latency and peak RSS are that process's own.
What is an error here (unlike in a build, where it is a verdict): no accelerator can be
created (exit 1, with what to install), LiteRT refuses the model for the GPU (exit 2), or the
accelerator crashes or hangs on it (exit 1).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ModelError, ToolError
from edgekit.runtime.gpu_accelerator import GpuRun, run_on_gpu
from edgekit.runtime.gpu_driver import INSTALL_HINT
from edgekit.runtime.interpreter import ModelRunner, dequantize, quantize

__all__ = ["accelerator_summary", "checked", "GpuEngine", "with_gpu_engine"]


def checked(run: GpuRun, what: str | Path) -> GpuRun:
    """``run`` if it ran; else the one-line error its status calls for."""
    if run.status == "ok":
        return run
    if run.status == "unavailable":
        raise ToolError(f"cannot use the GPU accelerator: {run.reason}", hint=INSTALL_HINT)
    if run.status == "refused":
        raise ModelError(f"{what}: {run.reason}", hint="check it with: edgekit inspect MODEL.tflite -t gpu")
    raise ToolError(f"{what}: {run.reason}", hint="run it with --delegate xnnpack, or report the model to LiteRT")


def accelerator_summary(run: GpuRun) -> dict[str, Any]:
    """What a bench or predict result records about the accelerator it ran on."""
    return {
        "adapter": run.adapter.to_dict() if run.adapter else None,
        "driver": run.driver,
        "fully_accelerated": run.fully_accelerated,
        "on_gpu": run.on_gpu,
        "verdict": run.verdict(),
        "gpu_ops": run.log.gpu_ops,
        "cpu_ops": run.log.cpu_ops,
        "cpu_fallback": sorted({op for op, _ in run.log.fallback}),
        "litert": run.litert_version,
        "timing_note": run.timing_note(),
    }


class GpuEngine:
    """``DeviceBundle.engine`` for ``predict --delegate gpu``: normalised inputs in, first output out."""

    def __init__(self, runner: ModelRunner, *, threads: int = 1, timeout: float = 600.0):
        self.runner = runner
        self.threads = threads
        self.timeout = timeout
        self.last_run: GpuRun | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        spec = self.runner.inputs[0]
        raw = {spec.index: quantize(x, spec)}
        run = checked(run_on_gpu(self.runner.model_bytes, inputs=raw, threads=self.threads, timeout=self.timeout), "the bundle's model")
        self.last_run = run
        output = self.runner.outputs[0]
        return dequantize(run.outputs[output.index], output).reshape(len(x), -1)

    def describe(self) -> dict[str, Any]:
        return accelerator_summary(self.last_run) if self.last_run else {}


def with_gpu_engine(bundle, *, threads: int = 1):
    """The bundle with its predictions routed through the GPU accelerator."""
    return replace(bundle, engine=GpuEngine(bundle.runner, threads=threads))

"""Measure a converted artifact the way it ships: through the interpreter, byte for byte.

Raw and gzip size, the sparsity and distinct values of the stored weights, latency at batch
size 1 and, with test inputs, how close every output of the artifact is to the float Keras
model's (``edgekit.measure.fidelity``) plus the task's own figures where labels exist
(``edgekit.measure.tasks``).
"""

from __future__ import annotations

import gzip
from typing import Mapping, Sequence

import numpy as np

from edgekit.measure.fidelity import fidelity, worst
from edgekit.measure.tasks import Task, task_metrics, warnings_for
from edgekit.runtime import open_model
from edgekit.runtime.inspect import unique_weights_per_kernel, weight_sparsity
from edgekit.runtime.latency import measure_latency

__all__ = ["gzip_size", "io_description", "measure_artifact"]


def gzip_size(data: bytes) -> int:
    """Bytes after gzip -9 with a fixed timestamp: what a download or OTA update costs."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def measure_artifact(
    model_bytes: bytes,
    *,
    x_test: np.ndarray | None,
    y_test: np.ndarray | None,
    expected: Mapping[str, np.ndarray] | None,
    task: Task | None = None,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict:
    """All of an artifact's reported figures, measured on ``model_bytes``.

    ``expected`` holds the float model's outputs on ``x_test`` by output name; every output
    is compared with the artifact's output of that name (fidelity), and the task adds its own
    figures (accuracy and agreement for classifiers, AUC for an autoencoder with 0/1 labels).
    """
    stored = open_model(model_bytes, default_delegates=False)
    latency = measure_latency(model_bytes, threads=threads, runs=latency_runs)
    metrics: dict = {}
    if x_test is not None and len(x_test) and expected:
        actual = open_model(model_bytes).predict_outputs(x_test)
        metrics.update(compare_outputs(expected, actual, x_test, y_test, task or Task("regression", "")))
    return {
        **metrics,
        "bytes": len(model_bytes),
        "gzip_bytes": gzip_size(model_bytes),
        "sparsity": round(weight_sparsity(stored), 5),
        "unique_weights_per_kernel": unique_weights_per_kernel(stored),
        "latency_us": {"p50": latency.p50, "p90": latency.p90, "p99": latency.p99, "threads": threads, "runs": latency.runs},
    }


def compare_outputs(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray | None, task: Task) -> dict:
    """The task's figures, then fidelity per output and its worst case, then warnings."""
    per_output = fidelity(expected, actual)
    matched = {name: actual[name] for name in expected}
    result = {**task_metrics(task, expected, matched, x, y), "samples": int(len(x)), "fidelity": worst(per_output), "outputs": per_output}
    warnings = warnings_for(task, matched, what="the artifact")
    if warnings:
        result["warnings"] = warnings
    return result


def io_description(model_bytes: bytes, order: Sequence[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs (name, shape, dtype, quantisation) as the interpreter sees them.

    Outputs carry their signature name (``name``) and tensor name (``tensor``), in ``order``
    (the Keras model's output names) where given, else in the signature's order.
    """
    runner = open_model(model_bytes, default_delegates=False)
    named = dict(runner.named_outputs())
    names = [name for name in order if name in named] if order else list(named)
    names += [name for name in named if name not in names]
    outputs = [{**named[name].to_dict(), "name": name, "tensor": named[name].name} for name in names]
    return [spec.to_dict() for spec in runner.inputs], outputs

"""Measure a converted artifact the way it ships: through the interpreter, byte for byte.

Raw and gzip size, the sparsity and distinct values of the stored weights, latency at batch
size 1 and, with test inputs, how close the artifact's outputs are to the float Keras model's
(top-1 agreement for classifiers, mean and max absolute error for everything) and its
accuracy where labels exist.
"""

from __future__ import annotations

import gzip

import numpy as np

from edgekit.runtime import open_model
from edgekit.runtime.inspect import unique_weights_per_kernel, weight_sparsity
from edgekit.runtime.latency import measure_latency
from edgekit.train import top1_accuracy


def gzip_size(data: bytes) -> int:
    """Bytes after gzip -9 with a fixed timestamp: what a download or OTA update costs."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def measure_artifact(
    model_bytes: bytes,
    *,
    x_test: np.ndarray | None,
    y_test: np.ndarray | None,
    float_scores: np.ndarray | None,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict:
    """All of an artifact's reported figures, measured on ``model_bytes``."""
    stored = open_model(model_bytes, default_delegates=False)
    latency = measure_latency(model_bytes, threads=threads, runs=latency_runs)
    metrics: dict = {}
    if x_test is not None and len(x_test):
        scores = open_model(model_bytes).predict(x_test)
        metrics.update(compare_outputs(float_scores, scores, y_test))
    return {
        **metrics,
        "bytes": len(model_bytes),
        "gzip_bytes": gzip_size(model_bytes),
        "sparsity": round(weight_sparsity(stored), 5),
        "unique_weights_per_kernel": unique_weights_per_kernel(stored),
        "latency_us": {"p50": latency.p50, "p90": latency.p90, "p99": latency.p99, "threads": threads, "runs": latency.runs},
    }


def compare_outputs(expected: np.ndarray, actual: np.ndarray, y: np.ndarray | None) -> dict:
    """Accuracy when labelled, top-1 agreement for classifier-shaped outputs, error for all."""
    flat_expected, flat_actual = expected.reshape(len(expected), -1), actual.reshape(len(actual), -1)
    result: dict = {}
    if y is not None and y.ndim == 1 and flat_actual.shape[1] > 1:
        result["accuracy"] = round(top1_accuracy(flat_actual, y), 5)
    if flat_expected.shape[1] > 1:
        result["agreement"] = round(float(np.mean(flat_expected.argmax(-1) == flat_actual.argmax(-1))), 5)
    difference = np.abs(flat_expected.astype(np.float64) - flat_actual.astype(np.float64))
    result.update(
        samples=int(len(flat_expected)),
        mean_abs_error=round(float(difference.mean()), 6),
        max_abs_error=round(float(difference.max()), 6),
    )
    return result


def io_description(model_bytes: bytes) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs (name, shape, dtype, quantisation) as the interpreter sees them."""
    runner = open_model(model_bytes, default_delegates=False)
    return [spec.to_dict() for spec in runner.inputs], [spec.to_dict() for spec in runner.outputs]

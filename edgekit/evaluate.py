"""Measure a converted artifact the way it ships: through the interpreter, byte for byte.

Accuracy and top-1 agreement with the float Keras model on the test split, raw and gzip
size, the sparsity of the stored weights, and latency at batch size 1.
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
    x_test: np.ndarray,
    y_test: np.ndarray,
    float_scores: np.ndarray,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict:
    """All of an artifact's reported figures, measured on ``model_bytes``."""
    runner = open_model(model_bytes)
    scores = runner.predict(x_test)
    latency = measure_latency(model_bytes, threads=threads, runs=latency_runs)
    stored = open_model(model_bytes, default_delegates=False)
    return {
        "accuracy": round(top1_accuracy(scores, y_test), 5),
        "agreement": round(float(np.mean(scores.argmax(-1) == float_scores.argmax(-1))), 5),
        "bytes": len(model_bytes),
        "gzip_bytes": gzip_size(model_bytes),
        "sparsity": round(weight_sparsity(stored), 5),
        "unique_weights_per_kernel": unique_weights_per_kernel(stored),
        "latency_us": {"p50": latency.p50, "p90": latency.p90, "p99": latency.p99, "threads": threads, "runs": latency.runs},
    }


def io_description(model_bytes: bytes) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs (name, shape, dtype, quantisation) as the interpreter sees them."""
    runner = open_model(model_bytes, default_delegates=False)
    return [spec.to_dict() for spec in runner.inputs], [spec.to_dict() for spec in runner.outputs]

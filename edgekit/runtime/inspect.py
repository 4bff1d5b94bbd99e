"""Facts read off a .tflite model through the interpreter: ops, weights, sparsity.

Uses LiteRT's reference kernels (no delegates) so the graph is seen as stored, and reads
constant tensors directly, so the numbers describe the artifact that ships.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from edgekit.runtime.interpreter import ModelRunner

WEIGHTED_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}


def op_counts(runner: ModelRunner) -> dict[str, int]:
    """How many ops of each kind the model has."""
    return dict(sorted(Counter(runner.op_names()).items()))


def weight_tensors(runner: ModelRunner) -> list[np.ndarray]:
    """The filter tensors of conv and dense ops, following DEQUANTIZE to the stored weights."""
    ops = runner.interpreter._get_ops_details()
    producer = {out: op for op in ops for out in op["outputs"]}
    weights = []
    for op in ops:
        position = WEIGHTED_OPS.get(op["op_name"])
        if position is None or len(op["inputs"]) <= position:
            continue
        index = int(op["inputs"][position])
        source = producer.get(index)
        if source is not None and source["op_name"] == "DEQUANTIZE":
            index = int(source["inputs"][0])
        elif source is not None:
            continue  # weights computed at run time (not constant): nothing stored to measure
        try:
            weights.append(np.asarray(runner.interpreter.get_tensor(index)))
        except ValueError:
            continue
    return weights


def weight_sparsity(runner: ModelRunner) -> float:
    """Fraction of exactly-zero stored weights over all conv and dense filters."""
    weights = weight_tensors(runner)
    total = sum(w.size for w in weights)
    if not total:
        return 0.0
    return sum(int(np.count_nonzero(w == 0)) for w in weights) / total


def parameter_count(runner: ModelRunner) -> int:
    """Number of stored weights in conv and dense filters."""
    return sum(w.size for w in weight_tensors(runner))

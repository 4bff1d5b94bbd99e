"""Facts read off a .tflite model through the interpreter: ops, weights, sparsity.

Uses LiteRT's reference kernels (no delegates) so the graph is seen as stored, and reads
constant tensors directly, so the numbers describe the artifact that ships.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from edgekit.runtime.interpreter import ModelRunner

__all__ = ["unique_weights_per_kernel", "weight_sparsity", "weight_tensors"]

WEIGHTED_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}


def op_counts(runner: ModelRunner) -> dict[str, int]:
    """How many ops of each kind the model has."""
    return dict(sorted(Counter(runner.op_names()).items()))


def weight_tensors(runner: ModelRunner) -> list[np.ndarray]:
    """The filter tensors of conv and dense ops, following DEQUANTIZE to the stored weights."""
    return [values for _, _, values in _weights(runner)]


def _weight_indices(runner: ModelRunner) -> tuple[list[tuple[int, int]], bool]:
    """(weight tensor, op output tensor) of conv/dense ops, and whether some are sparse-encoded.

    A sparse-encoded weight reaches its op through DENSIFY (and DEQUANTIZE for float16); the
    DENSIFY output holds the dense values once the model has run.
    """
    ops = runner.interpreter._get_ops_details()
    producer = {out: op for op in ops for out in op["outputs"]}
    indices, densified = [], False
    for op in ops:
        position = WEIGHTED_OPS.get(op["op_name"])
        if position is None or len(op["inputs"]) <= position:
            continue
        index = int(op["inputs"][position])
        source = producer.get(index)
        if source is not None and source["op_name"] == "DEQUANTIZE":
            index = int(source["inputs"][0])
            source = producer.get(index)
        if source is not None and source["op_name"] == "DENSIFY":
            densified = True
        elif source is not None:
            continue  # weights computed at run time (not constant): nothing stored to measure
        indices.append((index, int(op["outputs"][0])))
    return indices, densified


def _weights(runner: ModelRunner) -> list[tuple[str, dict, np.ndarray]]:
    """(name of the op's output, weight tensor details, weight values) per conv/dense op."""
    details = {d["index"]: d for d in runner.interpreter.get_tensor_details()}
    indices, densified = _weight_indices(runner)
    if densified:
        runner.invoke()  # DENSIFY fills its output on the first run
    found = []
    for index, output in indices:
        try:
            values = np.asarray(runner.interpreter.get_tensor(index))
        except ValueError:
            continue
        found.append((_short_name(details.get(output, {}).get("name", str(output))), details.get(index, {}), values))
    return found


def unique_weights_per_kernel(runner: ModelRunner) -> dict[str, int]:
    """Kernel name -> distinct stored values; per output channel (the maximum) when int8 per-channel.

    Per-channel int8 gives each output channel its own scale, so a clustered kernel's shared
    centroids land on different integers in different channels; what clustering guarantees,
    and what is checked, is the count within one channel.
    """
    counts = {}
    for name, detail, values in _weights(runner):
        params = detail.get("quantization_parameters") or {}
        if len(params.get("scales", ())) > 1 and values.ndim > 1:
            channels = np.moveaxis(values, int(params.get("quantized_dimension", 0)), 0)
            count = max(_distinct(channel) for channel in channels)
        else:
            count = _distinct(values)
        counts[name] = count
    return counts


def _distinct(values: np.ndarray) -> int:
    """How many distinct values ``values`` holds. float16 is counted as float32: numpy 2.4's
    ``np.unique`` on a large float16 array returns repeated values (24 for a 16-value kernel)."""
    values = np.asarray(values)
    return int(np.unique(values.astype(np.float32) if values.dtype == np.float16 else values).size)


def _short_name(name: str) -> str:
    """``model/conv1/Relu;model/conv1/BiasAdd;...`` -> ``conv1``: the Keras layer of an op's output."""
    parts = name.split(";")[0].split("/")
    return parts[1] if len(parts) > 2 else parts[0]


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

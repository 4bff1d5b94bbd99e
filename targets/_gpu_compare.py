"""How far the GPU path's outputs are from the CPU path's, per output, on the evaluation data.

The CPU path is what every other figure of a bundle is measured with: LiteRT's interpreter with
its default XNNPACK delegate. Both paths get the same raw (already quantised) inputs, sample by
sample, and every output tensor is compared: SNR in dB (the error's energy against the
signal's), cosine similarity, max and mean absolute error; for a classifier's output also top-1
agreement, and accuracy on both paths where labels exist.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.errors import DataError
from edgekit.runtime.interpreter import ModelRunner, TensorSpec, dequantize, quantize

MAX_INPUT_BYTES = 64 * 1024 * 1024  # what one accelerator run is handed at most


def raw_inputs(runner: ModelRunner, x_test: Any, limit: int) -> dict[int, np.ndarray]:
    """{tensor index: raw (N, ...)} for every model input, from normalised float test inputs.

    ``x_test`` is one array for a one-input model, else a list in input order or a dict by
    input name. At most ``limit`` samples, and no more than :data:`MAX_INPUT_BYTES` in all.
    """
    arrays = _per_input(runner.inputs, x_test)
    per_sample = sum(int(np.prod(spec.shape[1:])) * np.dtype(spec.dtype).itemsize for spec in runner.inputs) or 1
    count = max(1, min(limit, len(arrays[0]), MAX_INPUT_BYTES // per_sample))
    raw = {}
    for spec, array in zip(runner.inputs, arrays):
        expected = tuple(spec.shape[1:])
        if tuple(array.shape[1:]) != expected:
            raise DataError(f"test inputs for {spec.name!r} have shape {tuple(array.shape[1:])} but the model takes {expected}")
        raw[spec.index] = quantize(array[:count], spec)
    return raw


def _per_input(specs: Sequence[TensorSpec], x_test: Any) -> list[np.ndarray]:
    if isinstance(x_test, Mapping):
        missing = [spec.name for spec in specs if spec.name not in x_test]
        if missing:
            raise DataError(f"test inputs name no array for model input {missing[0]!r}", hint=f"give one per input: {', '.join(s.name for s in specs)}")
        return [np.asarray(x_test[spec.name]) for spec in specs]
    arrays = [np.asarray(x) for x in x_test] if isinstance(x_test, (list, tuple)) else [np.asarray(x_test)]
    if len(arrays) != len(specs):
        raise DataError(f"{len(arrays)} test input array(s) for a model with {len(specs)} inputs")
    return arrays


def cpu_outputs(runner: ModelRunner, raw: Mapping[int, np.ndarray], count: int) -> dict[int, np.ndarray]:
    """Every output of the CPU path for the first ``count`` samples, stacked: {tensor index: (N, ...)}."""
    interpreter = runner.interpreter
    collected: dict[int, list[np.ndarray]] = {spec.index: [] for spec in runner.outputs}
    for i in range(count):
        for spec in runner.inputs:
            interpreter.set_tensor(spec.index, raw[spec.index][i : i + 1].reshape(spec.shape))
        interpreter.invoke()
        for spec in runner.outputs:
            value = interpreter.get_tensor(spec.index)
            collected[spec.index].append(value.reshape(value.shape[1:]) if value.ndim and value.shape[0] == 1 else value)
    return {index: np.stack(values) for index, values in collected.items()}


def compare(
    runner: ModelRunner, gpu: Mapping[int, np.ndarray], cpu: Mapping[int, np.ndarray], *, y_test: Any = None, task: str | None = None
) -> list[dict[str, Any]]:
    """One entry per output, in the model's output order."""
    rows = []
    for spec in runner.outputs:
        if spec.index not in gpu:
            rows.append({"name": spec.name, "compared": False, "reason": "the GPU run returned no such output"})
            continue
        ours, reference = dequantize(gpu[spec.index], spec), dequantize(cpu[spec.index], spec)
        row = {"name": spec.name, **fidelity(ours, reference)}
        labels = _labels(y_test, len(ours))
        if is_classifier(reference, labels, task):
            row["top1_agreement"] = round(float(np.mean(ours.argmax(-1) == reference.argmax(-1))), 5)
            if labels is not None:
                row["accuracy_gpu"] = round(float(np.mean(ours.argmax(-1) == labels)), 5)
                row["accuracy_cpu"] = round(float(np.mean(reference.argmax(-1) == labels)), 5)
        rows.append(row)
    return rows


def fidelity(ours: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """SNR (dB), mean cosine similarity per sample, max and mean absolute error."""
    a = ours.reshape(len(ours), -1).astype(np.float64)
    b = reference.reshape(len(reference), -1).astype(np.float64)
    error = a - b
    noise, signal = float(np.sum(error**2)), float(np.sum(b**2))
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    return {
        "samples": int(len(a)),
        "snr_db": round(10 * np.log10(signal / noise), 2) if noise > 0 and signal > 0 else None,  # None: identical (or all zero)
        "cosine": round(float(np.mean(cosine)), 6),
        "max_abs_error": float(np.max(np.abs(error))) if error.size else 0.0,
        "mean_abs_error": float(np.mean(np.abs(error))) if error.size else 0.0,
    }


def is_classifier(reference: np.ndarray, labels: np.ndarray | None, task: str | None) -> bool:
    """A (N, classes) output of a classification task: top-1 agreement means something there."""
    if task not in (None, "classification") or reference.ndim != 2 or reference.shape[1] < 2:
        return False
    if labels is not None and labels.min() >= 0 and labels.max() < reference.shape[1]:
        return True
    rows = reference.sum(axis=1)
    return task == "classification" or bool(np.all(reference >= 0) and np.allclose(rows, 1.0, atol=1e-3))


def _labels(y_test: Any, count: int) -> np.ndarray | None:
    if y_test is None:
        return None
    labels = np.asarray(y_test)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) < count:
        return None
    return labels[:count].astype(np.int64)

"""What a model's outputs mean, and the metrics that follow from it.

``classification`` gets top-1 accuracy (with labels) and top-1 agreement with the float model;
``regression`` (reconstruction, anomaly detection) gets the ROC AUC of the reconstruction error
when labels are 0/1, as MLPerf Tiny scores its autoencoder; ``detection`` (raw heads) and
``embedding`` get the per-output fidelity every task gets (``edgekit.measure.fidelity``). ``auto``
decides from the outputs' shapes, the output layer and the float model's values on the data,
and says why. Degenerate data (one class for every input, ties, constant outputs) are named in
warnings instead of passing as 100 % agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from edgekit.errors import InputError
from edgekit.vocabulary import TASKS

__all__ = ["check_task", "decide", "float_metrics", "OutputInfo", "reconstruction_error", "roc_auc", "Task", "task_metrics", "warnings_for"]

PROBABILITY_TOLERANCE = 1e-3  # rows of a softmax sum to 1 within float error
TIE_SHARE = 0.1  # warn when more than this share of inputs have a tied top-1


@dataclass(frozen=True)
class Task:
    """The task the outputs are measured for, and why it was chosen."""

    name: str
    reason: str
    requested: str = "auto"

    @property
    def classifies(self) -> bool:
        return self.name == "classification"

    def to_dict(self) -> dict:
        return {"name": self.name, "requested": self.requested, "reason": self.reason}


@dataclass(frozen=True)
class OutputInfo:
    """What is known of one output before anything runs: its name, per-sample shape and the
    activation of the layer that makes it (``softmax``, ``sigmoid``, None when unknown)."""

    name: str
    shape: tuple[int | None, ...]
    activation: str | None = None

    @property
    def size(self) -> int | None:
        return None if any(d is None for d in self.shape) else int(np.prod(self.shape))


def check_task(name: str, *, where: str = "--task") -> str:
    if name not in TASKS:
        raise InputError(f"{where} {name!r} is not a task", hint=f"choose one of: {', '.join(TASKS)}")
    return name


def decide(
    requested: str, outputs: Sequence[OutputInfo], input_shape: Sequence[int | None], values: Mapping[str, np.ndarray] | None = None, *, trained: bool = False
) -> Task:
    """The task: ``requested`` unless it is ``auto``, then the one the outputs show (a model
    edgekit ``trained`` on class labels is a classifier, logits or not)."""
    check_task(requested)
    if requested != "auto":
        return Task(requested, "asked for", requested)
    if trained:
        return Task("classification", "trained on class labels (cross-entropy) by this run", "auto")
    name, reason = _guess(outputs, input_shape, values or {})
    return Task(name, reason, "auto")


def _guess(outputs: Sequence[OutputInfo], input_shape, values: Mapping[str, np.ndarray]) -> tuple[str, str]:
    if len(outputs) > 1:
        boxes = [o.name for o in outputs if o.shape and o.shape[-1] == 4]
        if boxes:
            return "detection", f"{len(outputs)} outputs, {boxes[0]!r} with 4 values per row (boxes): raw detection heads"
        return "regression", f"{len(outputs)} outputs, none holding boxes or class probabilities: measured by fidelity per output"
    (output,) = outputs
    input_size = None if any(d is None for d in input_shape) else int(np.prod(input_shape))
    if output.size is not None and output.size == input_size:
        return "regression", f"the output has the input's {input_size} values per sample: a reconstruction (autoencoder)"
    if len(output.shape) != 1 or (output.shape[0] or 0) < 2:
        return "regression", f"output {output.name!r} has shape {tuple(output.shape)} per sample, not a vector of class scores"
    row_values = values.get(output.name)
    if output.activation == "softmax" or (row_values is not None and _rows_are_probabilities(row_values)):
        why = "its layer is a softmax" if output.activation == "softmax" else "every row is non-negative and sums to 1"
        return "classification", f"output {output.name!r} scores {output.shape[0]} classes ({why})"
    if row_values is not None and _rows_are_unit_vectors(row_values):
        return "embedding", f"output {output.name!r} rows have unit length: an embedding"
    return "regression", f"output {output.name!r} has {output.shape[0]} values per sample but is not a softmax over classes"


def _rows_are_probabilities(values: np.ndarray) -> bool:
    rows = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return bool(len(rows)) and bool(np.all(rows >= -PROBABILITY_TOLERANCE)) and bool(np.allclose(rows.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE))


def _rows_are_unit_vectors(values: np.ndarray) -> bool:
    rows = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return bool(len(rows)) and bool(np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=PROBABILITY_TOLERANCE))


# --- metrics --------------------------------------------------------------------------


def task_metrics(task: Task, expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray | None) -> dict:
    """The task's own figures for one artifact (``actual``) against the float model (``expected``)."""
    first = next(iter(expected))
    if task.classifies:
        scores, reference = _rows(actual[first]), _rows(expected[first])
        result = {"agreement": round(float(np.mean(scores.argmax(-1) == reference.argmax(-1))), 5)}
        if y is not None and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
            result = {"accuracy": round(float(np.mean(scores.argmax(-1) == y)), 5), **result}
        return result
    if task.name == "regression" and is_binary(y) and _reconstructs(x, actual[first]):
        return {"auc": round(roc_auc(reconstruction_error(x, actual[first]), y), 5)}
    return {}


def float_metrics(task: Task, outputs: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray | None) -> dict:
    """The float model's own task figures (accuracy of a classifier, AUC of an autoencoder)."""
    first = next(iter(outputs))
    if task.classifies and y is not None and y.ndim == 1:
        return {"accuracy": round(float(np.mean(_rows(outputs[first]).argmax(-1) == y)), 5)}
    if task.name == "regression" and is_binary(y) and _reconstructs(x, outputs[first]):
        return {"auc": round(roc_auc(reconstruction_error(x, outputs[first]), y), 5)}
    return {}


def warnings_for(task: Task, outputs: Mapping[str, np.ndarray], *, what: str = "the float model") -> list[str]:
    """Data on which the figures say little: constant outputs, one class for all, ties."""
    found = []
    for name, values in outputs.items():
        rows = _rows(values)
        if len(rows) > 1 and np.all(rows == rows[0]):
            found.append(f"{what} gives the same output {name!r} for every input: its fidelity figures say nothing (check the data)")
    if not task.classifies or not outputs:
        return found
    rows = _rows(next(iter(outputs.values())))
    top = rows.argmax(-1)
    if len(rows) > 1 and np.all(top == top[0]):
        found.append(f"{what} puts every input in class {int(top[0])}: top-1 agreement and accuracy say little (check the data)")
    share = tie_share(rows)
    if share > TIE_SHARE:
        found.append(f"{what} ties its top scores on {share:.0%} of inputs (outputs rounded to one value?): top-1 is decided by ties")
    return found


def tie_share(rows: np.ndarray) -> float:
    """Share of rows whose two highest scores are equal."""
    if rows.shape[-1] < 2 or not len(rows):
        return 0.0
    ordered = np.sort(rows, axis=-1)
    return float(np.mean(ordered[:, -1] == ordered[:, -2]))


def is_binary(y: np.ndarray | None) -> bool:
    """0/1 labels with both classes present (anomaly detection's normal vs anomalous)."""
    return y is not None and y.ndim == 1 and set(np.unique(y).tolist()) == {0, 1}


def _reconstructs(x: np.ndarray, output: np.ndarray) -> bool:
    return x is not None and int(np.prod(x.shape[1:])) == int(np.prod(output.shape[1:]))


def reconstruction_error(x: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Mean squared error per sample between the input and its reconstruction."""
    return np.mean((_rows(x) - _rows(output)) ** 2, axis=1)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``scores`` for 0/1 ``labels`` (Mann-Whitney U, ties counted half)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over runs of equal scores
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    positives = labels == 1
    count_pos, count_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - count_pos * (count_pos + 1) / 2) / (count_pos * count_neg))


def _rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(len(values), -1)

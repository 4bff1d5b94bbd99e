"""The one-call form of compression: ``edgekit.compress(model, data, ratio=0.5)``."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from edgekit.compression import Prune, QuantizeAware, kernel_sparsity
from edgekit.compression.run import Compressed, run_compression
from edgekit.errors import DataError, InputError
from edgekit.training.train import TrainData

__all__ = ["compress"]


def compress(
    model,
    data: Sequence[np.ndarray],
    ratio: float = 0.5,
    *,
    epochs: int = 2,
    qat_epochs: int = 1,
    batch_size: int = 64,
    learning_rate: float = 5e-4,
    seed: int = 0,
) -> Compressed:
    """Prune ``model`` to ``ratio`` sparsity, then prune-preserving QAT.

    ``data`` is ``(x, y)``: normalised inputs and integer labels used for fine-tuning. The
    input model is not modified. Returns ``Compressed`` (``edgekit.compression.run``): ``.model``
    is the QAT Keras model (convert it with ``edgekit.converters.keras_tflite.convert_keras(...,
    quantization="int8")``), ``.float_model`` the pruned float model, ``.report`` what was done.
    """
    if not 0 <= ratio < 1:
        raise InputError(f"ratio = {ratio!r} must be in [0, 1): the fraction of weights to prune")
    x, y = _unpack(data)
    train = TrainData(x, y, batch_size=batch_size, seed=seed)
    steps = [Prune(sparsity=ratio, epochs=epochs, learning_rate=learning_rate)] if ratio > 0 else []
    steps.append(QuantizeAware(epochs=qat_epochs, learning_rate=learning_rate / 5, preserve_sparsity=ratio > 0, name="pqat" if ratio > 0 else "qat"))
    result = run_compression(model, steps, train)
    sparsity = round(kernel_sparsity(result.float_model)["overall"], 5)
    return dataclasses.replace(result, report={**result.report, "sparsity": sparsity})


def _unpack(data) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = data
    except (TypeError, ValueError) as exc:
        raise DataError("data must be a pair (x, y) of inputs and integer labels") from exc
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"data has {len(x)} inputs and {len(y)} labels; they must match and not be empty")
    return x, y

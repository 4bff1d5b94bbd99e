"""Input-shape checks shared by ``build`` and ``convert``.

A Keras input dimension of ``None`` accepts any size, so data of shape (16, 16, 1) fits a
model taking (None, None, 1). Targets whose compilers need static shapes (``static_batch``:
Edge TPU, microcontrollers) cannot take such a model at all; saying so before training or
conversion beats a compiler error ten minutes later.
"""

from __future__ import annotations

from typing import Sequence

from edgekit.errors import ModelError


def shape_fits(model_shape: Sequence[int | None], data_shape: Sequence[int]) -> bool:
    """Whether data samples of ``data_shape`` fit a model input (``None`` = any size)."""
    return len(model_shape) == len(data_shape) and all(m is None or m == d for m, d in zip(model_shape, data_shape))


def require_static_input(model_shape: Sequence[int | None], targets, *, where: str) -> None:
    """Refuse dynamic input dimensions (beyond the batch) for targets that need static shapes."""
    dynamic = [i for i, d in enumerate(model_shape) if d is None]
    static_targets = [t.name for t in targets if t.static_batch]
    if dynamic and static_targets:
        raise ModelError(
            f"{where}: the model's input shape {tuple(model_shape)} has dynamic dimensions but target "
            f"{static_targets[0]} needs static shapes",
            hint="build the model with a fixed input size, e.g. keras.Input((96, 96, 1))",
        )

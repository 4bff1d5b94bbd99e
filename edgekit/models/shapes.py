"""Input shapes: what data fits a model, and the concrete shape a model with dynamic
dimensions is converted at.

A Keras input dimension of ``None`` accepts any size, so data of shape (16, 16, 1) fits a
model taking (None, None, 1). Interpreters and compilers run fixed shapes best (XNNPACK
reshapes, the Edge TPU, TFLM and Vela need them outright), so a dynamic dimension beyond the
batch is fixed before conversion: from ``--input-shape``, else from the data's samples. With
neither, one error names the input and its dynamic dimensions, before any conversion starts.
"""

from __future__ import annotations

from typing import Sequence

from edgekit.errors import DataError, InputError

__all__ = ["fixed_input_shape", "parse_shape", "shape_fits"]


def shape_fits(model_shape: Sequence[int | None], data_shape: Sequence[int]) -> bool:
    """Whether data samples of ``data_shape`` fit a model input (``None`` = any size)."""
    return len(model_shape) == len(data_shape) and all(m is None or m == d for m, d in zip(model_shape, data_shape))


def dynamic_dimensions(model_shape: Sequence[int | None]) -> list[int]:
    """Positions (1 = the first after the batch) of the input's dynamic dimensions."""
    return [i + 1 for i, d in enumerate(model_shape) if d is None]


def fixed_input_shape(
    model_shape: Sequence[int | None], *, given: Sequence[int] | None = None, data_shape: Sequence[int] | None = None, name: str = "input", flag: str = "--input-shape"
) -> tuple[int, ...] | None:
    """The per-sample shape to convert at: None when the model's input is static already,
    else ``given`` (checked against the model), else the data's sample shape."""
    if given is not None:
        given = tuple(int(d) for d in given)
        if not shape_fits(model_shape, given) or any(d < 1 for d in given):
            raise InputError(f"{flag} {'x'.join(map(str, given))} does not fit {name} of shape {tuple(model_shape)}", hint="give every dimension after the batch; keep the fixed ones as they are")
        return given if dynamic_dimensions(model_shape) else None
    if not dynamic_dimensions(model_shape):
        return None
    if data_shape is not None:
        if not shape_fits(model_shape, data_shape):
            raise DataError(f"the data's samples have shape {tuple(data_shape)} but {name} takes {tuple(model_shape)}")
        return tuple(int(d) for d in data_shape)
    dims = ", ".join(map(str, dynamic_dimensions(model_shape)))
    raise InputError(
        f"{name} has dynamic dimensions ({tuple(model_shape)}, dimension {dims}) and nothing fixes them",
        hint=f"pass {flag} (e.g. {flag} {'x'.join(str(d or 224) for d in model_shape)}) or --data with samples of the shape to convert at",
    )


def parse_shape(text: str, *, flag: str = "--input-shape") -> tuple[int, ...]:
    """``96x96x3`` or ``96,96,3`` -> (96, 96, 3)."""
    parts = [p for p in text.replace(",", "x").lower().split("x") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise InputError(f"{flag} {text!r}: expected positive whole numbers like 96x96x3 (per sample, without the batch)")
    return shape

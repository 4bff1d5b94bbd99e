"""Input shapes: what data fits a model, and the concrete shape a model with dynamic
dimensions is converted at.

A Keras input dimension of ``None`` accepts any size, so data of shape (16, 16, 1) fits a
model taking (None, None, 1). Interpreters and compilers run fixed shapes best (XNNPACK
reshapes, the Edge TPU, TFLM and Vela need them outright), so a dynamic dimension beyond the
batch is fixed before conversion: from ``--input-shape``, else from the data's samples. With
neither, one error names the input and its dynamic dimensions, before any conversion starts.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from edgekit.errors import DataError, InputError

__all__ = ["check_model_runs_at", "fixed_input_shape", "parse_shape", "shape_fits"]

_SHAPE = re.compile(r"\s*\d+(\s*[x,]\s*\d+)*\s*", re.IGNORECASE)
_MAX_ELEMENTS = 2**31  # the interpreters index a tensor with int32


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
    """``96x96x3`` or ``96,96,3`` -> (96, 96, 3); strict, so ``16xx3`` is not read as 16x3.

    A shape whose one sample has more elements than an interpreter can index, or more bytes
    (as float32) than the memory budget, is refused here: converting at it could only fail
    later, deep inside TensorFlow, or take the machine's memory first.
    """
    if not _SHAPE.fullmatch(text):
        raise InputError(f"{flag} {text!r}: expected positive whole numbers like 96x96x3 (per sample, without the batch)")
    shape = tuple(int(p) for p in re.split(r"[x,]", text.strip().replace(" ", ""), flags=re.IGNORECASE))
    if any(d < 1 for d in shape):
        raise InputError(f"{flag} {text!r}: every dimension must be at least 1")
    _check_size(shape, text, flag)
    return shape


def _check_size(shape: tuple[int, ...], text: str, flag: str) -> None:
    from edgekit.runtime.limits import ENV_MEMORY, human, memory_cap

    elements = math.prod(shape)
    if elements > _MAX_ELEMENTS:
        raise InputError(f"{flag} {text}: one sample has {elements:,} elements, more than the {_MAX_ELEMENTS:,} an interpreter can index", hint="give the shape the model runs at on the device")
    cap = memory_cap()
    if cap is not None and 4 * elements > cap:
        raise InputError(f"{flag} {text}: one float32 sample takes {human(4 * elements)}, more than the memory budget of {human(cap)}", hint=f"give a smaller shape, or raise {ENV_MEMORY}")


def check_model_runs_at(model, shape: Sequence[int], source: str) -> None:
    """Trace ``model`` at one sample of ``shape`` before converting at it.

    An input too small for a layer (a 1x1 image into a 3x3 valid convolution) is refused
    naming the layer, and one whose activations outgrow what an interpreter can index or
    the memory budget naming the largest tensor, instead of a TensorFlow traceback from
    inside the converter or a converted model the verifier calls damaged.
    """
    graph = _traced_graph(model, tuple(shape), source)
    name, elements = _largest_tensor(graph)
    _check_activation(name, elements, source)


def _traced_graph(model, shape: tuple[int, ...], source: str):
    from edgekit._compat import tf

    try:
        return tf().function(model).get_concrete_function(tf().TensorSpec((1, *shape), tf().float32)).graph
    except (ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())
        layer = re.search(r"layer '([^']+)'", text)
        reason = re.search(r"(Negative dimension size caused by subtracting \d+ from \d+|One of the dimensions in the output is <= 0)", text)
        where = f"layer {layer.group(1)!r}" if layer else "the model"
        raise InputError(
            f"{source} does not fit {where}" + (f": {reason.group(1)}" if reason else ""), hint="give a larger input shape (a convolution or pooling window must fit inside it)"
        ) from None


def _largest_tensor(graph) -> tuple[str, int]:
    """The traced graph's largest fully known tensor: its name and element count."""
    largest = ("", 0)
    for operation in graph.get_operations():
        for output in operation.outputs:
            dims = output.shape.as_list() if output.shape.rank is not None else None
            if dims and all(d is not None for d in dims) and math.prod(dims) > largest[1]:
                largest = (output.name, math.prod(dims))
    return largest


def _check_activation(name: str, elements: int, source: str) -> None:
    from edgekit.runtime.limits import ENV_MEMORY, human, memory_cap

    if elements > _MAX_ELEMENTS:
        raise InputError(f"{source}: tensor {name!r} would hold {elements:,} elements, more than the {_MAX_ELEMENTS:,} an interpreter can index", hint="give a smaller input shape")
    cap = memory_cap()
    if cap is not None and 4 * elements > cap:
        raise InputError(f"{source}: tensor {name!r} would take {human(4 * elements)}, more than the memory budget of {human(cap)}", hint=f"give a smaller input shape, or raise {ENV_MEMORY}")

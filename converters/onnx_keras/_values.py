"""What the importer passes between ops: a tensor with its layout, and the helpers that move
a tensor between the source's channels-first order and Keras' channels-last order.

An ONNX tensor of shape (N, C, *spatial) produced by a convolution lives in the Keras model as
(N, *spatial, C) (``channels_last``). A flattened channels-last tensor keeps Keras' order and
records it (``order``), so the ``Dense`` that reads it takes its weight rows in that order
instead of a transpose in the graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgekit.errors import ModelError

NodeProto = onnx.NodeProto


@dataclass
class Value:
    """One ONNX value in the Keras graph: a Keras tensor, or a constant (``const``).

    ``rank`` is the ONNX rank (batch included); ``channels_last`` says the Keras tensor holds
    a channels-first ONNX tensor in channels-last order; ``order`` (a flattened channels-last
    tensor) maps Keras feature i to ONNX feature ``order[i]``, with ``unflattened`` the value
    before the flatten; ``nonnegative`` lets zero padding stand in for -inf before a max pool.
    """

    tensor: Any = None
    const: np.ndarray | None = None
    rank: int = 0
    channels_last: bool = False
    order: np.ndarray | None = None
    unflattened: "Value | None" = None
    nonnegative: bool = False
    cache: dict = field(default_factory=dict)  # layout conversions made once

    @property
    def is_const(self) -> bool:
        return self.const is not None


def keras_axis(axis: int, rank: int, channels_last: bool) -> int:
    """The Keras axis holding ONNX axis ``axis`` of a tensor of ``rank``."""
    axis = axis + rank if axis < 0 else axis
    if not channels_last or axis == 0:
        return axis
    return rank - 1 if axis == 1 else axis - 1


def onnx_shape(value: Value) -> list:
    """The value's ONNX shape from the Keras tensor's static shape (None where unknown)."""
    if value.is_const:
        return list(value.const.shape)
    shape = list(value.tensor.shape)
    if value.channels_last and len(shape) >= 3:
        return [shape[0], shape[-1], *shape[1:-1]]
    return shape


def constant_as_keras(const: np.ndarray, value: Value) -> np.ndarray:
    """A constant broadcast against ``value``, laid out as ``value``'s Keras tensor is, without
    the batch axis (what a layer's weights or a ``Rescaling`` take)."""
    const = np.asarray(const, dtype=np.float32)
    if const.ndim > value.rank:
        raise ModelError(f"a constant of shape {const.shape} cannot broadcast to a rank-{value.rank} tensor")
    full = const.reshape((1,) * (value.rank - const.ndim) + const.shape)
    if value.order is not None and full.shape[-1] > 1:
        full = full[..., value.order]
    elif value.channels_last and value.rank >= 3:
        full = np.moveaxis(full, 1, -1)
    return full[0] if full.shape[0] == 1 else full


def attributes(node: NodeProto) -> dict[str, Any]:
    """The node's attributes as Python values (bytes decoded)."""
    found = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        found[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return found


def tensor_value(proto: onnx.TensorProto) -> np.ndarray:
    return numpy_helper.to_array(proto)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Names:
    """Unique, TensorFlow-safe layer names, from the source's own names where it has them."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, hint: str) -> str:
        base = _UNSAFE.sub("_", hint).strip("_.-") or "layer"
        if not base[0].isalnum():
            base = f"l{base}"
        name, count = base, 1
        while name in self.used:
            count += 1
            name = f"{base}_{count}"
        self.used.add(name)
        return name


def weight_hint(node: NodeProto, fallback: str) -> str:
    """``conv1`` for a node whose weight is ``conv1.weight``; else the node's name or op."""
    for name in node.input[1:2]:
        for suffix in (".weight", ".kernel", "_weight"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
    return node.name.strip("/").replace("/", "_") or fallback


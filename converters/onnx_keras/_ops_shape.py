"""Ops that move elements without computing: flatten, reshape, transpose, concat, (un)squeeze,
slice and split.

A flatten of a channels-last feature map keeps Keras' order and records it, so no transpose
is needed for the ``Dense`` after it; a reshape that only adds or drops axes of size 1 keeps a
feature map channels-last; anything else is done in the source's order.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_keras._values import Value, attributes, keras_axis, onnx_shape
from edgekit.errors import ModelError

__all__ = ["HANDLERS"]


# Between a flatten and the dense layer that reads it: ops that keep each feature where it is.
_FEATUREWISE = {"Dropout", "Identity", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "BatchNormalization"}


def _reaches_dense_only(b, name: str, depth: int = 0) -> bool:
    """Whether every use of ``name`` is a Gemm/MatMul, through feature-wise ops only."""
    uses = b.consumers.get(name, [])
    if not uses or name in {o.name for o in b.graph.output} or depth > 8:
        return False
    return all(node.op_type in ("Gemm", "MatMul") or (node.op_type in _FEATUREWISE and _reaches_dense_only(b, node.output[0], depth + 1)) for node in uses)


def _flatten_channels_last(b, node, x: Value) -> Value:
    """Flatten a channels-last feature map: in Keras' order, recording it, when only dense
    layers read the result (their weight rows follow the order); else in the source's order."""
    shape = onnx_shape(x)
    channels, spatial = shape[1], shape[2:]
    if any(d is None for d in [channels, *spatial]):
        raise ModelError("Flatten of a feature map whose size is not fixed")
    if all(d == 1 for d in spatial):  # one pixel: both orders agree
        return Value(tensor=b.layers.Flatten(name=b.name(node, "flatten"))(x.tensor), rank=2, nonnegative=x.nonnegative)
    if not _reaches_dense_only(b, node.output[0]):
        out = b.layers.Flatten(name=b.name(node, "flatten"))(b.plain(x))
        return Value(tensor=out, rank=2, nonnegative=x.nonnegative)
    out = b.layers.Flatten(name=b.name(node, "flatten"))(x.tensor)
    order = np.arange(int(np.prod([channels, *spatial]))).reshape(channels, *spatial)
    order = np.moveaxis(order, 0, -1).reshape(-1)
    return Value(tensor=out, rank=2, order=order, unflattened=x, nonnegative=x.nonnegative)


def flatten(b, node):
    x = b.value(node, 0)
    if attributes(node).get("axis", 1) != 1:
        raise ModelError("Flatten at an axis other than 1 (the batch is kept apart)")
    if x.channels_last and x.rank >= 3:
        return [_flatten_channels_last(b, node, x)]
    if x.rank == 2:
        return [x]
    return [Value(tensor=b.layers.Flatten(name=b.name(node, "flatten"))(x.tensor), rank=2, nonnegative=x.nonnegative)]


def _target_shape(x: Value, shape: list[int], allowzero: bool) -> list:
    """The reshape's target with 0s copied from the input and the batch axis kept apart."""
    source = onnx_shape(x)
    target = [source[i] if (d == 0 and not allowzero and i < len(source)) else d for i, d in enumerate(shape)]
    if target[0] not in (-1, None) and source[0] not in (None, target[0]):
        raise ModelError(f"a reshape to {shape} that folds the batch axis into others")
    return [None, *target[1:]]


def reshape(b, node):
    x, shape = b.value(node, 0), b.const(node, 1, "shape")
    return [_reshape_to(b, node, x, _target_shape(x, [int(d) for d in shape], bool(attributes(node).get("allowzero", 0))))]


def _reshape_to(b, node, x: Value, target: list) -> Value:
    source = onnx_shape(x)
    rest = list(target[1:])
    if x.channels_last and x.rank >= 3 and len(target) == 2:
        return _flatten_channels_last(b, node, x)
    if list(source[1:]) == rest:
        return x
    if x.rank == 2 and x.order is None and len(target) >= 3 and all(d == 1 for d in rest[1:]):
        # (N, C) -> (N, C, 1, 1): one pixel, so the channels-last tensor holds the same values
        out = b.layers.Reshape((*rest[1:], rest[0]), name=b.name(node, "reshape"))(x.tensor)
        return Value(tensor=out, rank=len(target), channels_last=True, nonnegative=x.nonnegative)
    out = b.layers.Reshape(tuple(rest), name=b.name(node, "reshape"))(b.plain(x))
    return Value(tensor=out, rank=len(target), nonnegative=x.nonnegative)


def transpose(b, node):
    x = b.value(node, 0)
    perm = list(attributes(node).get("perm", reversed(range(x.rank))))
    if perm[0] != 0:
        raise ModelError(f"a transpose {perm} that moves the batch axis")
    if x.order is not None:
        raise ModelError("a transpose of a flattened feature map")
    if x.channels_last and x.rank >= 3:
        keras_perm = [keras_axis(axis, x.rank, True) for axis in perm]  # out axis j <- keras axis
    else:
        keras_perm = perm
    if keras_perm == list(range(x.rank)):
        return [Value(tensor=x.tensor, rank=x.rank, nonnegative=x.nonnegative)]
    out = b.layers.Permute(tuple(keras_perm[1:]), name=b.name(node, "transpose"))(x.tensor)
    return [Value(tensor=out, rank=x.rank, nonnegative=x.nonnegative)]


def concat(b, node):
    values = [b.value(node, i) for i in range(len(node.input))]
    if any(v.is_const for v in values):
        raise ModelError("a concatenation with a constant")
    axis = attributes(node).get("axis", 1)
    if any(v.order is not None for v in values):
        tensors, channels_last = [b.plain(v) for v in values], False
    elif any(v.channels_last for v in values):
        tensors, channels_last = [b.channels_last(v) for v in values], True
    else:
        tensors, channels_last = [v.tensor for v in values], False
    rank = values[0].rank
    out = b.layers.Concatenate(axis=keras_axis(axis, rank, channels_last), name=b.name(node, "concat"))(tensors)
    return [Value(tensor=out, rank=rank, channels_last=channels_last, nonnegative=all(v.nonnegative for v in values))]


def _axes(b, node) -> list[int]:
    """The node's axes: an attribute before opset 13, a constant input from it on."""
    axes = attributes(node).get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = b.const(node, 1, "axes").tolist()
    return [int(a) for a in (axes or [])]


def squeeze(b, node):
    x = b.value(node, 0)
    shape = onnx_shape(x)
    axes = sorted(a + x.rank if a < 0 else a for a in _axes(b, node)) or [i for i, d in enumerate(shape) if d == 1 and i > 0]
    if 0 in axes:
        raise ModelError("a squeeze of the batch axis")
    target = [d for i, d in enumerate(shape) if i not in axes]
    return [_reshape_to(b, node, x, [None, *[-1 if d is None else d for d in target[1:]]])]


def unsqueeze(b, node):
    x = b.value(node, 0)
    axes = _axes(b, node)
    out_rank = x.rank + len(axes)
    axes = sorted(a + out_rank if a < 0 else a for a in axes)
    if 0 in axes:
        raise ModelError("an unsqueeze in front of the batch axis")
    target = list(onnx_shape(x))
    for axis in axes:
        target.insert(axis, 1)
    return [_reshape_to(b, node, x, [None, *[-1 if d is None else d for d in target[1:]]])]


def _slice_tensor(b, node, x: Value, keras_axes: dict[int, slice], suffix: str = ""):
    index = tuple(keras_axes.get(axis, slice(None)) for axis in range(x.rank))
    from edgekit._compat import tf

    with tf().name_scope(b.names(f"{b.name(node, 'slice')}{suffix}")):
        return x.tensor[index]


def slice_(b, node):
    x = b.value(node, 0)
    if x.order is not None:
        x = Value(tensor=b.plain(x), rank=2)
    starts, ends = b.const(node, 1, "starts"), b.const(node, 2, "ends")
    axes = b.const(node, 3, "axes")
    steps = b.const(node, 4, "steps")
    axes = list(range(len(starts))) if axes is None else [int(a) + x.rank if a < 0 else int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    if 0 in axes:
        raise ModelError("a slice of the batch axis")
    big = np.iinfo(np.int64).max // 2
    cuts = {}
    for axis, start, end, step in zip(axes, starts, ends, steps):
        start, end = int(start), int(end)
        cuts[keras_axis(axis, x.rank, x.channels_last)] = slice(start, None if end >= big else end, step)
    return [Value(tensor=_slice_tensor(b, node, x, cuts), rank=x.rank, channels_last=x.channels_last, nonnegative=x.nonnegative)]


def split(b, node):
    x = b.value(node, 0)
    attrs = attributes(node)
    axis = attrs.get("axis", 0)
    axis = axis + x.rank if axis < 0 else axis
    if axis == 0 or x.order is not None:
        raise ModelError("a split of the batch axis or of a flattened feature map")
    sizes = attrs.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = b.const(node, 1, "split").tolist()
    length = onnx_shape(x)[axis]
    if sizes is None:
        parts = attrs.get("num_outputs", len(node.output))
        if length is None or length % parts:
            raise ModelError(f"an even split of {length} into {parts}")
        sizes = [length // parts] * parts
    keras = keras_axis(axis, x.rank, x.channels_last)
    outputs, start = [], 0
    for i, size in enumerate(sizes):
        tensor = _slice_tensor(b, node, x, {keras: slice(start, start + int(size))}, suffix=f"_{i}")
        outputs.append(Value(tensor=tensor, rank=x.rank, channels_last=x.channels_last, nonnegative=x.nonnegative))
        start += int(size)
    return outputs


HANDLERS = {
    "Flatten": flatten,
    "Reshape": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "Slice": slice_,
    "Split": split,
}

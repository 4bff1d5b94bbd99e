"""Element-wise ops and activations.

Arithmetic with a constant becomes ``Rescaling`` (a weightless multiply-add, the constant laid
out like the tensor); arithmetic of two tensors the ``Add``/``Subtract``/``Multiply`` merge
layers; activations Keras' own (``ReLU`` with a cap for ReLU6/Clip, ``PReLU`` with the slopes),
the hard sigmoid and hard swish of MobileNetV3 as a multiply-add and a capped ReLU.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_keras._values import Value, attributes, constant_as_keras
from edgekit.errors import ModelError

__all__ = ["HANDLERS"]


def _same_layout(b, x: Value, y: Value):
    """Both tensors in one layout: channels-last where either is."""
    if x.rank != y.rank:
        raise ModelError(f"element-wise op of a rank-{x.rank} and a rank-{y.rank} tensor")
    if x.order is not None or y.order is not None:
        if x.order is not None and y.order is not None and np.array_equal(x.order, y.order):
            return x.tensor, y.tensor, dict(order=x.order)
        return b.plain(x), b.plain(y), {}
    if x.channels_last or y.channels_last:
        return b.channels_last(x), b.channels_last(y), dict(channels_last=True)
    return x.tensor, y.tensor, {}


def _like(x: Value, tensor, **changes) -> Value:
    """A value laid out as ``x`` (an element-wise result of it)."""
    fields = dict(tensor=tensor, rank=x.rank, channels_last=x.channels_last, order=x.order)
    fields.update(changes)
    return Value(**fields)


def _rescale(b, node, x: Value, scale, offset) -> Value:
    layer = b.layers.Rescaling(scale=_listed(scale, x), offset=_listed(offset, x), name=b.name(node, node.op_type.lower()))
    return _like(x, layer(x.tensor))


def _listed(const, x: Value):
    """A constant as Rescaling keeps it in its config: a float or nested lists, Keras layout."""
    array = np.asarray(const, dtype=np.float32)
    if array.size == 1:
        return float(array.reshape(-1)[0])
    return constant_as_keras(array, x).tolist()


def arithmetic(b, node):
    x, y = b.value(node, 0), b.value(node, 1)
    op = node.op_type
    if x.is_const and y.is_const:
        raise ModelError("both operands are constants (should have been folded)")
    if x.is_const or y.is_const:
        tensor, const, const_first = (y, x.const, True) if x.is_const else (x, y.const, False)
        scale, offset = _affine(op, np.asarray(const, np.float32), const_first)
        return [_rescale(b, node, tensor, scale, offset)]
    left, right, layout = _same_layout(b, x, y)
    merge = {"Add": b.layers.Add, "Sub": b.layers.Subtract, "Mul": b.layers.Multiply}.get(op)
    if merge is None:
        raise ModelError("division of two computed tensors has no Keras layer")
    out = merge(name=b.name(node, op.lower()))([left, right])
    return [Value(tensor=out, rank=x.rank, **layout)]


def _affine(op: str, const: np.ndarray, const_first: bool):
    """(scale, offset) with ``op(x, const)`` = x * scale + offset."""
    if op == "Add":
        return 1.0, const
    if op == "Mul":
        return const, 0.0
    if op == "Sub":
        return (-1.0, const) if const_first else (1.0, -const)
    if op == "Div" and not const_first:
        return 1.0 / const, 0.0
    raise ModelError("a constant divided by a tensor has no Keras layer")


def _activation(kind: str, *, nonnegative: bool = False, **options):
    def handler(b, node):
        x = b.value(node, 0)
        layer = getattr(b.layers, kind)(**options, name=b.name(node, node.op_type.lower()))
        return [_like(x, layer(x.tensor), nonnegative=nonnegative, unflattened=None)]

    return handler


def named_activation(name: str, *, nonnegative: bool = False):
    """Keras' ``Activation`` layer with one of its named functions."""
    return _activation("Activation", nonnegative=nonnegative, activation=name)


def clip(b, node):
    """ReLU6 and other ``Clip(0, max)`` as a capped ReLU; other ranges shifted around one."""
    x = b.value(node, 0)
    attrs = attributes(node)
    low = attrs.get("min", b.const(node, 1, "minimum"))
    high = attrs.get("max", b.const(node, 2, "maximum"))
    low = -np.inf if low is None else float(np.asarray(low).reshape(-1)[0])
    high = np.inf if high is None else float(np.asarray(high).reshape(-1)[0])
    if low == -np.inf:
        raise ModelError("Clip without a minimum has no Keras layer")
    cap = None if high == np.inf else high - low
    tensor = x.tensor if low == 0 else b.layers.Rescaling(1.0, -low, name=b.name(node, "clip", "_shift"))(x.tensor)
    tensor = b.layers.ReLU(max_value=cap, name=b.name(node, "relu6" if (low, high) == (0, 6) else "clip"))(tensor)
    if low != 0:
        tensor = b.layers.Rescaling(1.0, low, name=b.names("clip_unshift"))(tensor)
    return [_like(x, tensor, nonnegative=low >= 0, unflattened=None)]


def _hard_sigmoid_tensor(b, node, x: Value, alpha: float, beta: float, suffix: str = ""):
    scaled = b.layers.Rescaling(alpha, beta, name=b.name(node, "hard_sigmoid", f"{suffix}_affine"))(x.tensor)
    return b.layers.ReLU(max_value=1.0, name=b.names(f"hard_sigmoid{suffix}"))(scaled)


def hard_sigmoid(b, node):
    x = b.value(node, 0)
    attrs = attributes(node)
    out = _hard_sigmoid_tensor(b, node, x, attrs.get("alpha", 0.2), attrs.get("beta", 0.5))
    return [_like(x, out, nonnegative=True, unflattened=None)]


def hard_swish(b, node):
    """x * hard_sigmoid(x) with PyTorch's slope 1/6."""
    x = b.value(node, 0)
    gate = _hard_sigmoid_tensor(b, node, x, 1 / 6, 0.5, "_gate")
    out = b.layers.Multiply(name=b.name(node, "hard_swish"))([x.tensor, gate])
    return [_like(x, out, unflattened=None)]


def leaky_relu(b, node):
    x = b.value(node, 0)
    out = b.layers.LeakyReLU(alpha=attributes(node).get("alpha", 0.01), name=b.name(node, "leaky_relu"))(x.tensor)
    return [_like(x, out, unflattened=None)]


def prelu(b, node):
    x, slope = b.value(node, 0), b.const(node, 1, "slope")
    alpha = np.broadcast_to(constant_as_keras(slope, x), tuple(x.tensor.shape[1:]) if slope.size > 1 else (1,) * (x.rank - 1))
    shared = [axis for axis in range(1, x.rank) if alpha.shape[axis - 1] == 1]
    layer = b.layers.PReLU(shared_axes=shared or None, name=b.name(node, "prelu"))
    out = layer(x.tensor)
    layer.set_weights([np.ascontiguousarray(alpha.reshape(layer.get_weights()[0].shape)).astype(np.float32)])
    return [_like(x, out, unflattened=None)]


def elu(b, node):
    x = b.value(node, 0)
    out = b.layers.ELU(alpha=attributes(node).get("alpha", 1.0), name=b.name(node, "elu"))(x.tensor)
    return [_like(x, out, unflattened=None)]


def softmax(b, node):
    from edgekit.converters.onnx_keras._values import keras_axis

    x = b.value(node, 0)
    axis = attributes(node).get("axis", -1)
    if x.order is not None:
        tensor, rank_axis = x.tensor, -1
        if axis not in (-1, 1):
            raise ModelError(f"Softmax over axis {axis} of a flattened tensor")
        out = b.layers.Softmax(axis=rank_axis, name=b.name(node, "softmax"))(tensor)
        return [_like(x, out, nonnegative=True, unflattened=None)]
    out = b.layers.Softmax(axis=keras_axis(axis, x.rank, x.channels_last), name=b.name(node, "softmax"))(x.tensor)
    return [_like(x, out, nonnegative=True)]


def identity(b, node):
    """Identity, inference-time Dropout and float casts pass the tensor through."""
    x = b.value(node, 0)
    if node.op_type == "Cast" and attributes(node).get("to") not in (1, 10, 11):  # float, float16, double
        raise ModelError("a cast to a non-float type")
    return [x] + [None] * (len(node.output) - 1)


HANDLERS = {
    "Add": arithmetic,
    "Sub": arithmetic,
    "Mul": arithmetic,
    "Div": arithmetic,
    "Relu": _activation("ReLU", nonnegative=True),
    "Clip": clip,
    "LeakyRelu": leaky_relu,
    "PRelu": prelu,
    "Elu": elu,
    "Sigmoid": named_activation("sigmoid", nonnegative=True),
    "Tanh": named_activation("tanh"),
    "Softplus": named_activation("softplus", nonnegative=True),
    "Selu": named_activation("selu"),
    "Gelu": named_activation("gelu"),
    "HardSigmoid": hard_sigmoid,
    "HardSwish": hard_swish,
    "Softmax": softmax,
    "Identity": identity,
    "Dropout": identity,
    "Cast": identity,
}

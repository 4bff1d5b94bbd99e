"""Ops with no Keras layer, computed with TensorFlow functions on the Keras tensors.

Calling ``tf.math.sqrt`` on a Keras tensor puts a ``TFOpLambda`` layer in the model: it holds
the function's name, not code, converts to the matching TFLite op and runs in every
interpreter. What it does not do is train under TF-MOT: pruning, clustering and QAT expect
Keras layers. So a model that needs any of these is imported for post-training quantisation
only, and :class:`~edgekit.converters.onnx_keras.ImportedModel` names the ops that keep it from
fine-tuning (``tf_ops``). Tensors go in the source's axis order (a permute where a feature map
is channels-last) except for the element-wise functions, which do not care.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_keras._values import Value, attributes, constant_as_keras
from edgekit.errors import ModelError

__all__ = ["HANDLERS"]


def _tf():
    from edgekit._compat import tf

    return tf()


def _elementwise(function: str, *, nonnegative: bool = False):
    def handler(b, node):
        x = b.value(node, 0)
        b.tf_route(node)
        out = getattr(_tf().math, function)(x.tensor)
        return [Value(tensor=out, rank=x.rank, channels_last=x.channels_last, order=x.order, nonnegative=nonnegative)]

    return handler


def power(b, node):
    """x ** c for a constant exponent c."""
    x, exponent = b.value(node, 0), b.const(node, 1, "exponent")
    if exponent.size != 1:
        raise ModelError("Pow with an exponent per element")
    b.tf_route(node)
    out = _tf().math.pow(x.tensor, float(exponent.reshape(-1)[0]))
    return [Value(tensor=out, rank=x.rank, channels_last=x.channels_last, order=x.order)]


def divide(b, node):
    """Division where the divisor is computed (a constant divisor is a Rescaling layer)."""
    from edgekit.converters.onnx_keras._ops_math import arithmetic

    x, y = b.value(node, 0), b.value(node, 1)
    if y.is_const:
        return arithmetic(b, node)
    b.tf_route(node)
    if x.is_const:
        numerator = constant_as_keras(x.const, y)
        return [Value(tensor=_tf().math.divide(numerator.astype(np.float32), y.tensor), rank=y.rank, channels_last=y.channels_last, order=y.order)]
    if x.channels_last == y.channels_last and x.order is None and y.order is None and x.rank == y.rank:
        return [Value(tensor=_tf().math.divide(x.tensor, y.tensor), rank=x.rank, channels_last=x.channels_last)]
    return [Value(tensor=_tf().math.divide(b.plain(x), b.plain(y)), rank=max(x.rank, y.rank))]


def _reduce(function: str):
    def handler(b, node):
        x = b.value(node, 0)
        attrs = attributes(node)
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = b.const(node, 1, "axes").tolist()
        axes = sorted(int(a) + x.rank if int(a) < 0 else int(a) for a in (axes if axes is not None else range(x.rank)))
        if 0 in axes:
            raise ModelError(f"a {node.op_type} over the batch axis")
        keep = bool(attrs.get("keepdims", 1))
        b.tf_route(node)
        out = getattr(_tf().math, function)(b.plain(x), axis=axes, keepdims=keep)
        return [Value(tensor=out, rank=x.rank if keep else x.rank - len(axes))]

    return handler


def reduce_mean(b, node):
    """The spatial mean of a feature map is a pooling layer; any other mean, a TF function."""
    from edgekit.converters.onnx_keras._ops_nn import reduce_mean as pooled

    try:
        return pooled(b, node)
    except ModelError:
        return _reduce("reduce_mean")(b, node)


def batch_matmul(b, node):
    """MatMul: by a constant matrix a Dense layer; of two computed tensors (attention) a TF matmul."""
    from edgekit.converters.onnx_keras._ops_nn import matmul as dense

    x, y = b.value(node, 0), b.value(node, 1)
    if y.is_const and not x.is_const:
        return dense(b, node)
    if x.is_const or y.is_const:
        raise ModelError("MatMul of a constant by a computed tensor")
    b.tf_route(node)
    return [Value(tensor=_tf().linalg.matmul(b.plain(x), b.plain(y)), rank=max(x.rank, y.rank))]


def gather(b, node):
    x, indices = b.value(node, 0), b.const(node, 1, "indices")
    axis = attributes(node).get("axis", 0)
    axis = axis + x.rank if axis < 0 else axis
    if axis == 0:
        raise ModelError("a Gather along the batch axis")
    b.tf_route(node)
    out = _tf().gather(b.plain(x), indices.astype(np.int64), axis=axis)
    return [Value(tensor=out, rank=x.rank - 1 + indices.ndim)]


HANDLERS = {
    "Pow": power,
    "Sqrt": _elementwise("sqrt", nonnegative=True),
    "Exp": _elementwise("exp", nonnegative=True),
    "Log": _elementwise("log"),
    "Neg": _elementwise("negative"),
    "Abs": _elementwise("abs", nonnegative=True),
    "Reciprocal": _elementwise("reciprocal"),
    "Erf": _elementwise("erf"),
    "Div": divide,
    "ReduceMean": reduce_mean,
    "ReduceSum": _reduce("reduce_sum"),
    "ReduceMax": _reduce("reduce_max"),
    "ReduceMin": _reduce("reduce_min"),
    "MatMul": batch_matmul,
    "Gather": gather,
}

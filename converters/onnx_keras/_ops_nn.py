"""Layers with weights or windows: convolutions, batch norm, pooling, dense, padding, resizing.

Every handler takes channels-last input for spatial ops and returns channels-last output;
kernels are transposed from ONNX's (out, in, *k) to Keras' (*k, in, out) here, once.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_keras._values import Value, attributes, onnx_shape
from edgekit.errors import ModelError

__all__ = ["HANDLERS"]


def _spatial(node, value: Value) -> int:
    rank = value.rank - 2
    if rank not in (1, 2) or not value.channels_last:
        raise ModelError(f"{node.op_type} on a rank-{value.rank} tensor: edgekit maps 1-D and 2-D {node.op_type} on channels-first input")
    return rank


def _pads(attrs: dict, spatial: int) -> tuple[list[int], list[int]]:
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    return pads[:spatial], pads[spatial:]


def _same_pads(size: int | None, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int] | None:
    """What TensorFlow's ``same`` pads (extra at the end) for an input of ``size``."""
    if size is None:
        return None
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _padding(b, node, value: Value, kernel, strides, dilations, *, nonnegative_ok: bool = True, same_ok: bool = True):
    """(Keras tensor, ``"valid"``/``"same"``): the ONNX pads as Keras padding, a zero-padding
    layer in front where neither matches (or where ``same`` would mean something else, as for
    an average that counts the padding)."""
    attrs = attributes(node)
    spatial = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    tensor = b.channels_last(value)
    if auto == "SAME_UPPER":
        return tensor, "same"
    if auto == "VALID":
        return tensor, "valid"
    if auto == "SAME_LOWER":
        raise ModelError("auto_pad SAME_LOWER has no Keras padding")
    begin, end = _pads(attrs, spatial)
    if not any(begin) and not any(end):
        return tensor, "valid"
    sizes = onnx_shape(value)[2:]
    if same_ok and all(_same_pads(sizes[i], kernel[i], strides[i], dilations[i]) == (begin[i], end[i]) for i in range(spatial)):
        return tensor, "same"
    if not nonnegative_ok:
        raise ModelError(f"pads {begin + end} with a max pool over values that may be negative (ONNX pads with -inf)")
    layer = b.layers.ZeroPadding1D if spatial == 1 else b.layers.ZeroPadding2D
    padding = (begin[0], end[0]) if spatial == 1 else ((begin[0], end[0]), (begin[1], end[1]))
    return layer(padding, name=b.name(node, "pad", "_pad"))(tensor), "valid"


def conv(b, node):
    x = b.value(node, 0)
    spatial = _spatial(node, x)
    weight, bias = b.const(node, 1, "weight"), b.const(node, 2, "bias")
    attrs = attributes(node)
    kernel = list(weight.shape[2:])
    strides, dilations = list(attrs.get("strides", [1] * spatial)), list(attrs.get("dilations", [1] * spatial))
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise ModelError("a strided and dilated convolution has no Keras layer")
    group, out_channels, in_per_group = attrs.get("group", 1), weight.shape[0], weight.shape[1]
    in_channels = in_per_group * group
    depthwise = group > 1 and group == in_channels and in_per_group == 1
    # TensorFlow's depthwise kernel takes equal strides only: stride 1, then keep every s-th
    # row and column (a 1x1 pooling window with the strides), on the source's own padding.
    subsample = strides if depthwise and spatial == 2 and strides[0] != strides[1] else None
    tensor, padding = _padding(b, node, x, kernel, strides, dilations, same_ok=subsample is None)
    if subsample:
        strides = [1, 1]
    relu = b.fused_relu(node)
    common = dict(strides=strides, padding=padding, dilation_rate=dilations, use_bias=bias is not None, name=b.name(node, "conv"), activation="relu" if relu else None)
    axes = (*range(2, 2 + spatial), 1, 0)  # (out, in, *k) -> (*k, in, out)
    if depthwise:
        multiplier = out_channels // in_channels
        layer_type = b.layers.DepthwiseConv1D if spatial == 1 else b.layers.DepthwiseConv2D
        layer = layer_type(kernel, depth_multiplier=multiplier, **common)
        depthwise = weight.reshape(in_channels, multiplier, *kernel).transpose(*range(2, 2 + spatial), 0, 1)
        weights = [depthwise]
    else:
        layer_type = b.layers.Conv1D if spatial == 1 else b.layers.Conv2D
        layer = layer_type(out_channels, kernel, groups=group, **common)
        weights = [weight.transpose(axes)]
    out = layer(tensor)
    layer.set_weights(weights + ([bias] if bias is not None else []))
    if subsample:
        out = b.layers.MaxPooling2D(pool_size=(1, 1), strides=subsample, name=b.name(node, "conv", "_strides"))(out)
    return _with_relu(b, relu, Value(tensor=out, rank=x.rank, channels_last=True))


def _with_relu(b, relu, value: Value) -> list[Value]:
    """The layer's value, also standing for the Relu it took in."""
    if relu is not None:
        value.nonnegative = True
        b.values[relu.output[0]] = value
    return [value]


def conv_transpose(b, node):
    x = b.value(node, 0)
    spatial = _spatial(node, x)
    if spatial != 2:
        raise ModelError("edgekit maps 2-D ConvTranspose only")
    weight, bias = b.const(node, 1, "weight"), b.const(node, 2, "bias")
    attrs = attributes(node)
    if attrs.get("group", 1) != 1 or "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") != "NOTSET":
        raise ModelError("grouped ConvTranspose, output_shape and auto_pad have no Keras mapping")
    kernel = list(weight.shape[2:])
    strides, dilations = list(attrs.get("strides", [1, 1])), list(attrs.get("dilations", [1, 1]))
    begin, end = _pads(attrs, 2)
    extra = list(attrs.get("output_padding", [0, 0]))
    if any(e > p for e, p in zip(extra, end)):
        raise ModelError(f"output_padding {extra} larger than the end pads {end}")
    layer = b.layers.Conv2DTranspose(
        weight.shape[1], kernel, strides=strides, padding="valid", dilation_rate=dilations, use_bias=bias is not None, name=b.name(node, "conv_transpose")
    )
    out = layer(b.channels_last(x))
    layer.set_weights([weight.transpose(2, 3, 1, 0)] + ([bias] if bias is not None else []))
    crop = ((begin[0], end[0] - extra[0]), (begin[1], end[1] - extra[1]))
    if any(any(pair) for pair in crop):
        out = b.layers.Cropping2D(crop, name=b.name(node, "conv_transpose", "_crop"))(out)
    return [Value(tensor=out, rank=4, channels_last=True)]


def batch_norm(b, node):
    x = b.value(node, 0)
    scale, offset, mean, var = (b.const(node, i, what) for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
    attrs = attributes(node)
    params = [scale, offset, mean, var]
    if x.order is not None:  # features of a flattened feature map, in Keras' order
        params = [p[x.order] for p in params]
    layer = b.layers.BatchNormalization(axis=-1, epsilon=attrs.get("epsilon", 1e-5), momentum=1 - attrs.get("momentum", 0.9), name=b.name(node, "batch_norm"))
    out = layer(b.channels_last(x))
    layer.set_weights(params)
    return [Value(tensor=out, rank=x.rank, channels_last=x.channels_last or x.rank >= 3, order=x.order)]


def _pool(b, node, average: bool):
    x = b.value(node, 0)
    spatial = _spatial(node, x)
    attrs = attributes(node)
    kernel = list(attrs["kernel_shape"])
    strides, dilations = list(attrs.get("strides", [1] * spatial)), list(attrs.get("dilations", [1] * spatial))
    if any(d > 1 for d in dilations):
        raise ModelError("dilated pooling has no Keras layer")
    if attrs.get("ceil_mode", 0):
        _check_ceil_mode(onnx_shape(x)[2:], kernel, strides, _pads(attrs, spatial))
    if average and attrs.get("count_include_pad", 0) == 0 and any(attrs.get("pads", [])):
        tensor, padding = _padding(b, node, x, kernel, strides, dilations, nonnegative_ok=False)
        if padding != "same":
            raise ModelError(f"pads {attrs['pads']} excluded from the average have no Keras padding")
    else:  # a max pool, or an average that counts the zero padding (TensorFlow's same does not)
        tensor, padding = _padding(b, node, x, kernel, strides, dilations, nonnegative_ok=average or x.nonnegative, same_ok=not average)
    kinds = {(1, True): b.layers.AveragePooling1D, (2, True): b.layers.AveragePooling2D, (1, False): b.layers.MaxPooling1D, (2, False): b.layers.MaxPooling2D}
    layer = kinds[(spatial, average)](kernel, strides=strides, padding=padding, name=b.name(node, "avg_pool" if average else "max_pool"))
    return [Value(tensor=layer(tensor), rank=x.rank, channels_last=True, nonnegative=x.nonnegative)]


def _check_ceil_mode(sizes, kernel, strides, pads) -> None:
    begin, end = pads
    for i, size in enumerate(sizes):
        span = (size or 0) + begin[i] + end[i] - kernel[i]
        if size is None or span % strides[i]:
            raise ModelError("ceil_mode pooling whose windows do not divide the input has no Keras layer")


def max_pool(b, node):
    return _pool(b, node, average=False)


def average_pool(b, node):
    return _pool(b, node, average=True)


def _global(b, node, average: bool, keepdims: bool = True):
    x = b.value(node, 0)
    spatial = _spatial(node, x)
    kinds = {(1, True): b.layers.GlobalAveragePooling1D, (2, True): b.layers.GlobalAveragePooling2D, (1, False): b.layers.GlobalMaxPooling1D, (2, False): b.layers.GlobalMaxPooling2D}
    out = kinds[(spatial, average)](keepdims=keepdims, name=b.name(node, "global_avg_pool" if average else "global_max_pool"))(b.channels_last(x))
    if keepdims:
        return [Value(tensor=out, rank=x.rank, channels_last=True, nonnegative=x.nonnegative)]
    return [Value(tensor=out, rank=2, nonnegative=x.nonnegative)]


def global_average_pool(b, node):
    return _global(b, node, average=True)


def global_max_pool(b, node):
    return _global(b, node, average=False)


def reduce_mean(b, node):
    """ReduceMean over the spatial axes of a channels-first tensor: a global average pool."""
    x = b.value(node, 0)
    attrs = attributes(node)
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1:
        axes = b.const(node, 1, "axes").tolist()
    axes = sorted(a + x.rank if a < 0 else a for a in (axes or []))
    if not x.channels_last or axes != list(range(2, x.rank)):
        raise ModelError(f"ReduceMean over axes {axes}: edgekit maps only the spatial axes of a feature map (global average pooling)")
    return _global(b, node, average=True, keepdims=bool(attrs.get("keepdims", 1)))


def _dense_input(b, x: Value):
    """(Keras tensor, row order) for a dense layer: a flattened channels-last tensor keeps its
    order (the weight rows follow it), anything else goes in the source's order."""
    if x.order is not None:
        return x.tensor, x.order
    if x.channels_last and x.rank >= 3:
        raise ModelError("a matrix product over the channels of a feature map: edgekit maps Gemm/MatMul after Flatten")
    return x.tensor, None


def gemm(b, node):
    a, weight, bias = b.value(node, 0), b.const(node, 1, "weight"), b.const(node, 2, "bias")
    attrs = attributes(node)
    if attrs.get("transA", 0) or a.rank != 2:
        raise ModelError("Gemm with a transposed or non-matrix input")
    kernel = (weight.T if attrs.get("transB", 0) else weight) * attrs.get("alpha", 1.0)
    relu = b.fused_relu(node)
    return _with_relu(b, relu, _dense(b, node, a, kernel, None if bias is None else np.broadcast_to(bias * attrs.get("beta", 1.0), (kernel.shape[1],)), relu=relu is not None))


def _dense(b, node, x: Value, kernel: np.ndarray, bias: np.ndarray | None, *, relu: bool = False) -> Value:
    tensor, order = _dense_input(b, x)
    if order is not None:
        kernel = kernel[order, :]
    layer = b.layers.Dense(kernel.shape[1], use_bias=bias is not None, activation="relu" if relu else None, name=b.name(node, "dense"))
    out = layer(tensor)
    layer.set_weights([kernel.astype(np.float32)] + ([np.asarray(bias, np.float32)] if bias is not None else []))
    return Value(tensor=out, rank=x.rank)


def matmul(b, node):
    """MatMul by a constant matrix: a Dense layer, with the bias of an Add that only follows it."""
    a, weight = b.value(node, 0), b.value(node, 1)
    if a.is_const or not weight.is_const or weight.rank != 2:
        raise ModelError("MatMul of two computed tensors (edgekit maps MatMul by a constant matrix)")
    bias = None
    follower = b.single_consumer(node.output[0])
    if follower is not None and follower.op_type == "Add":
        other = [name for name in follower.input if name != node.output[0]]
        const = b.values.get(other[0]) if other else None
        if const is not None and const.is_const and const.const.size == weight.const.shape[1]:
            bias = const.const.reshape(-1)
            b.absorbed.add(follower.output[0])
            relu = b.fused_relu(follower)
            out = _dense(b, node, a, weight.const, bias, relu=relu is not None)
            b.values[follower.output[0]] = out
            return _with_relu(b, relu, out)
    return [_dense(b, node, a, weight.const, bias)]


def pad(b, node):
    x = b.value(node, 0)
    attrs = attributes(node)
    pads = attrs.get("pads")
    if pads is None:
        pads = b.const(node, 1, "pads").tolist()
    value = b.const(node, 2, "constant value")
    if attrs.get("mode", "constant") != "constant" or (value is not None and float(np.asarray(value).reshape(-1)[0]) != 0.0):
        raise ModelError("only zero padding has a Keras layer (reflect, edge and non-zero constants do not)")
    rank = x.rank
    begin, end = pads[:rank], pads[rank:]
    if not x.channels_last or rank not in (3, 4) or begin[:2] != [0, 0] or end[:2] != [0, 0] or min(pads) < 0:
        raise ModelError(f"pads {pads}: edgekit maps zero padding of a feature map's spatial axes")
    spatial = rank - 2
    layer = b.layers.ZeroPadding1D if spatial == 1 else b.layers.ZeroPadding2D
    padding = (begin[2], end[2]) if spatial == 1 else ((begin[2], end[2]), (begin[3], end[3]))
    out = layer(padding, name=b.name(node, "pad"))(b.channels_last(x))
    return [Value(tensor=out, rank=rank, channels_last=True, nonnegative=x.nonnegative)]


def resize(b, node):
    """Integer up-scaling of a feature map: nearest (PyTorch's default) or bilinear
    (``align_corners=False``), which TensorFlow's resize computes the same way."""
    x = b.value(node, 0)
    attrs = attributes(node)
    if x.rank != 4 or not x.channels_last:
        raise ModelError("edgekit maps Resize of a 2-D feature map")
    scales = b.const(node, 2, "scales") if node.op_type == "Resize" else b.const(node, 1, "scales")
    if scales is None or not scales.size:
        sizes = b.const(node, 3, "sizes")
        shape = onnx_shape(x)
        scales = np.array([1, 1, sizes[2] / shape[2], sizes[3] / shape[3]]) if sizes is not None and None not in shape[2:] else None
    if scales is None or list(scales[:2]) != [1, 1] or any(s != int(s) or s < 1 for s in scales[2:]):
        raise ModelError(f"scales {None if scales is None else scales.tolist()}: edgekit maps integer up-scaling of the spatial axes")
    mode = attrs.get("mode", "nearest")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest" and (transform != "asymmetric" or attrs.get("nearest_mode", "round_prefer_floor") != "floor") and node.op_type == "Resize":
        if any(s > 1 for s in scales[2:]) and transform not in ("asymmetric",):
            raise ModelError(f"nearest resize with {transform} coordinates has no Keras layer")
    if mode == "linear" and transform not in ("half_pixel", "pytorch_half_pixel"):
        raise ModelError(f"bilinear resize with {transform} coordinates (align_corners) has no Keras layer")
    if mode not in ("nearest", "linear"):
        raise ModelError(f"{mode} resize has no Keras layer")
    layer = b.layers.UpSampling2D(size=(int(scales[2]), int(scales[3])), interpolation="nearest" if mode == "nearest" else "bilinear", name=b.name(node, "resize"))
    return [Value(tensor=layer(b.channels_last(x)), rank=4, channels_last=True, nonnegative=x.nonnegative)]


HANDLERS = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "BatchNormalization": batch_norm,
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "GlobalMaxPool": global_max_pool,
    "ReduceMean": reduce_mean,
    "Gemm": gemm,
    "MatMul": matmul,
    "Pad": pad,
    "Resize": resize,
    "Upsample": resize,
}

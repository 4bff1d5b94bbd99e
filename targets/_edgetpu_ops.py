"""The Edge TPU's documented operations and their limitations, as data.

Source: Coral, "TensorFlow models on the Edge TPU" — "Model requirements" and "Supported
operations" (https://coral.ai/docs/edgetpu/models-intro/#supported-operations), for Edge TPU
Compiler 16 / runtime 14. ``since`` is the minimum Edge TPU runtime version from that table
(1 = all versions). ``limits`` names the checks in ``edgekit.targets.edgetpu`` that encode the table's
"Known limitations" column; an op not listed here does not map ("Operation not supported").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeTpuOp:
    since: int = 1
    limits: tuple[str, ...] = ()


# TFLite builtin name -> what the Coral table says about it.
EDGETPU_OPS: dict[str, EdgeTpuOp] = {
    "ADD": EdgeTpuOp(),
    "AVERAGE_POOL_2D": EdgeTpuOp(limits=("no_fused_activation",)),
    "CONCATENATION": EdgeTpuOp(limits=("no_fused_activation", "concat_constant_is_zero_pad")),
    "CONV_2D": EdgeTpuOp(limits=("same_dilation",)),
    "DEPTHWISE_CONV_2D": EdgeTpuOp(limits=("same_dilation",)),
    "EXPAND_DIMS": EdgeTpuOp(since=13),
    "FULLY_CONNECTED": EdgeTpuOp(limits=("default_weights_format", "one_dimensional_output")),
    "L2_NORMALIZATION": EdgeTpuOp(),
    "LOGISTIC": EdgeTpuOp(),
    "LSTM": EdgeTpuOp(since=14),  # "Unidirectional LSTM only"
    "MAXIMUM": EdgeTpuOp(),
    "MAX_POOL_2D": EdgeTpuOp(limits=("no_fused_activation",)),
    "MEAN": EdgeTpuOp(limits=("no_batch_axis",)),
    "MINIMUM": EdgeTpuOp(),
    "MUL": EdgeTpuOp(),
    "PACK": EdgeTpuOp(since=13, limits=("no_batch_axis",)),
    "PAD": EdgeTpuOp(limits=("no_batch_padding",)),
    "PRELU": EdgeTpuOp(since=13, limits=("constant_alpha",)),
    "QUANTIZE": EdgeTpuOp(since=13),
    "REDUCE_MAX": EdgeTpuOp(since=14, limits=("no_batch_axis",)),
    "REDUCE_MIN": EdgeTpuOp(since=14, limits=("no_batch_axis",)),
    "RELU": EdgeTpuOp(),
    "RELU6": EdgeTpuOp(),
    "RELU_N1_TO_1": EdgeTpuOp(),
    "RESHAPE": EdgeTpuOp(),
    "RESIZE_BILINEAR": EdgeTpuOp(),  # 3-D input/output: the general rank rule
    "RESIZE_NEAREST_NEIGHBOR": EdgeTpuOp(),
    "RSQRT": EdgeTpuOp(since=14),
    "SLICE": EdgeTpuOp(),
    "SOFTMAX": EdgeTpuOp(limits=("softmax_1d",)),
    "SPACE_TO_DEPTH": EdgeTpuOp(),
    "SPLIT": EdgeTpuOp(limits=("no_batch_axis",)),
    "SQUARED_DIFFERENCE": EdgeTpuOp(since=14),
    "SQUEEZE": EdgeTpuOp(),
    "STRIDED_SLICE": EdgeTpuOp(limits=("unit_strides",)),
    "SUB": EdgeTpuOp(),
    "SUM": EdgeTpuOp(since=14, limits=("no_batch_axis",)),
    "TANH": EdgeTpuOp(),
    "TRANSPOSE": EdgeTpuOp(since=14),
    "TRANSPOSE_CONV": EdgeTpuOp(since=13),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": EdgeTpuOp(since=14),
}

# Fused activations the Edge TPU applies in place (the same functions it runs as ops).
FUSED_ACTIVATIONS = frozenset({"NONE", "RELU", "RELU6", "RELU_N1_TO_1"})

# Integer dtypes of the model requirements: "Tensor parameters are quantized (8-bit
# fixed-point numbers; int8 or uint8)". int32 is allowed for biases and constant shapes/axes.
ACTIVATION_DTYPES = frozenset({"int8", "uint8"})
CONSTANT_DTYPES = frozenset({"int8", "uint8", "int32"})
SOFTMAX_MAX_ELEMENTS = 16000

# The compiler's own status strings (its "Operator / Count / Status" table), reused as reasons.
STATUS_MAPPED = "Mapped to Edge TPU"
STATUS_UNSUPPORTED_OP = "Operation not supported"
STATUS_DATA_TYPE = "Operation is working on an unsupported data type"
STATUS_RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
STATUS_AFTER_CUT = "More than one subgraph is not supported"

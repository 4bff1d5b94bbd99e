"""The LiteRT GPU delegate's supported operations and constraints, as data.

Sources:
- The documented list: LiteRT "GPU delegates for LiteRT", section "Supported ops"
  (https://ai.google.dev/edge/litert/performance/gpu#supported_ops): ADD, AVERAGE_POOL_2D,
  CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D v1-2, EXP, FULLY_CONNECTED, LOGICAL_AND, LOGISTIC,
  LSTM v2 (Basic LSTM only), MAX_POOL_2D, MAXIMUM, MINIMUM, MUL, PAD, PRELU, RELU, RELU6,
  RESHAPE, RESIZE_BILINEAR v1-3, SOFTMAX, STRIDED_SLICE, SUB, TRANSPOSE_CONV, in 16- and
  32-bit float.
- The delegate's compatibility rules (tensorflow/lite/tools/versioning/gpu_compatibility.cc
  and tensorflow/lite/delegates/gpu/common/model_builder.cc): the elementwise, reduction and
  layout ops below, at most 4-D (BHWC) tensors, float16/float32 (or 8-bit quantised) data,
  fused activations other than SIGN_BIT, at most two runtime inputs for binary elementwise ops,
  Softmax with beta 1, and one delegated partition by default (``max_delegated_partitions``).

Deliberately conservative: an op missing here is predicted to fall back to the CPU, e.g.
CUMSUM, RFFT2D, TOPK_V2, WHERE, ARG_MAX, GATHER_ND (not in the documented list).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuOp:
    documented: bool = False  # in the documented list (else from the delegate's own rules)
    max_version: int | None = None  # documented version ceiling for float models
    limits: tuple[str, ...] = ()


_DOC = GpuOp(documented=True)
_RULE = GpuOp()

GPU_OPS: dict[str, GpuOp] = {
    "ADD": GpuOp(documented=True, limits=("two_runtime_inputs",)),
    "AVERAGE_POOL_2D": _DOC,
    "CONCATENATION": _DOC,
    "CONV_2D": _DOC,
    "DEPTHWISE_CONV_2D": GpuOp(documented=True, max_version=2),
    "EXP": _DOC,
    "FULLY_CONNECTED": _DOC,
    "LOGICAL_AND": _DOC,
    "LOGISTIC": _DOC,
    "LSTM": GpuOp(documented=True, limits=("basic_lstm",)),
    "MAX_POOL_2D": _DOC,
    "MAXIMUM": GpuOp(documented=True, limits=("two_runtime_inputs",)),
    "MINIMUM": GpuOp(documented=True, limits=("two_runtime_inputs",)),
    "MUL": GpuOp(documented=True, limits=("two_runtime_inputs",)),
    "PAD": _DOC,
    "PRELU": _DOC,
    "RELU": _DOC,
    "RELU6": _DOC,
    "RESHAPE": _DOC,
    "RESIZE_BILINEAR": GpuOp(documented=True, max_version=3),
    "SOFTMAX": GpuOp(documented=True, limits=("softmax_beta_one",)),
    "STRIDED_SLICE": GpuOp(documented=True, limits=("no_new_axis_or_ellipsis",)),
    "SUB": GpuOp(documented=True, limits=("two_runtime_inputs",)),
    "TRANSPOSE_CONV": _DOC,
    # From the delegate's compatibility rules (not in the short documented list).
    "ABS": _RULE,
    "COS": _RULE,
    "DEPTH_TO_SPACE": _RULE,
    "DEQUANTIZE": _RULE,  # float16 weights are dequantised once, at delegate preparation
    "DIV": GpuOp(limits=("two_runtime_inputs",)),
    "ELU": _RULE,
    "HARD_SWISH": _RULE,
    "LEAKY_RELU": _RULE,
    "LOG": _RULE,
    "MEAN": _RULE,
    "MIRROR_PAD": _RULE,
    "NEG": _RULE,
    "PADV2": _RULE,
    "POW": GpuOp(limits=("two_runtime_inputs",)),
    "QUANTIZE": _RULE,
    "REDUCE_MAX": _RULE,
    "REDUCE_MIN": _RULE,
    "REDUCE_PROD": _RULE,
    "RELU_N1_TO_1": _RULE,
    "RESIZE_NEAREST_NEIGHBOR": _RULE,
    "RSQRT": _RULE,
    "SIN": _RULE,
    "SLICE": _RULE,
    "SPACE_TO_DEPTH": _RULE,
    "SPLIT": _RULE,
    "SPLIT_V": _RULE,
    "SQRT": _RULE,
    "SQUARE": _RULE,
    "SQUARED_DIFFERENCE": GpuOp(limits=("two_runtime_inputs",)),
    "SUM": _RULE,
    "TANH": _RULE,
    "TILE": _RULE,
    "TRANSPOSE": _RULE,
    # Custom ops the delegate implements (MediaPipe's), by custom code.
    "Convolution2DTransposeBias": _RULE,
    "MaxPoolingWithArgmax2D": _RULE,
    "MaxUnpooling2D": _RULE,
    "Resampler": _RULE,
}

MAX_RANK = 4  # the delegate lays tensors out as BHWC
# Runtime (non-constant) tensors the GPU computes on; int32 only as constant shapes/axes.
RUNTIME_DTYPES = frozenset({"float32", "float16", "int8", "uint8", "bool"})
CONSTANT_DTYPES = RUNTIME_DTYPES | {"int32"}
FUSED_ACTIVATIONS = frozenset({"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH"})
DEFAULT_MAX_PARTITIONS = 1  # TfLiteGpuDelegateOptionsV2.max_delegated_partitions

# The delegate's own warning wordings, reused as reasons.
STATUS_UNSUPPORTED_OP = "Operation is not supported."
STATUS_INCOMPATIBLE = "OP is supported, but tensor type/shape isn't compatible."

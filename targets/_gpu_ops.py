"""The LiteRT GPU accelerator's supported operations and constraints, as data.

LiteRT 2.x runs mobile GPUs through ML Drift (OpenCL, WebGPU, Metal); its TFLite front end
decides what the GPU takes. Sources, cross-checked against the real accelerator
(``benchmarks/gpu_predicted_vs_measured.py``):

- The operation parsers of ``ml_drift_delegate/tflite/model_builder.cc`` (google-ai-edge/LiteRT,
  after v2.2.0): every builtin with a parser is listed below. It takes more than the older
  TFLite GPU delegate's documented list (https://ai.google.dev/edge/litert/performance/gpu):
  CUMSUM, TOPK_V2, PACK, GATHER, CAST, comparisons and more, measured running on the GPU.
- Its tensor rules (``IsAllAllowedTensors``): no tensor of rank 5 or more; runtime tensors are
  float32/float16 (or 8-bit quantised); integer runtime tensors only for the ops marked
  ``int_tensors`` (arithmetic, layout and comparison ops that have integer kernels).
- ``tflite/delegates/utils.cc`` (``FP16GraphPartitionHelper``): the DEQUANTIZE ops that expand
  float16 weights are taken only when the whole model goes to the GPU; in a partly delegated
  model they stay on the CPU and the GPU reads the float16 constants directly.
- ``tflite/core/subgraph.cc``: the accelerator does not allow dynamic-sized tensors, so a graph
  with one is refused whole ("Attempting to use a delegate that only supports static-sized
  tensors"; LiteRT then fails with "Failed to modify graph with delegate").

An op missing here is predicted to fall back to the CPU, e.g. RFFT2D, COMPLEX_ABS,
L2_NORMALIZATION, SQUEEZE, GATHER_ND, WHERE (all measured on the CPU or refused).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuOp:
    documented: bool = False  # also in the older GPU delegate's documented list
    max_version: int | None = None  # documented version ceiling for float models
    limits: tuple[str, ...] = ()
    int_tensors: bool = False  # integer runtime tensors allowed (int32/int16/int8 kernels)


_DOC = GpuOp(documented=True)
_DRIFT = GpuOp()
_INT = GpuOp(int_tensors=True)
_DOC_INT = GpuOp(documented=True, int_tensors=True)

GPU_OPS: dict[str, GpuOp] = {
    # In the documented GPU delegate list, and in ML Drift's parsers.
    "ADD": GpuOp(documented=True, limits=("two_runtime_inputs",), int_tensors=True),
    "AVERAGE_POOL_2D": _DOC,
    "CONCATENATION": _DOC_INT,
    "CONV_2D": _DOC,
    "DEPTHWISE_CONV_2D": GpuOp(documented=True, max_version=2),
    "EXP": _DOC,
    "FULLY_CONNECTED": _DOC,
    "LOGICAL_AND": _DOC_INT,
    "LOGISTIC": _DOC,
    "LSTM": GpuOp(documented=True, limits=("basic_lstm",)),
    "MAX_POOL_2D": _DOC,
    "MAXIMUM": GpuOp(documented=True, limits=("two_runtime_inputs",), int_tensors=True),
    "MINIMUM": GpuOp(documented=True, limits=("two_runtime_inputs",), int_tensors=True),
    "MUL": GpuOp(documented=True, limits=("two_runtime_inputs",), int_tensors=True),
    "PAD": _DOC_INT,
    "PRELU": _DOC,
    "RELU": _DOC,
    "RELU6": _DOC,
    "RESHAPE": _DOC_INT,
    "RESIZE_BILINEAR": GpuOp(documented=True, max_version=3),
    "SOFTMAX": GpuOp(documented=True, limits=("softmax_beta_one",)),
    "STRIDED_SLICE": GpuOp(documented=True, limits=("no_new_axis_or_ellipsis",), int_tensors=True),
    "SUB": GpuOp(documented=True, limits=("two_runtime_inputs",), int_tensors=True),
    "TRANSPOSE_CONV": _DOC,
    # ML Drift's other builtin parsers.
    "ABS": _INT,
    "ADD_N": _DRIFT,
    "ARG_MAX": _INT,
    "ATAN2": _INT,
    "BATCH_MATMUL": _DRIFT,
    "BITCAST": _INT,
    "BITWISE_XOR": _INT,
    "CAST": _INT,
    "CEIL": _DRIFT,
    "COS": _INT,
    "CUMSUM": _DRIFT,
    "DEPTH_TO_SPACE": _DRIFT,
    "DEQUANTIZE": _DRIFT,  # float16 weights: see FP16GraphPartitionHelper above
    "DIV": GpuOp(limits=("two_runtime_inputs",), int_tensors=True),
    "DYNAMIC_UPDATE_SLICE": _INT,
    "ELU": _DRIFT,
    "EMBEDDING_LOOKUP": _INT,
    "EQUAL": _INT,
    "FLOOR": _DRIFT,
    "FLOOR_DIV": _INT,
    "FLOOR_MOD": _INT,
    "GATHER": _INT,
    "GELU": _DRIFT,
    "GREATER": _INT,
    "GREATER_EQUAL": _INT,
    "HARD_SWISH": _DRIFT,
    "LEAKY_RELU": _DRIFT,
    "LESS": _INT,
    "LESS_EQUAL": _INT,
    "LOG": _DRIFT,
    "LOGICAL_NOT": _INT,
    "LOGICAL_OR": _INT,
    "MEAN": _DRIFT,
    "MIRROR_PAD": _DRIFT,
    "NEG": _INT,
    "NOT_EQUAL": _INT,
    "ONE_HOT": _INT,
    "PACK": _INT,
    "PADV2": _INT,
    "POW": GpuOp(limits=("two_runtime_inputs",)),
    "QUANTIZE": _DRIFT,
    "REDUCE_ALL": _DRIFT,
    "REDUCE_ANY": _DRIFT,
    "REDUCE_MAX": _INT,
    "REDUCE_MIN": _INT,
    "REDUCE_PROD": _INT,
    "RELU_0_TO_1": _DRIFT,
    "RELU_N1_TO_1": _DRIFT,
    "RESIZE_NEAREST_NEIGHBOR": _DRIFT,
    "REVERSE_V2": _INT,
    "RIGHT_SHIFT": _INT,
    "ROUND": _DRIFT,
    "RSQRT": _DRIFT,
    "SELECT": _INT,
    "SELECT_V2": _INT,
    "SIGN": _INT,
    "SIN": _INT,
    "SLICE": _INT,
    "SPACE_TO_DEPTH": _DRIFT,
    "SPLIT": _DRIFT,
    "SPLIT_V": _DRIFT,
    "SQRT": _DRIFT,
    "SQUARE": _DRIFT,
    "SQUARED_DIFFERENCE": GpuOp(limits=("two_runtime_inputs",)),
    "SUM": _INT,
    "TANH": _DRIFT,
    "TILE": _INT,
    "TOPK_V2": _INT,  # int32 indices out
    "TRANSPOSE": _INT,
    "UNPACK": _DRIFT,
    # Custom ops ML Drift implements, by custom code.
    "Convolution2DTransposeBias": _DRIFT,
    "MaxPoolingWithArgmax2D": _DRIFT,
    "MaxUnpooling2D": _DRIFT,
    "Resampler": _DRIFT,
}

MAX_RANK = 4  # "Tensor dimensions must be less than 5"
# Runtime (non-constant) tensors the GPU computes on; integers only for ``int_tensors`` ops.
RUNTIME_DTYPES = frozenset({"float32", "float16", "int8", "uint8", "bool"})
INT_DTYPES = frozenset({"int32", "int16", "uint16", "uint32"})
CONSTANT_DTYPES = RUNTIME_DTYPES | {"int32"}
FUSED_ACTIVATIONS = frozenset({"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH"})
DEFAULT_MAX_PARTITIONS = 1  # the delegate's max_delegated_partitions

# Ops whose output size is only known once they run (the data decides it).
DATA_DEPENDENT_SHAPE_OPS = frozenset({"WHERE", "UNIQUE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5"})
# Operand positions that set an op's output shape: computed at run time, they make it dynamic.
SHAPE_OPERANDS: dict[str, tuple[int, ...]] = {
    "RESHAPE": (1,),
    "BROADCAST_TO": (1,),
    "FILL": (0,),
    "TILE": (1,),
    "RESIZE_BILINEAR": (1,),
    "RESIZE_NEAREST_NEIGHBOR": (1,),
    "SLICE": (1, 2),
    "STRIDED_SLICE": (1, 2, 3),
    "PAD": (1,),
    "PADV2": (1,),
    "MIRROR_PAD": (1,),
    "EXPAND_DIMS": (1,),
    "RANGE": (0, 1, 2),
    "SPLIT_V": (1,),
    "TOPK_V2": (1,),
}
# Ops that compute a shape from shapes: their output is known before running when the inputs are.
SHAPE_ARITHMETIC = frozenset(
    {"STRIDED_SLICE", "SLICE", "PACK", "CONCATENATION", "GATHER", "ADD", "SUB", "MUL", "RESHAPE", "CAST", "SQUEEZE", "EXPAND_DIMS"}
)

# The delegate's own wordings, reused as reasons.
STATUS_UNSUPPORTED_OP = "Operation is not supported."
STATUS_INCOMPATIBLE = "OP is supported, but tensor type/shape isn't compatible."
FP16_DEQUANTIZE_ON_CPU = (
    "float16 weights are expanded on the CPU when the model is only partly on the GPU "
    "(the GPU ops read the float16 constants directly)"
)

"""The TensorFlow ops a SavedModel may use to be loaded without ``--trust-model``.

A SavedModel is a program: loading it runs its resource initializers and its init op, and
its functions may call any op TensorFlow has. These are the ops that compute on tensors and
on the model's own variables and nothing else: no file, process, network, Python-function,
dataset, queue, table or summary op. TensorFlow's own "stateless" flag is not used, because
``ReadFile``, ``MatchingFiles``, ``ImmutableConst``, ``PyFuncStateless`` and the dataset ops
(``CacheDataset`` writes files) are all declared stateless. The list holds what tf_keras
layers (and TF-MOT's pruning and QAT wrappers) save, in training and inference mode, plus the
rest of the same arithmetic, shape and random families; ``tests/test_graph_scan.py`` saves
that layer zoo and checks every op it produces is here.
"""

from __future__ import annotations

VARIABLES = (
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "ResourceGather", "VarIsInitializedOp", "DestroyResourceOp", "DisableCopyOnRead",
)  # fmt: skip

CALLS_AND_CONTROL = (
    "Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "NoOp", "StopGradient",
    "PreventGradient", "Assert", "CheckNumerics", "CheckNumericsV2", "EnsureShape",
    "PartitionedCall", "StatefulPartitionedCall", "If", "StatelessIf", "While", "StatelessWhile", "Case",
    "StatelessCase", "Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond",
)  # fmt: skip

TENSOR_LISTS = (
    "EmptyTensorList", "TensorListReserve", "TensorListFromTensor", "TensorListGetItem", "TensorListSetItem",
    "TensorListStack", "TensorListLength", "TensorListElementShape", "TensorListPushBack", "TensorListPopBack",
    "TensorListConcatV2", "TensorListSplit", "TensorListGather", "TensorListScatterIntoExistingList",
    "TensorListResize",
)  # fmt: skip

MATH = (
    "Abs", "Add", "AddN", "AddV2", "Sub", "Mul", "MulNoNan", "Div", "DivNoNan", "RealDiv", "FloorDiv",
    "FloorMod", "TruncateDiv", "TruncateMod", "Mod", "Neg", "Reciprocal", "Square", "SquaredDifference",
    "Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p", "Pow", "Sign", "Round", "Rint", "Floor", "Ceil",
    "Maximum", "Minimum", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Atan2", "Sinh", "Cosh", "Tanh",
    "Asinh", "Acosh", "Atanh", "Erf", "Erfc", "Erfinv", "Sigmoid", "Softplus", "Softsign", "Lgamma",
    "Digamma", "IsNan", "IsInf", "IsFinite", "ClipByValue", "Cumsum", "Cumprod", "Sum", "Mean", "Prod",
    "Max", "Min", "All", "Any", "ArgMax", "ArgMin", "Equal", "NotEqual", "Less", "LessEqual", "Greater",
    "GreaterEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Select", "SelectV2", "MatMul", "BatchMatMul",
    "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Cast", "Bitcast", "Xdivy", "Xlogy", "Xlog1py", "L2Loss",
    "BiasAdd", "BiasAddV1", "LeftShift", "RightShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Invert",
    "UnsortedSegmentSum", "UnsortedSegmentMax", "SegmentSum", "Bucketize",
)  # fmt: skip

NEURAL_NETWORK = (
    "Conv2D", "Conv3D", "Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNative",
    "DepthwiseConv2dNativeBackpropInput", "AvgPool", "AvgPool3D", "MaxPool", "MaxPoolV2", "MaxPool3D",
    "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Relu", "Relu6", "Elu", "Selu", "LeakyRelu",
    "Softmax", "LogSoftmax", "LRN", "TopKV2", "InTopKV2", "OneHot", "ResizeBilinear", "ResizeNearestNeighbor",
    "ResizeBicubic", "ResizeArea", "ImageProjectiveTransformV2", "ImageProjectiveTransformV3",
    "AdjustContrastv2", "CropAndResize", "ExtractImagePatches", "FakeQuantWithMinMaxArgs",
    "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "QuantizeAndDequantizeV2",
    "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4", "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3",
    "CudnnRNNBackprop", "CudnnRNNBackpropV2", "CudnnRNNBackpropV3", "SoftmaxCrossEntropyWithLogits",
    "SparseSoftmaxCrossEntropyWithLogits",
)  # fmt: skip

SHAPES = (
    "Shape", "ShapeN", "Size", "Rank", "Reshape", "ExpandDims", "Squeeze", "Transpose", "InvertPermutation",
    "ConcatV2", "Concat", "ConcatOffset", "Pack", "Unpack", "Split", "SplitV", "Slice", "StridedSlice",
    "Tile", "Pad", "PadV2", "MirrorPad", "GatherV2", "Gather", "GatherNd", "ScatterNd", "TensorScatterUpdate",
    "TensorScatterAdd", "Fill", "ZerosLike", "OnesLike", "Range", "ReverseV2", "ReverseSequence",
    "BroadcastTo", "BroadcastArgs", "BroadcastGradientArgs", "Where", "Unique", "SpaceToBatchND",
    "BatchToSpaceND", "SpaceToDepth", "DepthToSpace", "DynamicStitch", "MatrixBandPart", "MatrixDiagV3",
    "MatrixDiagPartV3", "MatrixSetDiagV3", "LinSpace",
)  # fmt: skip

RANDOM = (
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "RandomShuffle",
    "Multinomial", "RngReadAndSkip", "RngSkip", "StatelessRandomUniform", "StatelessRandomUniformV2",
    "StatelessRandomUniformInt", "StatelessRandomUniformIntV2", "StatelessRandomUniformFullIntV2",
    "StatelessRandomNormal", "StatelessRandomNormalV2", "StatelessTruncatedNormal",
    "StatelessTruncatedNormalV2", "StatelessRandomGetKeyCounter", "StatelessRandomGetKeyCounterAlg",
    "StatelessRandomGetAlg", "StatelessMultinomial",
)  # fmt: skip

PURE_OPS = frozenset(VARIABLES + CALLS_AND_CONTROL + TENSOR_LISTS + MATH + NEURAL_NETWORK + SHAPES + RANDOM)

# The checkpoint saver's own ops: allowed only inside the two functions the SavedModel's
# saver_def names (they read and write the model's variables/ folder), which no other
# function may call.
SAVER_OPS = frozenset(("SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "StaticRegexFullMatch"))

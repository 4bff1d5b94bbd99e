"""The static GPU prediction: which ops the LiteRT GPU accelerator takes, and why not the others.

It stays beside the measurement (:mod:`edgekit.runtime.gpu_accelerator`) because LiteRT only
says *that* an op fell back; this says *why*, op by op, and answers where no accelerator can
be created. The rules are data in :mod:`edgekit.targets._gpu_ops`; the graph is then partitioned
as the delegate does it and the largest partition is taken.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from edgekit.targets import _gpu_ops as spec
from edgekit.targets._partition import first_reason, partitions
from edgekit.tflite.graph import Operator, Tensor, TFLiteGraph


@dataclass(frozen=True)
class Prediction:
    """Per op: (placement, reason); plus the partitions and a whole-graph refusal, if any."""

    placed: tuple[tuple[str, str], ...]
    gpu_ops: int
    partitions: int
    refusal: str = ""  # non-empty: the accelerator refuses the whole graph, and why


def predict(graph: TFLiteGraph) -> Prediction:
    """Where each op of the main subgraph runs on the GPU accelerator, and why."""
    refusal = dynamic_tensor_refusal(graph)
    if refusal:
        placed = tuple(("cpu", refusal) for _ in graph.main.operators)
        return Prediction(placed=placed, gpu_ops=0, partitions=0, refusal=refusal)
    verdicts = [op_verdict(graph, op) for op in graph.main.operators]
    weights = [is_fp16_weight_dequantize(graph, op) for op in graph.main.operators]
    if verdicts and all(v is None for v, w in zip(verdicts, weights) if not w):
        return Prediction(placed=tuple(("gpu", "") for _ in verdicts), gpu_ops=len(verdicts), partitions=1)
    supported = [v is None and not w for v, w in zip(verdicts, weights)]
    parts = [ops for accelerated, ops in partitions(graph.main, supported) if accelerated] if verdicts else []
    delegated = set(max(parts, key=len)) if parts else set()  # max() keeps the first of equal sizes
    placed = tuple(_placement(i, v, w, delegated, len(parts)) for i, (v, w) in enumerate(zip(verdicts, weights)))
    return Prediction(placed=placed, gpu_ops=len(delegated), partitions=len(parts))


def _placement(index: int, verdict: str | None, weight: bool, delegated: set[int], partition_count: int) -> tuple[str, str]:
    if index in delegated:
        return "gpu", ""
    if weight and verdict is None:
        return "cpu", spec.FP16_DEQUANTIZE_ON_CPU
    if verdict is None:
        return "cpu", f"supported, but outside the delegated partition (1 of {partition_count} taken by default)"
    return "cpu", verdict


def is_fp16_weight_dequantize(graph: TFLiteGraph, op: Operator) -> bool:
    """A DEQUANTIZE that expands float16 weights (a constant input), handled apart by the delegate."""
    if op.name != "DEQUANTIZE" or not op.inputs or op.inputs[0] < 0:
        return False
    source = graph.main.tensors[op.inputs[0]]
    return source.dtype == "float16" and graph.is_constant(source)


# --- whole-graph refusal: dynamic-sized tensors ---------------------------------------------


def dynamic_tensor_refusal(graph: TFLiteGraph) -> str:
    """Why the accelerator refuses the graph for a tensor sized only at run time, or ``""``.

    TFLite sizes every tensor when it prepares the ops; a tensor whose size depends on the
    data (WHERE), on a shape computed at run time (SHAPE of a dynamic-batch input feeding a
    RESHAPE) or on an unspecified input dimension (TOPK_V2) is dynamic, and a delegate
    without dynamic-tensor support refuses the graph.
    """
    known = _shape_known_tensors(graph)
    for op in graph.main.operators:
        why = _dynamic_output(graph, op, known)
        if why:
            tensor = graph.main.tensors[op.outputs[0]] if op.outputs else None
            name = f" {tensor.name!r}" if tensor is not None else ""
            return (
                "the GPU accelerator refuses the whole graph: it only takes static-sized tensors, "
                f"and {op.name}'s output{name} is sized at run time ({why})"
            )
    return ""


def _dynamic_output(graph: TFLiteGraph, op: Operator, known: set[int]) -> str:
    if op.name in spec.DATA_DEPENDENT_SHAPE_OPS:
        return "its size depends on the data"
    for position in spec.SHAPE_OPERANDS.get(op.name, ()):
        if position < len(op.inputs) and op.inputs[position] >= 0 and op.inputs[position] not in known:
            return f"its shape operand {graph.main.tensors[op.inputs[position]].name!r} is computed while running"
    if op.name == "TOPK_V2" and op.inputs and graph.main.tensors[op.inputs[0]].dynamic:
        return "its input has an unspecified dimension"
    return ""


def _shape_known_tensors(graph: TFLiteGraph) -> set[int]:
    """Tensors whose values are known before running: constants, and shapes computed from them."""
    tensors = graph.main.tensors
    known = {t.index for t in tensors if graph.is_constant(t)}
    for op in graph.main.operators:  # stored in execution order
        inputs = [i for i in op.inputs if i >= 0]
        if op.name == "SHAPE" and inputs and not tensors[inputs[0]].dynamic:
            known.update(op.outputs)
        elif op.name in spec.SHAPE_ARITHMETIC and inputs and all(i in known for i in inputs):
            known.update(op.outputs)
    return known


# --- per-op rules -------------------------------------------------------------------------


def op_verdict(graph: TFLiteGraph, op: Operator) -> str | None:
    """None when the GPU accelerator can run the op, else why it falls back to the CPU."""
    entry = spec.GPU_OPS.get(op.name)
    if entry is None:
        return f"{spec.STATUS_UNSUPPORTED_OP} ({op.name} is not in the GPU accelerator's op list)"
    tests = (test(graph, op, entry) for test in (_tensors_fit, _fused_activation, _version))
    return first_reason(itertools.chain(tests, (LIMITS[limit](graph, op) for limit in entry.limits)))


def _tensors_fit(graph: TFLiteGraph, op: Operator, entry: spec.GpuOp) -> str | None:
    for index in (*op.inputs, *op.outputs):
        if index < 0:
            continue
        tensor = graph.main.tensors[index]
        reason = _tensor_misfit(graph, tensor, entry)
        if reason:
            return f"{spec.STATUS_INCOMPATIBLE} ({reason})"
    return None


def _tensor_misfit(graph: TFLiteGraph, tensor: Tensor, entry: spec.GpuOp) -> str:
    if tensor.rank > spec.MAX_RANK:
        return f"{tensor.rank}-D tensor {tensor.name!r}; the GPU takes at most {spec.MAX_RANK}-D"
    if graph.is_constant(tensor):
        allowed = spec.CONSTANT_DTYPES | (spec.INT_DTYPES if entry.int_tensors else frozenset())
    else:
        allowed = spec.RUNTIME_DTYPES | (spec.INT_DTYPES if entry.int_tensors else frozenset())
    return "" if tensor.dtype in allowed else f"{tensor.dtype} tensor {tensor.name!r}"


def _fused_activation(graph: TFLiteGraph, op: Operator, entry: spec.GpuOp) -> str | None:
    activation = op.fused_activation
    if activation is not None and activation not in spec.FUSED_ACTIVATIONS:
        return f"fused activation {activation} is not supported"
    return None


def _version(graph: TFLiteGraph, op: Operator, entry: spec.GpuOp) -> str | None:
    first = graph.main.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
    is_float = first is not None and first.dtype in ("float32", "float16")
    if entry.max_version is not None and is_float and op.version > entry.max_version:
        return f"documented up to version {entry.max_version}; this op is version {op.version}"
    return None


def _two_runtime_inputs(graph: TFLiteGraph, op: Operator) -> str | None:
    inputs = [i for i in op.inputs if i >= 0]
    return None if len(inputs) <= 2 else f"at most 2 inputs (has {len(inputs)})"


def _basic_lstm(graph: TFLiteGraph, op: Operator) -> str | None:
    return None if op.options.get("kernel_type") == 1 else "only the basic LSTM kernel is supported"


def _softmax_beta_one(graph: TFLiteGraph, op: Operator) -> str | None:
    beta = op.options.get("beta", 1.0)
    return None if beta == 1.0 else f"Softmax beta must be 1 (is {beta:g})"


def _no_new_axis_or_ellipsis(graph: TFLiteGraph, op: Operator) -> str | None:
    if op.options.get("ellipsis_mask", 0) or op.options.get("new_axis_mask", 0):
        return "ellipsis and new-axis masks are not supported"
    return None


LIMITS = {
    "two_runtime_inputs": _two_runtime_inputs,
    "basic_lstm": _basic_lstm,
    "softmax_beta_one": _softmax_beta_one,
    "no_new_axis_or_ellipsis": _no_new_axis_or_ellipsis,
}

"""Mobile GPU target: float16 weights, float I/O, through LiteRT's GPU delegate.

The check is static, because the delegate needs a phone's OpenCL/OpenGL/Metal driver and
TensorFlow's own analyzer (``tf.lite.experimental.Analyzer(gpu_compatibility=True)``, TF 2.21)
reports every model compatible. Each op is tested against the delegate's documented op list
and constraints (``edgekit.targets._gpu_ops``); the graph is then partitioned as the delegate does it.
By default the delegate takes only the largest partition, so supported ops outside it also run
on the CPU, and each extra partition costs a GPU<->CPU copy.
"""

from __future__ import annotations

from edgekit.target import Target, TargetReport
from edgekit.tflite_graph import Operator, TFLiteGraph, read_tflite
from edgekit.targets import _gpu_ops as spec
from edgekit.targets._partition import partitions, placement_rows


def check(tflite_bytes: bytes) -> TargetReport:
    """Which ops the GPU delegate takes, which fall back to the CPU and why."""
    graph = read_tflite(tflite_bytes)
    subgraph = graph.main
    verdicts = [op_verdict(graph, op) for op in subgraph.operators]
    parts = [ops for accelerated, ops in partitions(subgraph, [v is None for v in verdicts]) if accelerated] if verdicts else []
    delegated = set(max(parts, key=len)) if parts else set()  # max() keeps the first of equal sizes
    placed = [_placement(i, verdict, delegated, len(parts)) for i, verdict in enumerate(verdicts)]
    on_gpu = len(delegated)
    notes = []
    if len(parts) > 1:
        notes.append(
            f"{len(parts)} GPU partitions: the delegate takes the largest ({on_gpu} ops) by default; "
            "raise max_delegated_partitions to take more, at the cost of a GPU<->CPU copy each"
        )
    if verdicts and on_gpu < len(verdicts):
        notes.append(f"{len(verdicts) - on_gpu} of {len(verdicts)} ops run on the CPU")
    return TargetReport(
        target="gpu",
        runnable=on_gpu > 0,
        ops=placement_rows(subgraph, placed),
        notes=tuple(notes),
        details={
            "predicted": True,
            "op_count": len(verdicts),
            "gpu_ops": on_gpu,
            "cpu_ops": len(verdicts) - on_gpu,
            "gpu_partitions": len(parts),
            "max_delegated_partitions": spec.DEFAULT_MAX_PARTITIONS,
        },
    )


def op_verdict(graph: TFLiteGraph, op: Operator) -> str | None:
    """None when the GPU delegate can run the op, else why it falls back to the CPU."""
    entry = spec.GPU_OPS.get(op.name)
    if entry is None:
        return f"{spec.STATUS_UNSUPPORTED_OP} ({op.name} is not in the GPU delegate's op list)"
    for test in (_tensors_fit, _fused_activation, _version):
        reason = test(graph, op, entry)
        if reason:
            return reason
    for limit in entry.limits:
        reason = LIMITS[limit](graph, op)
        if reason:
            return reason
    return None


def _tensors_fit(graph: TFLiteGraph, op: Operator, entry) -> str | None:
    for index in (*op.inputs, *op.outputs):
        if index < 0:
            continue
        tensor = graph.main.tensors[index]
        allowed = spec.CONSTANT_DTYPES if graph.is_constant(tensor) else spec.RUNTIME_DTYPES
        if tensor.dtype not in allowed:
            return f"{spec.STATUS_INCOMPATIBLE} ({tensor.dtype} tensor {tensor.name!r})"
        if tensor.rank > spec.MAX_RANK:
            return f"{spec.STATUS_INCOMPATIBLE} ({tensor.rank}-D tensor {tensor.name!r}; the GPU takes at most {spec.MAX_RANK}-D)"
    return None


def _fused_activation(graph: TFLiteGraph, op: Operator, entry) -> str | None:
    activation = op.fused_activation
    if activation is not None and activation not in spec.FUSED_ACTIVATIONS:
        return f"fused activation {activation} is not supported"
    return None


def _version(graph: TFLiteGraph, op: Operator, entry) -> str | None:
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


def _placement(index: int, verdict: str | None, delegated: set[int], partition_count: int) -> tuple[str, str]:
    if index in delegated:
        return "gpu", ""
    if verdict is None:
        return "cpu", f"supported, but outside the delegated partition (1 of {partition_count} taken by default)"
    return "cpu", verdict


GPU = Target(
    name="gpu",
    description="Mobile GPUs (Android OpenCL/OpenGL ES, iOS Metal) via the LiteRT GPU delegate: float16 weights, float I/O",
    quantization="float16",
    quantizations=("float16", "float32"),
    io_dtype="float32",
    check=check,
    static_batch=True,  # batch 1: the GPU delegate needs static-sized tensors
)

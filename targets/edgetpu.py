"""Coral Edge TPU target: full-int8 model, uint8/int8 I/O, batch fixed to 1, static shapes.

The check is static (no compiler needed): each op is tested against Coral's documented op
table and model requirements (``edgekit.targets._edgetpu_ops``), then the graph is cut the way
``edgetpu_compiler`` cuts it — one Edge TPU subgraph, starting at the first mappable op and
ending where the first op it cannot run appears; everything after that runs on the CPU ("More
than one subgraph is not supported"). When ``edgetpu_compiler`` is on PATH the package step
compiles the model and its log replaces the prediction in the bundle's report.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from edgekit.errors import ToolError
from edgekit.target import PackageInput, Target, TargetBuild, TargetReport
from edgekit.targets import _edgetpu_ops as spec
from edgekit.targets._partition import first_reason, partitions, placement_rows
from edgekit.tflite.graph import Operator, Tensor, TFLiteGraph, read_tflite

__all__ = ["check", "EDGETPU", "LIMITS"]

Limit = Callable[[TFLiteGraph, Operator], "str | None"]


def check(tflite_bytes: bytes) -> TargetReport:
    """Predict, op by op, what the Edge TPU compiler maps and where it cuts the graph."""
    graph = read_tflite(tflite_bytes)
    subgraph = graph.main
    batch_only, other = _dynamic_tensors(subgraph)
    if other:
        verdicts = [DYNAMIC_SHAPE] * len(subgraph.operators)
    else:  # a dynamic batch alone: predict for batch 1, the fix the notes ask for
        verdicts = [op_verdict(graph, op) for op in subgraph.operators]
    tpu = _edgetpu_segment(subgraph, verdicts)
    placed = [_placement(i, verdict, tpu) for i, verdict in enumerate(verdicts)]
    cut = None if other else _first_fallback(subgraph, verdicts, tpu)
    on_tpu = len(tpu)
    return TargetReport(
        target="edgetpu",
        runnable=on_tpu > 0 and not (batch_only or other),
        ops=placement_rows(subgraph, placed),
        notes=tuple(_notes(batch_only, other, on_tpu, len(verdicts), cut)),
        details={
            "predicted": True,
            "op_count": len(verdicts),
            "edgetpu_ops": on_tpu,
            "cpu_ops": len(verdicts) - on_tpu,
            "edgetpu_subgraphs": 1 if on_tpu else 0,
            "first_cpu_fallback": cut,
            "dynamic_batch": bool(batch_only),
            "dynamic_tensors": (other or batch_only)[:3],
        },
    )


DYNAMIC_SHAPE = "dynamic-sized tensors (shape_signature -1 beyond the batch) are not supported: the Edge TPU needs static shapes"


def _dynamic_tensors(subgraph) -> tuple[list[str], list[str]]:
    """Names of tensors dynamic only in the batch (dim 0), and of tensors dynamic elsewhere."""
    batch_only = [t.name for t in subgraph.tensors if t.dynamic and all(d >= 0 for d in t.shape_signature[1:])]
    other = [t.name for t in subgraph.tensors if any(d < 0 for d in t.shape_signature[1:])]
    return batch_only, other


def op_verdict(graph: TFLiteGraph, op: Operator) -> str | None:
    """None when the op can map to the Edge TPU, else why not (in the compiler's words where it has them)."""
    entry = spec.EDGETPU_OPS.get(op.name)
    if entry is None or op.custom:
        return spec.STATUS_UNSUPPORTED_OP
    tests = (test(graph, op) for test in (_data_types, _ranks, _fused_activation))
    return first_reason(itertools.chain(tests, (LIMITS[limit](graph, op) for limit in entry.limits)))


def _tensors(graph: TFLiteGraph, op: Operator) -> list[Tensor]:
    tensors = graph.main.tensors
    return [tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]


def _data_types(graph: TFLiteGraph, op: Operator) -> str | None:
    for tensor in _tensors(graph, op):
        constant = graph.is_constant(tensor)
        allowed = spec.CONSTANT_DTYPES if constant else spec.ACTIVATION_DTYPES
        if tensor.dtype not in allowed or (not constant and tensor.quantization is None):
            return f"{spec.STATUS_DATA_TYPE} ({tensor.dtype} tensor {tensor.name!r}; the Edge TPU needs full int8)"
    return None


def _ranks(graph: TFLiteGraph, op: Operator) -> str | None:
    for tensor in _tensors(graph, op):
        if not graph.is_constant(tensor) and any(d != 1 for d in tensor.shape[:-3]):
            return f"{spec.STATUS_RANK}: {tensor.name!r} has shape {list(tensor.shape)}"
    return None


def _fused_activation(graph: TFLiteGraph, op: Operator) -> str | None:
    activation = op.fused_activation
    if activation is not None and activation not in spec.FUSED_ACTIVATIONS:
        return f"fused activation {activation} is not supported"
    return None


def _no_fused_activation(graph: TFLiteGraph, op: Operator) -> str | None:
    if op.fused_activation not in (None, "NONE"):
        return f"no fused activation function allowed (has {op.fused_activation})"
    return None


def _concat_constant_is_zero_pad(graph: TFLiteGraph, op: Operator) -> str | None:
    inputs = [graph.main.tensors[i] for i in op.inputs if i >= 0]
    constants = [graph.constant(t) for t in inputs if graph.is_constant(t)]
    if constants and (len(inputs) != 2 or any(c is None or np.any(c != _zero_point(t)) for c, t in zip(constants, inputs))):
        return "a constant input is only allowed as one of 2 inputs and all zeros (a zero pad)"
    return None


def _zero_point(tensor: Tensor) -> int:
    return tensor.quantization.zero_point[0] if tensor.quantization and tensor.quantization.zero_point else 0


def _same_dilation(graph: TFLiteGraph, op: Operator) -> str | None:
    w, h = op.options.get("dilation_w_factor", 1), op.options.get("dilation_h_factor", 1)
    return None if w == h else f"x and y dilation must be equal (got {w} and {h})"


def _default_weights_format(graph: TFLiteGraph, op: Operator) -> str | None:
    return None if op.options.get("weights_format", 0) == 0 else "only the default fully-connected weights format is supported"


def _one_dimensional_output(graph: TFLiteGraph, op: Operator) -> str | None:
    if not op.outputs or op.outputs[0] < 0:
        return "the op has no output tensor"
    output = graph.main.tensors[op.outputs[0]]
    if sum(d != 1 for d in output.shape) > 1:
        return f"the output must be one-dimensional (has shape {list(output.shape)})"
    return None


def _no_batch_axis(graph: TFLiteGraph, op: Operator) -> str | None:
    data, axes = _data_and_axes(graph, op)
    if axes is None:
        return "the axis is not a compile-time constant"
    rank = data.rank
    if rank >= 2 and 0 in {int(a) % rank for a in np.ravel(axes)}:
        return "cannot operate on the batch dimension"
    return None


def _data_and_axes(graph: TFLiteGraph, op: Operator):
    tensors = graph.main.tensors
    if op.name == "PACK":
        return tensors[op.outputs[0]], np.array([op.options.get("axis", 0)])
    if op.name == "SPLIT":  # SPLIT takes (axis, data)
        return tensors[op.inputs[1]], graph.constant(tensors[op.inputs[0]])
    return tensors[op.inputs[0]], graph.constant(tensors[op.inputs[1]])


def _no_batch_padding(graph: TFLiteGraph, op: Operator) -> str | None:
    paddings = graph.constant(graph.main.tensors[op.inputs[1]])
    if paddings is None:
        return "the paddings are not a compile-time constant"
    if paddings.shape[0] >= 2 and np.any(paddings[0] != 0):
        return "no padding in the batch dimension"
    return None


def _constant_alpha(graph: TFLiteGraph, op: Operator) -> str | None:
    return None if graph.is_constant(graph.main.tensors[op.inputs[1]]) else "alpha must be a compile-time constant"


def _softmax_1d(graph: TFLiteGraph, op: Operator) -> str | None:
    shape = graph.main.tensors[op.inputs[0]].shape
    if sum(d != 1 for d in shape) > 1 or int(np.prod(shape)) > spec.SOFTMAX_MAX_ELEMENTS:
        return f"only a 1-D input of at most {spec.SOFTMAX_MAX_ELEMENTS} elements (has shape {list(shape)})"
    return None


def _unit_strides(graph: TFLiteGraph, op: Operator) -> str | None:
    strides = graph.constant(graph.main.tensors[op.inputs[3]]) if len(op.inputs) > 3 else None
    if strides is None or np.any(strides != 1):
        return "only all strides equal to 1 are supported"
    if op.options.get("ellipsis_mask", 0) or op.options.get("new_axis_mask", 0):
        return "ellipsis and new-axis masks must be 0"
    return None


LIMITS: dict[str, Limit] = {
    "no_fused_activation": _no_fused_activation,
    "concat_constant_is_zero_pad": _concat_constant_is_zero_pad,
    "same_dilation": _same_dilation,
    "default_weights_format": _default_weights_format,
    "one_dimensional_output": _one_dimensional_output,
    "no_batch_axis": _no_batch_axis,
    "no_batch_padding": _no_batch_padding,
    "constant_alpha": _constant_alpha,
    "softmax_1d": _softmax_1d,
    "unit_strides": _unit_strides,
}


def _edgetpu_segment(subgraph, verdicts) -> set[int]:
    """The ops of the one Edge TPU subgraph: the first mappable partition in graph order."""
    if not verdicts:
        return set()
    first = next((ops for accelerated, ops in partitions(subgraph, [v is None for v in verdicts]) if accelerated), [])
    return set(first)


def _placement(index: int, verdict: str | None, tpu: set[int]) -> tuple[str, str]:
    if index in tpu:
        return "edgetpu", ""
    return "cpu", verdict or spec.STATUS_AFTER_CUT


def _first_fallback(subgraph, verdicts, tpu: set[int]) -> dict | None:
    """The first op after the Edge TPU subgraph starts that it cannot run: where the graph is cut."""
    start = min(tpu, default=0)
    for index in range(start, len(verdicts)):
        if index not in tpu and verdicts[index] is not None:
            return {"index": index, "op": subgraph.operators[index].name, "reason": verdicts[index]}
    return None


def _notes(batch_only, other, on_tpu: int, total: int, cut) -> list[str]:
    notes = []
    if other:
        notes.append(f"{len(other)} tensors have dynamic dimensions (e.g. {other[0]!r}); edgetpu_compiler refuses dynamic-sized tensors")
    elif batch_only:
        notes.append(
            f"as stored, the batch is dynamic ({batch_only[0]!r} has shape_signature -1), which edgetpu_compiler refuses "
            "('only supports static-sized tensors'); convert with the batch fixed to 1 (edgekit does for this target). "
            "The placement below assumes batch 1"
        )
    if total and on_tpu < total:
        notes.append(f"predicted: {on_tpu} of {total} ops on the Edge TPU, {total - on_tpu} on the CPU")
    if cut:
        notes.append(f"the graph is cut at op {cut['index']} ({cut['op']}): {cut['reason']}")
    return notes


def package(model_bytes: bytes, info: PackageInput) -> TargetBuild:
    """Compile with edgetpu_compiler when it is installed; otherwise ship the exact command."""
    from edgekit.converters import edgetpu as compiler

    options = dict(info.options)
    command = compiler.compile_command("model.tflite", num_segments=options.get("num_segments"), timeout_s=options.get("compiler_timeout_s"))
    if compiler.find_compiler() is None:
        return TargetBuild(
            files={"COMPILE_EDGETPU.txt": _compile_instructions(command)},
            details={"edgetpu_compiled": False, "compile_command": command},
            notes=("not compiled: edgetpu_compiler is not on PATH (Debian/Ubuntu x86-64 package edgetpu-compiler); run the command in COMPILE_EDGETPU.txt",),
        )
    try:
        result = compiler.compile_edgetpu(
            model_bytes,
            name="model",
            num_segments=options.get("num_segments"),
            timeout_s=options.get("compiler_timeout_s") or compiler.DEFAULT_TIMEOUT_S,
        )
    except ToolError as exc:
        return TargetBuild(
            files={"COMPILE_EDGETPU.txt": _compile_instructions(command), "edgetpu_compiler.log": exc.message.encode()},
            details={"edgetpu_compiled": False, "compile_command": command, "compile_error": exc.message},
            notes=(f"edgetpu_compiler failed: {exc.message}",),
        )
    return TargetBuild(files=result.files, details=result.report_details(), notes=result.notes())


def _compile_instructions(command: str) -> bytes:
    return (
        "This bundle's model.tflite is ready for the Edge TPU compiler but was not compiled here.\n"
        "On an x86-64 Debian/Ubuntu machine with Coral's edgetpu-compiler package, run in this folder:\n\n"
        f"    {command}\n\n"
        "It writes model_edgetpu.tflite (and model_edgetpu.log) for the Edge TPU runtime.\n"
    ).encode()


EDGETPU = Target(
    name="edgetpu",
    description="Coral Edge TPU (USB, M.2, Dev Board) via edgetpu_compiler: full int8, uint8 or int8 I/O, batch 1",
    quantization="int8",
    quantizations=("int8",),
    io_dtype="uint8",
    check=check,
    options={"num_segments": None, "compiler_timeout_s": 180},
    package=package,
    static_batch=True,
)

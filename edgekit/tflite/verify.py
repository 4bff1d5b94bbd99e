"""Verify a .tflite model before a native interpreter sees it.

LiteRT's C++ code trusts the model: a flatbuffer offset, a zero point or a tensor index
that is wrong can abort or crash the whole process, which no ``try`` can catch. So every
model the runtime opens is first parsed by edgekit's bounds-checked reader
(``edgekit.tflite.graph``) and then checked against the rules LiteRT's kernels assume but do
not all test. Either step fails with a :class:`~edgekit.errors.ModelError` naming the file.
The rules were found by mutating real models and watching for crashes
(``tests/test_tflite_verify.py``, ``benchmarks/mutate_tflite.py``).
"""

from __future__ import annotations

import math
from pathlib import Path

from edgekit.errors import ModelError
from edgekit.tflite.graph import Operator, Subgraph, Tensor, TFLiteGraph, read_tflite

__all__ = ["called_subgraphs", "first_problem", "verify_tflite"]

# The range a zero point must lie in for each integer storage type.
_ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int4": (-8, 7)}
_INTEGER = set(_ZERO_POINT_RANGE)
# Ops whose kernels read every input (or every input but an optional bias) without checking:
# an absent (-1) or missing input there is a null pointer in LiteRT. Optional positions listed.
_OPTIONAL_INPUTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3}}
_ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3, "ADD": 2, "SUB": 2, "MUL": 2,
          "DIV": 2, "MAXIMUM": 2, "MINIMUM": 2, "SQUARED_DIFFERENCE": 2, "MEAN": 2, "SUM": 2, "PAD": 2, "RESHAPE": 1,
          "TRANSPOSE": 2, "BATCH_MATMUL": 2, "GATHER": 2, "STRIDED_SLICE": 4, "SLICE": 3, "CONCATENATION": 1,
          "AVERAGE_POOL_2D": 1, "MAX_POOL_2D": 1, "SOFTMAX": 1, "LOGISTIC": 1, "TANH": 1, "RELU": 1, "RELU6": 1,
          "HARD_SWISH": 1, "LEAKY_RELU": 1, "QUANTIZE": 1, "DEQUANTIZE": 1, "RESIZE_BILINEAR": 2,
          "RESIZE_NEAREST_NEIGHBOR": 2, "SQUEEZE": 1, "EXPAND_DIMS": 2, "ARG_MAX": 2, "PACK": 1, "CAST": 1}  # fmt: skip
# Quantised convolutions dereference their bias: LiteRT's converter always writes one.
_QUANTISED_NEEDS_BIAS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
_MAX_ELEMENTS = 2**31  # element counts beyond int32 overflow LiteRT kernels' index arithmetic


def verify_tflite(model: bytes | bytearray | str | Path) -> TFLiteGraph:
    """Parse ``model`` (bytes or a path) and check it is safe to hand to an interpreter."""
    graph = read_tflite(model)
    where = "model bytes" if isinstance(model, (bytes, bytearray, memoryview)) else str(model)
    problem = first_problem(graph)
    if problem is not None:
        raise ModelError(f"{where}: inconsistent TFLite model: {problem}", hint="the file is damaged; export the model again")
    return graph


def first_problem(graph: TFLiteGraph) -> str | None:
    """The first rule the model breaks, in words, or None."""
    problem = _signature_problem(graph) or _subgraph_call_problem(graph)
    if problem:
        return problem
    for subgraph in graph.subgraphs:
        for tensor in subgraph.tensors:
            problem = _shape_problem(tensor) or _quantization_problem(tensor)
            if problem:
                return f"subgraph {subgraph.index} tensor {tensor.index} ({tensor.name}): {problem}"
        problem = _dataflow_problem(graph, subgraph) or _order_problem(subgraph) or _mixed_quantization(subgraph) or _missing_input(subgraph)
        if problem:
            return f"subgraph {subgraph.index}: {problem}"
    return None


def _shape_problem(tensor: Tensor) -> str | None:
    """Converters write a shape and a signature that agree (-1 only where dynamic)."""
    if any(d < 0 for d in tensor.shape):
        return f"negative dimension in shape {list(tensor.shape)}"
    if math.prod(tensor.shape) >= _MAX_ELEMENTS:
        return f"shape {list(tensor.shape)} has more than {_MAX_ELEMENTS:,} elements"
    signature = tensor.shape_signature
    if not tensor.shape:  # unknown rank or a scalar: nothing to compare
        return None
    if len(signature) != len(tensor.shape) or any(s not in (-1, d) for s, d in zip(signature, tensor.shape)):
        return f"shape {list(tensor.shape)} disagrees with its signature {list(signature)}"
    return None


def _quantization_problem(tensor: Tensor) -> str | None:
    q = tensor.quantization
    if q is None:
        return None
    floor = 0.0 if tensor.dtype.startswith("float") else math.ulp(0.0)  # integer kernels divide by it
    if not all(math.isfinite(s) and s >= floor for s in q.scale):
        return "quantisation scale is zero, negative, infinite or NaN"
    if q.zero_point and len(q.zero_point) != len(q.scale):
        return f"{len(q.scale)} quantisation scales but {len(q.zero_point)} zero points"
    low, high = _ZERO_POINT_RANGE.get(tensor.dtype, (-(2**63), 2**63 - 1))
    if any(not low <= z <= high for z in q.zero_point):
        return f"a zero point lies outside the {tensor.dtype} range {low}..{high}"
    if q.per_channel and not (0 <= q.quantized_dimension < tensor.rank and tensor.shape[q.quantized_dimension] == len(q.scale)):
        return f"{len(q.scale)} per-channel scales do not match axis {q.quantized_dimension} of shape {list(tensor.shape)}"
    return None


def _dataflow_problem(graph: TFLiteGraph, subgraph: Subgraph) -> str | None:
    """Graph inputs and outputs exist; every op output exists and has one producer, which is
    neither a constant nor a graph input."""
    if any(index < 0 for index in (*subgraph.inputs, *subgraph.outputs)):
        return "a graph input or output is absent (-1)"
    produced: dict[int, int] = {}
    inputs = set(subgraph.inputs)
    for op in subgraph.operators:
        for index in op.outputs:
            if index < 0:
                return f"operator {op.index} ({op.name}) has an absent (-1) output"
            if index in produced:
                return f"tensor {index} is written by both operator {produced[index]} and operator {op.index} ({op.name})"
            if index in inputs or graph.is_constant(subgraph.tensors[index]):
                return f"operator {op.index} ({op.name}) writes tensor {index}, a graph input or constant"
            produced[index] = op.index
    return None


def _signature_problem(graph: TFLiteGraph) -> str | None:
    """Every SignatureDef names a subgraph that exists and tensors of that subgraph.

    LiteRT indexes its subgraph list with ``subgraph_index`` unchecked: a signature naming
    subgraph 7 of a one-subgraph model is a SIGSEGV in ``predict`` (issue 22, finding 1).
    """
    count = len(graph.subgraphs)
    for position, signature in enumerate(graph.signature_defs):
        name = f"signature {position} ({signature.key or 'unnamed'})"
        if not 0 <= signature.subgraph < count:
            return f"{name} runs subgraph {signature.subgraph}, but the model has {count}"
        tensors = len(graph.subgraphs[signature.subgraph].tensors)
        for kind, maps in (("input", signature.inputs), ("output", signature.outputs)):
            bad = [(key, index) for key, index in maps if not 0 <= index < tensors]
            if bad:
                return f"{name} {kind} {bad[0][0]!r} is tensor {bad[0][1]}, but subgraph {signature.subgraph} has {tensors}"
    return None


def called_subgraphs(op: Operator) -> list[int]:
    """The subgraphs a control-flow op runs: WHILE's cond and body, IF's branches, CALL_ONCE's
    init, CALL's target and the StableHLO ones, read from any option that names a subgraph."""
    found: list[int] = []
    for key, value in op.options.items():
        if key.endswith("subgraph_index") or (key == "subgraph" and op.options_type == "CallOptions"):
            found.append(int(value))
        elif key.endswith("subgraph_indices"):
            found.extend(int(v) for v in value or ())
    return found


def _subgraph_call_problem(graph: TFLiteGraph) -> str | None:
    """Control-flow ops call subgraphs that exist, and no subgraph ends up calling itself.

    An index past the end is read out of bounds; a call back into a subgraph on the current
    call chain recurses until the native stack overflows (SIGSEGV), and neither is checked
    by LiteRT before it runs.
    """
    count = len(graph.subgraphs)
    calls: dict[int, set[int]] = {}
    for subgraph, op in graph.operators():
        for callee in called_subgraphs(op):
            if not 0 <= callee < count:
                return f"subgraph {subgraph.index}: operator {op.index} ({op.name}) calls subgraph {callee}, but the model has {count}"
            calls.setdefault(subgraph.index, set()).add(callee)
    cycle = _find_cycle(calls)
    if cycle:
        return "subgraphs call each other in a cycle (" + " -> ".join(map(str, cycle)) + "): it would recurse until the stack overflows"
    return None


def _find_cycle(calls: dict[int, set[int]]) -> list[int] | None:
    """A call chain that returns to where it started, or None (depth-first, iterative)."""
    state: dict[int, int] = {}  # 1: on the current chain, 2: done
    for root in calls:
        if state.get(root):
            continue
        chain, stack = [root], [iter(sorted(calls.get(root, ())))]
        state[root] = 1
        while stack:
            callee = next(stack[-1], None)
            if callee is None:
                state[chain.pop()] = 2
                stack.pop()
            elif state.get(callee) == 1:
                return chain[chain.index(callee) :] + [callee]
            elif not state.get(callee):
                state[callee] = 1
                chain.append(callee)
                stack.append(iter(sorted(calls.get(callee, ()))))
    return None


def _order_problem(subgraph: Subgraph) -> str | None:
    """No op reads a tensor that it, or an op after it, writes.

    LiteRT runs ops in stored order, so such a read is a cycle in the graph (or ops out of
    order); a RESHAPE whose input is its own output used to reach the interpreter and come back
    as a memory budget problem (issue 22, finding 12).
    """
    writer = {index: op.index for op in subgraph.operators for index in op.outputs if index >= 0}
    for op in subgraph.operators:
        for index in op.inputs:
            later = writer.get(index)
            if later is None or subgraph.tensors[index].is_variable or later < op.index:
                continue
            if later == op.index:
                return f"operator {op.index} ({op.name}) reads tensor {index}, which it writes itself (a cycle in the graph)"
            return f"operator {op.index} ({op.name}) reads tensor {index} before operator {later} writes it (a cycle, or ops out of order)"
    return None


def _missing_input(subgraph: Subgraph) -> str | None:
    """Ops LiteRT runs without checking their inputs must have all the ones they read."""
    for op in subgraph.operators:
        if op.custom or op.name not in _ARITY:
            continue
        optional = _OPTIONAL_INPUTS.get(op.name, set())
        absent = [i for i, index in enumerate(op.inputs) if index < 0 and i not in optional]
        if len(op.inputs) < _ARITY[op.name] or absent:
            return f"operator {op.index} ({op.name}) lacks a required input ({len(op.inputs)} given, {absent or 'too few'} absent)"
        quantised = subgraph.tensors[op.inputs[0]].quantization is not None
        if quantised and op.name in _QUANTISED_NEEDS_BIAS and (len(op.inputs) < 3 or op.inputs[2] < 0):
            return f"operator {op.index} ({op.name}) is quantised but has no bias input"
    return None


def _mixed_quantization(subgraph: Subgraph) -> str | None:
    """Quantised kernels read every integer tensor's scale: all or none must have one.

    Custom ops are not LiteRT builtins and bring their own rules: TFLM's DECODE reads
    unquantised uint8 indices and writes the quantised tensor they encode.
    """
    for op in subgraph.operators:
        if op.custom:
            continue
        tensors = [subgraph.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
        integer = [t for t in tensors if t.dtype in _INTEGER]
        bare = [t for t in integer if t.quantization is None]
        if bare and len(bare) < len(integer):
            return f"operator {op.index} ({op.name}) mixes quantised tensors with unquantised {bare[0].dtype} tensor {bare[0].index}"
    return None

"""TensorFlow Lite Micro, for real: what it can run, how much arena it needs, what it outputs.

Three facts a microcontroller build needs come from here, all measured on the ``tflite-micro``
Python interpreter (the same C++ kernels that run on the device, reference flavour):

- which ops have a TFLM kernel, and why a model is refused (float16, hybrid, sparse, custom);
- the tensor arena: TFLM's RecordingMicroAllocator prints ``Arena allocation total N bytes``
  to the C++ stderr, which is captured at the file-descriptor level and parsed; the model is
  then loaded and run with exactly N bytes, and if that is short (planning needs temporary
  memory the recorder does not count) the smallest working size is found by bisection;
- the outputs, to compare with LiteRT's reference kernels on real inputs.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from edgekit.errors import ModelError, ToolError
from edgekit.tflite.graph import OpTensors, TFLiteGraph, read_tflite

TFLM_PIP = "pip install tflite-micro"

# Builtin op -> MicroMutableOpResolver method (tflite-micro's micro_mutable_op_resolver.h).
# Only ops with a kernel in TFLM are listed; everything else is refused by check().
BUILTIN_METHODS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin", "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "EQUAL": "AddEqual",
    "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOG_SOFTMAX": "AddLogSoftmax", "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D", "MAXIMUM": "AddMaximum", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2",
    "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound", "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape",
    "SIN": "AddSin", "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf",
    "TANH": "AddTanh", "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}  # fmt: skip

# Custom ops TFLM ships a kernel for (custom code -> resolver method).
CUSTOM_METHODS: dict[str, str] = {
    "ethos-u": "AddEthosU",
    "TFLM_DECODE": "AddDecode",  # LUT-compressed tensors (tflite-micro's compressor)
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
}

FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")
WEIGHT_TYPES = ("int8", "uint8", "int4", "int16")
ARENA_LIMIT = 512 * 1024 * 1024
MAX_PROBE_RESTARTS = 40
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_ARENA_PART = re.compile(r"Arena allocation (head|tail) (\d+) bytes")


def resolver_method(op: OpTensors) -> str | None:
    """The ``MicroMutableOpResolver`` call that registers ``op``, or None if TFLM has none."""
    return (CUSTOM_METHODS if op.custom else BUILTIN_METHODS).get(op.name)


def refusals(graph: TFLiteGraph) -> list[tuple[str, str]]:
    """``(op, reason)`` for everything in ``graph`` that TFLM cannot run; empty when it can.

    Read from the flatbuffer alone (:mod:`edgekit.tflite.graph`): no tflite-micro needed.
    """
    found: dict[tuple[str, str], None] = {}
    if graph.sparse_tensor_count or any(op.name == "DENSIFY" for op in graph.all_ops):
        found[("DENSIFY", "sparse tensors (DENSIFY): TFLM cannot read sparse weights; convert without sparsity")] = None
    for op in graph.all_ops:
        reason = _refusal(op)
        if reason:
            found[(op.name, reason)] = None
    return list(found)


def _refusal(op: OpTensors) -> str:
    if op.name == "DENSIFY":
        return ""  # reported once for the whole graph
    if "float16" in op.input_types + op.output_types:
        return "float16 tensors: TFLM has no float16 kernels (DEQUANTIZE takes int8/int16/uint8 only); use int8"
    if _is_hybrid(op):
        return "hybrid (dynamic-range) op: int8 weights with float activations have no TFLM kernel; use full int8"
    if resolver_method(op) is None:
        kind = "custom op" if op.custom else "builtin op"
        return f"{kind} with no TFLM kernel"
    return ""


def _is_hybrid(op: OpTensors) -> bool:
    if op.name in ("DEQUANTIZE", "QUANTIZE"):
        return False
    pairs = list(zip(op.input_types, op.constant_inputs))
    float_activation = any(t in FLOAT_TYPES and not const for t, const in pairs)
    integer_weight = any(t in WEIGHT_TYPES and const for t, const in pairs)
    return float_activation and integer_weight


# --- running the interpreter -------------------------------------------------------------


def _runtime():
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise ToolError(f"tflite-micro is not installed ({exc})", hint=TFLM_PIP) from exc
    return runtime


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Collect what C/C++ code writes to fd 2 while the block runs (appended on exit)."""
    sink: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as temp:
        os.dup2(temp.fileno(), 2)
        try:
            yield sink
        finally:
            _flush_c_stdio()
            os.dup2(saved, 2)
            os.close(saved)
            temp.seek(0)
            sink.append(temp.read().decode("utf-8", "replace"))


@functools.cache
def _libc():
    return ctypes.CDLL(None)


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):
        _libc().fflush(None)


def load(model_bytes: bytes, arena_size: int):
    """A TFLM interpreter with ``arena_size`` bytes of arena; ModelError (with TFLM's log) if it fails."""
    runtime = _runtime()
    with captured_native_stderr() as log:
        try:
            return runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=int(arena_size))
        except (RuntimeError, ValueError) as exc:
            error = exc
    raise ModelError(f"tflite_micro cannot load the model with a {arena_size}-byte arena: {error}; {_summary(log)}")


def preserved_tensors(model_bytes: bytes, locations: list[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """The values of tensors ``(subgraph, index)`` after one all-zeros inference, every tensor
    kept in its own memory (TFLM's kPreserveAllTensors), e.g. to read what DECODE wrote."""
    runtime = _runtime()
    arena = roomy_arena(read_tflite(model_bytes))
    with captured_native_stderr() as log:
        try:
            interpreter = runtime.Interpreter.from_bytes(
                bytes(model_bytes), arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"tflite_micro cannot load the model keeping all tensors: {exc}; {_summary(log)}") from None
    invoke_zeros(interpreter)
    values = {}
    for subgraph, index in locations:
        found = interpreter.GetTensor(index, subgraph)
        values[(subgraph, index)] = np.asarray(found["tensor_data"] if isinstance(found, dict) else found)
    return values


def roomy_arena(graph: TFLiteGraph) -> int:
    """An arena with room for every tensor at once plus 1 MiB: for checks, not for shipping."""
    return (1 << 20) + 2 * sum(_tensor_bytes(graph, t) for s in graph.subgraphs for t in s.tensors)


def _tensor_bytes(graph: TFLiteGraph, tensor) -> int:
    if graph.is_constant(tensor):
        return 0
    return int(np.prod(tensor.shape, dtype=np.int64)) * 8 if tensor.shape else 8  # 8: the widest element


def _summary(log: list[str]) -> str:
    lines = [line.strip() for line in "".join(log).splitlines() if line.strip()]
    return " / ".join(lines[:6]) or "no log"


@dataclass(frozen=True)
class Arena:
    """TFLM's tensor arena for one model: the recorded figure and the smallest that works."""

    total: int  # bytes: the smallest arena that loads and runs the model (declare this one)
    recorded: int  # the RecordingMicroAllocator's "Arena allocation total"
    head: int  # non-persistent: the activation plan
    tail: int  # persistent: tensor structs, kernel data, quantisation params

    def to_dict(self) -> dict[str, int]:
        return {
            "arena_bytes": self.total,
            "arena_recorded_bytes": self.recorded,
            "arena_head_bytes": self.head,
            "arena_tail_bytes": self.tail,
        }


def measure_arena(model_bytes: bytes, *, timeout: float = 600.0) -> Arena:
    """The recorded arena and the smallest arena that loads and runs the model.

    The recorded total leaves out temporary memory used while planning, so for some models
    (MLPerf Tiny's AD autoencoder) exactly that many bytes is not enough; the smallest working
    size is then found by bisection. The search runs in a child process
    (:mod:`edgekit.targets._arena_probe`) because some kernels crash on a short arena; a probe that
    crashed counts as failed and the search resumes from what was learnt.
    """
    _runtime()  # a missing tflite-micro is a ToolError here, not a failed child
    lower, upper, recorded = 0, 0, None
    with tempfile.TemporaryDirectory(prefix="edgekit-arena-") as temp:
        path = os.path.join(temp, "model.tflite")
        with open(path, "wb") as handle:
            handle.write(model_bytes)
        for _ in range(MAX_PROBE_RESTARTS):
            done = _run_probe(path, lower, upper, timeout)
            found = _probe_results(done.stdout)
            recorded = found["recorded"] or recorded
            if done.returncode == 0 and found["smallest"] and recorded:
                return Arena(total=found["smallest"], recorded=recorded[0], head=recorded[1], tail=recorded[2])
            if done.returncode < 0 and found["pending"] is None:
                raise ToolError(f"tflite_micro crashed (signal {-done.returncode}) while recording the arena: {_tail(done)}")
            if done.returncode == -signal.SIGABRT and found["pending"] and found["pending"] >= roomy_arena(read_tflite(model_bytes)):
                # An abort with room for every tensor is a kernel's CHECK, not a short arena.
                raise ModelError(
                    f"tflite_micro aborts while preparing the model even with a {found['pending']:,}-byte arena "
                    "(a kernel's check failed while preparing an op, not a short arena)",
                    hint="this model does not run in TFLite Micro as converted; try the ethos-u or cpu target, or another architecture",
                )
            if done.returncode >= 0:
                raise ModelError(f"tflite_micro cannot run the model at any arena size: {_tail(done)}")
            lower = max([lower, found["pending"], *found["fail"]])
            upper = min(found["ok"] or [upper]) if (found["ok"] or upper) else 0
    raise ToolError(f"tflite_micro kept crashing while measuring the arena ({MAX_PROBE_RESTARTS} restarts)")


def _run_probe(path: str, lower: int, upper: int, timeout: float) -> subprocess.CompletedProcess:
    import edgekit  # the child imports the same edgekit as this process (a checkout or an install)

    root = os.path.dirname(os.path.dirname(os.path.abspath(edgekit.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "edgekit.targets._arena_probe", path, "--lower", str(lower), "--upper", str(upper)]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"measuring the TFLM arena took over {timeout:g} s") from exc


def _probe_results(stdout: str) -> dict:
    found: dict = {"ok": [], "fail": [], "pending": None, "recorded": None, "smallest": None}
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        numbers = [int(n) for n in rest.split() if n.isdigit()]
        if word == "try" and numbers:
            found["pending"] = numbers[0]
        elif word in ("ok", "fail") and numbers:
            found[word].append(numbers[0])
            found["pending"] = None
        elif word == "recorded" and len(numbers) == 3:
            found["recorded"] = tuple(numbers)
        elif word == "smallest" and numbers:
            found["smallest"] = numbers[0]
    return found


def _tail(done: subprocess.CompletedProcess) -> str:
    """The child's last words, without the traceback's frames: the error is what says why."""
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith(("Traceback", "File ", "^")) and not set(line) <= set("^~ ")]
    return " / ".join(said[-3:]) or f"exit {done.returncode}"


def works(model_bytes: bytes, size: int) -> bool:
    """True when the model loads and runs once with a ``size``-byte arena."""
    try:
        invoke_zeros(load(model_bytes, size))
    except ModelError:
        return False
    return True


def parse_allocations(text: str) -> Arena:
    """The RecordingMicroAllocator's totals from its printed report."""
    total = _ARENA_TOTAL.search(text)
    if total is None:
        raise ToolError("tflite_micro printed no 'Arena allocation total' line", hint="check the tflite-micro version")
    parts = dict((name, int(value)) for name, value in _ARENA_PART.findall(text))
    value = int(total.group(1))
    return Arena(total=value, recorded=value, head=parts.get("head", 0), tail=parts.get("tail", 0))


def invoke_zeros(interpreter) -> None:
    """One inference on an all-zeros input, so every kernel has prepared and run."""
    detail = interpreter.get_input_details(0)
    run(interpreter, np.zeros((1, *detail["shape"]), dtype=detail["dtype"]))


def run(interpreter, inputs: np.ndarray) -> np.ndarray:
    """Raw outputs of output 0 for each row of ``inputs`` (already in the input's dtype)."""
    return run_all(interpreter, [inputs], 1)


def run_all(interpreter, inputs: list[np.ndarray], outputs: int) -> np.ndarray:
    """Every output of every inference, flattened and side by side: (N, total output elements).

    ``inputs`` holds one array per model input, rows in the input's dtype; comparing two
    models' results this way covers all their outputs, not only the first.
    """
    details = [interpreter.get_input_details(i) for i in range(len(inputs))]
    rows = []
    with captured_native_stderr() as log:
        try:
            for n in range(len(inputs[0])):
                for i, (detail, batch) in enumerate(zip(details, inputs)):
                    interpreter.set_input(np.asarray(batch[n], dtype=detail["dtype"]).reshape(tuple(detail["shape"])), i)
                interpreter.invoke()
                rows.append(np.concatenate([np.array(interpreter.get_output(o)).reshape(-1) for o in range(outputs)]))
        except RuntimeError as exc:
            error = exc
        else:
            error = None
    if error is not None:
        raise ModelError(f"tflite_micro failed to run the model: {error}; {_summary(log)}")
    return np.stack(rows)


def version() -> str:
    """tflite-micro's version string, for reports."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("tflite-micro")
    except PackageNotFoundError:
        return "unknown"

"""Look-up-table compression of a model's constant tensors, with TFLM's own compressor.

A microcontroller keeps the flatbuffer in flash as it is, so a kernel clustered to 16 values
still costs a byte per weight. tflite-micro's compressor
(``tflite_micro.tensorflow.lite.micro.compression``) rewrites such a tensor as k-bit indices
(k = 1..7) into a table of its values and inserts a DECODE op (custom code ``TFLM_DECODE``)
before each consumer; the decoded copy lives in the tensor arena while its consumer runs.

The bits follow from the values: a tensor with 16 distinct values gets 4-bit indices.

Which table layout works is decided by the DECODE kernel in this tflite-micro build, not by
the compressor. The kernel takes its channel count from the decoded tensor's quantization
(number of scales, along ``quantized_dimension`` 0 or the last axis) and ignores the axis the
compressor writes into the table header. So a per-channel table is decoded correctly only for
a tensor quantized per channel along that same axis, and a per-tensor table only for a tensor
with one scale (or none): per-channel tables on the sample's per-tensor dense kernel (rows with
different value sets) changed the outputs by up to 254, and a per-tensor table on a per-channel
conv kernel by up to 149. :func:`choose` therefore follows the tensor's quantization, and every
result is still checked in the real interpreter (:mod:`edgekit.targets._mcu_fit`).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from edgekit.errors import ModelError, ToolError
from edgekit.targets._model_edit import edit_model
from edgekit.targets._tflm import TFLM_PIP
from edgekit.tflite.graph import Tensor, TFLiteGraph, read_tflite

DECODE_OP = "TFLM_DECODE"
MAX_BITS = 7
DCM_BYTES = 16  # the DECODE common metadata header in front of each value table
DECODE_OVERHEAD = 160  # flatbuffer bytes per DECODE (op, two tensors, buffers) besides names
DECODED_SUFFIX = "_decoded"
ANCILLARY_SUFFIX = "_ancillary"
_DTYPES = ("float32", "int8", "int16", "int32", "int64", "bool")  # what the LUT decoder writes


@dataclass(frozen=True)
class Choice:
    """One constant tensor: how it would be compressed, or why it is left as it is."""

    subgraph: int
    tensor: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    bytes_before: int
    axis: int | None = None  # per-channel table axis; None: one table for the tensor
    values: int = 0  # distinct values in the largest table
    bits: int = 0
    reason: str = ""  # why it is left uncompressed ("" while it is a candidate)

    @property
    def candidate(self) -> bool:
        return not self.reason

    @property
    def tables(self) -> str:
        return "per tensor" if self.axis is None else f"per channel (axis {self.axis})"

    def predicted_bytes(self) -> int:
        """Index bits plus header and value tables, as the compressor lays them out."""
        count = int(np.prod(self.shape)) if self.shape else 1
        tables = 1 if self.axis is None else self.shape[self.axis]
        item = np.dtype(self.dtype).itemsize
        return math.ceil(count * self.bits / 8) + DCM_BYTES + tables * self.values * item

    def left(self, reason: str) -> "Choice":
        return replace(self, reason=reason)

    def to_dict(self) -> dict:
        out = {
            "subgraph": self.subgraph,
            "tensor": self.tensor,
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "tables": self.tables,
            "values": self.values,
            "bits": self.bits,
            "bytes_before": self.bytes_before,
        }
        return {**out, "compressed": False, "reason": self.reason} if self.reason else out


def choose(graph: TFLiteGraph) -> list[Choice]:
    """Every constant tensor big enough to matter, with its table layout and bits, or a reason."""
    shared = Counter(t.buffer for s in graph.subgraphs for t in s.tensors if graph.is_constant(t))
    fixed = _must_stay_constant(graph.data)
    choices = []
    for subgraph in graph.subgraphs:
        for tensor in subgraph.tensors:
            values = graph.constant(tensor)
            if values is None or values.size < 2:
                continue
            choice = _choice(subgraph.index, tensor, values)
            if choice.candidate and shared[tensor.buffer] > 1:
                choice = choice.left(f"shares its buffer with {shared[tensor.buffer] - 1} other tensor(s)")
            if choice.candidate and (subgraph.index, tensor.index) in fixed:
                choice = choice.left(fixed[(subgraph.index, tensor.index)])
            choices.append(choice)
    return choices


def _choice(subgraph: int, tensor: Tensor, values: np.ndarray) -> Choice:
    base = Choice(subgraph=subgraph, tensor=tensor.index, name=tensor.name, shape=tuple(values.shape), dtype=tensor.dtype, bytes_before=values.nbytes)
    if tensor.dtype not in _DTYPES:
        return base.left(f"{tensor.dtype} tensors have no LUT decoder")
    axis = _table_axis(tensor, values)
    if isinstance(axis, str):
        return base.left(axis)
    tables = [values] if axis is None else [np.take(values, i, axis=axis) for i in range(values.shape[axis])]
    distinct = max(len(np.unique(t)) for t in tables)
    choice = replace(base, axis=axis, values=distinct, bits=max(1, math.ceil(math.log2(distinct))))
    if choice.bits > MAX_BITS:
        return choice.left(f"{distinct} distinct values {choice.tables}: more than the {2**MAX_BITS} a {MAX_BITS}-bit table holds")
    after = choice.predicted_bytes() + DECODE_OVERHEAD + 2 * len(tensor.name.encode())
    if after >= choice.bytes_before:
        return choice.left(f"no flash saved: {after:,} bytes with tables and DECODE against {choice.bytes_before:,}")
    return choice


def _table_axis(tensor: Tensor, values: np.ndarray) -> int | None | str:
    """The axis the DECODE kernel reads channels along (see the module docstring), or why none."""
    q = tensor.quantization
    if q is None or not q.per_channel:
        return None
    axis = q.quantized_dimension
    if axis not in (0, values.ndim - 1) or values.shape[axis] != len(q.scale):
        return f"quantized per channel along axis {axis}: the LUT decoder reads channels along axis 0 or the last only"
    return axis


def _must_stay_constant(model_bytes: bytes) -> dict[tuple[int, int], str]:
    """Inputs TFLM kernels read in Prepare (paddings, perm, axis...), by TFLM's own table."""
    constant_inputs, model_editor, _ = _compression()
    model = model_editor.read(bytes(model_bytes))
    found = {}
    for s, subgraph in enumerate(model.subgraphs):
        for t, tensor in enumerate(subgraph.tensors):
            uses = constant_inputs.find_uses(subgraph, tensor)
            if uses:
                found[(s, t)] = "must stay constant: " + "; ".join(use.describe() for use in uses)
    return found


def _compression():
    try:
        from tflite_micro.tensorflow.lite.micro import compression
        from tflite_micro.tensorflow.lite.micro.compression import constant_inputs, model_editor
    except ImportError as exc:
        raise ToolError(f"tflite-micro's compressor is not available ({exc})", hint=TFLM_PIP) from exc
    return constant_inputs, model_editor, compression


def compress(model_bytes: bytes, choices: list[Choice]) -> bytes:
    """The model with ``choices`` LUT-compressed by tflite-micro's compressor (ModelError if it refuses)."""
    _, _, compression = _compression()
    from tflite_micro.tensorflow.lite.micro.compression import spec

    specs = [
        spec.Tensor(
            subgraph=c.subgraph,
            tensor=c.tensor,
            compression=[spec.LookUpTableCompression(index_bitwidth=c.bits, mode=spec.PerTensor() if c.axis is None else spec.PerChannel(axis=c.axis))],
        )
        for c in choices
    ]
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            compressed = bytes(compression.compress(bytes(model_bytes), specs))
        except Exception as exc:  # the compressor's CompressionError, or a bug it wraps
            raise ModelError(f"tflite-micro's compressor refused {', '.join(c.name for c in choices)[:200]}: {exc}") from exc
    return _without_stale_quantization(compressed)


def _without_stale_quantization(model_bytes: bytes) -> bytes:
    """Drop the quantisation the compressor leaves on each encoded (uint8 index) tensor.

    tflite-micro's model editor keeps a tensor's old quantisation when it is set to None, so a
    per-channel conv kernel's indices still claim 32 scales along axis 0 of a flat byte vector;
    the DECODE kernel reads only its output's quantisation, and readers that check the file
    (``edgekit inspect``) would call it damaged. Unpacked and packed with tflite-micro's schema
    object API, then aligned by tflite-micro's own aligner, as its compressor does.
    """
    graph = read_tflite(model_bytes)
    stale = [(s.index, i) for s, op in graph.operators() if op.name == DECODE_OP for i in op.inputs[0::2] if s.tensors[i].quantization]
    if not stale:
        return model_bytes

    def drop(model) -> None:
        for subgraph, tensor in stale:
            model.subgraphs[subgraph].tensors[tensor].quantization = None

    return edit_model(model_bytes, drop)


def decoded_tensors(compressed: TFLiteGraph) -> dict[str, list[tuple[int, int]]]:
    """Original tensor name -> the (subgraph, index) of every DECODE output that restores it."""
    found: dict[str, list[tuple[int, int]]] = {}
    for subgraph, op in compressed.operators():
        if op.name != DECODE_OP:
            continue
        encoded = [subgraph.tensors[i] for i in op.inputs[0::2]]
        for source, output in zip(encoded, op.outputs):
            found.setdefault(source.name, []).append((subgraph.index, output))
    return found


def stored_bytes(compressed: TFLiteGraph) -> dict[str, int]:
    """Original tensor name -> flash bytes its indices and value table take in the compressed file."""
    sizes: dict[str, int] = {}
    counted: set[int] = set()
    for subgraph, op in compressed.operators():
        if op.name != DECODE_OP:
            continue
        for encoded, ancillary in zip(op.inputs[0::2], op.inputs[1::2]):
            tensors = [subgraph.tensors[encoded], subgraph.tensors[ancillary]]
            new = [t for t in tensors if t.buffer not in counted]
            counted.update(t.buffer for t in new)
            name = tensors[0].name
            sizes[name] = sizes.get(name, 0) + sum(_buffer_size(compressed, t) for t in new)
    return sizes


def _buffer_size(graph: TFLiteGraph, tensor: Tensor) -> int:
    start, end = graph.buffers[tensor.buffer]
    return end - start


def decoded_values_match(compressed_bytes: bytes, original: TFLiteGraph, names: list[str]) -> dict[str, str]:
    """Run the compressed model once with every tensor kept, and compare each decoded tensor
    with the original constant, element for element. Returns {name: problem} for mismatches."""
    from edgekit.targets import _tflm

    compressed = read_tflite(compressed_bytes)
    originals = {t.name: original.constant(t) for s in original.subgraphs for t in s.tensors if t.name in names}
    where = decoded_tensors(compressed)
    values = _tflm.preserved_tensors(compressed_bytes, [loc for name in names for loc in where.get(name, [])])
    problems = {}
    for name in names:
        if not where.get(name):
            problems[name] = "no DECODE output restores it"
            continue
        for location in where[name]:
            decoded = values[location]
            if decoded.size != originals[name].size or not np.array_equal(decoded.reshape(-1), originals[name].reshape(-1)):
                problems[name] = "the decoded values differ from the stored ones"
    return problems

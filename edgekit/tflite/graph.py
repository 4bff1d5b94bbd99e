"""Read a .tflite flatbuffer without TensorFlow or an interpreter: ops, tensors, buffers.

Target checks and ``edgekit inspect`` need the graph as stored — op options such as the fused
activation, shape signatures, quantisation, constant data, sparse tensors, metadata entries —
on machines that have neither TensorFlow, LiteRT nor tflite-micro (an interpreter hides what
a microcontroller check must see: LiteRT densifies sparse weights and dequantizes float16 on
load). The schema facts come from ``edgekit.tflite._schema`` (generated from
the TFLite schema); every offset is bounds-checked, so a truncated or foreign file raises a
:class:`~edgekit.errors.ModelError` naming the problem instead of crashing or reading garbage.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from edgekit.errors import ModelError
from edgekit.tflite._schema import ENUMS, TABLES, UNIONS

__all__ = ["Operator", "OpTensors", "Quantization", "read_tflite", "Signature", "Subgraph", "Tensor", "TFLiteGraph"]

IDENTIFIER = b"TFL3"
_SCALAR = {
    "Bool": "<?", "Int8": "<b", "Uint8": "<B", "Int16": "<h", "Uint16": "<H", "Int32": "<i",
    "Uint32": "<I", "Int64": "<q", "Uint64": "<Q", "Float32": "<f", "Float64": "<d",
}  # fmt: skip
_NUMPY = {"FLOAT16": "<f2", "FLOAT32": "<f4", "FLOAT64": "<f8", "INT8": "i1", "UINT8": "u1", "INT16": "<i2",
          "UINT16": "<u2", "INT32": "<i4", "UINT32": "<u4", "INT64": "<i8", "UINT64": "<u8", "BOOL": "?"}  # fmt: skip
_ENUM_FIELDS = {"fused_activation_function": "ActivationFunctionType", "padding": "Padding"}


class _Malformed(Exception):
    """A structural problem in the flatbuffer; becomes a ModelError at the boundary."""


@dataclass(frozen=True)
class Quantization:
    """Affine quantisation of a tensor: real = scale * (q - zero_point), per tensor or per axis."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_dict(self) -> dict:
        if self.per_channel:
            return {"per_channel": len(self.scale), "axis": self.quantized_dimension}
        return {"scale": self.scale[0], "zero_point": self.zero_point[0] if self.zero_point else 0}


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph as stored: static shape, signature (-1 = dynamic), dtype."""

    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    buffer: int
    quantization: Quantization | None
    is_variable: bool = False
    sparse: bool = False

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape_signature)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape_signature),
            "dtype": self.dtype,
            "quantization": self.quantization.to_dict() if self.quantization else None,
        }


@dataclass(frozen=True)
class Operator:
    """One op: its kind, version, tensor indices (-1 = optional input absent) and options."""

    index: int
    name: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options_type: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    custom: bool = False

    @property
    def fused_activation(self) -> str | None:
        """``NONE``, ``RELU``, ``RELU6``, ... or None when the op has no such option."""
        return self.options.get("fused_activation_function")


@dataclass(frozen=True)
class Signature:
    """A SignatureDef as stored: its key, the subgraph it runs and {name: tensor index} of its
    inputs and outputs. Nothing here is checked against the subgraphs: the verifier does that
    (LiteRT follows these indices without a bounds check)."""

    key: str
    subgraph: int
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Subgraph:
    index: int
    name: str
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: tuple[Operator, ...]


@dataclass(frozen=True)
class OpTensors:
    """One op with the dtypes of its tensors and which inputs are stored constants.

    What a microcontroller check asks of each op: float16 anywhere, or integer weights feeding
    float activations (a hybrid op), have no TFLM kernel. Absent optional inputs are left out.
    """

    subgraph: int
    name: str
    custom: bool
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    constant_inputs: tuple[bool, ...]


@dataclass(frozen=True)
class TFLiteGraph:
    """A parsed model. ``main`` is subgraph 0, the one the interpreter runs."""

    size: int
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    buffers: tuple[tuple[int, int], ...]  # (start, end) of each buffer's bytes in the file
    signatures: tuple[str, ...]
    data: bytes = field(repr=False)
    metadata: Mapping[str, int] = field(default_factory=dict)  # Model.metadata: name -> buffer index
    signature_defs: tuple[Signature, ...] = ()

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    def op_counts(self, subgraph: int = 0) -> dict[str, int]:
        """How many ops of each kind, sorted by name."""
        return dict(sorted(Counter(op.name for op in self.subgraphs[subgraph].operators).items()))

    def operators(self) -> Iterator[tuple[Subgraph, Operator]]:
        """Every op of every subgraph, in order: control-flow bodies run on the device too."""
        for subgraph in self.subgraphs:
            for op in subgraph.operators:
                yield subgraph, op

    @cached_property
    def all_ops(self) -> tuple[OpTensors, ...]:
        """Every op of every subgraph with its tensors' dtypes and constant flags."""
        return tuple(self._op_tensors(subgraph, op) for subgraph, op in self.operators())

    @property
    def sparse_tensor_count(self) -> int:
        """Tensors stored in a sparse format (they reach their op through DENSIFY)."""
        return sum(t.sparse for subgraph in self.subgraphs for t in subgraph.tensors)

    def metadata_bytes(self, name: str) -> bytes | None:
        """The buffer a ``Model.metadata`` entry names (``OfflineMemoryAllocation``...), or None."""
        index = self.metadata.get(name)
        if index is None or index >= len(self.buffers):
            return None
        start, end = self.buffers[index]
        return self.data[start:end]

    def _op_tensors(self, subgraph: Subgraph, op: Operator) -> OpTensors:
        inputs = [subgraph.tensors[i] for i in op.inputs if i >= 0]
        outputs = [subgraph.tensors[i] for i in op.outputs if i >= 0]
        return OpTensors(
            subgraph=subgraph.index,
            name=op.name,
            custom=op.custom,
            input_types=tuple(t.dtype for t in inputs),
            output_types=tuple(t.dtype for t in outputs),
            constant_inputs=tuple(self.is_constant(t) for t in inputs),
        )

    def is_constant(self, tensor: Tensor) -> bool:
        """True when the tensor's values are stored in the file (weights, shapes, axes)."""
        start, end = self.buffers[tensor.buffer]
        return tensor.buffer > 0 and end > start

    def constant(self, tensor: Tensor) -> np.ndarray | None:
        """A stored tensor's values, or None for activations and unreadable dtypes."""
        if not self.is_constant(tensor) or tensor.dtype.upper() not in _NUMPY:
            return None
        start, end = self.buffers[tensor.buffer]
        dtype = np.dtype(_NUMPY[tensor.dtype.upper()])
        count = int(np.prod(tensor.shape)) if tensor.shape else 1
        if dtype.itemsize * count > end - start:
            return None
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start).reshape(tensor.shape)


def read_tflite(model: bytes | bytearray | str | Path) -> TFLiteGraph:
    """Parse ``model`` (bytes or a path), checking the identifier and every offset."""
    data, where = _load(model)
    try:
        return _parse(data)
    except (_Malformed, struct.error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelError(
            f"{where}: malformed TFLite flatbuffer ({exc})",
            hint="the file is truncated or damaged; export the model again",
        ) from None


def _load(model) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        data, where = bytes(model), "model bytes"
    else:
        path = Path(model)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file", hint="check the path")
        data, where = path.read_bytes(), str(path)
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ModelError(
            f"{where}: not a TFLite model (no 'TFL3' identifier)",
            hint="pass a .tflite file produced by a TFLite/LiteRT converter",
        )
    return data, where


class _Reader:
    """Bounds-checked access to flatbuffer tables, vectors and strings, driven by TABLES."""

    def __init__(self, data: bytes):
        self.data = data

    def scalar(self, fmt: str, pos: int):
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.data):
            raise _Malformed(f"offset {pos} is outside the file ({len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def follow(self, pos: int) -> int:
        """The absolute position an unsigned 32-bit offset at ``pos`` points to."""
        return pos + self.scalar("<I", pos)

    def field_pos(self, table: int, vtable_offset: int) -> int | None:
        vtable = table - self.scalar("<i", table)
        size = self.scalar("<H", vtable)
        if size < 4 or vtable_offset >= size:
            return None
        offset = self.scalar("<H", vtable + vtable_offset)
        return table + offset if offset else None

    def vector(self, pos: int, width: int) -> tuple[int, int]:
        """(first element position, length) of the vector referenced at ``pos``."""
        start = self.follow(pos)
        length = self.scalar("<I", start)
        if start + 4 + length * width > len(self.data):
            raise _Malformed(f"a vector of {length} elements at {start} runs past the end of the file")
        return start + 4, length

    def string(self, pos: int) -> str:
        start, length = self.vector(pos, 1)
        return self.data[start : start + length].decode("utf-8")

    def table(self, pos: int, name: str, *, skip: tuple[str, ...] = ()) -> dict:
        """Every field of table ``name`` at ``pos`` (absent fields take their defaults)."""
        values: dict[str, Any] = {}
        for fname, voffset, kind, default in TABLES[name]:
            if fname in skip:
                continue
            where = self.field_pos(pos, voffset)
            values[fname] = default if where is None else self.value(where, kind, name, fname, values)
        return values

    def value(self, where: int, kind: str, table: str, fname: str, seen: dict):
        if kind in _SCALAR:
            return self.scalar(_SCALAR[kind], where)
        if kind == "string":
            return self.string(where)
        if kind == "union":
            return self.union(where, table, fname, seen)
        if kind.startswith("["):
            return self.vector_values(where, kind[1:-1])
        if kind in TABLES:
            return self.table(self.follow(where), kind)
        return {}  # present, but a table edgekit does not read (a tensor's sparsity details)

    def vector_values(self, where: int, kind: str):
        if kind in _SCALAR:
            fmt = _SCALAR[kind]
            start, length = self.vector(where, struct.calcsize(fmt))
            return struct.unpack_from(f"<{length}{fmt[1:]}", self.data, start)
        start, length = self.vector(where, 4)
        if kind == "string":
            return tuple(self.string(start + 4 * i) for i in range(length))
        if kind not in TABLES:
            return ()
        return tuple(self.table(self.follow(start + 4 * i), kind) for i in range(length))

    def union(self, where: int, table: str, fname: str, seen: dict):
        enum = UNIONS.get((table, fname))
        member = ENUMS.get(enum, {}).get(seen.get(f"{fname}_type", 0)) if enum else None
        if member is None or member not in TABLES:
            return None
        options = self.table(self.follow(where), member)
        options = {k: ENUMS[_ENUM_FIELDS[k]].get(v, v) if k in _ENUM_FIELDS else v for k, v in options.items()}
        return member, options


def _parse(data: bytes) -> TFLiteGraph:
    reader = _Reader(data)
    model = reader.table(reader.follow(0), "Model", skip=("buffers", "external_buffer_groups", "external_buffers"))
    buffers = tuple(_buffer_span(reader, b) for b in _buffer_positions(reader))
    opcodes = tuple(_opcode(code) for code in model["operator_codes"] or ())
    subgraphs = tuple(_subgraph(i, sg, opcodes, len(buffers)) for i, sg in enumerate(model["subgraphs"] or ()))
    if not subgraphs:
        raise _Malformed("the model has no subgraph")
    return TFLiteGraph(
        size=len(data),
        version=model["version"],
        description=model["description"] or "",
        subgraphs=subgraphs,
        buffers=buffers,
        signatures=tuple(s["signature_key"] or "" for s in model["signature_defs"] or ()),
        data=data,
        metadata={m["name"] or "": m["buffer"] for m in model["metadata"] or ()},
        signature_defs=tuple(_signature(s) for s in model["signature_defs"] or ()),
    )


def _signature(s: dict) -> Signature:
    def tensors(maps) -> tuple[tuple[str, int], ...]:
        return tuple((m["name"] or "", m["tensor_index"]) for m in maps or ())

    return Signature(s["signature_key"] or "", s["subgraph_index"], tensors(s["inputs"]), tensors(s["outputs"]))


def _buffer_positions(reader: _Reader) -> list[int]:
    """Positions of the Buffer tables (read apart from Model so their bytes are not copied)."""
    root = reader.follow(0)
    voffset = next(v for name, v, _, _ in TABLES["Model"] if name == "buffers")
    where = reader.field_pos(root, voffset)
    if where is None:
        return []
    start, length = reader.vector(where, 4)
    return [reader.follow(start + 4 * i) for i in range(length)]


def _buffer_span(reader: _Reader, pos: int) -> tuple[int, int]:
    """(start, end) of a buffer's bytes: inline data, or offset/size past the flatbuffer (>2 GB models)."""
    fields = {name: (voffset, kind) for name, voffset, kind, _ in TABLES["Buffer"]}
    where = reader.field_pos(pos, fields["data"][0])
    if where is not None:
        start, length = reader.vector(where, 1)
        return start, start + length
    offset_at, size_at = reader.field_pos(pos, fields["offset"][0]), reader.field_pos(pos, fields["size"][0])
    offset = reader.scalar("<Q", offset_at) if offset_at is not None else 0
    size = reader.scalar("<Q", size_at) if size_at is not None else 0
    if offset > 1 and offset + size > len(reader.data):
        raise _Malformed(f"a buffer at offset {offset} of {size} bytes runs past the end of the file")
    return (offset, offset + size) if offset > 1 else (0, 0)


def _opcode(code: dict) -> tuple[str, int, bool]:
    builtin = max(code["deprecated_builtin_code"], code["builtin_code"])
    if ENUMS["BuiltinOperator"].get(builtin) == "CUSTOM":
        return code["custom_code"] or "CUSTOM", code["version"], True
    return ENUMS["BuiltinOperator"].get(builtin, f"BUILTIN_{builtin}"), code["version"], False


def _subgraph(index: int, sg: dict, opcodes, buffer_count: int) -> Subgraph:
    tensors = tuple(_tensor(i, t, buffer_count) for i, t in enumerate(sg["tensors"] or ()))
    operators = tuple(_operator(i, op, opcodes, len(tensors)) for i, op in enumerate(sg["operators"] or ()))
    inputs, outputs = tuple(sg["inputs"] or ()), tuple(sg["outputs"] or ())
    _check_indices(inputs + outputs, len(tensors), f"subgraph {index} inputs/outputs")
    return Subgraph(index, sg["name"] or "", tensors, inputs, outputs, operators)


def _tensor(index: int, t: dict, buffer_count: int) -> Tensor:
    if t["buffer"] >= max(buffer_count, 1):
        raise _Malformed(f"tensor {index} refers to buffer {t['buffer']} of {buffer_count}")
    shape = tuple(t["shape"] or ())
    return Tensor(
        index=index,
        name=t["name"] or f"tensor_{index}",
        shape=shape,
        shape_signature=tuple(t["shape_signature"] or shape),
        dtype=ENUMS["TensorType"].get(t["type"], f"type_{t['type']}").lower(),
        buffer=t["buffer"],
        quantization=_quantization(t["quantization"]),
        is_variable=bool(t["is_variable"]),
        sparse=t.get("sparsity") is not None,
    )


def _quantization(q: dict | None) -> Quantization | None:
    if not q or not q["scale"]:
        return None
    return Quantization(tuple(q["scale"]), tuple(q["zero_point"] or ()), q["quantized_dimension"])


def _operator(index: int, op: dict, opcodes, tensor_count: int) -> Operator:
    if op["opcode_index"] >= len(opcodes):
        raise _Malformed(f"operator {index} uses opcode {op['opcode_index']} of {len(opcodes)}")
    name, version, custom = opcodes[op["opcode_index"]]
    inputs, outputs = tuple(op["inputs"] or ()), tuple(op["outputs"] or ())
    _check_indices(inputs + outputs, tensor_count, f"operator {index} ({name})")
    options_type, options = op["builtin_options"] or op["builtin_options2"] or ("", {})
    return Operator(index, name, version, inputs, outputs, options_type, options, custom)


def _check_indices(indices, count: int, what: str) -> None:
    bad = [i for i in indices if i < -1 or i >= count]
    if bad:
        raise _Malformed(f"{what} refers to tensor {bad[0]} of {count}")

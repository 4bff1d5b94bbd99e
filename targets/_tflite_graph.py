"""Read a .tflite flatbuffer's operators and tensor types without running it.

Microcontroller checks are about what is stored: which builtin and custom ops, which tensor
types (float16 weights, hybrid int8-weights-with-float-activations), sparse tensors. An
interpreter either hides these (LiteRT densifies and dequantizes on load) or refuses the
model outright, so the flatbuffer is read directly with the schema bindings that ship with
``tflite-micro``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from edgekit.errors import ModelError, ToolError

TFLM_PIP = "pip install tflite-micro"


@dataclass(frozen=True)
class Op:
    """One operator: its name (builtin name or custom code) and its tensors' types."""

    name: str
    custom: bool
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    constant_inputs: tuple[bool, ...]


@dataclass(frozen=True)
class Graph:
    """Every subgraph's operators in order, plus facts about the tensors."""

    ops: tuple[Op, ...]
    tensor_types: frozenset[str]
    sparse_tensors: int
    subgraphs: int

    @property
    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]


def schema():
    """The TFLite schema bindings bundled with tflite-micro."""
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        raise ToolError(f"tflite-micro is not installed ({exc})", hint=TFLM_PIP) from exc
    return runtime.schema_fb


@functools.cache
def _enum_names(enum_name: str) -> dict[int, str]:
    enum = getattr(schema(), enum_name)
    return {value: name for name, value in vars(enum).items() if not name.startswith("_")}


def read_graph(model_bytes: bytes) -> Graph:
    """Parse ``model_bytes``; a file that is not a TFLite flatbuffer is a ModelError."""
    fb = schema()
    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise ModelError("not a TFLite model (no 'TFL3' identifier)", hint="pass a .tflite produced by the converter")
    try:
        model = fb.Model.GetRootAs(model_bytes, 0)
        codes = [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
        ops, types, sparse = [], set(), 0
        for s in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(s)
            tensors = [subgraph.Tensors(t) for t in range(subgraph.TensorsLength())]
            types.update(_type_name(t.Type()) for t in tensors)
            sparse += sum(1 for t in tensors if t.Sparsity() is not None)
            for o in range(subgraph.OperatorsLength()):
                ops.append(_op(model, subgraph.Operators(o), codes, tensors))
    except (IndexError, ValueError, TypeError, struct.error) as exc:  # truncated or corrupt flatbuffer
        raise ModelError(f"cannot parse the TFLite flatbuffer: {exc}") from exc
    return Graph(ops=tuple(ops), tensor_types=frozenset(types), sparse_tensors=sparse, subgraphs=model.SubgraphsLength())


def _op_name(code) -> tuple[str, bool]:
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _enum_names("BuiltinOperator").get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        return (code.CustomCode() or b"").decode("utf-8", "replace"), True
    return name, False


def _type_name(value: int) -> str:
    return _enum_names("TensorType").get(value, f"TYPE_{value}")


def _op(model, operator, codes, tensors) -> Op:
    name, custom = codes[operator.OpcodeIndex()]
    inputs = [i for i in (operator.InputsAsNumpy() if operator.InputsLength() else []) if i >= 0]
    outputs = [i for i in (operator.OutputsAsNumpy() if operator.OutputsLength() else []) if i >= 0]
    return Op(
        name=name,
        custom=custom,
        input_types=tuple(_type_name(tensors[i].Type()) for i in inputs),
        output_types=tuple(_type_name(tensors[i].Type()) for i in outputs),
        constant_inputs=tuple(_is_constant(model, tensors[i]) for i in inputs),
    )


def _is_constant(model, tensor) -> bool:
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
    return buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0)

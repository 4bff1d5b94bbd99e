"""Walk an ONNX graph in order and build the Keras model, one op handler per node type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import onnx

from edgekit._compat import keras
from edgekit.converters.onnx_keras import _ops_math, _ops_nn, _ops_shape, _ops_tf
from edgekit.converters.onnx_keras._values import Names, NodeProto, Value, onnx_shape, tensor_value, weight_hint
from edgekit.errors import ModelError

# Layout-neutral ops a graph input passes through before a convolution decides its layout.
_PASS_THROUGH = {"Relu", "Clip", "Add", "Sub", "Mul", "Div", "Identity", "Cast", "Sigmoid", "LeakyRelu", "HardSwish", "HardSigmoid"}
_SPATIAL = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Resize", "Upsample", "Pad"}


def _handlers() -> dict[str, Any]:
    """Keras layers first; TensorFlow functions for what has none (they also take the cases of
    Div, MatMul and ReduceMean that no layer covers, and hand the others on)."""
    return {**_ops_nn.HANDLERS, **_ops_math.HANDLERS, **_ops_shape.HANDLERS, **_ops_tf.HANDLERS}


def mapped_ops() -> list[str]:
    """Every ONNX op type the importer maps (to Keras layers, or to TensorFlow functions)."""
    return sorted(_handlers())


def tf_function_ops() -> list[str]:
    """The op types only TensorFlow functions compute (the model is then PTQ-only)."""
    return sorted(set(_ops_tf.HANDLERS) - set(_ops_nn.HANDLERS) - set(_ops_math.HANDLERS) - set(_ops_shape.HANDLERS))


class UnmappedOps(ModelError):
    """The graph has ops the importer does not map (listed, most frequent first)."""

    def __init__(self, ops: Mapping[str, int]):
        self.ops = dict(ops)
        listed = ", ".join(f"{op} x{count}" if count > 1 else op for op, count in self.ops.items())
        super().__init__(f"ops edgekit cannot import: {listed}", hint=f"edgekit maps {len(mapped_ops())} ONNX ops (docs/pytorch-onnx.md lists them)")


@dataclass(frozen=True)
class ImportedModel:
    """The Keras model and how it relates to the source.

    ``input_layouts`` / ``output_layouts`` name each tensor's layout in the Keras model
    (``NHWC`` where the source's is ``NCHW``, ``NWC`` for ``NCW``, else ``as source``);
    ``output_names`` maps each Keras output name to the source's; ``tf_ops`` counts the ops
    computed with TensorFlow functions instead of Keras layers (empty: every op is a layer,
    so the model can be fine-tuned; else it is for post-training quantisation only).
    """

    model: Any
    input_layouts: tuple[str, ...]
    output_names: Mapping[str, str]
    source_inputs: tuple[str, ...]
    tf_ops: Mapping[str, int] = field(default_factory=dict)


def import_onnx(model: onnx.ModelProto, *, name: str = "imported") -> ImportedModel:
    """The ONNX ``model`` as a tf_keras functional model of real layers.

    Raises :class:`UnmappedOps` naming every op outside the mapping before anything is built,
    and ``ModelError`` for a mapped op with settings Keras cannot express (naming the node).
    """
    graph = model.graph
    constants = {t.name: tensor_value(t) for t in graph.initializer}
    folded = _constant_nodes(graph, set(constants))
    unmapped: dict[str, int] = {}
    handlers = _handlers()
    for node in graph.node:
        if node.output[0] not in folded and node.op_type not in handlers:
            unmapped[node.op_type] = unmapped.get(node.op_type, 0) + 1
    if unmapped:
        raise UnmappedOps(dict(sorted(unmapped.items(), key=lambda item: -item[1])))
    return _Builder(model, constants, folded, handlers).build(name)


def _constant_nodes(graph: onnx.GraphProto, constants: set[str]) -> set[str]:
    """Outputs computable from constants alone (shape arithmetic, Constant nodes)."""
    known = set(constants)
    for node in graph.node:
        # A Shape is known from the static shapes (batch 1): view(x.size(0), -1) folds away.
        if node.op_type in ("Constant", "Shape") or (node.input and all(not name or name in known for name in node.input)):
            known.update(node.output)
    return known - constants


class _Builder:
    """The state of one import: values by ONNX name, layer names, consumers."""

    def __init__(self, model: onnx.ModelProto, constants: dict, folded: set[str], handlers: dict):
        self.model, self.graph, self.handlers = model, model.graph, handlers
        self.values: dict[str, Value] = {name: Value(const=array, rank=array.ndim) for name, array in constants.items()}
        self.folded = folded
        self.names = Names()
        self.keras = keras()
        self.layers = self.keras.layers
        self.consumers: dict[str, list[NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.absorbed: set[str] = set()  # first outputs of nodes folded into an earlier layer (MatMul + Add, Conv + Relu)
        self.tf_ops: dict[str, int] = {}  # op type -> nodes computed with TensorFlow functions

    # --- the walk ---------------------------------------------------------------------------

    def build(self, name: str) -> ImportedModel:
        inputs, layouts, source_inputs = self._inputs()
        for node in self.graph.node:
            if node.output[0] in self.absorbed:
                continue
            if node.output[0] in self.folded:
                self._fold(node)
                continue
            try:
                outputs = self.handlers[node.op_type](self, node)
            except ModelError as exc:
                raise ModelError(f"{node.op_type} node {node.name or node.output[0]!r}: {exc.message}", hint=exc.hint) from exc
            for out_name, value in zip(node.output, outputs):
                if out_name and value is not None:
                    self.values[out_name] = value
        outputs, output_names = self._outputs()
        model = self.keras.Model(inputs=inputs, outputs=outputs, name=self.names(name))
        return ImportedModel(model=model, input_layouts=tuple(layouts), output_names=output_names, source_inputs=tuple(source_inputs), tf_ops=dict(self.tf_ops))

    def _inputs(self) -> tuple[list, list[str], list[str]]:
        initializers = {t.name for t in self.graph.initializer}
        tensors, layouts, names = [], [], []
        for proto in self.graph.input:
            if proto.name in initializers:
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in proto.type.tensor_type.shape.dim]
            channels_last = len(dims) in (3, 4) and self._feeds_spatial(proto.name)
            shape = [*dims[2:], dims[1]] if channels_last else dims[1:]
            tensor = self.layers.Input(shape=tuple(shape), name=self.names(proto.name))
            self.values[proto.name] = Value(tensor=tensor, rank=len(dims), channels_last=channels_last)
            tensors.append(tensor)
            layouts.append({3: "NWC", 4: "NHWC"}[len(dims)] if channels_last else "as source")
            names.append(proto.name)
        return tensors, layouts, names

    def _feeds_spatial(self, name: str, depth: int = 0) -> bool:
        """Whether ``name`` reaches a convolution-like op through layout-neutral ops only."""
        for node in self.consumers.get(name, []):
            if node.op_type in _SPATIAL:
                return True
            if node.op_type in _PASS_THROUGH and depth < 8 and self._feeds_spatial(node.output[0], depth + 1):
                return True
        return False

    def _outputs(self) -> tuple[list, dict[str, str]]:
        tensors, names = [], {}
        for proto in self.graph.output:
            value = self.values.get(proto.name)
            if value is None or value.is_const:
                raise ModelError(f"output {proto.name!r} is a constant, not computed from the inputs")
            tensor = self.plain(value)
            if any(tensor is t for t in tensors):  # the same tensor twice: a named copy
                tensor = self.layers.Activation("linear", name=self.names(proto.name))(tensor)
            tensors.append(tensor)
            names[tensor.node.layer.name] = proto.name
        return tensors, names

    def _fold(self, node: NodeProto) -> None:
        """Evaluate a node whose inputs are all constants with ONNX's reference evaluator."""
        from onnx.reference import ReferenceEvaluator

        if node.op_type == "Shape":
            shape = onnx_shape(self.values[node.input[0]])
            if None in shape[1:]:
                raise ModelError(f"Shape node {node.name!r}: the graph computes with its input's size, which is dynamic here", hint="export the model with a fixed input size")
            shape = [1 if shape[0] is None else shape[0], *shape[1:]]
            self.values[node.output[0]] = Value(const=np.array(shape, dtype=np.int64), rank=1)
            return
        feeds = {name: self.values[name].const for name in node.input if name}
        try:
            results = ReferenceEvaluator(_one_node_model(node, self.model)).run(None, feeds)
        except Exception as exc:  # noqa: BLE001 - the evaluator raises whatever its op raises
            raise ModelError(f"{node.op_type} node {node.name!r}: cannot evaluate its constant inputs ({type(exc).__name__}: {exc})") from exc
        for out_name, array in zip(node.output, results):
            self.values[out_name] = Value(const=np.asarray(array), rank=np.asarray(array).ndim)

    # --- helpers the handlers use --------------------------------------------------------------

    def value(self, node: NodeProto, index: int) -> Value | None:
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.values[node.input[index]]

    def const(self, node: NodeProto, index: int, what: str) -> np.ndarray | None:
        value = self.value(node, index)
        if value is None:
            return None
        if not value.is_const:
            raise ModelError(f"its {what} is computed from the inputs; edgekit maps only a constant {what}")
        return value.const

    def name(self, node: NodeProto, fallback: str, suffix: str = "") -> str:
        """A unique layer name from the node's weights (``conv1``), else its name or ``fallback``."""
        return self.names(weight_hint(node, fallback) + suffix)

    def plain(self, value: Value):
        """The Keras tensor in the source's axis order."""
        if value.order is not None:
            if value.unflattened is None:
                raise ModelError("a flattened feature map changed after the flatten is read in the source's order; edgekit maps a Flatten that feeds a Gemm/MatMul")
            if "plain" not in value.cache:
                unflat = self.plain(value.unflattened)
                value.cache["plain"] = self.layers.Flatten(name=self.names("flatten_source_order"))(unflat)
            return value.cache["plain"]
        if not value.channels_last or value.rank < 3:
            return value.tensor
        if "plain" not in value.cache:
            dims = (value.rank - 1, *range(1, value.rank - 1))
            value.cache["plain"] = self.layers.Permute(dims, name=self.names("to_channels_first"))(value.tensor)
        return value.cache["plain"]

    def channels_last(self, value: Value):
        """The Keras tensor channels-last (a plain rank-3/4 tensor is permuted)."""
        if value.channels_last or value.rank < 3:
            return value.tensor
        if "channels_last" not in value.cache:
            dims = (*range(2, value.rank), 1)
            value.cache["channels_last"] = self.layers.Permute(dims, name=self.names("to_channels_last"))(value.tensor)
        return value.cache["channels_last"]

    def tf_route(self, node: NodeProto) -> None:
        """Record that ``node`` is computed with a TensorFlow function, not a Keras layer."""
        self.tf_ops[node.op_type] = self.tf_ops.get(node.op_type, 0) + 1

    def fused_relu(self, node: NodeProto) -> NodeProto | None:
        """The Relu that alone reads ``node``'s output, taken into the layer (``activation="relu"``,
        as Keras models are built: TF-MOT's cluster- and sparsity-preserving QAT keeps a
        Conv2D or Dense with its own activation, not one followed by a ReLU layer)."""
        follower = self.single_consumer(node.output[0])
        if follower is None or follower.op_type != "Relu":
            return None
        self.absorbed.add(follower.output[0])
        return follower

    def single_consumer(self, name: str) -> NodeProto | None:
        found = self.consumers.get(name, [])
        outputs = {o.name for o in self.graph.output}
        return found[0] if len(found) == 1 and name not in outputs else None


def _one_node_model(node: NodeProto, model: onnx.ModelProto) -> onnx.ModelProto:
    graph = onnx.helper.make_graph([node], "fold", [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.input if n],
                                   [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.output if n])  # fmt: skip
    return onnx.helper.make_model(graph, opset_imports=list(model.opset_import))

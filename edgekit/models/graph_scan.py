"""Check a SavedModel's graph before TensorFlow loads it: SavedModels are programs.

Loading a SavedModel runs code stored in it: the init op, every tracked resource's
``_create_resource``/``_initialize`` function, and then whatever the revived layers call. So
``saved_model.pb`` is read as a protocol buffer (parsing runs nothing) and every node of the
graph and of every function in its library must use only the pure ops of
``edgekit.models._graph_ops``; the checkpoint saver's file ops are allowed only in the two functions
the saver_def names, and only the graph itself may call those. The check runs before any
loader sees the folder, so no initializer can run first; ``--trust-model`` skips it.

A SavedModel whose root object is not a tf_keras model (a plain ``tf.Module``) is converted
by its ``serving_default`` signature (``edgekit.models.saved_model``); one without that signature is
refused either way, before loading: loading it would run its code only to fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from edgekit.errors import ModelError
from edgekit.models._graph_ops import PURE_OPS, SAVER_OPS

__all__ = ["check_saved_model", "read_saved_model", "saver_functions"]

_KERAS_ROOTS = ("_tf_keras_network", "_tf_keras_sequential", "_tf_keras_model")
SERVING = "serving_default"
_TRUST_HINT = "pass --trust-model only if you trust where the folder came from, or save the model as .keras"


def check_saved_model(path: str | Path, *, trust: bool = False) -> bool:
    """Whether the SavedModel is a tf_keras model. Raise :class:`ModelError` for one that is
    neither Keras nor has a serving signature, or (unless ``trust``) whose graph uses an op
    outside the allow-list."""
    path = Path(path)
    proto = read_saved_model(path)
    keras_root = all(_root_identifier(graph) in _KERAS_ROOTS for graph in proto.meta_graphs)
    if not keras_root and not any(SERVING in graph.signature_def for graph in proto.meta_graphs):
        raise ModelError(
            f"{path}: a SavedModel of {_root_identifier(proto.meta_graphs[0])!r}, neither a tf_keras model nor one with a {SERVING!r} signature",
            hint="export it from tf_keras (model.save), or with tf.saved_model.save(..., signatures=...)",
        )
    for graph in proto.meta_graphs:
        if trust:
            continue
        problem = next(unsafe_ops(graph), None)
        if problem is not None:
            raise ModelError(f"{path}: refusing to load: {problem}; loading a SavedModel runs its graph", hint=_TRUST_HINT)
    return keras_root


def read_saved_model(path: Path):
    """The parsed ``saved_model.pb`` (or ``.pbtxt``); nothing in it runs."""
    from edgekit._compat import keras

    keras()  # the protobuf modules come with TensorFlow
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    binary, text = path / "saved_model.pb", path / "saved_model.pbtxt"
    try:
        if binary.is_file():
            proto.ParseFromString(binary.read_bytes())
        elif text.is_file():
            text_format.Parse(text.read_text(encoding="utf-8"), proto)
        else:
            raise ModelError(f"{path}: not a SavedModel folder (no saved_model.pb)", hint="give a .keras or .h5 file, or a folder written by model.save(path)")
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(f"{path}: saved_model.pb is not a readable SavedModel ({type(exc).__name__})", hint="check the folder is complete") from None
    if not proto.meta_graphs:
        raise ModelError(f"{path}: saved_model.pb holds no graph", hint="check the folder is complete")
    return proto


def _root_identifier(graph) -> str:
    """What the SavedModel's root object is: ``_tf_keras_network``, ``_generic_user_object``..."""
    nodes = graph.object_graph_def.nodes
    kind = nodes[0].WhichOneof("kind") if nodes else None
    return nodes[0].user_object.identifier if kind == "user_object" else kind or "nothing"


def unsafe_ops(graph) -> Iterator[str]:
    """Descriptions of the nodes outside the allow-list, graph first, then each function."""
    functions = {f.signature.name: f for f in graph.graph_def.library.function}
    saver_nodes = _saver_nodes(graph)
    savers = saver_functions(graph)
    for node in graph.graph_def.node:
        if node.op not in PURE_OPS:
            yield f"op {node.op!r} (node {node.name!r} of the graph) is not on edgekit's list of pure ops"
        if set(_called_functions(node)) & savers and node.name not in saver_nodes:
            yield f"node {node.name!r} of the graph calls the checkpoint saver"
    for name, function in functions.items():
        allowed = PURE_OPS | SAVER_OPS if name in savers else PURE_OPS
        for node in function.node_def:
            if node.op not in allowed:
                yield f"op {node.op!r} (node {node.name!r} in function {name!r}) is not on edgekit's list of pure ops"
            called = sorted(set(_called_functions(node)) & savers)
            if called and name not in savers:
                yield f"function {name!r} calls the checkpoint saver {called[0]!r}"


def saver_functions(graph) -> set[str]:
    """The functions the saver_def's save and restore nodes call."""
    wanted = _saver_nodes(graph)
    return {called for node in graph.graph_def.node if node.name in wanted for called in _called_functions(node)}


def _saver_nodes(graph) -> set[str]:
    saver = graph.saver_def
    return {saver.save_tensor_name.partition(":")[0], saver.restore_op_name.partition(":")[0]} - {""}


def _called_functions(node) -> Iterator[str]:
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        yield from (f.name for f in value.list.func)

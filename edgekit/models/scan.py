"""Read a saved Keras model's config as plain data and refuse parts that would run code.

tf_keras refuses a ``Lambda`` in a ``.keras`` file only in safe mode; ``.h5`` files and
SavedModel folders carry a Lambda's Python bytecode and run it as soon as the model is
rebuilt, with no check at all, and every format may name a module for tf_keras to import.
So before any file reaches tf_keras its config is read as JSON (``.keras``: ``config.json``
in the zip; ``.h5``: the ``model_config`` attribute; SavedModel: ``keras_metadata.pb`` or the
object graph's metadata) and whatever names code is refused unless the user passes
``--trust-model``.
"""

from __future__ import annotations

import builtins
import json
import zipfile
from pathlib import Path
from typing import Any, Iterator

from edgekit.errors import ModelError

__all__ = ["check_model_safe", "unsafe_parts"]

# Modules a config may name: Keras' own (tf_keras maps ``keras.*`` to ``tf_keras.*``).
_SAFE_MODULES = ("keras", "tf_keras")
# TFOpLambda layers call a TensorFlow API function by name; these namespaces hold only math.
_SAFE_TF_NAMESPACES = ("__operators__", "math", "nn", "image", "linalg", "signal", "bitwise", "compat.v1")
_UNSAFE_TF_NAMES = {"py_function", "numpy_function", "py_func", "print", "Print", "load_op_library", "load_library"}


def check_model_safe(path: str | Path, *, trusted_modules: tuple[str, ...] = ()) -> None:
    """Raise :class:`ModelError` naming the first part of the model that would run code.

    ``trusted_modules`` adds installed packages whose classes a config may name.
    """
    path = Path(path)
    found = next(unsafe_parts(read_configs(path), trusted_modules=trusted_modules), None)
    if found is not None:
        raise ModelError(
            f"{path}: refusing to load: {found} would run code stored in the file",
            hint="pass --trust-model only if you trust where the file came from",
        )


def read_configs(path: Path) -> list[Any]:
    """Every JSON config stored in the model file or folder (empty when it has none)."""
    try:
        if path.is_dir():
            return _saved_model_configs(path)
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                return [json.loads(archive.read("config.json"))]
        if path.suffix in (".h5", ".hdf5"):
            return _h5_configs(path)
    except ModelError:
        raise
    except Exception as exc:  # zip, HDF5, protobuf and JSON each raise their own kinds
        raise ModelError(
            f"{path}: cannot load as a Keras model: {type(exc).__name__}: {_first_line(exc)}",
            hint="check the file is complete and was saved by tf_keras (model.save)",
        ) from None
    return []


def unsafe_parts(configs: list[Any], *, trusted_modules: tuple[str, ...] = ()) -> Iterator[str]:
    """Descriptions of the config entries that name code (a Lambda, a foreign module...)."""
    for node in _dicts(configs):
        name = node.get("class_name")
        label = f"layer {_layer_name(node)!r}"
        if name in ("Lambda", "__lambda__"):
            yield f"Lambda {label}"
        elif name == "TFOpLambda" and not _safe_tf_symbol(_tf_symbol(node)):
            yield f"TFOpLambda {label} calling tf.{_tf_symbol(node)}"
        module = node.get("module")
        if isinstance(module, str) and not _safe_module(module, name, trusted_modules):
            yield f"{name!r} from module {module!r}"


def _dicts(value: Any, depth: int = 0) -> Iterator[dict]:
    if depth > 200:
        raise ModelError("the model's config is nested too deeply to check", hint="pass --trust-model if you trust it")
    if isinstance(value, dict):
        yield value
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from _dicts(child, depth + 1)


def _layer_name(node: dict) -> str:
    config = node.get("config")
    return str(config.get("name", "?")) if isinstance(config, dict) else str(node.get("name", "?"))


def _tf_symbol(node: dict) -> str:
    config = node.get("config")
    return str(config.get("function", "")) if isinstance(config, dict) else ""


def _safe_tf_symbol(symbol: str) -> bool:
    namespace, _, name = symbol.rpartition(".")
    if not name or name in _UNSAFE_TF_NAMES:
        return False
    return namespace == "" or namespace in _SAFE_TF_NAMESPACES


def _safe_module(module: str, name: Any, trusted: tuple[str, ...] = ()) -> bool:
    if module == "builtins":  # tf_keras looks these up as Keras functions, then in Python's builtins
        return not hasattr(builtins, str(name))
    return any(module == m or module.startswith(f"{m}.") for m in (*_SAFE_MODULES, *trusted))


def _h5_configs(path: Path) -> list[Any]:
    import h5py

    with h5py.File(path, "r") as handle:
        text = handle.attrs.get("model_config")
    if text is None:
        return []
    return [json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)]


def _saved_model_configs(path: Path) -> list[Any]:
    """tf_keras rebuilds a SavedModel from ``keras_metadata.pb``, else from the object graph."""
    from edgekit._compat import keras

    keras()  # the protobuf modules below come with TensorFlow
    metadata = path / "keras_metadata.pb"
    if metadata.is_file():
        from tf_keras.protobuf import saved_metadata_pb2

        proto = saved_metadata_pb2.SavedMetadata()
        proto.ParseFromString(metadata.read_bytes())
        texts = [node.metadata for node in proto.nodes]
    elif (path / "saved_model.pb").is_file():
        from tensorflow.core.protobuf import saved_model_pb2

        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        texts = [
            node.user_object.metadata
            for graph in proto.meta_graphs
            for node in graph.object_graph_def.nodes
            if node.WhichOneof("kind") == "user_object" and node.user_object.metadata
        ]
    else:
        return []
    return [json.loads(text) for text in texts if text]


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""

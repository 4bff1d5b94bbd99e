"""ONNX files in: read safely, imported as a tf_keras model of real layers, ONNX Runtime as the
reference.

An ONNX file may keep its weights in separate files (external data) named by relative paths;
a path that leaves the model's folder (``../../etc/passwd``, an absolute path, a link pointing
out) is refused before anything is read. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._compat import require
from edgekit.errors import ModelError
from edgekit.models.source import SourceModel, keep_source

__all__ = ["import_model_proto", "load_onnx", "read_onnx", "onnx_runner"]

INSTALL_HINT = "pip install 'edgekit-tflite[onnx]'"


def read_onnx(path: str | Path):
    """The ModelProto of ``path``, its external data checked to stay in the model's folder."""
    onnx = require("onnx", "onnx is not installed; ONNX models need it", hint=INSTALL_HINT)
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise ModelError(f"{path}: not an ONNX model ({type(exc).__name__}: {str(exc)[:200]})", hint="check the file is complete") from exc
    external = _external_files(model)
    if external:
        folder = path.parent.resolve()
        for location in external:
            _check_inside(path, folder, location)
        try:
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(model, str(folder))
        except Exception as exc:  # noqa: BLE001 - a missing or short data file
            raise ModelError(f"{path}: its external weights do not load ({type(exc).__name__}: {str(exc)[:200]})", hint="keep the .onnx.data file beside the model") from exc
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError
        raise ModelError(f"{path}: not a valid ONNX model: {str(exc).splitlines()[0][:300]}") from exc
    return model


def _external_files(model) -> list[str]:
    locations = []
    for tensor in _tensors(model.graph):
        if tensor.data_location == tensor.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.append(entries.get("location", ""))
    return sorted(set(locations))


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t


def _check_inside(path: Path, folder: Path, location: str) -> None:
    """Refuse external data outside the model's folder (absolute, ``..``, or a link out)."""
    target = (folder / location).resolve()
    if not location or os.path.isabs(location) or not target.is_relative_to(folder):
        raise ModelError(
            f"{path}: its external weights point outside its folder ({location[:120]!r})",
            hint="an ONNX file may only name weight files beside it; re-save it with onnx.save(model, path, save_as_external_data=True)",
        )


def onnx_runner(model_bytes: bytes):
    """A function running the model in ONNX Runtime: source-layout inputs -> outputs by name.
    A fixed batch size is honoured by running the inputs in chunks of it."""
    onnxruntime = require("onnxruntime", "onnxruntime is not installed; edgekit measures ONNX imports against it", hint=INSTALL_HINT)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    names = [o.name for o in session.get_outputs()]
    fixed = inputs[0].shape[0] if isinstance(inputs[0].shape[0], int) else None

    def run(arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        step = fixed or len(arrays[0]) or 1
        chunks = [session.run(None, {i.name: a[s : s + step] for i, a in zip(inputs, arrays)}) for s in range(0, len(arrays[0]), step)]
        return {name: np.concatenate([chunk[k] for chunk in chunks]) for k, name in enumerate(names)}

    return run


def import_model_proto(model, *, name: str, path: str, kind: str = "onnx", run=None):
    """The imported Keras model of ``model`` (a ModelProto), remembering its source; ``run``
    replaces ONNX Runtime as the reference (PyTorch for a module)."""
    from edgekit.converters.onnx_keras import import_onnx

    try:
        imported = import_onnx(model, name=name)
    except ModelError as exc:  # name the file in the one line the user sees
        raise ModelError(f"{Path(path).name}: {exc.message}", hint=exc.hint) from exc
    shapes = tuple(tuple(d.dim_value or None for d in i.type.tensor_type.shape.dim[1:]) for i in _graph_inputs(model))
    source = SourceModel(
        kind=kind,
        path=path,
        input_layouts=imported.input_layouts,
        input_shapes=shapes,
        output_names=dict(imported.output_names),
        run=run or onnx_runner(model.SerializeToString()),
        tf_ops=dict(imported.tf_ops),
    )
    return keep_source(imported.model, source)


def _graph_inputs(model) -> list[Any]:
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def load_onnx(path: str | Path):
    """An ``.onnx`` file as a Keras model of real layers (ONNX Runtime as its reference)."""
    path = Path(path)
    return import_model_proto(read_onnx(path), name=path.stem, path=str(path))

"""Where an imported model came from, and how to run the original.

A model imported from ONNX or PyTorch is measured against the source, not against its own
Keras translation: ONNX Runtime runs the ``.onnx`` file, PyTorch runs the module. The Keras
model carries its :class:`SourceModel` (kept beside it, by identity, so a clone made for
fine-tuning carries none: once trained, the Keras model is the reference).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["SourceModel", "data_in_keras_layout", "forget_source", "keep_source", "layouts_of", "source_of", "to_keras_layout", "to_source_layout"]

_SOURCES: "weakref.WeakKeyDictionary[Any, SourceModel]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SourceModel:
    """The original of an imported model.

    ``kind`` is ``onnx`` or ``pytorch``; ``input_layouts`` the Keras model's layout of each
    input (``NHWC`` where the source takes ``NCHW``); ``output_names`` maps each Keras output
    name to the source's; ``run`` takes source-layout inputs and returns the source's outputs
    by source name; ``input_shapes`` are the source's per-sample input shapes; ``tf_ops`` the
    ops computed with TensorFlow functions instead of Keras layers (they keep the model from
    fine-tuning).
    """

    kind: str
    path: str
    input_layouts: tuple[str, ...]
    input_shapes: tuple[tuple, ...]
    output_names: Mapping[str, str]
    run: Callable[[list[np.ndarray]], dict[str, np.ndarray]] = field(repr=False, compare=False)
    tf_ops: Mapping[str, int] = field(default_factory=dict)

    def check_trainable(self, what: str = "trained or compressed") -> None:
        """Refuse fine-tuning of a model whose ops are partly TensorFlow functions."""
        if self.tf_ops:
            from edgekit.errors import ModelError

            listed = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in self.tf_ops.items())
            raise ModelError(
                f"{Path(self.path).name}: {listed} have no Keras layer, so edgekit computes them with TensorFlow functions: "
                f"the model converts and is measured with post-training quantisation, but cannot be {what}",
                hint='set train.enabled = false and quantize.mode = "ptq", and leave [prune], [cluster] and [distill] out',
            )

    @property
    def source_layouts(self) -> tuple[str, ...]:
        """The source's own layout of each input (``NCHW`` for a Keras ``NHWC``)."""
        return tuple({"NHWC": "NCHW", "NWC": "NCW"}.get(layout, layout) for layout in self.input_layouts)

    def predict(self, x_keras: np.ndarray, *, batch: int = 64) -> dict[str, np.ndarray]:
        """The source's outputs on Keras-layout inputs, keyed by the Keras output names."""
        x = to_source_layout(np.asarray(x_keras, np.float32), self.input_layouts[0])
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(x), batch):
            found = self.run([x[start : start + batch]])
            for name in self.output_names.values():
                parts.setdefault(name, []).append(np.asarray(found[name]))
        return {keras_name: np.concatenate(parts[source_name]) for keras_name, source_name in self.output_names.items()}


# Keras layout -> (axes from Keras to the source's order, axes from the source's to Keras').
_AXES = {"NHWC": ((0, 3, 1, 2), (0, 2, 3, 1)), "NWC": ((0, 2, 1), (0, 2, 1))}


def to_source_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Keras-layout samples (N, H, W, C) as the source takes them (N, C, H, W)."""
    return np.ascontiguousarray(x.transpose(_AXES[layout][0])) if layout in _AXES else x


def to_keras_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Source-layout samples (N, C, H, W) as the Keras model takes them (N, H, W, C)."""
    return np.ascontiguousarray(x.transpose(_AXES[layout][1])) if layout in _AXES else x


def data_in_keras_layout(model, x: np.ndarray) -> np.ndarray:
    """Samples in the source's layout ((N, C, H, W), as a PyTorch user has them) turned to the
    imported Keras model's; anything else (Keras-layout data, other models) as it is."""
    from edgekit.models.shapes import shape_fits

    source = source_of(model)
    if source is None or np.ndim(x) < 3 or not source.input_shapes:
        return x
    keras_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0][1:])
    sample = tuple(np.shape(x)[1:])
    if shape_fits(source.input_shapes[0], sample) and not shape_fits(keras_shape, sample):
        return to_keras_layout(np.asarray(x), source.input_layouts[0])
    return x


def layouts_of(model) -> tuple[tuple[str, str], ...]:
    """(Keras layout, source layout) per input of an imported model; () for others."""
    source = source_of(model)
    return () if source is None else tuple(zip(source.input_layouts, source.source_layouts))


def keep_source(model, source: SourceModel):
    """Remember where ``model`` came from; returns the model."""
    _SOURCES[model] = source
    return model


def source_of(model) -> SourceModel | None:
    """The source of an imported model as imported, None for anything else."""
    try:
        return _SOURCES.get(model)
    except TypeError:  # not weak-referenceable: not one of ours
        return None


def forget_source(model) -> None:
    """The model was changed (trained): it is its own reference from now on."""
    _SOURCES.pop(model, None)

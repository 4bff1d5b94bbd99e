"""A Keras model's inputs and outputs as edgekit measures them: names, shapes, what the output
layers compute, and the model's predictions by output name.

Outputs are named as the converted model's ``serving_default`` signature names them (the
output layers' own names, TF-MOT's wrappers looked through), in the model's order, so a Keras
prediction and an interpreter's are matched by name, never by position: the converter lays
out a model's outputs in an order of its own.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgekit.measure.tasks import OutputInfo

__all__ = ["input_shape", "output_infos", "output_names", "predictions"]

_TFMOT_WRAPPERS = ("QuantizeWrapper", "QuantizeWrapperV2", "PruneLowMagnitude")


def output_names(model) -> list[str]:
    """The output layers' own names, looking through TF-MOT's QAT/pruning wrappers."""
    names = []
    for name in model.output_names:
        layer = _output_layer(model, name)
        names.append(name if layer is None else layer.name)
    return names if len(set(names)) == len(names) else list(model.output_names)


def _output_layer(model, name: str):
    try:
        layer = model.get_layer(name)
    except ValueError:  # a dict output keyed by something other than its layer's name
        return None
    while type(layer).__name__ in _TFMOT_WRAPPERS:
        layer = layer.layer
    return layer


def output_infos(model) -> list[OutputInfo]:
    """Name, per-sample shape and output activation of every output, in the model's order."""
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    if isinstance(model.output_shape, dict):
        shapes = [model.output_shape[key] for key in sorted(model.output_shape)]
    infos = []
    for name, keras_name, shape in zip(output_names(model), model.output_names, shapes):
        infos.append(OutputInfo(name=name, shape=tuple(shape[1:]), activation=_activation(_output_layer(model, keras_name))))
    return infos


def _activation(layer) -> str | None:
    """The layer's output activation, looking through TF-MOT's wrappers (pruning, clustering,
    QAT wrap the layer, and QAT wraps its activation too): a wrapped softmax is still one."""
    while layer is not None and hasattr(layer, "layer") and type(layer).__name__ != "Softmax":
        layer = layer.layer
    if layer is None:
        return None
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    while activation is not None and not hasattr(activation, "__name__") and hasattr(activation, "activation"):
        activation = activation.activation  # QAT's QuantizeAwareActivation
    return getattr(activation, "__name__", None)


def input_shape(model) -> tuple[int | None, ...]:
    """The single input's per-sample shape (None for dynamic dimensions)."""
    shape = model.input_shape[0] if isinstance(model.input_shape, list) else model.input_shape
    return tuple(shape[1:])


def predictions(model, x: np.ndarray, *, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The model's float outputs for ``x``, by output name (:func:`output_names`)."""
    from edgekit._compat import tf

    values = model.predict(x, batch_size=batch_size, verbose=0)
    flat = tf().nest.flatten(values)  # a dict flattens in output_names order, like the signature
    return {name: np.asarray(value, dtype=np.float32) for name, value in zip(output_names(model), flat)}


def first(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The first output: what a classifier's scores are."""
    return next(iter(outputs.values()))

"""A SavedModel that is not a Keras model (a ``tf.Module`` exported with a serving signature),
shaped like the Keras model edgekit's stages convert and measure.

Many shipped models are such SavedModels: a speech model whose ``serving_default`` returns a
dict of outputs, a detector exported from another framework. They can be converted, checked
and measured like any model, by their signature: one input, any number of named outputs. They
cannot be trained or compressed (TF-MOT wraps Keras layers), which the recipe flow says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import ModelError

__all__ = ["is_signature_model", "load_signature_model", "SignatureModel"]

SIGNATURE = "serving_default"


class SignatureModel:
    """The ``serving_default`` signature of a loaded SavedModel, with the attributes the
    stages read from a Keras model (inputs, input/output names and shapes, predict)."""

    layers: list = []  # nothing for TF-MOT to wrap

    def __init__(self, loaded, path: Path):
        signature = loaded.signatures.get(SIGNATURE) if hasattr(loaded, "signatures") else None
        if signature is None:
            raise ModelError(f"{path}: the SavedModel has no {SIGNATURE!r} signature and is not a Keras model", hint="export it with a serving signature (tf.saved_model.save(..., signatures=...)) or from tf_keras")
        inputs = signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise ModelError(f"{path}: the {SIGNATURE} signature takes {len(inputs)} inputs ({', '.join(sorted(inputs))}); edgekit converts models with one input")
        self.trackable, self._function, self.name = loaded, signature, path.name
        self.input_names = list(inputs)
        self.inputs = [inputs[self.input_names[0]]]
        outputs = signature.structured_outputs
        self.output_names = sorted(outputs)  # the order tf.nest.flatten gives a dict
        self.output_shape = [tuple(outputs[name].shape) for name in self.output_names]

    @property
    def input_shape(self) -> tuple:
        return tuple(self.inputs[0].shape)

    def __call__(self, x, training: bool = False):
        return self._function(**{self.input_names[0]: x})

    def predict(self, x: np.ndarray, batch_size: int = 256, verbose: int = 0) -> dict[str, np.ndarray]:
        from edgekit._compat import tf

        dtype = self.inputs[0].dtype
        parts: dict[str, list] = {name: [] for name in self.output_names}
        for start in range(0, len(x), batch_size):
            results = self(tf().constant(x[start : start + batch_size], dtype=dtype))
            for name in self.output_names:
                parts[name].append(results[name].numpy())
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def get_layer(self, name: str):
        raise ValueError(f"a SavedModel signature has no layer {name!r}")

    def count_params(self) -> int:
        return int(sum(np.prod(v.shape) for v in getattr(self.trackable, "variables", ())))


def load_signature_model(path: Path) -> SignatureModel:
    """``tf.saved_model.load`` and the serving signature; a ModelError when there is none."""
    from edgekit._compat import tf

    try:
        loaded = tf().saved_model.load(str(path))
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises anything for a damaged folder
        raise ModelError(f"{path}: cannot load as a SavedModel: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
    return SignatureModel(loaded, path)


def is_signature_model(model) -> bool:
    return isinstance(model, SignatureModel)

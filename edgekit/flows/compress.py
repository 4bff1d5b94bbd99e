"""The one-call forms of compression: ``edgekit.compress(model, data, ratio=0.5)`` for a Keras
model, and ``edgekit.compress_model(module, ratio, data=(x, y))`` for the model people bring
(a PyTorch module, an ONNX or Keras file), which also hands back the int8 artifact, measured."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit._compat import seed_everything
from edgekit.compression import Prune, QuantizeAware, kernel_sparsity
from edgekit.compression.run import Compressed, run_compression
from edgekit.errors import DataError, InputError
from edgekit.training.train import TrainData

__all__ = ["CompressedModel", "compress", "compress_model"]


def compress(
    model,
    data: Sequence[np.ndarray],
    ratio: float = 0.5,
    *,
    epochs: int = 2,
    qat_epochs: int = 1,
    batch_size: int = 64,
    learning_rate: float = 5e-4,
    seed: int = 0,
) -> Compressed:
    """Prune ``model`` to ``ratio`` sparsity, then prune-preserving QAT.

    ``data`` is ``(x, y)``: normalised inputs and integer labels used for fine-tuning. The
    input model is not modified. Returns ``Compressed`` (``edgekit.compression.run``): ``.model``
    is the QAT Keras model (convert it with ``edgekit.converters.keras_tflite.convert_keras(...,
    quantization="int8")``), ``.float_model`` the pruned float model, ``.report`` what was done.
    """
    if not 0 <= ratio < 1:
        raise InputError(f"ratio = {ratio!r} must be in [0, 1): the fraction of weights to prune")
    x, y = _unpack(data)
    seed_everything(seed)  # the same call gives the same model, as a recipe's build does
    train = TrainData(x, y, batch_size=batch_size, seed=seed)
    steps = [Prune(sparsity=ratio, epochs=epochs, learning_rate=learning_rate)] if ratio > 0 else []
    steps.append(QuantizeAware(epochs=qat_epochs, learning_rate=learning_rate / 5, preserve_sparsity=ratio > 0, name="pqat" if ratio > 0 else "qat"))
    result = run_compression(model, steps, train)
    sparsity = round(kernel_sparsity(result.float_model)["overall"], 5)
    return dataclasses.replace(result, report={**result.report, "sparsity": sparsity})


@dataclass(frozen=True)
class CompressedModel:
    """What ``compress_model`` returns: the compressed Keras models, what was done, and the
    target's artifact with the figures measured on it.

    ``artifact`` is the ``.tflite`` bytes (``save(path)`` writes them); ``metrics`` its accuracy
    on the labels, top-1 agreement with the source model (PyTorch for a module), sparsity and
    sizes; ``input_layout`` the layout the artifact takes (``NHWC`` for a channels-first source).
    """

    model: Any
    float_model: Any
    report: Mapping[str, Any]
    artifact: bytes = field(repr=False)
    metrics: Mapping[str, Any]
    input_layout: str

    def save(self, path: str | Path) -> Path:
        from edgekit.output.atomic import write_file_atomic

        write_file_atomic(path, self.artifact)
        return Path(path)


def compress_model(
    model,
    ratio: float = 0.5,
    *,
    data: Sequence[np.ndarray],
    test: Sequence[np.ndarray] | None = None,
    target: str = "cpu",
    epochs: int = 2,
    qat_epochs: int = 1,
    batch_size: int = 64,
    learning_rate: float = 5e-4,
    seed: int = 0,
) -> CompressedModel:
    """Prune ``model`` to ``ratio`` sparsity, QAT-fine-tune it and convert it for ``target``.

    ``model`` is a PyTorch ``nn.Module`` (exported and imported as Keras layers inside
    edgekit), a tf_keras model, or a model file (``.onnx``, ``.pt2``, ``.keras``, ``.h5``).
    ``data`` is ``(x, y)`` in the model's own layout (``(N, C, H, W)`` for PyTorch) with integer
    labels; the artifact is measured on ``test`` (default: ``data``) against the source model.
    """
    from edgekit.flows import stages
    from edgekit.models.source import data_in_keras_layout, source_of
    from edgekit.registry import get_target

    keras_model = _as_keras(model, data)
    if (imported := source_of(keras_model)) is not None:
        imported.check_trainable("pruned and QAT-fine-tuned")
    x, y = _unpack(data)
    x = data_in_keras_layout(keras_model, x)
    x_test, y_test = _unpack(test) if test is not None else (x, y)
    x_test = data_in_keras_layout(keras_model, x_test)
    result = compress(keras_model, (x, y), ratio, epochs=epochs, qat_epochs=qat_epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed)
    labels = tuple(str(i) for i in range(int(keras_model.output_shape[-1])))
    model_data = stages.ModelData(x_calibration=x, x_test=x_test, y_test=y_test, labels=labels, normalization={})
    scores = stages.float_scores(keras_model, model_data)
    model_data = stages.decide_task("classification", keras_model, model_data, scores)
    settings = stages.ArtifactSettings(name=keras_model.name, calibration_samples=min(200, len(x)))
    artifact = stages.measure(stages.convert_for_target(get_target(target), result, model_data, settings), model_data, scores, settings)
    source = source_of(keras_model)
    return CompressedModel(
        model=result.model,
        float_model=result.float_model,
        report=dict(result.report),
        artifact=artifact.model_bytes,
        metrics={**artifact.metrics, "reference": "the Keras model" if source is None else source.kind},
        input_layout=source.input_layouts[0] if source is not None else "as the model",
    )


def _as_keras(model, data):
    """A Keras model of ``model``: a PyTorch module is exported and imported (its input shape
    from ``data``), a file is loaded, a Keras model is taken as it is."""
    from edgekit.models.torch_model import is_torch_module

    if is_torch_module(model):
        from edgekit.models.torch_model import module_to_keras

        x, _ = _unpack(data)
        return module_to_keras(model, x.shape[1:], name=type(model).__name__)
    if isinstance(model, (str, Path)):
        from edgekit.models.load import load_model_file

        return load_model_file(model)
    return model


def _unpack(data) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = data
    except (TypeError, ValueError) as exc:
        raise DataError("data must be a pair (x, y) of inputs and integer labels") from exc
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"data has {len(x)} inputs and {len(y)} labels; they must match and not be empty")
    return x, y

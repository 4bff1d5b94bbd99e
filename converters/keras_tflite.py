"""Keras (tf_keras) model -> TFLite flatbuffer bytes, one quantisation mode per call.

Modes: ``float32`` (reference), ``float16`` (half-size weights, float compute on CPU, native
on mobile GPUs), ``dynamic`` (int8 weights, float activations, no data needed) and ``int8``
(full-integer: weights and activations, calibrated from representative data or from the
fake-quant ranges a QAT model learnt).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from edgekit._compat import tf
from edgekit._quiet import quiet_native_output
from edgekit.errors import InputError, ModelError
from edgekit.models.keras_io import output_names
from edgekit.vocabulary import IO_DTYPES, QUANTIZATIONS

__all__ = ["convert_keras", "serving_converter", "signature_output_names"]

# TFLiteConverter settings that exist only as private attributes but change the artifact a
# target needs (per-tensor dense weights keep TFLM's arena and flash small).
PRIVATE_OPTIONS = frozenset({"_experimental_disable_per_channel_quantization_for_dense_layers"})


def convert_keras(
    model,
    *,
    quantization: str = "float32",
    representative_data: np.ndarray | None = None,
    io_dtype: str = "float32",
    calibration_samples: int = 200,
    options: Mapping[str, Any] | None = None,
    batch_size: int | None = None,
    input_shape: Sequence[int] | None = None,
) -> bytes:
    """Convert ``model`` and return the ``.tflite`` bytes.

    ``representative_data`` holds normalised float inputs (N, ...) and is required for
    ``int8`` unless the model was trained with QAT (its fake-quant nodes carry the ranges).
    ``options`` are set on the TFLiteConverter by name; unknown names are rejected.
    ``batch_size`` fixes the batch dimension (static shapes for compilers such as the Edge
    TPU's); by default it stays dynamic (-1 in the shape signature). ``input_shape`` (per
    sample, without the batch) fixes dynamic dimensions of the model's input.
    """
    _validate(quantization, io_dtype, representative_data, model)
    converter = serving_converter(model, batch_size=_checked_batch(batch_size), input_shape=input_shape)
    _apply_quantization(converter, quantization, io_dtype, representative_data, calibration_samples)
    apply_converter_options(converter, options or {})
    try:
        with quiet_native_output(), warnings.catch_warnings():
            # TF warns that input statistics were not given; the representative data sets them.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends carry the real reason
        raise ModelError(f"TFLite conversion ({quantization}) failed: {_first_line(exc)}") from exc


def _checked_batch(batch_size: int | None) -> int | None:
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise InputError(f"batch_size must be a whole number >= 1, not {batch_size!r}")
    return batch_size


def serving_converter(model, *, batch_size: int | None = None, input_shape: Sequence[int] | None = None):
    """A TFLiteConverter for ``model`` through a ``serving_default`` signature with meaningful names.

    ``from_keras_model`` names signature outputs after the output layer as the model holds it,
    so a QAT model's ``probabilities`` comes out as ``quant_probabilities``. Here inputs keep
    the model's input names and outputs the names the user gave the output layers, TF-MOT's
    wrappers looked through (the sample: ``image`` -> ``probabilities``). Apps address tensors
    by these keys (``runSignature`` on Android); the tensor names inside the flatbuffer stay
    the converter's own (``serving_default_image:0``). ``batch_size`` fixes the batch
    dimension; None keeps it dynamic. ``input_shape`` replaces the (single) input's per-sample
    shape, fixing its dynamic dimensions.
    """
    tf_ = tf()
    specs = [
        tf_.TensorSpec([batch_size, *(tensor.shape[1:] if input_shape is None else input_shape)], tensor.dtype, name=name)
        for name, tensor in zip(model.input_names, model.inputs)
    ]
    outputs = signature_output_names(model)

    @tf_.function(input_signature=specs)
    def serving_default(*inputs):
        results = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(outputs, tf_.nest.flatten(results)))  # a dict of outputs flattens in output_names order

    # A SavedModel signature (edgekit.models.saved_model) keeps its variables in the loaded object.
    return tf_.lite.TFLiteConverter.from_concrete_functions([serving_default.get_concrete_function()], getattr(model, "trackable", model))


def signature_output_names(model) -> list[str]:
    """The output layers' own names (see ``edgekit.models.keras_io.output_names``)."""
    return output_names(model)


def is_qat_model(model) -> bool:
    """True when the model holds TF-MOT QAT wrappers (fake-quant ranges are learnt)."""
    return any(type(layer).__name__ in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer") for layer in model.layers)


def apply_converter_options(converter, options: Mapping[str, Any]) -> None:
    """Set converter attributes by name, refusing names the converter does not have."""
    for name, value in options.items():
        if (name.startswith("_") and name not in PRIVATE_OPTIONS) or not hasattr(converter, name):
            raise InputError(
                f"unknown converter option {name!r}",
                hint="see tf.lite.TFLiteConverter's attributes, e.g. experimental_new_quantizer",
            )
        setattr(converter, name, value)


def representative_dataset(x: np.ndarray, samples: int) -> Iterable[list[np.ndarray]]:
    """A calibration generator over the first ``samples`` inputs, one at a time."""

    def generate() -> Iterator[list[np.ndarray]]:
        for row in x[:samples]:
            yield [np.asarray(row[None, ...], dtype=np.float32)]

    return generate


def _validate(quantization: str, io_dtype: str, data, model) -> None:
    if quantization not in QUANTIZATIONS:
        raise InputError(f"unknown quantization {quantization!r}", hint=f"choose one of: {', '.join(QUANTIZATIONS)}")
    if io_dtype not in IO_DTYPES:
        raise InputError(f"unknown io_dtype {io_dtype!r}", hint=f"choose one of: {', '.join(IO_DTYPES)}")
    if quantization != "int8" and io_dtype != "float32":
        raise InputError(f"io_dtype {io_dtype!r} needs quantization 'int8' (got {quantization!r})")
    if quantization == "int8" and data is None and not is_qat_model(model):
        raise InputError(
            "int8 conversion needs representative data to calibrate activation ranges",
            hint="pass representative_data (a few hundred normalised inputs) or a QAT model",
        )


def _apply_quantization(converter, quantization: str, io_dtype: str, data, samples: int) -> None:
    lite = tf().lite
    if quantization == "float32":
        return
    converter.optimizations = [lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf().float16]
    elif quantization == "int8":
        converter.target_spec.supported_ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]
        if data is not None:
            converter.representative_dataset = representative_dataset(data, samples)
        converter.inference_input_type = getattr(tf(), io_dtype)
        converter.inference_output_type = getattr(tf(), io_dtype)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if "error" in line.lower()] or text.splitlines() or [type(exc).__name__]
    return lines[0][:500]

"""Keras -> TFLite round trips: each quantisation mode agrees with Keras within its tolerance."""

import numpy as np
import pytest

from edgekit.converters.keras_tflite import convert_keras
from edgekit.errors import InputError
from edgekit.runtime import open_model

# Largest absolute difference in softmax probabilities allowed per mode, and minimum top-1 agreement.
TOLERANCE = {"float32": (1e-5, 1.0), "float16": (2e-3, 0.99), "dynamic": (0.05, 0.97), "int8": (0.08, 0.95)}


@pytest.mark.parametrize("mode", sorted(TOLERANCE))
def test_round_trip_matches_keras(mode, tiny_model, tiny_tflite, mnist_small):
    x_test = mnist_small[2]
    expected = tiny_model.predict(x_test, verbose=0)
    actual = open_model(tiny_tflite[mode]).predict(x_test)
    max_abs, min_agreement = TOLERANCE[mode]
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= max_abs
    assert np.mean(actual.argmax(-1) == expected.argmax(-1)) >= min_agreement


@pytest.mark.parametrize(
    "mode, input_dtype, weight_dtypes",
    [
        ("float32", "float32", {"float32"}),
        ("float16", "float32", {"float16"}),
        # dynamic range keeps weight tensors under 1,024 elements (the tiny first conv) in float
        ("dynamic", "float32", {"int8", "float32"}),
        ("int8", "int8", {"int8"}),
    ],
)
def test_dtypes_per_mode(mode, input_dtype, weight_dtypes, tiny_tflite):
    from edgekit.runtime.inspect import weight_tensors

    runner = open_model(tiny_tflite[mode], default_delegates=False)
    assert runner.inputs[0].dtype == input_dtype
    assert {w.dtype.name for w in weight_tensors(runner)} == weight_dtypes


def test_sizes_shrink_with_quantisation(tiny_tflite):
    assert len(tiny_tflite["int8"]) < len(tiny_tflite["float16"]) < len(tiny_tflite["float32"])
    assert len(tiny_tflite["dynamic"]) < 0.45 * len(tiny_tflite["float32"])


def test_int8_quantised_io_parameters(tiny_tflite):
    runner = open_model(tiny_tflite["int8"])
    (out,) = runner.outputs
    assert out.dtype == "int8" and out.scale == pytest.approx(1 / 256) and out.zero_point == -128


def test_uint8_io(tiny_model, mnist_small):
    data = convert_keras(tiny_model, quantization="int8", io_dtype="uint8", representative_data=mnist_small[0], calibration_samples=50)
    runner = open_model(data)
    assert runner.inputs[0].dtype == "uint8" and runner.outputs[0].dtype == "uint8"


def test_int8_without_data_is_refused(tiny_model):
    with pytest.raises(InputError, match="representative data"):
        convert_keras(tiny_model, quantization="int8")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantization": "int4"}, "unknown quantization 'int4'"),
        ({"io_dtype": "int16"}, "unknown io_dtype"),
        ({"quantization": "float16", "io_dtype": "int8"}, "needs quantization 'int8'"),
        ({"options": {"no_such_option": 1}}, "unknown converter option 'no_such_option'"),
    ],
)
def test_bad_options(tiny_model, kwargs, message):
    with pytest.raises(InputError, match=message):
        convert_keras(tiny_model, **kwargs)


def test_known_converter_option_is_applied(tiny_model):
    data = convert_keras(tiny_model, options={"allow_custom_ops": False})
    assert data[4:8] == b"TFL3"

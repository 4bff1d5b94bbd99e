"""Converted models keep a ``serving_default`` signature named after the model's own layers."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.converters.keras_tflite import convert_keras, serving_converter, signature_output_names
from edgekit.runtime import open_model

SERVING = {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_every_mode_keeps_the_named_signature(tiny_tflite, mode):
    assert open_model(tiny_tflite[mode]).interpreter.get_signature_list() == SERVING


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_signature_runner_gives_the_same_scores(tiny_tflite, mnist_small, mode):
    from edgekit.runtime.interpreter import dequantize

    runner = open_model(tiny_tflite[mode])
    x = mnist_small[2][:1]
    signature = runner.interpreter.get_signature_runner("serving_default")
    outputs = signature(image=runner.quantize_input(x))
    assert list(outputs) == ["probabilities"]
    scores = dequantize(np.array(outputs["probabilities"]), runner.outputs[0])
    assert np.array_equal(scores, open_model(tiny_tflite[mode]).predict(x))


def test_qat_model_output_is_not_named_after_its_wrapper(tiny_model, mnist_small):
    """from_keras_model would call it 'quant_probabilities'."""
    from edgekit._compat import tfmot

    qat = tfmot().quantization.keras.quantize_model(tiny_model)
    assert qat.output_names == ["quant_probabilities"]
    assert signature_output_names(qat) == ["probabilities"]
    model = convert_keras(qat, quantization="int8", io_dtype="int8", representative_data=mnist_small[0], calibration_samples=20)
    assert open_model(model).interpreter.get_signature_list() == SERVING


def test_multiple_inputs_and_outputs_keep_their_names():
    from edgekit._compat import keras

    layers = keras().layers
    a, b = layers.Input((4,), name="left"), layers.Input((3,), name="right")
    hidden = layers.Dense(2, name="scores")(layers.Concatenate()([a, b]))
    model = keras().Model([a, b], [hidden, layers.Dense(1, name="confidence")(hidden)])
    signatures = open_model(convert_keras(model)).interpreter.get_signature_list()
    assert sorted(signatures["serving_default"]["inputs"]) == ["left", "right"]
    assert sorted(signatures["serving_default"]["outputs"]) == ["confidence", "scores"]


def test_batch_size_fixes_the_batch_dimension(tiny_model):
    converter = serving_converter(tiny_model, batch_size=1)
    runner = open_model(bytes(converter.convert()))
    assert runner.inputs[0].shape_signature == (1, 28, 28, 1)
    assert runner.interpreter.get_signature_list() == SERVING

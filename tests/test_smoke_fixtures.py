"""The shared fixtures work: the tiny model learns something and converts."""

import numpy as np

from edgekit.runtime import open_model


def test_tiny_model_learns(tiny_model, mnist_small):
    _, _, x_test, y_test = mnist_small
    accuracy = np.mean(tiny_model.predict(x_test, verbose=0).argmax(-1) == y_test)
    assert accuracy > 0.5


def test_tiny_int8_runs(tiny_tflite, mnist_small):
    runner = open_model(tiny_tflite["int8"])
    assert runner.inputs[0].dtype == "int8"
    scores = runner.predict(mnist_small[2][:10])
    assert scores.shape == (10, 10)

"""``--input-shape`` and the shape a dynamic model is fixed at: read strictly, sized before
anything is built, and traced through the model so a shape no layer can take is one line."""

from __future__ import annotations

import pytest

from edgekit.errors import InputError
from edgekit.models.shapes import check_model_runs_at, parse_shape


@pytest.mark.parametrize("text, shape", [("96x96x3", (96, 96, 3)), ("96,96,3", (96, 96, 3)), (" 16 x 16X1 ", (16, 16, 1)), ("40", (40,))])
def test_shapes_people_write_are_read(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["16xx3", "x16x3", "16x3x", "16x-3", "1.5x2", "big", "", "16 16 3"])
def test_a_malformed_shape_is_refused_not_guessed(text):
    with pytest.raises(InputError, match="expected positive whole numbers"):
        parse_shape(text)


def test_a_zero_dimension_is_refused():
    with pytest.raises(InputError, match="at least 1"):
        parse_shape("0x3x1")


@pytest.mark.parametrize("text", ["99999999999999999999x2x3", "100000x100000x3"])
def test_a_shape_no_interpreter_can_index_is_refused_by_its_size(text):
    with pytest.raises(InputError, match="more than the 2,147,483,648 an interpreter can index"):
        parse_shape(text)


def test_a_shape_over_the_memory_budget_is_refused(monkeypatch):
    monkeypatch.setenv("EDGEKIT_MAX_MEMORY", "1M")
    with pytest.raises(InputError, match="more than the memory budget of 1.0 MiB"):
        parse_shape("1000x1000x3")


@pytest.fixture(scope="module")
def dynamic_conv():
    from edgekit._compat import keras

    k = keras()
    free = k.Input((None, None, 1))
    pooled = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(4, 3, name="conv3x3")(free))
    return k.Model(free, k.layers.Dense(10)(pooled))


def test_a_shape_too_small_for_a_convolution_names_the_layer(dynamic_conv):
    with pytest.raises(InputError, match=r"--input-shape 2x2x1 does not fit layer 'conv3x3': Negative dimension size caused by subtracting 3 from 2"):
        check_model_runs_at(dynamic_conv, (2, 2, 1), "--input-shape 2x2x1")


def test_activations_an_interpreter_cannot_index_are_refused_before_conversion(dynamic_conv):
    with pytest.raises(InputError, match="would hold 3,599,520,016 elements"):
        check_model_runs_at(dynamic_conv, (30000, 30000, 1), "--input-shape 30000x30000x1")


def test_a_shape_that_fits_passes(dynamic_conv):
    check_model_runs_at(dynamic_conv, (3, 3, 1), "--input-shape 3x3x1")


def test_data_samples_too_small_are_named_as_the_data(dynamic_conv):
    import numpy as np

    from edgekit.flows.stages import ModelData, fixed_input_shape

    x = np.zeros((4, 2, 2, 1), np.float32)
    data = ModelData(x_calibration=x, x_test=x, y_test=None, labels=(), normalization={})
    with pytest.raises(InputError, match=r"the data's samples of shape \(2, 2, 1\) does not fit layer 'conv3x3'"):
        fixed_input_shape(dynamic_conv, data)

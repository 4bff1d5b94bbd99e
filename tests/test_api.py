"""The Python API: edgekit.build and the one-call edgekit.compress(model, data, ratio)."""

import numpy as np
import pytest

import edgekit
from edgekit.compression import kernel_sparsity
from edgekit.converters.keras_tflite import convert_keras
from edgekit.errors import DataError, InputError
from edgekit.runtime import open_model
from edgekit.runtime.inspect import weight_sparsity


def test_public_surface_is_small():
    assert set(edgekit.__all__) == {"BudgetError", "EdgekitError", "EdgekitWarning", "__version__", "build", "compress", "compress_model", "load_recipe"}


def test_compress_prunes_quantises_and_leaves_input_alone(tiny_model, mnist_small):
    x, y, x_test, y_test = mnist_small
    before = [w.copy() for w in tiny_model.get_weights()]
    result = edgekit.compress(tiny_model, (x, y), ratio=0.5, epochs=2, qat_epochs=1)
    assert result.report["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert kernel_sparsity(result.float_model)["overall"] == pytest.approx(0.5, abs=0.01)
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_model.get_weights()))
    data = convert_keras(result.model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=50)
    runner = open_model(data)
    scores = runner.predict(x_test)
    float_scores = tiny_model.predict(x_test, verbose=0)
    assert np.mean(scores.argmax(-1) == float_scores.argmax(-1)) > 0.8
    assert weight_sparsity(open_model(data, default_delegates=False)) == pytest.approx(0.5, abs=0.01)


def test_compress_twice_gives_the_same_bytes(tiny_model, mnist_small):
    """Seeded, and Keras' layer numbering restarted: the second call's QAT input layer is not
    ``quantize_layer_1``, and its uint8-I/O file (the Edge TPU's) is the same bytes."""
    x, y = mnist_small[:2]
    files = []
    for _ in range(2):
        result = edgekit.compress(tiny_model, (x, y), ratio=0.5, epochs=1, qat_epochs=1)
        assert "quantize_layer" in [layer.name for layer in result.model.layers]
        files.append(convert_keras(result.model, quantization="int8", io_dtype="uint8", representative_data=x, calibration_samples=50, batch_size=1))
    assert files[0] == files[1]


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_compress_rejects_bad_ratio(tiny_model, mnist_small, ratio):
    with pytest.raises(InputError, match="ratio"):
        edgekit.compress(tiny_model, mnist_small[:2], ratio=ratio)


def test_compress_rejects_mismatched_data(tiny_model, mnist_small):
    with pytest.raises(DataError, match="must match"):
        edgekit.compress(tiny_model, (mnist_small[0], mnist_small[1][:10]))

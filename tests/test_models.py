"""Model sources: factories (file or module) and saved files (.keras, .h5, SavedModel)."""

import numpy as np
import pytest

from edgekit.errors import ModelError
from edgekit.models.load import load_model_file, model_from_factory
from tests.conftest import SAMPLES


def test_factory_from_file_with_kwargs():
    model = model_from_factory("simple_cnn.py:build", {"input_shape": [16, 16, 3], "num_classes": 4}, base_dir=SAMPLES)
    assert model.input_shape == (None, 16, 16, 3) and model.output_shape == (None, 4)


def test_factory_from_module():
    model = model_from_factory("tests.conftest:tiny_cnn", {})
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize(
    "factory, message",
    [
        ("simple_cnn.py", "must look like 'file.py:function'"),
        ("missing.py:build", "model factory file not found"),
        ("simple_cnn.py:nothing", "has no function 'nothing'"),
        ("no_such_module_xyz:build", "cannot import model factory module"),
    ],
)
def test_factory_errors(factory, message):
    with pytest.raises(ModelError, match=message):
        model_from_factory(factory, {}, base_dir=SAMPLES)


def test_factory_bad_kwargs():
    with pytest.raises(ModelError, match="rejected its arguments"):
        model_from_factory("simple_cnn.py:build", {"colour": 3}, base_dir=SAMPLES)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ""])
def test_saved_files_load_with_same_predictions(tiny_model, mnist_small, tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    if suffix:
        tiny_model.save(path)
    else:
        tiny_model.save(path, save_format="tf")
    loaded = load_model_file(path)
    x = mnist_small[2][:20]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), tiny_model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"garbage" * 100])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_corrupt_model_files(tmp_path, content, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=f"bad{suffix}: cannot load as a Keras model"):
        load_model_file(path)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_model_file(tmp_path / "none.keras")
    (tmp_path / "m.caffemodel").write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported model file type"):
        load_model_file(tmp_path / "m.caffemodel")


def test_build_from_a_saved_model_file(tiny_model, mnist_small, tmp_path):
    """An already-trained .keras file, no training: the float reference is that model."""
    from edgekit.flows.build import build

    tiny_model.save(tmp_path / "trained.keras")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "fromfile"\n[model]\nfile = "trained.keras"\n[data]\nlimit_train = 512\nlimit_test = 200\n'
        '[train]\nenabled = false\nepochs = 0\n[quantize]\nmode = "ptq"\n[output]\nlatency_runs = 3\n'
    )
    result = build(recipe, out=tmp_path / "out")
    keras_accuracy = float(np.mean(tiny_model.predict(mnist_small[2], verbose=0).argmax(-1) == mnist_small[3]))
    reference, int8 = result.report["artifacts"]
    assert result.report["float_model"]["params"] == tiny_model.count_params()
    assert result.report["float_model"]["accuracy"] == pytest.approx(keras_accuracy, abs=1e-4)
    assert reference["accuracy"] == pytest.approx(keras_accuracy, abs=1e-4)
    assert int8["agreement"] >= 0.9

"""Layers TF-MOT cannot handle: named, left as they are, listed; excludes; m:n and XNNPACK policies."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit._compat import keras
from edgekit.compression import Prune, QuantizeAware, kernel_sparsity
from edgekit.compression.run import run_compression
from edgekit.compression.sensitivity import magnitude_prune
from edgekit.compression.sparsity import follows_m_by_n, kernels
from edgekit.converters.keras_tflite import convert_keras
from edgekit.errors import ModelError
from edgekit.runtime import open_model
from edgekit.training.train import TrainData


def _scale_layer_class():
    k = keras()

    class Scale(k.layers.Layer):
        """A custom layer with a weight: in no TF-MOT registry."""

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.scale

    return Scale


def _model_with_custom_layers():
    k = keras()
    inputs = k.Input((28, 28, 1), name="image")
    x = k.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = _scale_layer_class()(name="scale")(x)
    x = k.layers.MaxPooling2D(2, name="pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(16, activation="relu", name="dense")(x)
    outputs = k.layers.Dense(10, activation="softmax", name="head")(x)
    return k.Model(inputs, outputs, name="with_custom")


@pytest.fixture(scope="module")
def data(mnist_small):
    x, y, _, _ = mnist_small
    return TrainData(x[:256], y[:256], batch_size=32)


def test_unsupported_layer_is_left_out_and_named(data):
    model = _model_with_custom_layers()
    steps = [Prune(sparsity=0.5, epochs=2, learning_rate=1e-3), QuantizeAware(epochs=1, preserve_sparsity=True)]
    result = run_compression(model, steps, data)
    skipped = {(s["layer"], s["type"], s["step"]) for s in result.report["skipped_layers"]}
    assert ("scale", "Scale", "prune") in skipped and ("scale", "Scale", "pqat") in skipped
    assert all("not supported by TF-MOT" in s["reason"] for s in result.report["skipped_layers"])
    # the rest was pruned and QAT-trained; the model converts to full int8 all the same
    assert set(result.report["prune"]["pruned_layers"]) == {"conv", "dense", "head"}
    assert result.report["prune"]["sparsity_after_strip"] == pytest.approx(0.5, abs=0.01)
    assert result.report["pqat"]["applied"] is True
    int8 = convert_keras(result.qat_model, quantization="int8", io_dtype="int8", representative_data=data.x, calibration_samples=32)
    assert open_model(int8).inputs[0].dtype == "int8"


def test_exclude_by_name_and_type(tiny_model, data):
    result = run_compression(tiny_model, [Prune(sparsity=0.5, epochs=2, exclude=("conv1", "Dense"))], data)
    assert result.report["prune"]["pruned_layers"] == ["conv2"]
    reasons = {s["layer"]: s["reason"] for s in result.report["skipped_layers"]}
    assert set(reasons) == {"conv1", "dense1", "probabilities"} and "prune.exclude" in reasons["conv1"]
    layers = kernel_sparsity(result.float_model)["layers"]
    assert layers["conv2"] == pytest.approx(0.5, abs=0.02) and layers["dense1"] < 0.05


def test_exclude_that_matches_nothing_lists_the_layers(tiny_model, data):
    with pytest.raises(ModelError, match=r"'conv9' matches no layer.*conv1 \(Conv2D\)"):
        run_compression(tiny_model, [Prune(sparsity=0.5, epochs=2, exclude=("conv9",))], data)


def test_nested_model_is_pruned_and_quantised(data):
    k = keras()
    block = k.Sequential([k.layers.Input((28, 28, 1)), k.layers.Conv2D(4, 3, activation="relu", name="inner_conv"), k.layers.MaxPooling2D(2)], name="block")
    inputs = k.Input((28, 28, 1))
    x = k.layers.Flatten()(block(inputs))
    outputs = k.layers.Dense(10, activation="softmax", name="head")(x)
    model = k.Model(inputs, outputs, name="nested")
    steps = [Prune(sparsity=0.5, epochs=2), QuantizeAware(epochs=1, preserve_sparsity=True)]
    result = run_compression(model, steps, data)
    assert set(result.report["prune"]["pruned_layers"]) == {"inner_conv", "head"}
    assert result.report["pqat"]["applied"] and "skipped_layers" not in result.report
    assert kernels(result.float_model)["inner_conv"].size == 36


def test_subclassed_model_falls_back_instead_of_crashing(data):
    k = keras()

    class Net(k.Model):
        def __init__(self):
            super().__init__(name="net")
            self.flatten = k.layers.Flatten()
            self.head = k.layers.Dense(10, activation="softmax")

        def call(self, inputs):
            return self.head(self.flatten(inputs))

    model = Net()
    model(np.zeros((1, 28, 28, 1), np.float32))
    result = run_compression(model, [Prune(sparsity=0.5, epochs=2), QuantizeAware(epochs=1)], data)
    assert result.qat_model is None and result.report["qat"]["applied"] is False
    assert {s["step"] for s in result.report["skipped_layers"]} == {"prune", "qat"}
    assert all("subclassed" in s["reason"] and s["type"] == "Net" for s in result.report["skipped_layers"])


def test_two_four_sparsity_is_verified(tiny_model, data):
    result = run_compression(tiny_model, [Prune(sparsity=0.0, m_by_n=(2, 4), epochs=2, exclude=("conv1",))], data)
    report = result.report["prune"]
    assert report["m_by_n"] == "2:4" and report["m_by_n_verified"] is True
    assert report["sparsity_after_strip"] == pytest.approx(0.5, abs=0.01)
    for name in report["pruned_layers"]:
        assert follows_m_by_n(kernels(result.float_model)[name], (2, 4))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(3, 3, 8, 4), (16, 6), (1, 1, 12, 2), (5, 7)]),
    m_by_n=st.sampled_from([(2, 4), (1, 4), (3, 8)]),
    seed=st.integers(0, 1000),
)
def test_magnitude_m_by_n_pattern_property(shape, m_by_n, seed):
    values = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    pruned = magnitude_prune(values, 0.0, m_by_n)
    assert follows_m_by_n(pruned, m_by_n)
    kept = pruned != 0
    assert np.array_equal(pruned[kept], values[kept])  # only zeros were introduced


def test_dense_kernels_do_not_pass_as_m_by_n():
    assert not follows_m_by_n(np.ones((3, 3, 8, 4), np.float32), (2, 4))


def test_xnnpack_policy_refuses_a_model_it_does_not_fit(tiny_model, data):
    with pytest.raises(ModelError, match="PruneForLatencyOnXNNPack.*prune.policy"):
        run_compression(tiny_model, [Prune(sparsity=0.5, epochs=2, policy="xnnpack")], data)


def test_xnnpack_policy_prunes_only_what_xnnpack_runs_sparse(data):
    """The MobileNet-like shape the policy wants: RGB, ZeroPadding2D(1), 3x3/2 VALID stem, GAP."""
    k = keras()
    inputs = k.Input((28, 28, 3))
    x = k.layers.ZeroPadding2D(1)(inputs)
    x = k.layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu", name="stem")(x)
    x = k.layers.Conv2D(16, 1, activation="relu", name="pointwise")(x)
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = k.layers.Dense(10, activation="softmax", name="head")(x)
    model = k.Model(inputs, outputs)
    rgb = TrainData(np.repeat(data.x, 3, axis=-1), data.y, batch_size=32)
    result = run_compression(model, [Prune(sparsity=0.5, epochs=2, policy="xnnpack")], rgb)
    assert result.report["prune"]["pruned_layers"] == ["pointwise"]
    assert result.report["prune"]["policy"] == "xnnpack"
    skipped = {s["layer"]: s["reason"] for s in result.report["skipped_layers"]}
    assert "PruneForLatencyOnXNNPack" in skipped["stem"]

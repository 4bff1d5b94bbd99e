"""Clustering and the collaborative QAT schemes: what earlier steps did survives into the int8 file."""

import numpy as np
import pytest

from edgekit.compression import Cluster, Prune, QuantizeAware, kernel_sparsity, unique_weights_per_kernel
from edgekit.compression.run import run_compression
from edgekit.converters.keras_tflite import convert_keras
from edgekit.flows.from_recipe import steps_from_recipe
from edgekit.recipe import recipe_from_dict
from edgekit.runtime import open_model
from edgekit.runtime.inspect import unique_weights_per_kernel as stored_unique
from edgekit.runtime.inspect import weight_sparsity
from edgekit.training.train import TrainData

MODEL = {"factory": "simple_cnn.py:build"}


@pytest.mark.parametrize(
    "prune, clusters, expected",
    [(0.0, 0, ("qat", "Default8BitQuantizeScheme")), (0.5, 0, ("pqat", "Default8BitPrunePreserveQuantizeScheme")),
     (0.0, 8, ("cqat", "Default8BitClusterPreserveQuantizeScheme")), (0.5, 8, ("pcqat", "Default8BitClusterPreserveQuantizeScheme"))],
)
def test_qat_scheme_follows_earlier_steps(prune, clusters, expected):
    recipe = recipe_from_dict({"model": MODEL, "prune": {"sparsity": prune}, "cluster": {"clusters": clusters}, "quantize": {"mode": "qat"}})
    qat = steps_from_recipe(recipe)[-1]
    assert isinstance(qat, QuantizeAware)
    assert (qat.name, type(qat.scheme()).__name__) == expected
    if clusters:
        cluster = next(step for step in steps_from_recipe(recipe) if isinstance(step, Cluster))
        assert cluster.preserve_sparsity == (prune > 0)
    if clusters:
        assert qat.scheme().preserve_sparsity == (prune > 0)  # CQAT vs PCQAT


def test_prune_cluster_pcqat_survive_into_the_int8_artifact(tiny_model, mnist_small, tmp_path):
    x, y, x_test, y_test = mnist_small
    steps = [
        Prune(sparsity=0.6, epochs=2, learning_rate=1e-3),
        Cluster(clusters=8, epochs=1, preserve_sparsity=True),
        QuantizeAware(epochs=1, preserve_sparsity=True, preserve_clusters=True),
    ]
    result = run_compression(tiny_model, steps, TrainData(x, y, batch_size=32))
    report = result.report
    assert report["cluster"]["unique_weights_per_kernel"] and max(report["cluster"]["unique_weights_per_kernel"].values()) <= 8
    assert report["cluster"]["sparsity_after_strip"] == pytest.approx(0.6, abs=0.01)
    assert report["pcqat"]["scheme"] == "Default8BitClusterPreserveQuantizeScheme"
    # the stripped float model: clustered and still sparse
    assert max(unique_weights_per_kernel(result.float_model).values()) <= 8
    assert kernel_sparsity(result.float_model)["overall"] == pytest.approx(0.6, abs=0.01)
    # the shipped int8 file: per output channel at most 8 values, and the zeros are still there
    int8 = convert_keras(result.qat_model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=50)
    stored = open_model(int8, default_delegates=False)
    assert max(stored_unique(stored).values()) <= 8
    assert weight_sparsity(stored) == pytest.approx(0.6, abs=0.02)
    accuracy = float(np.mean(open_model(int8).predict(x_test).argmax(-1) == y_test))
    assert accuracy > 0.5
    _pcqat_is_not_checkpointed(result, tmp_path)


def _pcqat_is_not_checkpointed(result, folder):
    """TF-MOT saves a PCQAT model to .h5 but cannot load it back ("Weight count mismatch"), so
    the checkpoint is not kept rather than failing with a warning on every re-run."""
    from edgekit.flows.model_cache import ModelCache

    cache = ModelCache(folder / "cache")
    assert cache.save("compressed", "k", {"float.keras": result.float_model, "qat.h5": result.qat_model}, {}) is None
    assert not any((folder / "cache").iterdir())  # nothing half-kept
    assert cache.save("compressed", "k", {"float.keras": result.float_model}, {}) is not None


def test_unclustered_int8_kernels_have_many_values(tiny_tflite):
    """The check above means something: a plain int8 kernel has far more than 8 values per channel."""
    counts = stored_unique(open_model(tiny_tflite["int8"], default_delegates=False))
    assert max(counts.values()) > 30


def test_a_layer_can_have_its_own_cluster_count(tiny_model, mnist_small):
    """A dense kernel at 4 clusters (2-bit LUT indices on a microcontroller), the rest at 16."""
    from edgekit.training.train import TrainData

    x, y, _, _ = mnist_small
    step = Cluster(clusters=16, per_layer={"dense1": 4}, epochs=1)
    result = run_compression(tiny_model, [step], TrainData(x, y, batch_size=32))
    counts = unique_weights_per_kernel(result.float_model)
    assert counts["dense1"] <= 4 and max(v for k, v in counts.items() if k != "dense1") <= 16
    assert max(v for k, v in counts.items() if k != "dense1") > 4
    assert result.report["cluster"]["clusters_per_layer"] == {"dense1": 4}


def test_per_layer_clusters_are_checked(tiny_model, tmp_path):
    from edgekit.compression.layers import clone_with_weights
    from edgekit.errors import ModelError, RecipeError
    from edgekit.recipe import recipe_from_dict

    with pytest.raises(ModelError, match="cluster.layers: the model has no layer 'dense9'"):
        Cluster(clusters=16, per_layer={"dense9": 4}).wrap(tiny_model)
    for layer, kind in (("pool1", "MaxPooling2D"), ("flatten", "Flatten")):  # the report used to claim "4 for pool1"
        with pytest.raises(ModelError, match=f"cluster.layers: layer '{layer}' \\({kind}\\) has no kernel to cluster"):
            Cluster(clusters=16, per_layer={layer: 4}).wrap(tiny_model)
    with pytest.raises(ModelError, match="cluster.layers: layer 'dense1' is not clustered: excluded by the recipe"):
        Cluster(clusters=16, per_layer={"dense1": 4}, exclude=("dense1",)).wrap(clone_with_weights(tiny_model))  # wrapping changes the layers it wraps
    base = {"model": {"factory": "x.py:f"}}
    with pytest.raises(RecipeError, match="cluster.layers.dense1 = 1 must be a whole number of clusters, at least 2"):
        recipe_from_dict({**base, "cluster": {"clusters": 16, "layers": {"dense1": 1}}})
    with pytest.raises(RecipeError, match="cluster.layers needs cluster.clusters"):
        recipe_from_dict({**base, "cluster": {"layers": {"dense1": 4}}})
    assert recipe_from_dict({**base, "cluster": {"clusters": 16, "layers": {"dense1": 4}}}).cluster.layers == {"dense1": 4}


def test_a_float16_kernels_distinct_values_are_counted_exactly():
    """numpy 2.4's np.unique on a large float16 array repeats values (24 for these 16); the
    report's uniq/kernel of a float16 artifact counts them as float32."""
    import numpy as np

    from edgekit.runtime.inspect import _distinct

    kernel = np.random.default_rng(0).choice(np.linspace(-0.2, 0.2, 16, dtype=np.float32), (2048, 128)).astype(np.float16)
    assert _distinct(kernel) == 16


@pytest.mark.parametrize("wrapper", ["prune", "cluster", "qat"])
def test_a_wrapped_softmax_output_is_still_trained_as_probabilities(wrapper):
    """TF-MOT wraps the output layer (and QAT its activation): the loss must still see a
    softmax, not logits, or fine-tuning trains the wrong objective (it did, with a warning)."""
    from edgekit._compat import tfmot
    from edgekit.training.train import outputs_logits
    from tests.conftest import tiny_cnn

    keras_mot = tfmot()
    wrap = {
        "prune": keras_mot.sparsity.keras.prune_low_magnitude,
        "cluster": lambda m: keras_mot.clustering.keras.cluster_weights(m, number_of_clusters=4),
        "qat": keras_mot.quantization.keras.quantize_model,
    }[wrapper]
    assert outputs_logits(wrap(tiny_cnn())) is False


def _mobile_block_model():
    """A MobileNet/DS-CNN-style block: a depthwise conv, a separable conv, a dense head."""
    from edgekit._compat import keras

    layers = keras().layers
    return keras().Sequential(
        [
            layers.Input((28, 28, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="stem"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise"),
            layers.SeparableConv2D(16, 3, strides=2, padding="same", activation="relu", name="separable"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10, activation="softmax", name="head"),
        ]
    )


def test_depthwise_kernels_which_tf_mot_leaves_unclustered_are_skipped_with_the_reason(mnist_small):
    """TF-MOT registers DepthwiseConv2D with no weights to cluster (and a SeparableConv2D's
    depthwise half too): such a model (DS-CNN, MobileNet) failed the after-strip check with
    576 distinct values where 16 were asked. The depthwise layer is now skipped and named with
    the reason; every kernel TF-MOT clusters holds at most its count."""
    from edgekit.training.train import TrainData

    x, y, _, _ = mnist_small
    step = Cluster(clusters=16, epochs=1)
    result = run_compression(_mobile_block_model(), [step], TrainData(x, y, batch_size=32))
    report = result.report["cluster"]
    assert sorted(report["clustered_layers"]) == ["head", "separable", "stem"]
    assert {s.layer: s.reason for s in step.skipped}["depthwise"].startswith("TF-MOT does not cluster DepthwiseConv2D")
    assert all(count <= 16 for count in report["unique_weights_per_kernel"].values())
    assert set(report["unique_weights_per_kernel"]) == {"stem", "separable", "head"}

"""Models that are not MNIST classifiers: several outputs (a list, a dict), non-classifiers
(reconstruction / anomaly detection, embeddings, regression heads, raw detection heads),
dynamic input sizes and degenerate data, through ``edgekit convert`` as a user runs it.

Every output is kept with its name and order in the signature, the manifest and the
measurements; classifier figures (agreement, labels.txt) only for classifiers.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.errors import InputError
from edgekit.flows.convert import convert_file
from edgekit.measure.fidelity import output_fidelity
from edgekit.measure.tasks import OutputInfo, decide, roc_auc
from edgekit.runtime import open_model
from tests import _task_models as models
from tests.conftest import edgekit_command


def _convert(tmp_path, model, x, target, *, name="model", y=None, **options):
    path = tmp_path / f"{name}.keras"
    model.save(path)
    data = tmp_path / f"{name}.npz"
    np.savez(data, **({"x": x} if y is None else {"x": x, "y": y}))
    return convert_file(path, target=target, out=tmp_path / "out", data=data, calibration_samples=32, **options)


@pytest.mark.parametrize("target", ["cpu", "edgetpu", "mcu"])
def test_a_list_of_outputs_is_measured_per_output(tmp_path, target):
    """A face detector's R-Net: boxes and a face score, each measured against its Keras output."""
    model = models.rnet()
    x = models.random_inputs((24, 24, 3))
    result = _convert(tmp_path, model, x, target)
    assert result.task["name"] == "detection" and "'bbox'" in result.task["reason"]
    assert list(result.metrics["outputs"]) == ["bbox", "face"]
    for figures in result.metrics["outputs"].values():
        assert figures["snr_db"] is not None and figures["snr_db"] > 15 and figures["cosine"] > 0.97
    assert "agreement" not in result.metrics and "accuracy" not in result.metrics
    manifest = verify_bundle(result.bundle)
    assert [(o["name"], o["shape"][1:]) for o in manifest["outputs"]] == [("bbox", [4]), ("face", [2])]
    assert manifest["labels"] == [] and not (result.bundle / "labels.txt").exists()
    assert manifest["task"]["name"] == "detection"
    # the interpreter's outputs are matched by name: the converter orders them its own way
    expected = model.predict(x, verbose=0)
    actual = open_model(result.model_bytes).predict_outputs(x)
    assert output_fidelity(expected[0], actual["bbox"])["cosine"] > 0.97
    assert output_fidelity(expected[1], actual["face"])["cosine"] > 0.97


def test_a_dict_of_outputs_keeps_its_names(tmp_path):
    model = models.audio_dict()
    result = _convert(tmp_path, model, models.random_inputs((40, 10)), "cpu")
    assert list(result.metrics["outputs"]) == ["speaker", "tokens", "voice"]  # the model's own (sorted) order
    assert result.task["name"] == "regression" and "3 outputs" in result.task["reason"]
    signature = open_model(result.model_bytes).interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["outputs"]) == ["speaker", "tokens", "voice"] and signature["inputs"] == ["spectrogram"]
    assert [o["name"] for o in verify_bundle(result.bundle)["outputs"]] == ["speaker", "tokens", "voice"]


def test_an_autoencoder_gets_fidelity_and_auc_not_agreement(tmp_path):
    """Anomaly detection as MLPerf Tiny scores it: ROC AUC of the reconstruction error."""
    x_train, x_test, y_test = models.anomaly_data()
    model = models.train_autoencoder(models.autoencoder(), x_train)
    data = tmp_path / "frames.npz"
    np.savez(data, x_train=x_train, x_test=x_test, y_test=y_test)
    model.save(tmp_path / "ad.keras")
    result = convert_file(tmp_path / "ad.keras", target="cpu", out=tmp_path / "out", data=data, calibration_samples=100)
    assert result.task["name"] == "regression" and "reconstruction" in result.task["reason"]
    assert "agreement" not in result.metrics and "accuracy" not in result.metrics
    assert result.metrics["auc"] > 0.9  # normal inputs reconstruct well, noise does not
    assert list(result.metrics["outputs"]) == ["reconstruction"] and result.metrics["outputs"]["reconstruction"]["snr_db"] > 10
    assert not (result.bundle / "labels.txt").exists()
    assert verify_bundle(result.bundle)["outputs"][0]["kind"] == "regression"


def test_constant_predictions_are_named_not_passed_as_agreement(tmp_path):
    result = _convert(tmp_path, models.constant_classifier(), models.random_inputs((12,)), "cpu:float32")
    assert result.task["name"] == "classification"
    assert result.metrics["agreement"] == 1.0  # the figure alone would look perfect...
    warnings = " ".join(result.task["warnings"])
    assert "same output 'scores' for every input" in warnings and "every input in class" in warnings  # ...so it is flagged


def test_labels_give_accuracy_on_the_command_line(tmp_path, tiny_model, mnist_small, cli_env):
    """``convert`` prints accuracy when the data carry labels."""
    _, _, x_test, y_test = mnist_small
    tiny_model.save(tmp_path / "digits.keras")
    np.savez(tmp_path / "digits.npz", x=x_test, y=y_test)
    command = edgekit_command("convert", str(tmp_path / "digits.keras"), "--target", "cpu", "--data", str(tmp_path / "digits.npz"), "--out", str(tmp_path / "out"))
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "task: classification (output 'probabilities' scores 10 classes (its layer is a softmax))" in result.stdout
    assert "accuracy: " in result.stdout and "top-1 agreement with the Keras model: " in result.stdout
    manifest = json.loads((tmp_path / "out" / "digits-cpu-int8" / "manifest.json").read_text())
    assert manifest["metrics"]["accuracy"] > 0.6 and manifest["labels"] == [str(i) for i in range(10)]


def test_an_embedding_and_a_regression_head_are_recognised(tmp_path):
    embedded = _convert(tmp_path, models.embedding(), models.random_inputs((32,)), "cpu", name="embedder")
    assert embedded.task["name"] == "embedding" and embedded.metrics["outputs"]["embedding"]["cosine"] > 0.99
    regressed = _convert(tmp_path, models.regression_head(), models.random_inputs((12,)), "cpu", name="regressor")
    assert regressed.task["name"] == "regression" and "not a softmax" in regressed.task["reason"]
    forced = _convert(tmp_path, models.regression_head(), models.random_inputs((12,)), "cpu", name="forced", task="classification")
    assert forced.task == {"name": "classification", "requested": "classification", "reason": "asked for", "warnings": forced.task["warnings"]}
    assert "agreement" in forced.metrics


def test_a_dynamic_input_size_is_fixed_from_the_data_or_the_flag(tmp_path):
    model = models.fully_convolutional()
    from_data = _convert(tmp_path, model, models.random_inputs((16, 16, 3)), "cpu:float32", name="fcn")
    assert open_model(from_data.model_bytes).inputs[0].shape_signature == (-1, 16, 16, 3)
    assert from_data.metrics["agreement"] == 1.0
    model.save(tmp_path / "bare.keras")
    flagged = convert_file(tmp_path / "bare.keras", target="gpu", out=tmp_path / "flag", input_shape=(20, 20, 3))
    assert open_model(flagged.model_bytes).inputs[0].shape_signature == (1, 20, 20, 3)
    with pytest.raises(InputError, match=r"input 'image' has dynamic dimensions \(\(None, None, 3\), dimension 1, 2\).*") as raised:
        convert_file(tmp_path / "bare.keras", target="cpu:float32", out=tmp_path / "none")
    assert "--input-shape" in raised.value.hint


def test_auto_decides_from_outputs_and_says_why():
    softmax = [OutputInfo("probabilities", (10,), "softmax")]
    assert decide("auto", softmax, (28, 28, 1)).name == "classification"
    assert decide("auto", [OutputInfo("out", (640,))], (640,)).reason.startswith("the output has the input's 640 values")
    assert decide("auto", [OutputInfo("bbox", (4,)), OutputInfo("score", (1,))], (24, 24, 3)).name == "detection"
    assert decide("auto", [OutputInfo("logits", (5,))], (8,), {"logits": np.full((4, 5), 0.2)}).name == "classification"
    assert decide("auto", [OutputInfo("logits", (5,))], (8,), {"logits": np.full((4, 5), 0.7)}).name == "regression"
    assert decide("regression", softmax, (28, 28, 1)).reason == "asked for"
    with pytest.raises(InputError, match="choose one of: auto, classification, regression, detection, embedding"):
        decide("segmentation", softmax, (4,))


def test_roc_auc_and_snr_are_the_textbook_figures():
    scores, labels = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert roc_auc(scores, labels) == 0.75  # sklearn's roc_auc_score example
    assert roc_auc(np.array([1.0, 1.0, 2.0, 2.0]), labels) == 1.0 and roc_auc(np.ones(4), labels) == 0.5
    reference = np.array([[3.0, 4.0]])
    figures = output_fidelity(reference, reference + np.array([[0.3, 0.4]]))  # error energy 0.25 of 25
    assert figures["snr_db"] == 20.0 and figures["max_abs_error"] == 0.4
    assert output_fidelity(reference, reference)["snr_db"] is None  # identical: no finite SNR


def _audio_saved_model(folder):
    """An audio model exported from plain TensorFlow (not Keras): a serving signature that
    returns a dict of three outputs, like a speech transcriber's SavedModel."""
    from edgekit._compat import tf

    tf_ = tf()
    tf_.random.set_seed(0)

    class Transcriber(tf_.Module):
        def __init__(self):
            super().__init__()
            self.w = tf_.Variable(tf_.random.normal((400, 16), stddev=0.05))
            self.heads = {name: tf_.Variable(tf_.random.normal((16, size), stddev=0.3)) for name, size in (("logits", 12), ("energy", 1), ("embedding", 8))}

        @tf_.function(input_signature=[tf_.TensorSpec([None, 40, 10], tf_.float32, name="features")])
        def serve(self, features):
            hidden = tf_.nn.relu(tf_.reshape(features, (-1, 400)) @ self.w)
            return {name: hidden @ weights for name, weights in self.heads.items()}

    module = Transcriber()
    tf_.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


@pytest.mark.parametrize("target", ["cpu", "mcu"])
def test_a_savedmodel_signature_with_a_dict_of_outputs(tmp_path, target):
    folder = _audio_saved_model(tmp_path / "transcriber")
    np.savez(tmp_path / "speech.npz", x=models.random_inputs((40, 10)))
    result = convert_file(folder, target=target, out=tmp_path / "out", data=tmp_path / "speech.npz", calibration_samples=32)
    assert list(result.metrics["outputs"]) == ["embedding", "energy", "logits"]
    assert all(figures["snr_db"] > 15 for figures in result.metrics["outputs"].values())
    manifest = verify_bundle(result.bundle)
    assert [o["name"] for o in manifest["outputs"]] == ["embedding", "energy", "logits"]
    assert open_model(result.model_bytes).interpreter.get_signature_list()["serving_default"]["inputs"] == ["features"]


def test_a_build_of_an_autoencoder_reports_fidelity_and_auc(tmp_path):
    """A recipe can load a non-classifier (training off): the report and table follow its task."""
    from edgekit.flows.build import build
    from edgekit.report.text import format_table

    x_train, x_test, y_test = models.anomaly_data()
    models.train_autoencoder(models.autoencoder(), x_train).save(tmp_path / "ad.keras")
    np.savez(tmp_path / "frames.npz", x_train=x_train, y_train=np.zeros(len(x_train), dtype=np.int64), x_test=x_test, y_test=y_test)
    (tmp_path / "ad.toml").write_text(
        'name = "ad"\ntargets = ["cpu", "mcu"]\n[model]\nfile = "ad.keras"\n[data]\nsource = "frames.npz"\nmean = 0.0\nstd = 1.0\n'
        "[train]\nenabled = false\nepochs = 0\n[quantize]\ncalibration_samples = 100\n[output]\nlatency_runs = 3\n"
    )
    result = build(tmp_path / "ad.toml", out=tmp_path / "out")
    report = result.report
    assert report["task"]["name"] == "regression" and report["float_model"]["auc"] > 0.9
    for artifact in report["artifacts"]:
        assert "accuracy" not in artifact and "agreement" not in artifact and artifact["auc"] > 0.9
        assert not (result.out_dir / artifact["path"] / "labels.txt").exists()
    table = format_table(report)
    assert table.splitlines()[0].startswith("float Keras model (regression): reconstruction-error AUC")
    assert "SNR dB" in table


def test_an_image_folder_is_read_in_the_colour_the_model_takes(tmp_path):
    from PIL import Image

    from edgekit.flows import from_recipe
    from edgekit.recipe import load_recipe

    for label, colour in (("red", (200, 20, 20)), ("blue", (20, 20, 200))):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "photos" / label / f"{i}.png")
    (tmp_path / "factory.py").write_text(
        "from edgekit._compat import keras\n\ndef build():\n    k = keras()\n    x = k.Input((8, 8, 3))\n"
        "    return k.Model(x, k.layers.Dense(2, activation='softmax')(k.layers.Flatten()(x)))\n"
    )
    (tmp_path / "colour.toml").write_text('[model]\nfactory = "factory.py:build"\n[data]\nsource = "photos"\ntest_fraction = 0.25\n[train]\nepochs = 1\n')
    inputs = from_recipe.load_recipe_inputs(load_recipe(tmp_path / "colour.toml"))
    assert inputs.dataset.input_shape == (8, 8, 3) and inputs.dataset.color == "rgb"
    assert inputs.dataset.x_train[..., 0].max() == 200  # red stays red: read as RGB, not grayscale


def test_a_channel_mismatch_hint_names_data_color(tmp_path):
    from edgekit.errors import DataError
    from edgekit.flows import from_recipe
    from edgekit.recipe import load_recipe

    (tmp_path / "factory.py").write_text(
        "from edgekit._compat import keras\n\ndef build():\n    k = keras()\n    x = k.Input((28, 28, 3))\n"
        "    return k.Model(x, k.layers.Dense(10, activation='softmax')(k.layers.Flatten()(x)))\n"
    )
    (tmp_path / "r.toml").write_text('[model]\nfactory = "factory.py:build"\n[data]\nlimit_train = 16\nlimit_test = 8\n')
    with pytest.raises(DataError, match=r"takes inputs of shape \(28, 28, 3\) but the data has \(28, 28, 1\)") as raised:
        from_recipe.load_recipe_inputs(load_recipe(tmp_path / "r.toml"))
    assert raised.value.hint == 'set data.color = "rgb" (the model takes 3 channel(s))'


def test_inspect_of_a_float_model_on_an_int8_only_target_is_one_line(tmp_path, tiny_tflite, cli_env):
    path = tmp_path / "float.tflite"
    path.write_bytes(tiny_tflite["float32"])
    result = subprocess.run(edgekit_command("inspect", str(path), "-t", "edgetpu", "-t", "ethos-u"), capture_output=True, text=True, env=cli_env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("target ")]
    assert lines == [
        "target edgetpu: this model computes in float; edgetpu runs full-int8 models only (convert it with: edgekit convert MODEL.keras --target edgetpu --data DATA)",
        "target ethos-u: this model computes in float; ethos-u runs full-int8 models only (convert it with: edgekit convert MODEL.keras --target ethos-u --data DATA)",
    ]
    assert len(result.stdout.splitlines()) < 40

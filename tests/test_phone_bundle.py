"""The phone flavour: a tiny build whose cpu-int8 bundle an Android app can use as it is.

Metadata is read back with mediapipe's flatc code (tests/independent_readers.py); the README's
Kotlin must carry the manifest's numbers; the manifest must list every file.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.converters.metadata import associated_files, read_metadata
from edgekit.errors import RecipeError
from edgekit.flavours import DressInput
from edgekit.flavours.phone import dress
from edgekit.flows import stages
from edgekit.flows.build import build
from edgekit.flows.from_recipe import artifact_settings
from edgekit.recipe import load_recipe, recipe_from_dict
from edgekit.registry import get_target
from edgekit.runtime import open_model
from tests.conftest import SAMPLES
from tests.independent_readers import independent_read, mediapipe_readers

PHONE_RECIPE = """
name = "tiny_phone"
targets = ["cpu"]

[model]
factory = "{factory}"
kwargs = {{ input_shape = [28, 28, 1], num_classes = 10, width = 0.25 }}

[data]
source = "mnist"
limit_train = 256
limit_test = 100

[train]
epochs = 1
batch_size = 32

[quantize]
calibration_samples = 50

[output]
latency_runs = 3
flavour = "phone"

[metadata]
name = "Tiny digits"
description = "A quarter-width SimpleCNN for handwritten digits."
version = "0.1.0"
author = "edgekit tests"
license = "Apache-2.0"
"""


def write_recipe(folder, text=PHONE_RECIPE):
    shutil.copyfile(SAMPLES / "simple_cnn.py", folder / "simple_cnn.py")  # recipes reach only their own folder
    path = folder / "tiny_phone.toml"
    path.write_text(text.format(factory="simple_cnn.py:build"))
    return path


@pytest.fixture(scope="module")
def phone_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phone")
    return build(write_recipe(folder), out=folder / "out")


def bundle_of(result, label):
    (artifact,) = [a for a in result.report["artifacts"] if a["name"].endswith(label)]
    return result.out_dir / artifact["path"], artifact


def test_phone_bundle_files_are_all_in_the_manifest(phone_build):
    bundle, artifact = bundle_of(phone_build, "cpu-int8")
    manifest = verify_bundle(bundle)  # every file's sha256 and size, and no file left out
    assert set(manifest["files"]) == {"model.tflite", "labels.txt", "README.md"}
    assert {p.name for p in bundle.iterdir()} == {"model.tflite", "labels.txt", "README.md", "manifest.json"}
    # Every figure is measured on the dressed file that ships.
    assert manifest["files"]["model.tflite"]["bytes"] == artifact["bytes"] == len((bundle / "model.tflite").read_bytes())
    assert manifest["recipe"]["output"]["flavour"] == "phone"
    reference, _ = bundle_of(phone_build, "float32")
    assert not (reference / "README.md").exists()
    assert read_metadata((reference / "model.tflite").read_bytes()) is None


def test_independent_reader_returns_the_manifests_values(phone_build):
    meta_schema, model_schema = mediapipe_readers()
    bundle, _ = bundle_of(phone_build, "cpu-int8")
    manifest = json.loads((bundle / "manifest.json").read_text())
    model = (bundle / "model.tflite").read_bytes()
    found = independent_read(model, meta_schema, model_schema)
    assert (found["name"], found["version"], found["author"], found["license"]) == ("Tiny digits", "0.1.0", "edgekit tests", "Apache-2.0")
    assert found["description"] == "A quarter-width SimpleCNN for handwritten digits."
    normalization = manifest["inputs"][0]["normalization"]
    assert (found["mean"], found["std"]) == (normalization["mean"], normalization["std"])
    assert found["color_space"] == meta_schema.ColorSpaceType.GRAYSCALE
    signature = open_model(model).interpreter.get_signature_list()["serving_default"]
    assert (found["input_name"], found["output_name"]) == (signature["inputs"][0], signature["outputs"][0]) == ("image", "probabilities")
    assert found["labels_file"] == "labels.txt"
    packed = associated_files(model)["labels.txt"]
    assert packed == (bundle / "labels.txt").read_bytes()
    assert packed.decode().split("\n")[:-1] == manifest["labels"]


def test_readme_kotlin_carries_the_manifests_numbers(phone_build):
    bundle, _ = bundle_of(phone_build, "cpu-int8")
    manifest = json.loads((bundle / "manifest.json").read_text())
    text = (bundle / "README.md").read_text()
    (source,) = re.findall(r"```kotlin\n(import android.*?)```", text, re.S)
    constants = dict(re.findall(r"const val (\w+) = (\S+)", source))
    model_input, model_output = manifest["inputs"][0], manifest["outputs"][0]
    assert np.float32(constants["INPUT_SCALE"].rstrip("f")) == np.float32(model_input["quantization"]["scale"])
    assert int(constants["INPUT_ZERO_POINT"]) == model_input["quantization"]["zero_point"]
    assert np.float32(constants["OUTPUT_SCALE"].rstrip("f")) == np.float32(model_output["quantization"]["scale"])
    assert int(constants["OUTPUT_ZERO_POINT"]) == model_output["quantization"]["zero_point"]
    assert int(constants["PIXELS"]) == int(np.prod(model_input["shape"][1:])) and int(constants["CLASSES"]) == 10
    assert "val MEAN = floatArrayOf(0.0f)" in source and "val STD = floatArrayOf(255.0f)" in source
    assert 'runSignature(mapOf("image" to input), mapOf("probabilities" to output))' in source
    for api in ("org.tensorflow.lite.Interpreter", "GpuDelegate(compatibility.bestOptionsForThisDevice)", "isDelegateSupportedOnThisDevice"):
        assert api in source
    assert "useGpu: Boolean = false" in source  # the int8 artifact is the CPU (XNNPACK) one
    assert source.count("{") == source.count("}")


@pytest.fixture(scope="module")
def tiny_phone_recipe(tmp_path_factory):
    return load_recipe(write_recipe(tmp_path_factory.mktemp("recipe")))


@pytest.fixture(scope="module")
def digits():
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec

    return load_dataset(DataSpec(source="mnist", limit_train=64, limit_test=64))


def artifact(name: str, target: str | None, quantization: str, model_bytes: bytes) -> stages.Artifact:
    return stages.Artifact(name=name, target=None if target is None else get_target(target), quantization=quantization, model_bytes=model_bytes)


def dressed(unflavoured: stages.Artifact, recipe, digits) -> stages.Artifact:
    """The conversion stage's dressing step, as a build of ``recipe`` applies it."""
    return stages.dress(unflavoured, stages.ModelData.from_dataset(digits), artifact_settings(recipe))


def test_flavour_leaves_predictions_unchanged(tiny_tflite, tiny_phone_recipe, digits):
    plain = dressed(artifact("tiny-float32", None, "float32", tiny_tflite["float32"]), tiny_phone_recipe, digits)
    phone = dressed(artifact("tiny-cpu-int8", "cpu", "int8", tiny_tflite["int8"]), tiny_phone_recipe, digits)
    assert plain.model_bytes == tiny_tflite["float32"] and not plain.files
    assert set(phone.files) == {"README.md"} and read_metadata(phone.model_bytes)["name"] == "Tiny digits"
    x = digits.normalize(digits.x_test)
    for delegates in (True, False):
        before = open_model(tiny_tflite["int8"], default_delegates=delegates).predict(x)
        assert np.array_equal(open_model(phone.model_bytes, default_delegates=delegates).predict(x), before)


def test_gpu_float16_artifact_gets_float_kotlin(tiny_tflite, tiny_phone_recipe, digits):
    job = DressInput(
        artifact="tiny-gpu-float16",
        target="gpu",
        quantization="float16",
        labels=digits.labels,
        normalization=digits.normalization(),
        image=digits.image_info(),
        metadata=dataclasses.asdict(tiny_phone_recipe.metadata),
        model_name=tiny_phone_recipe.name,
    )
    dressed = dress(tiny_tflite["float16"], job)
    found = read_metadata(dressed.model_bytes)
    assert found["inputs"][0]["stats"] == {"min": [0.0], "max": [1.0]}  # float input: (0 - 0) / 255 .. (255 - 0) / 255
    readme = dressed.files["README.md"].decode()
    assert "useGpu: Boolean = true" in readme and "input.putFloat(x)" in readme and "output.getFloat()" in readme
    assert "INPUT_SCALE" not in readme and "MediaPipe's and the Task Library's" not in readme
    x = digits.normalize(digits.x_test)
    assert np.array_equal(open_model(dressed.model_bytes).predict(x), open_model(tiny_tflite["float16"]).predict(x))


def test_recipe_metadata_defaults(tiny_phone_recipe, tiny_tflite, digits):
    recipe = dataclasses.replace(tiny_phone_recipe, metadata=dataclasses.replace(tiny_phone_recipe.metadata, name=None, description=None, version=""))
    found = read_metadata(dressed(artifact("x", "cpu", "int8", tiny_tflite["int8"]), recipe, digits).model_bytes)
    assert found["name"] == "tiny_phone" and found["version"] is None
    assert found["description"].startswith("Classifies a 28x28 grayscale image into one of 10 classes.")


def _raw(**changes):
    raw = {"name": "r", "model": {"factory": "simple_cnn.py:build"}, "output": {"flavour": "phone"}}
    for key, value in changes.items():
        raw[key] = value
    return raw


def test_flavour_errors_name_the_fix():
    with pytest.raises(RecipeError, match="choose one of: plain, phone"):
        recipe_from_dict(_raw(output={"flavour": "watch"}))
    with pytest.raises(RecipeError, match=r"dresses the cpu-int8, gpu-float16 artifacts, but this recipe builds cpu-float32.*add 'cpu:int8'"):
        recipe_from_dict(_raw(targets=["cpu:float32"]))
    with pytest.raises(RecipeError, match="unknown key 'licence' in \\[metadata\\]"):
        recipe_from_dict(_raw(metadata={"licence": "MIT"}))
    assert recipe_from_dict(_raw(targets=["cpu"])).output.flavour == "phone"
    assert recipe_from_dict({"model": {"factory": "x.py:f"}}).output.flavour == "plain"


def test_a_dressing_that_changes_predictions_is_refused(tiny_tflite, digits):
    from edgekit.errors import ModelError
    from edgekit.flavours import check_same_predictions

    x = digits.normalize(digits.x_test)
    check_same_predictions("same", tiny_tflite["int8"], tiny_tflite["int8"], x)
    with pytest.raises(ModelError, match="changed its predictions"):
        check_same_predictions("swapped", tiny_tflite["int8"], tiny_tflite["float32"], x)


def test_uint8_io_artifact_for_mediapipe_and_the_task_library(tiny_model, tiny_phone_recipe, digits, mnist_small):
    """What the README advises for those libraries: int8 weights, uint8 input and output."""
    from edgekit.converters.keras_tflite import convert_keras

    model = convert_keras(tiny_model, quantization="int8", io_dtype="uint8", representative_data=mnist_small[0], calibration_samples=50)
    uint8 = dressed(artifact("tiny-cpu-int8", "cpu", "int8", model), tiny_phone_recipe, digits)
    assert read_metadata(uint8.model_bytes)["inputs"][0]["stats"] == {"min": [0.0], "max": [255.0]}
    readme = uint8.files["README.md"].decode()
    assert ".coerceIn(0, 255).toByte()" in readme and "(output.get().toInt() and 0xFF)" in readme
    assert "MediaPipe's and the Task Library's" not in readme

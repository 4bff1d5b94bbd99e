"""One flow for every command: the same model, data and target give the same bytes whichever
command made them.

``edgekit convert`` of a trained file and ``edgekit build`` of a recipe that loads the same
file (training, pruning, clustering and QAT off, the same data for calibration) ship
byte-identical ``.tflite`` files for every target; a one-point ``edgekit sweep`` of a phone
recipe ships what ``edgekit build`` of that recipe ships; and every edgetpu, gpu, mcu and
ethos-u artifact has batch 1 and passes its own check, whichever command made it.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.flows.build import build
from edgekit.flows.convert import convert_file
from edgekit.flows.sweep import sweep
from edgekit.registry import get_target, target_names
from edgekit.tflite.graph import read_tflite
from tests.conftest import write_tiny_recipe

STATIC_BATCH = ("edgetpu", "gpu", "mcu", "ethos-u")
FILE_RECIPE = """
name = "digits"
targets = {targets}

[model]
file = "model.keras"

[data]
source = "digits.npz"
mean = 0.0
std = 255.0

[train]
enabled = false
epochs = 0

[quantize]
mode = "ptq"
calibration_samples = 50

[output]
latency_runs = 3
"""


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory, tiny_model):
    """The trained tiny CNN as a .keras file and raw digits split as a build splits them."""
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec

    folder = tmp_path_factory.mktemp("one-flow")
    tiny_model.save(folder / "model.keras")
    digits = load_dataset(DataSpec(source="mnist", limit_train=256, limit_test=100))
    np.savez(folder / "digits.npz", x_train=digits.x_train, y_train=digits.y_train, x_test=digits.x_test, y_test=digits.y_test)
    return folder


@pytest.fixture(scope="module")
def built(model_and_data):
    """``edgekit build`` of a recipe loading the file, for all five targets at once."""
    recipe = model_and_data / "digits.toml"
    recipe.write_text(FILE_RECIPE.format(targets=list(target_names())).replace("'", '"'))
    return build(recipe, out=model_and_data / "built")


def _convert(folder, target: str):
    return convert_file(
        folder / "model.keras", target=target, out=folder / "converted", data=folder / "digits.npz", mean=0.0, std=255.0, calibration_samples=50
    )


@pytest.mark.parametrize("name", target_names())
def test_convert_and_build_ship_the_same_bytes(model_and_data, built, name):
    target = get_target(name)
    converted = _convert(model_and_data, name)
    shipped = (built.out_dir / "bundles" / f"digits-{target.label}" / "model.tflite").read_bytes()
    assert (converted.bundle / "model.tflite").read_bytes() == converted.model_bytes
    assert converted.model_bytes == shipped, f"{name}: convert and build made different {target.label} files"
    # Measured the same way too (on the test split, against the same Keras model).
    row = next(a for a in built.report["artifacts"] if a["target"] == name)
    for key in ("accuracy", "agreement", "samples", "fidelity", "outputs", "bytes", "gzip_bytes", "sparsity"):
        assert converted.metrics[key] == row[key], key
    assert converted.target_report["runnable"] == row["target_report"]["runnable"]


@pytest.mark.parametrize("name", STATIC_BATCH)
def test_static_targets_get_batch_1_and_a_runnable_verdict(model_and_data, built, name):
    target = get_target(name)
    converted = _convert(model_and_data, name)
    for model_bytes in (converted.model_bytes, (built.out_dir / "bundles" / f"digits-{target.label}" / "model.tflite").read_bytes()):
        graph = read_tflite(model_bytes)
        for index in (*graph.main.inputs, *graph.main.outputs):
            assert graph.main.tensors[index].shape_signature[0] == 1
        assert not any(tensor.dynamic for tensor in graph.main.tensors)
        assert target.check(model_bytes).runnable
    assert converted.target_report["runnable"]


def test_a_one_point_sweep_ships_what_build_ships(tmp_path):
    """A phone recipe (cpu-int8 dressed with metadata): the sweep's only variant is the build's
    cpu-int8 artifact, byte for byte, trained and compressed independently."""
    recipe = write_tiny_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace('latency_runs = 5\n', 'latency_runs = 3\nflavour = "phone"\n') + '\n[metadata]\nname = "Tiny digits"\n')
    built = build(recipe, out=tmp_path / "built")
    swept = sweep(recipe, out=tmp_path / "swept", sparsities=[0.5], modes=["qat"], targets=["cpu"])
    (variant,) = swept.report["artifacts"]
    assert variant["name"] == "tiny-cpu-s50-qat" and swept.computed == ["tiny-cpu-s50-qat"]
    from_build = (built.out_dir / "bundles" / "tiny-cpu-int8" / "model.tflite").read_bytes()
    from_sweep = (swept.out_dir / variant["path"] / "model.tflite").read_bytes()
    assert from_sweep == from_build
    assert sorted(p.name for p in (swept.out_dir / variant["path"]).iterdir()) == sorted(p.name for p in (built.out_dir / "bundles" / "tiny-cpu-int8").iterdir())
    row = next(a for a in built.report["artifacts"] if a["name"] == "tiny-cpu-int8")
    assert (variant["accuracy"], variant["gzip_bytes"], variant["compression"]) == (row["accuracy"], row["gzip_bytes"], built.report["compression"])

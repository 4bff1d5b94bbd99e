"""Big models on small targets: budgets and board profiles, verdicts before TFLM runs, the
other targets still built, and the graph fix that lets TFLM load a degenerate classifier.

A valid model that does not fit is a budget verdict (exit 1, one line: what it needs and the
budget), never "bad input" (exit 2) and never an abort.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.errors import BudgetError, InputError
from edgekit.flows.convert import convert_file
from edgekit.registry import get_target
from edgekit.targets._tflm_fixes import TFLM_SOFTMAX_LIMIT, softmax_inputs_to_coarsen, tflm_loadable
from edgekit.targets.boards import BOARDS, get_board
from edgekit.tflite.graph import read_tflite
from tests.conftest import edgekit_command, write_tiny_recipe


def _near_zero_classifier():
    """A classifier whose logits all sit near zero (as an untrained MobileNetV2's do): its
    int8 softmax input scale falls below TFLM's limit."""
    from edgekit._compat import keras, seed_everything

    seed_everything(0)
    k = keras()
    x = k.Input((8, 8, 3))
    h = k.layers.Flatten()(k.layers.Conv2D(4, 3, activation="relu")(x))
    dense = k.layers.Dense(10, kernel_initializer=k.initializers.RandomNormal(stddev=1e-9), bias_initializer="zeros")
    return k.Model(x, k.layers.Softmax(name="probabilities")(dense(h)))


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("degenerate")
    _near_zero_classifier().save(folder / "flat.keras")
    np.savez(folder / "data.npz", x=np.random.default_rng(0).random((32, 8, 8, 3), dtype=np.float32))
    return folder


def test_a_softmax_input_below_tflms_limit_is_coarsened_and_then_loads(degenerate, tmp_path):
    from edgekit.converters.keras_tflite import convert_keras
    from edgekit.models.load import load_model_file
    from edgekit.runtime import open_model

    model = load_model_file(degenerate / "flat.keras")
    x = np.load(degenerate / "data.npz")["x"]
    raw = convert_keras(model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=32, batch_size=1)
    (index,) = softmax_inputs_to_coarsen(raw)
    assert read_tflite(raw).main.tensors[index].quantization.scale[0] <= TFLM_SOFTMAX_LIMIT
    (tmp_path / "raw.tflite").write_bytes(raw)
    probe = "import sys; from tflite_micro import runtime; runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=1 << 20); print('loaded')"
    unfixed = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "raw.tflite")], capture_output=True, text=True, timeout=120)
    assert unfixed.returncode != 0 and "loaded" not in unfixed.stdout  # TFLM aborts (SIGABRT) on the raw model
    fixed, notes = tflm_loadable(raw)
    assert "below TFLM's limit of 2^-26" in notes[0] and softmax_inputs_to_coarsen(fixed) == []
    (tmp_path / "fixed.tflite").write_bytes(fixed)
    assert subprocess.run([sys.executable, "-c", probe, str(tmp_path / "fixed.tflite")], capture_output=True, text=True, timeout=120).stdout.strip() == "loaded"
    assert np.array_equal(open_model(raw).predict(x), open_model(fixed).predict(x))  # LiteRT gives the same answers


def test_convert_for_mcu_ships_the_fixed_model_and_says_so(degenerate, tmp_path):
    result = convert_file(degenerate / "flat.keras", target="mcu", out=tmp_path, data=degenerate / "data.npz", calibration_samples=32)
    assert result.target_report["runnable"] and result.target_report["details"]["arena_bytes"] > 0
    assert "coarsened to 2^-25" in result.metrics["graph_fixes"][0]
    assert softmax_inputs_to_coarsen(result.model_bytes) == []


def test_a_ram_budget_is_a_verdict_before_tflm_runs(tiny_model, mnist_small, tmp_path, cli_env):
    tiny_model.save(tmp_path / "tiny.keras")
    np.savez(tmp_path / "digits.npz", x=mnist_small[2][:32])
    command = edgekit_command("convert", str(tmp_path / "tiny.keras"), "--target", "mcu", "--data", str(tmp_path / "digits.npz"), "--ram-kb", "1", "--out", str(tmp_path / "out"))
    result = subprocess.run(command, capture_output=True, text=True, env=cli_env, timeout=300)
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "mcu budget ram_kb = 1 exceeded: the tensor arena (RAM), for the activations alone, needs" in line
    assert "packaging" in result.stderr and "measuring the arena" not in result.stderr
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_board_profiles(tiny_model, mnist_small, tmp_path):
    assert {"nrf52840", "stm32f746", "rp2040"} <= set(BOARDS) and get_board("nrf52840").ram_kb == 256
    with pytest.raises(InputError, match="unknown board .uno.*known boards: nrf52832, nrf52840"):
        get_board("uno")
    tiny_model.save(tmp_path / "tiny.keras")
    np.savez(tmp_path / "digits.npz", x=mnist_small[2][:32])
    result = convert_file(tmp_path / "tiny.keras", target="mcu", out=tmp_path / "out", data=tmp_path / "digits.npz", calibration_samples=32, budgets={"board": "nrf52840"})
    details = result.target_report["details"]
    assert (details["flash_kb"], details["ram_kb"]) == (1024, 256) and "nrf52832" in details["fits_boards"]
    with pytest.raises(InputError, match="is not a ethos-u board"):
        convert_file(tmp_path / "tiny.keras", target="ethos-u", out=tmp_path / "e", budgets={"board": "nrf52840"})
    with pytest.raises(InputError, match="target cpu has no flash or RAM budget"):
        convert_file(tmp_path / "tiny.keras", target="cpu", out=tmp_path / "c", budgets={"ram_kb": 32})
    with pytest.raises(InputError, match="must be a positive number of KiB"):
        convert_file(tmp_path / "tiny.keras", target="mcu", out=tmp_path / "m", budgets={"flash_kb": float("nan")})


def test_the_static_verdict_names_the_least_the_model_needs(tiny_tflite):
    details = get_target("mcu").check(tiny_tflite["int8"]).details
    assert details["arena_lower_bound_bytes"] > 0 and 0 < details["flash_bytes_at_least"] <= details["flash_bytes"]


def test_ethos_u_budgets_are_vela_figures(tiny_tflite):
    from edgekit.target import PackageInput

    target = get_target("ethos-u").variant(ram_kb=1)
    with pytest.raises(BudgetError, match=r"ethos-u budget ram_kb = 1 exceeded: the tensor arena in \w+ mode \(Vela's SRAM figure\)"):
        target.package(tiny_tflite["int8"], PackageInput(name="tiny", options=target.options))


def test_a_build_bundles_the_targets_that_fit_and_fails_with_the_one_that_does_not(tmp_path, cli_env):
    recipe = write_tiny_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace('targets = ["cpu"]', 'targets = ["cpu", "mcu"]') + "\n[target.mcu]\nram_kb = 1\n")
    out = tmp_path / "out"
    result = subprocess.run(edgekit_command("build", str(recipe), "--out", str(out), "--set", "prune.sparsity=0.0", "--set", "quantize.mode=ptq", "--set", "train.epochs=1"), capture_output=True, text=True, env=cli_env, timeout=600)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: mcu-int8: mcu budget ram_kb = 1 exceeded")
    assert f"the other 1 target artifact(s) are in {out}" in errors[0]
    report = json.loads((out / "report.json").read_text())
    assert [a["target"] for a in report["artifacts"]] == ["reference", "cpu"] and report["failed"][0]["target"] == "mcu-int8"
    assert (out / "bundles" / "tiny-cpu-int8" / "model.tflite").is_file() and not (out / "bundles" / "tiny-mcu-int8").exists()


def test_without_a_budget_the_report_says_which_boards_fit(tiny_tflite):
    from edgekit.target import PackageInput

    built = get_target("mcu").package(tiny_tflite["int8"], PackageInput(name="tiny"))
    assert set(built.details["fits_boards"]) == {b.name for b in BOARDS.values() if "mcu" in b.targets}
    assert any(note.startswith("no budget set; fits the board profiles nrf52832") for note in built.notes)

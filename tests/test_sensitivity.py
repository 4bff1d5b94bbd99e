"""Sensitivity analysis: per-layer accuracy through the interpreter, the debugger's table, the threshold."""

import subprocess

import numpy as np
import pytest

from edgekit.compression.sensitivity import analyze_model, magnitude_prune, sensitive_layers
from edgekit.report.text import format_debugger, format_sensitivity
from tests.conftest import edgekit_command


@pytest.fixture(scope="module")
def analysis(tiny_model, mnist_small):
    x, _, x_test, y_test = mnist_small
    return analyze_model(tiny_model, x_calibration=x, x_test=x_test[:100], y_test=y_test[:100], sparsity=0.8, calibration_samples=50)


def test_every_weighted_layer_gets_a_row(analysis):
    rows = {row["layer"]: row for row in analysis["layers"]}
    assert {"conv1", "conv2", "dense1", "probabilities"} <= set(rows)
    for name in ("conv1", "conv2", "dense1", "probabilities"):
        row = rows[name]
        assert 0 <= row["prune_accuracy"] <= 1 and 0 <= row["quant_accuracy"] <= 1
        assert row["prune_drop"] == pytest.approx(analysis["baseline_accuracy"] - row["prune_accuracy"], abs=1e-5)
    # layers without weights have no pruning figure, but their int8 ops are measured
    assert rows["pool1"]["prune_accuracy"] is None and rows["pool1"]["quant_accuracy"] is not None
    assert analysis["samples"] == 100 and analysis["probe_sparsity"] == 0.8


def test_pruning_the_tiny_head_at_80_percent_hurts_more_than_quantising_it(analysis):
    """A property of real measurements: one-shot 80 % pruning of a 330-weight classifier costs
    accuracy, int8 of one layer costs almost none."""
    head = next(row for row in analysis["layers"] if row["layer"] == "probabilities")
    assert head["prune_drop"] > head["quant_drop"]
    assert all(abs(row["quant_drop"]) < 0.05 for row in analysis["layers"] if row["quant_drop"] is not None)


def test_debugger_table_has_scale_and_errors_per_op(analysis):
    ops = analysis["quantization_debugger"]
    assert [op["op"] for op in ops][:2] == ["CONV_2D", "MAX_POOL_2D"]
    assert ops[0]["layer"] == "conv1" and ops[-1]["op"] == "SOFTMAX"
    for op in ops:
        assert op["scale"] > 0 and op["mean_squared_error"] >= 0 and op["max_abs_error"] >= 0


def test_threshold_picks_the_layers_to_leave_alone():
    analysis = {"layers": [
        {"layer": "a", "prune_drop": 0.02, "quant_drop": 0.0},
        {"layer": "b", "prune_drop": 0.001, "quant_drop": 0.03},
        {"layer": "c", "prune_drop": None, "quant_drop": 0.0},
    ]}
    assert sensitive_layers(analysis, 0.01) == {"prune": ["a"], "quantize": ["b"]}
    assert sensitive_layers(analysis, 0.5) == {"prune": [], "quantize": []}


def test_magnitude_prune_zeroes_the_smallest():
    values = np.array([[0.1, -3.0], [2.0, -0.05]], np.float32)
    assert np.array_equal(magnitude_prune(values, 0.5), np.array([[0.0, -3.0], [2.0, 0.0]], np.float32))


def test_tables_render(analysis):
    text = format_sensitivity(analysis)
    assert "conv1" in text and "Δ prune" in text and "pruned alone to 80 %" in text
    assert "mean sq. error" in format_debugger(analysis)


def test_analyze_command_is_registered(cli_env):
    result = subprocess.run(edgekit_command("analyze", "--help"), capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 0 and "quantise each" in result.stdout


@pytest.mark.slow
def test_analyze_cli_on_the_tiny_recipe(tiny_recipe, cli_env, tmp_path):
    import json

    out = tmp_path / "analysis.json"
    result = subprocess.run(
        edgekit_command("analyze", str(tiny_recipe), "--out", str(out), "--set", "analyze.samples=100"),
        capture_output=True, text=True, env=cli_env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    analysis = json.loads(out.read_text())
    assert analysis["recipe"] == "tiny" and analysis["probe_sparsity"] == 0.5
    for row in analysis["layers"]:
        assert row["layer"] in result.stdout

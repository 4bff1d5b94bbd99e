"""One contract, run for every registered target: the tiny model builds into a valid bundle.

Adding a target to ``edgekit.registry.TARGETS`` adds it here automatically: the build must
convert the tiny model, give the artifact the dtypes the target promises, attach a target
report with per-op placement, and write a manifest whose files verify.
"""

import json

import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.cli import COMMANDS
from edgekit.flows.build import build
from edgekit.registry import get_target, target_names
from edgekit.runtime import open_model
from tests.conftest import SAMPLES, TINY_RECIPE, TINY_TEST, TINY_TRAIN, edgekit_command, write_tiny_recipe


@pytest.fixture(scope="module")
def every_target(tmp_path_factory):
    """One tiny build with every registered target (no pruning or QAT: the contract is conversion)."""
    folder = tmp_path_factory.mktemp("contract")
    recipe = folder / "tiny.toml"
    write_tiny_recipe(recipe.parent, recipe.name)
    overrides = {"targets": target_names(), "prune.sparsity": 0.0, "quantize.mode": "ptq", "train.epochs": 2}
    result = build(recipe, out=folder / "out", overrides=overrides)
    return {artifact["target"]: artifact for artifact in result.report["artifacts"]} | {"_out": result.out_dir}


@pytest.mark.parametrize("name", target_names())
def test_target_contract(every_target, name):
    target = get_target(name)
    artifact = every_target[name]
    bundle = every_target["_out"] / artifact["path"]
    manifest = verify_bundle(bundle)
    assert manifest["target"] == name and manifest["quantization"] == target.quantization
    runner = open_model(bundle / "model.tflite", default_delegates=False)
    assert runner.inputs[0].dtype == target.artifact_io_dtype
    assert runner.outputs[0].dtype == target.artifact_io_dtype
    if getattr(target, "static_batch", False):
        assert runner.inputs[0].shape_signature[0] == 1
    report = manifest["target_report"]
    assert report["target"] == name and isinstance(report["runnable"], bool) and report["ops"]
    assert all({"op", "count", "placement"} <= set(op) for op in report["ops"])
    assert artifact["target_report"] == report
    assert artifact["accuracy"] > 0.3 and artifact["agreement"] >= 0.8


def test_report_json_lists_every_target(every_target):
    report = json.loads((every_target["_out"] / "report.json").read_text())
    assert {a["target"] for a in report["artifacts"]} == {"reference", *target_names()}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, cli_env):
    import subprocess

    result = subprocess.run(edgekit_command(command, "--help"), capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 0 and "Usage:" in result.stdout, result.stderr

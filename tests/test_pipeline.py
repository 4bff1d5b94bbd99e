"""The whole build on a tiny model: report.json, bundles and manifests agree, and are measured."""

import json
import os
import subprocess

import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.flows.build import build
from edgekit.runtime import open_model
from tests.conftest import SAMPLES, edgekit_command, write_tiny_recipe
from tests.golden_structure import structure

GOLDEN = SAMPLES.parent / "tests" / "golden" / "manifest_structure.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("build")
    return build(write_tiny_recipe(folder), out=folder / "out")


def test_report_json_has_the_promised_fields(built):
    report = json.loads((built.out_dir / "report.json").read_text())
    assert set(report["float_model"]) == {"accuracy", "params"}
    assert [a["quantization"] for a in report["artifacts"]] == ["float32", "int8"]
    for artifact in report["artifacts"]:
        assert {"name", "target", "quantization", "path", "bytes", "gzip_bytes", "sparsity", "accuracy", "agreement", "latency_us"} <= set(artifact)
        assert {"p50", "p90", "p99", "threads"} <= set(artifact["latency_us"])
        assert artifact["latency_us"]["p50"] <= artifact["latency_us"]["p99"]
    assert report["artifacts"][0]["agreement"] == 1.0


def test_int8_artifact_is_pruned_quantised_and_accurate(built):
    reference, int8 = built.report["artifacts"]
    assert int8["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert int8["gzip_bytes"] < reference["gzip_bytes"] / 4
    assert int8["agreement"] >= 0.85
    assert abs(int8["accuracy"] - reference["accuracy"]) <= 0.1
    assert built.report["compression"]["prune"]["sparsity_after_strip"] == pytest.approx(0.5, abs=0.01)


def test_numbers_are_measured_on_the_shipped_file(built):
    for artifact in built.report["artifacts"]:
        bundle = built.out_dir / artifact["path"]
        data = (bundle / "model.tflite").read_bytes()
        assert len(data) == artifact["bytes"]
        runner = open_model(data)
        assert runner.inputs[0].dtype == ("int8" if artifact["quantization"] == "int8" else "float32")


def test_bundles_verify_and_manifest_matches_report(built):
    for artifact in built.report["artifacts"]:
        bundle = built.out_dir / artifact["path"]
        manifest = verify_bundle(bundle)
        assert manifest["metrics"]["accuracy"] == artifact["accuracy"]
        assert manifest["metrics"]["gzip_bytes"] == artifact["gzip_bytes"]
        assert manifest["metrics"]["sparsity"] == artifact["sparsity"]
        assert manifest["labels"] == [str(i) for i in range(10)]
        assert (bundle / "labels.txt").read_text().split() == manifest["labels"]
        assert manifest["inputs"][0]["normalization"] == {"mean": [0.0], "std": [255.0], "raw_dtype": "uint8"}
        assert manifest["versions"]["tensorflow"]


def test_manifest_structure_matches_golden(built):
    """Structure, not bytes: keys and value types of the int8 bundle's manifest."""
    manifest = json.loads((built.out_dir / built.report["artifacts"][1]["path"] / "manifest.json").read_text())
    if os.environ.get("EDGEKIT_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(structure(manifest), indent=2) + "\n")
    assert structure(manifest) == json.loads(GOLDEN.read_text())


def test_report_md_and_no_staging_left(built):
    text = (built.out_dir / "report.md").read_text()
    assert "tiny-cpu-int8" in text and "| artifact |" in text
    leftovers = [p.name for p in built.out_dir.parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]
    assert leftovers == []


def test_cli_build_prints_the_same_numbers(tiny_recipe, cli_env, tmp_path):
    out = tmp_path / "cli-out"
    result = subprocess.run(
        edgekit_command("build", str(tiny_recipe), "--out", str(out), "--set", "prune.sparsity=0", "--set", "quantize.mode=ptq"),
        capture_output=True, text=True, env=cli_env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    for artifact in report["artifacts"]:
        assert artifact["name"] in result.stdout
        assert f"{artifact['accuracy'] * 100:.2f} %" in result.stdout
        assert f"{artifact['gzip_bytes']:,}" in result.stdout
    assert "compression" in report and report["compression"] == {}


def test_failed_build_keeps_previous_output(built, tmp_path):
    """A build that fails mid-way (here: an unknown data source) leaves the old output as it was."""
    before = sorted(p.name for p in built.out_dir.rglob("*"))
    recipe = built.out_dir.parent / "tiny.toml"
    with pytest.raises(Exception):
        build(recipe, out=built.out_dir, overrides={"data.source": "missing.npz"})
    assert sorted(p.name for p in built.out_dir.rglob("*")) == before

"""``edgekit sweep`` on the tiny CNN: a 2x2 grid (sparsity 0, 0.5 x float32, qat), run through
the CLI as a user would, then interrupted with SIGINT and resumed.

The float training is lengthened (``train.epochs=40``) so that reusing the cached model is a
visible saving next to TensorFlow's start-up cost.
"""

import csv
import json
import resource
import subprocess
import time
from pathlib import Path

import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.flows.from_recipe import float_model_key, recipe_targets
from edgekit.flows.sweep.grid import plan_grid, variant_key
from edgekit.recipe import Recipe, load_recipe
from edgekit.report.pareto import dominates
from edgekit.runtime import open_model
from tests.conftest import SAMPLES, TINY_RECIPE, TINY_TEST, TINY_TRAIN, edgekit_command, interrupt_when_written, write_tiny_recipe
from tests.test_report_html import assert_offline, probe_in_browser, screenshot

GRID = ("--sparsity", "0,0.5", "--quantize", "float32,qat", "--set", "train.epochs=40")
NAMES = ["tiny-cpu-s0-float32", "tiny-cpu-s0-qat", "tiny-cpu-s50-float32", "tiny-cpu-s50-qat"]


def write_recipe(folder: Path) -> Path:
    recipe = folder / "tiny.toml"
    write_tiny_recipe(recipe.parent, recipe.name)
    return recipe


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sweep(recipe: Path, out: Path, env) -> tuple[subprocess.CompletedProcess, float, float]:
    """The CLI sweep; returns the process, its wall seconds and its CPU seconds."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = subprocess.run(edgekit_command("sweep", str(recipe), *GRID, "--out", str(out)), capture_output=True, text=True, env=env, timeout=600)
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


@pytest.fixture(scope="module")
def module_env():
    import os

    from tests.conftest import REPO

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, module_env):
    """An uninterrupted sweep from nothing: (output folder, report, wall s, CPU s, stderr)."""
    folder = tmp_path_factory.mktemp("fresh")
    result, wall, cpu = run_sweep(write_recipe(folder), folder / "out", module_env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((folder / "out" / "report.json").read_text())
    return folder / "out", report, wall, cpu, result


def test_every_variant_is_measured_and_reported(fresh):
    out, report, _, _, result = fresh
    assert [a["name"] for a in report["artifacts"]] == NAMES
    for artifact in report["artifacts"]:
        assert {"sparsity_target", "mode", "pareto", "accuracy", "agreement", "gzip_bytes", "latency_us", "target_report"} <= set(artifact)
        assert artifact["quantization"] == ("int8" if artifact["mode"] == "qat" else "float32")
        assert artifact["name"] in result.stdout
    assert report["sweep"]["computed"] == NAMES and report["sweep"]["reused"] == []
    assert report["sweep"]["float_model_cache"]["reused"] is False
    assert report["environment"]["runtime"]["interpreter"]
    assert "float model: checkpoint saved" in result.stderr  # the checkpoints build keeps, same policy


def test_numbers_are_those_of_the_shipped_bundles(fresh):
    out, report, *_ = fresh
    for artifact in report["artifacts"]:
        manifest = verify_bundle(out / artifact["path"])
        data = (out / artifact["path"] / "model.tflite").read_bytes()
        assert len(data) == artifact["bytes"] and manifest["metrics"]["gzip_bytes"] == artifact["gzip_bytes"]
        assert manifest["recipe"]["prune"]["sparsity"] == artifact["sparsity_target"]
        assert open_model(data).inputs[0].dtype == ("int8" if artifact["mode"] == "qat" else "float32")
        assert artifact["sparsity"] == pytest.approx(artifact["sparsity_target"], abs=0.02)
    by_name = {a["name"]: a for a in report["artifacts"]}
    assert by_name["tiny-cpu-s50-qat"]["compression"]["pqat"]["scheme"] == "Default8BitPrunePreserveQuantizeScheme"
    assert by_name["tiny-cpu-s0-qat"]["compression"]["qat"]["scheme"] == "Default8BitQuantizeScheme"


def test_pareto_fronts_are_right_and_hold_an_int8_variant(fresh):
    _, report, *_ = fresh
    artifacts = report["artifacts"]
    for front, cost in (("size", lambda a: a["gzip_bytes"]), ("latency", lambda a: a["latency_us"]["p50"])):
        points = {a["name"]: (a["accuracy"], cost(a)) for a in artifacts}
        for name, point in points.items():
            beaten = any(dominates(other, point) for other in points.values())
            assert (name in report["pareto"][front]) == (not beaten)
            assert next(a for a in artifacts if a["name"] == name)["pareto"][front] == (not beaten)
    smallest = min(artifacts, key=lambda a: a["gzip_bytes"])
    assert smallest["name"] in report["pareto"]["size"] and smallest["quantization"] == "int8"


def test_csv_markdown_and_report_command_agree(fresh, module_env):
    out, report, *_ = fresh
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + len(NAMES)
    for row, artifact in zip(rows[1:], report["artifacts"]):
        cells = next(csv.reader([row]))
        assert cells[0] == artifact["name"] and float(cells[5]) == artifact["accuracy"] and int(cells[8]) == artifact["gzip_bytes"]
    before = {name: (out / name).read_text() for name in ("report.md", "results.csv")}
    for name in ("report.md", "results.csv", "report.html"):
        (out / name).unlink()
    result = subprocess.run(edgekit_command("report", str(out)), capture_output=True, text=True, env=module_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {name: (out / name).read_text() for name in before} == before
    assert (out / "report.html").is_file()


def test_real_report_in_headless_chromium(fresh, tmp_path):
    out, *_ = fresh
    assert_offline((out / "report.html").read_text())
    found = probe_in_browser(out / "report.html", tmp_path)
    assert found["rows"] == len(NAMES)
    assert len(found["widths"]) == 2 and all(width > 0 for width in found["widths"])
    screenshot(out / "report.html", tmp_path / "sweep.png")


def test_interrupted_sweep_keeps_finished_variants_and_resumes_faster(tmp_path, module_env, fresh):
    recipe, out = write_recipe(tmp_path), tmp_path / "out"
    code, stderr = interrupt_when_written(edgekit_command("sweep", str(recipe), *GRID, "--out", str(out)), out / "variants", "*.json", module_env)
    assert code == 130, stderr[-3000:]
    assert f"interrupted: 1 of 4 variants are finished and kept in {out / 'variants'}" in stderr
    assert [p.stem for p in (out / "variants").glob("*.json")] == [NAMES[0]]
    assert not [p for p in out.rglob("*") if ".partial-" in p.name or (p.name.startswith(".") and p.suffix == ".keras")]

    resumed, wall, cpu = run_sweep(recipe, out, module_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"skipping 1 finished variant(s) already in {out / 'variants'}: {NAMES[0]}" in resumed.stderr
    assert "float model: reusing checkpoint" in resumed.stderr and "skipping training" in resumed.stderr
    assert "train: epoch" not in resumed.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["sweep"]["reused"] == [NAMES[0]] and report["sweep"]["computed"] == NAMES[1:]
    assert report["sweep"]["float_model_cache"]["reused"] is True
    # Seeds are reset before every fine-tuning, so resuming computes the same models.
    _, fresh_report, fresh_wall, fresh_cpu, _ = fresh
    for mine, theirs in zip(report["artifacts"], fresh_report["artifacts"]):
        assert (mine["name"], mine["accuracy"], mine["gzip_bytes"]) == (theirs["name"], theirs["accuracy"], theirs["gzip_bytes"])
    print(f"fresh sweep: {fresh_wall:.1f} s wall, {fresh_cpu:.1f} s CPU; resumed: {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert cpu < fresh_cpu  # CPU time: other jobs on a shared machine move wall time much more
    assert report["timings_s"]["train"] < fresh_report["timings_s"]["train"] / 2


def test_grid_keys_follow_what_the_numbers_depend_on(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    targets = recipe_targets(recipe)
    grid = plan_grid(recipe, targets, sparsities=[0.5, 0.0], modes=["qat", "int8"])
    assert [v.name for v in grid] == ["tiny-cpu-s0-int8", "tiny-cpu-s0-qat", "tiny-cpu-s50-int8", "tiny-cpu-s50-qat"]
    key = float_model_key(recipe)
    assert float_model_key(load_recipe(tmp_path / "tiny.toml", overrides={"prune.epochs": 5})) == key
    assert float_model_key(load_recipe(tmp_path / "tiny.toml", overrides={"train.epochs": 5})) != key
    longer_prune = load_recipe(tmp_path / "tiny.toml", overrides={"prune.epochs": 5})
    def same(changed: Recipe, variant) -> bool:
        return variant_key(changed, key, variant, targets) == variant_key(recipe, key, variant, targets)

    assert not same(longer_prune, grid[2])
    assert same(longer_prune, grid[0])  # nothing is pruned at 0 %
    # Every variant is what a build of its point's recipe ships: clustering (like distillation)
    # applies at 0 % sparsity too, as a build with prune.sparsity = 0 clusters.
    clustered = load_recipe(tmp_path / "tiny.toml", overrides={"cluster.clusters": 8})
    assert [same(clustered, v) for v in grid] == [False, False, False, False]
    more_qat = load_recipe(tmp_path / "tiny.toml", overrides={"quantize.epochs": 3})
    assert [same(more_qat, v) for v in grid] == [True, False, True, False]
    assert not same(load_recipe(tmp_path / "tiny.toml", overrides={"output.flavour": "phone"}), grid[0])


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_commands_have_help(command, module_env):
    result = subprocess.run(edgekit_command(command, "--help"), capture_output=True, text=True, env=module_env, timeout=60)
    assert result.returncode == 0 and "Usage:" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sparsity", "0,1.2"], "sparsity 1.2 must be in [0, 1)"),
        (["--sparsity", "half"], "--sparsity 'half': expected comma-separated numbers"),
        (["--quantize", "int4"], "unknown quantize mode 'int4'"),
        (["--targets", "tpu9000"], "--targets: unknown target 'tpu9000'"),
    ],
)
def test_bad_grid_is_a_one_line_error_before_any_work(args, message, tmp_path, module_env):
    out = tmp_path / "out"
    result = subprocess.run(edgekit_command("sweep", str(write_recipe(tmp_path)), *args, "--out", str(out)), capture_output=True, text=True, env=module_env, timeout=60)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()

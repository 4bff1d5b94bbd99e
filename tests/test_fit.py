"""``edgekit fit``: budgets checked before training, the search space, and a real search on the
tiny CNN for the mcu target (real TF-MOT training, the real TFLM interpreter)."""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from edgekit.errors import InputError, RecipeError
from edgekit.flows.fit.space import Budgets, Candidate, Space, candidate_recipe, candidates, describe_miss, misses, overshoot, plan_space, read_budgets
from edgekit.recipe import load_recipe
from edgekit.registry import get_target
from tests.conftest import edgekit_command, write_tiny_recipe

FIT_TABLE = """
[fit]
widths = [1.0, 0.5]
clusters = [0, 4]
modes = ["ptq"]
validation = 0.2
"""


def fit_recipe(folder, extra: str = FIT_TABLE):
    path = write_tiny_recipe(folder)
    text = path.read_text().replace("[prune]\nsparsity = 0.5\nepochs = 2\nlearning_rate = 0.001\n", "")  # prune: nothing for flash on an mcu
    path.write_text(text.replace('mode = "qat"', 'mode = "ptq"') + "\n[distill]\nepochs = 3\n\n[cluster]\nepochs = 1\n" + extra)
    return path


# --- budgets: one-line errors before anything trains -------------------------------------


@pytest.mark.parametrize(
    "target, given, wanted",
    [
        ("mcu", {"flash_kb": -1}, "--flash-kb -1: a budget must be a positive number of KiB"),
        ("mcu", {"flash_kb": 1e300}, "--flash-kb 1e+300: a budget must be a positive number of KiB up to 1,073,741,824 (1 TiB)"),
        ("cpu", {"latency_ms": 1e300}, "--latency-ms 1e+300: a budget must be a positive number of ms up to 3,600,000"),
        ("mcu", {"ram_kb": 0}, "--ram-kb 0: a budget must be a positive"),
        ("mcu", {"flash_kb": math.nan}, "--flash-kb nan"),
        ("mcu", {"flash_kb": math.inf}, "--flash-kb inf"),
        ("mcu", {"board": "no-such-board"}, "no-such-board"),
        ("mcu", {"latency_ms": 5}, "--latency-ms: edgekit cannot time the mcu target here"),
        ("edgetpu", {"latency_ms": 5}, "cannot time the edgetpu target"),
        ("cpu", {"ram_kb": 64}, "--ram-kb: the cpu target has no RAM figure"),
        ("mcu", {}, "edgekit fit needs a budget"),
        ("mcu", {"flash_kb": 32, "min_accuracy": 97}, "--min-accuracy 97: must be in (0, 1]"),
    ],
)
def test_bad_budgets_are_one_line_errors(target, given, wanted):
    with pytest.raises(InputError) as caught:
        read_budgets(get_target(target), **given)
    assert wanted in str(caught.value)


def test_a_board_sets_both_budgets_and_explicit_figures_win():
    budgets = read_budgets(get_target("mcu"), board="nrf52840", ram_kb=64)
    assert budgets.flash == 1024 * 1024 and budgets.ram == 64 * 1024
    assert budgets.target_options(get_target("mcu")) == {"flash_kb": 1024.0, "ram_kb": 64.0}
    assert budgets.target_options(get_target("cpu")) == {}  # the cpu target checks no budget itself


def test_misses_and_the_closest_candidate():
    budgets = Budgets(flash=32 * 1024, ram=16 * 1024)
    found = misses({"flash": 30_000, "ram": 18_637}, budgets)
    assert found == [{"figure": "ram", "needs": 18_637, "limit": 16_384}]
    assert describe_miss(found[0]) == "arena 18.2 KiB > 16 KiB (18,637 > 16,384 bytes)"
    assert overshoot(found) < overshoot([{"figure": "flash", "needs": 40_000, "limit": 32_768}])
    assert misses({"flash": 1, "ram": None}, budgets) == []  # a figure not measured is no miss


# --- the space ----------------------------------------------------------------------------


def test_default_space_packs_clusters_only_where_the_target_stores_them_packed(tmp_path):
    recipe = load_recipe(write_tiny_recipe(tmp_path))
    mcu = plan_space(recipe, get_target("mcu"), shrinkable=True)
    cpu = plan_space(recipe, get_target("cpu"), shrinkable=True)
    assert mcu.widths == (1.0, 0.75, 0.5, 0.35, 0.25) and mcu.clusters == (0, 16, 4)
    assert cpu.clusters == (0,) and cpu.sparsities == (0.0,)
    assert plan_space(recipe, get_target("mcu"), shrinkable=False).widths == (1.0,)
    points = candidates(mcu)
    # clusters 0, 16, 16 with the largest kernel at 4, and 4: x 5 widths x ptq/qat
    assert len(points) == 5 * 4 * 2
    assert Candidate(0.5, 0.0, 16, 4, "int8", "qat") in points
    assert Candidate(0.5, 0.0, 16, 4, "int8", "qat").name == "w0.5-s0-c16-L4-int8-qat"


def test_candidate_recipe_is_the_recipe_at_that_point_with_scaled_epochs(tmp_path):
    recipe = load_recipe(fit_recipe(tmp_path))
    point = Candidate(0.5, 0.0, 16, 4, "int8", "qat")
    full = candidate_recipe(recipe, point, largest_layer="dense1")
    assert full.distill.width == 0.5 and full.cluster.clusters == 16 and dict(full.cluster.layers) == {"dense1": 4}
    assert full.quantize.mode == "qat" and full.distill.epochs == 3
    third = candidate_recipe(recipe, point, scale=1 / 3, largest_layer="dense1", qat=False)
    assert (third.distill.epochs, third.cluster.epochs, third.quantize.mode) == (1, 1, "ptq")
    assert candidate_recipe(recipe, Candidate(1.0, 0.0, 0, 0, "int8", "ptq")).distill.enabled is False


def test_the_recipes_own_per_layer_counts_hold_in_every_candidate(tmp_path):
    """``[cluster] layers`` pins a layer's count: fit keeps it in every candidate's recipe (it
    used to drop it) and the split of the largest kernel goes to another layer."""
    path = fit_recipe(tmp_path)
    path.write_text(path.read_text().replace("[cluster]\nepochs = 1\n", "[cluster]\nepochs = 1\nclusters = 16\nlayers = { conv2 = 8 }\n"))
    recipe = load_recipe(path)
    split = candidate_recipe(recipe, Candidate(1.0, 0.0, 16, 4, "int8", "ptq"), largest_layer="dense1")
    assert dict(split.cluster.layers) == {"dense1": 4, "conv2": 8}
    assert dict(candidate_recipe(recipe, Candidate(1.0, 0.0, 4, 0, "int8", "ptq")).cluster.layers) == {"conv2": 8}


@pytest.mark.parametrize(
    "table, wanted",
    [
        ("[fit]\nwidths = []\n", "fit.widths is empty"),
        ("[fit]\nwidths = [1.5]\n", "fit.widths value 1.5 must be in (0, 1]"),
        ("[fit]\nclusters = [1]\n", "fit.clusters value 1 must be 0 (off) or at least 2"),
        ("[fit]\nmodes = [\"fp8\"]\n", "fit.modes value 'fp8'"),
        ("[fit]\nhalving = 1\n", "halving"),
        ("[fit]\nwidth = [0.5]\n", "width"),
    ],
)
def test_a_bad_fit_table_names_the_key(tmp_path, table, wanted):
    with pytest.raises(RecipeError) as caught:
        load_recipe(fit_recipe(tmp_path, table))
    assert wanted in str(caught.value)


def test_rungs_end_at_the_full_epochs():
    from edgekit.flows.fit.runs import rung_scales

    assert rung_scales(1, 3) == [1.0]
    assert rung_scales(3, 3) == [pytest.approx(1 / 3), 1.0]
    assert rung_scales(8, 3) == [pytest.approx(1 / 9), pytest.approx(1 / 3), 1.0]
    assert len(rung_scales(500, 3)) == 3


# --- a real search ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The tiny CNN fitted to 10 KiB of flash and 8 KiB of RAM on the mcu target."""
    from edgekit.flows.fit import fit

    folder = tmp_path_factory.mktemp("fit")
    recipe = fit_recipe(folder)
    result = fit(recipe, target="mcu", flash_kb=10, ram_kb=8, out=folder / "out")
    return recipe, result


def test_the_winner_fits_as_shipped_and_is_bundled(searched):
    from edgekit.targets import _tflm

    _, result = searched
    winner, out = result.winner, result.out_dir
    bundle = out / winner["path"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    shipped = [p for p in (bundle / "mcu").iterdir() if p.name.endswith("_mcu.tflite")]
    model = shipped[0].read_bytes() if shipped else (bundle / "model.tflite").read_bytes()
    assert len(model) == winner["figures"]["flash"] <= 10 * 1024
    arena = winner["figures"]["ram"]
    assert arena <= 8 * 1024
    _tflm.load(model, arena)  # loads in the real TFLM interpreter with exactly that arena
    assert manifest["target"] == "mcu" and manifest["recipe"]["distill"]["width"] in (None, 0.5)
    details = winner["artifact"]["target_report"]["details"]
    assert details["tflm_accuracy"] > 0.25  # 410 training digits, a few epochs: well above chance (0.1)
    assert [d.name for d in (out / "bundles").iterdir()] == [bundle.name]


def test_structures_that_cannot_fit_are_rejected_before_training(searched):
    _, result = searched
    rows = {row["name"]: row for row in result.report["candidates"]}
    full = rows["w1-s0-c0-int8-ptq"]  # ~16 KB of int8 weights: over the 10 KiB flash budget
    assert full["status"] == "rejected" and full["estimated"] and full["rungs"] == []
    assert "rejected before training: flash" in full["reason"]
    trained = " ".join(result.report["fit"]["trained"])
    assert "w1-s0-c0" not in trained and "w0.5" in trained
    assert result.report["fit"]["rejected_before_training"] >= 1
    winner = rows[result.winner["name"]]
    estimate, measured = winner["estimate"], winner["rungs"][-1]["figures"]
    # the untrained structure ships what the trained candidate ships, to a few table entries
    assert abs(estimate["flash"] - measured["flash"]) <= 0.03 * measured["flash"]
    assert abs(estimate["ram"] - measured["ram"]) <= 0.03 * measured["ram"]


def test_the_report_lists_every_candidate_and_draws_the_budgets(searched):
    _, result = searched
    out = result.out_dir
    report = json.loads((out / "report.json").read_text())
    assert report["winner"]["name"] == result.winner["name"]
    assert len(report["candidates"]) == report["fit"]["candidates"] == 4  # widths 1, 0.5 x clusters 0, 4 x ptq
    assert all(row["status"] in ("winner", "fits", "dropped", "rejected") and row["reason"] for row in report["candidates"])
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(report["candidates"])
    html = (out / "report.html").read_text()
    assert 'id="plot-accuracy_vs_flash"' in html and 'id="plot-accuracy_vs_ram"' in html
    assert (out / "plots" / "accuracy_vs_flash.png").read_bytes()[:4] == b"\x89PNG"


def test_edgekit_report_re_renders_a_fit_folder_as_a_fit_report(searched, tmp_path):
    """The one report writer renders by the report's kind: a fit folder stays a fit report."""
    import shutil

    from edgekit.cli import main

    _, result = searched
    copy = tmp_path / "fit-copy"
    shutil.copytree(result.out_dir, copy, ignore=shutil.ignore_patterns("cache", "bundles", "candidates"))
    before = (copy / "report.json").read_bytes()
    (copy / "report.md").unlink()
    try:
        main(["report", str(copy)])
    except SystemExit as exc:
        assert not exc.code
    markdown = (copy / "report.md").read_text()
    assert markdown.startswith("# edgekit fit: ") and result.winner["name"] in markdown
    assert len((copy / "results.csv").read_text().strip().splitlines()) == 1 + len(result.report["candidates"])
    assert (copy / "report.json").read_bytes() == before


def test_the_same_command_resumes_without_training(searched):
    from edgekit.flows.fit import fit

    recipe, first = searched
    again = fit(recipe, target="mcu", flash_kb=10, ram_kb=8, out=first.out_dir)
    assert again.winner["name"] == first.winner["name"]
    assert again.report["fit"]["trained"] == [] or all("(ptq" not in t for t in again.report["fit"]["trained"])
    assert again.winner["figures"] == first.winner["figures"]


def test_nothing_fits_is_exit_1_with_the_closest_miss(searched, cli_env, tmp_path):
    recipe, _ = searched
    out = tmp_path / "none"
    run = subprocess.run(
        edgekit_command("fit", str(recipe), "--target", "mcu", "--flash-kb", "1", "--ram-kb", "1", "--out", str(out)),
        capture_output=True, text=True, env=cli_env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-2:]
    assert any("nothing in 4 candidates fits flash <= 1 KiB, RAM <= 1 KiB on mcu: the closest," in line for line in last), run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["winner"] is None and report["fit"]["trained"] == []
    assert not (out / "bundles").exists()


@pytest.mark.slow
def test_ctrl_c_keeps_finished_candidates_and_the_same_command_resumes(tmp_path, cli_env):
    from tests.conftest import interrupt_when_written

    recipe, out = fit_recipe(tmp_path), tmp_path / "out"
    argv = edgekit_command("fit", str(recipe), "--target", "mcu", "--flash-kb", "10", "--ram-kb", "8", "--out", str(out))
    code, stderr = interrupt_when_written(argv, out / "candidates", "*-r1.json", cli_env)
    assert code == 130, stderr[-3000:]
    assert "finished candidate result(s) are kept in" in stderr and "run the same command to continue" in stderr
    kept = sorted(p.name for p in (out / "candidates").glob("*.json"))
    assert any(name.endswith("-r1.json") for name in kept)
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]

    resumed = subprocess.run(argv, capture_output=True, text=True, env=cli_env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "float model: reusing checkpoint" in resumed.stderr and "train: epoch" not in resumed.stderr
    report = json.loads((out / "report.json").read_text())
    assert set(kept) <= {f"{name}.json" for name in report["fit"]["reused"]}
    assert report["winner"] is not None


@pytest.mark.parametrize(
    "target, budgets, wanted",
    [
        ("cpu", {"flash_kb": 1024, "latency_ms": 1e-6}, "misses by latency"),  # timed with the LiteRT benchmark
        ("ethos-u", {"flash_kb": 1024, "ram_kb": 0.01}, "misses by arena"),  # Vela's SRAM figure
    ],
)
def test_each_target_judges_its_own_figures_before_training(tmp_path, target, budgets, wanted):
    from edgekit.errors import BudgetError
    from edgekit.flows.fit import fit

    out = tmp_path / "out"
    with pytest.raises(BudgetError) as caught:
        fit(fit_recipe(tmp_path, FIT_TABLE.replace("widths = [1.0, 0.5]", "widths = [0.5]")), target=target, out=out, **budgets)
    assert wanted in str(caught.value) and "the closest, w0.5-" in str(caught.value)
    report = json.loads((out / "report.json").read_text())
    assert report["fit"]["trained"] == [] and all(row["status"] == "rejected" for row in report["candidates"])
    assert not (out / "cache").exists() or not list((out / "cache").glob("float-*"))  # no float model trained for nothing

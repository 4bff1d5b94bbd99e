"""``edgekit sweep``: one trained float model, a grid of sparsity x quantisation x target.

Every variant is what ``edgekit build`` of its point's recipe would ship for its target: the
same stages (``edgekit.flows.stages``) compress, convert (with the flavour and sparse encoding),
check, measure and bundle it, and the same checkpoints (``edgekit.flows.checkpoints``) keep the
trained and compressed models.

The output folder::

    cache/                checkpoints: float-KEY/, compressed-KEY/ (edgekit.flows.model_cache)
    variants/NAME.json    one finished variant's measured result, naming its bundle's
                          manifest by sha256 (``edgekit.flows.results``, ``resume``)
    bundles/NAME/         its deployable bundle
    report.json, report.md, results.csv, report.html, plots/

A variant's JSON is written (atomically) only after its bundle is complete, so Ctrl-C keeps
exactly the variants that finished, and a re-run with the same recipe and grid skips them.
The cache lives inside the output folder by default (``--cache`` moves it, e.g. to
``~/.cache/edgekit`` to share it between sweeps). Seeds are reset before every compression, so
a resumed sweep computes the same models as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekit import interrupts
from edgekit.bundle.signing import sign_bundle
from edgekit.compression.run import Compressed
from edgekit.errors import InputError
from edgekit.flows import from_recipe, stages
from edgekit.flows.checkpoints import Checkpoints
from edgekit.flows.progress import Progress
from edgekit.flows.stages import Inputs, StageTimer
from edgekit.flows.sweep.grid import DEFAULT_SPARSITIES, Variant, plan_grid, point_recipe, variant_key
from edgekit.flows.sweep.resume import finished_variants, variant_store
from edgekit.output.folder import OutputFolder
from edgekit.output.stamp import claim_tree
from edgekit.recipe import Recipe, load_recipe
from edgekit.training import distribute
from edgekit.vocabulary import SWEEP_MODES

__all__ = ["sweep", "SweepResult"]

log = logging.getLogger("edgekit")


@dataclass
class SweepResult:
    """What ``sweep`` returns: the report data, where it went, what ran and what was reused."""

    out_dir: Path
    report: dict
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def sweep(
    recipe: Recipe | str | Path,
    *,
    out: str | Path | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    modes: Sequence[str] = SWEEP_MODES,
    targets: Sequence[str] | None = None,
    cache: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> SweepResult:
    """Run (or resume) the grid and write the sweep report into ``out`` (a new, empty or
    earlier sweep's folder; ``force``: another, keeping what edgekit did not write)."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    out_dir = distribute.output_dir(Path(out) if out is not None else from_recipe.default_out_dir(recipe), recipe.train.strategy)
    try:
        resolved = from_recipe.recipe_targets(recipe, targets)
    except InputError as exc:
        raise InputError(f"--targets: {exc.message}", hint=exc.hint) from exc
    grid = plan_grid(recipe, resolved, sparsities=sparsities, modes=modes)
    from_recipe.signing_key(recipe)  # a bad signing key fails now, not after training
    flag = "--out" if out is not None else f"{recipe.source}: output.dir (+ -sweep)"
    with OutputFolder(out_dir, kind="sweep", force=force, protect=from_recipe.protected_folders(recipe), entries=SWEEP_ENTRIES, flag=flag) as output:
        out_dir = output.open_in_place()
        checkpoints = from_recipe.sweep_checkpoints(recipe, Path(cache) if cache else out_dir / "cache")
        return _Runner(recipe, resolved, out_dir, checkpoints, progress or Progress()).run(grid)


SWEEP_ENTRIES = ("cache", "variants", "bundles", "plots", "report.json", "report.md", "results.csv", "report.html")


class _Runner:
    """One sweep run: loads what is needed lazily, computes pending variants, writes the report."""

    def __init__(self, recipe: Recipe, targets: tuple, out_dir: Path, checkpoints: Checkpoints, progress: Progress):
        self.recipe, self.targets, self.out_dir = recipe, targets, out_dir
        self.store = variant_store(out_dir)
        self.variants_dir = self.store.folder
        self.checkpoints, self.progress = checkpoints, progress
        self.float_key = from_recipe.float_model_key(recipe)
        self.settings = from_recipe.artifact_settings(recipe)
        self.timer = StageTimer()
        self.float_info: dict = {}
        self.scores = None  # the float model's test outputs, once it is trained

    def run(self, grid: list[Variant]) -> SweepResult:
        started = time.perf_counter()
        keys = {v.name: variant_key(self.recipe, self.float_key, v, self.targets) for v in grid}
        results = finished_variants(self.store, [v.name for v in grid], keys)
        pending = [v for v in grid if v.name not in results]
        if results:
            names = list(results)
            listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            log.info("skipping %d finished variant(s) already in %s: %s", len(names), self.variants_dir, listed)
        self.progress.start(variants=len(grid), finished=len(results), stages=_stage_count(pending))
        with interrupts.on_interrupt(lambda: self._say_kept(results, grid)):
            if pending:
                self._compute(grid, pending, keys, results)
        self.timer.seconds["total"] = round(time.perf_counter() - started, 2)
        report = self._report(grid, results, pending)
        from edgekit.report.files import write_report_folder

        write_report_folder(self.out_dir, report)
        log.info("wrote %s", self.out_dir)
        return SweepResult(self.out_dir, report, computed=report["sweep"]["computed"], reused=report["sweep"]["reused"])

    def _say_kept(self, results: Mapping, grid: list[Variant]) -> None:
        log.warning(
            "interrupted: %d of %d variants are finished and kept in %s; run the same command to continue",
            len(results), len(grid), self.variants_dir,
        )  # fmt: skip

    def _compute(self, grid: list[Variant], pending: list[Variant], keys: Mapping[str, str], results: dict) -> None:
        """The float model once, then per sparsity one compression shared by its variants."""
        with self.timer.stage("load"), self.progress.stage("load data"):
            inputs = from_recipe.load_recipe_inputs(self.recipe)
        with self.timer.stage("train"), self.progress.stage("float model"):
            model = stages.trained_float_model(inputs, self.recipe.train, self.checkpoints, from_recipe.float_checkpoint(self.recipe))
            self.scores = stages.float_scores(model, inputs.data)
        self.data = stages.decide_task(self.recipe.task, model, inputs.data, self.scores, trained=self.recipe.train.enabled)
        if not self.data.task.classifies:
            raise InputError(f"a sweep ranks variants by accuracy, and this is a {self.data.task.name} model ({self.data.task.reason})", hint="sweep classifiers; measure other models with edgekit build or convert")
        self.float_info = stages.float_summary(model, self.scores, self.data)
        self.settings = dataclasses.replace(self.settings, input_shape=stages.fixed_input_shape(model, self.data))
        qat_points = {v.sparsity for v in grid if v.mode == "qat"}
        for sparsity, variants in groupby(pending, key=lambda v: v.sparsity):
            group = list(variants)
            compressed = self._compressed(model, inputs, sparsity, qat=sparsity in qat_points, needs_qat=any(v.mode == "qat" for v in group))
            for variant in group:
                used = compressed if variant.mode == "qat" else compressed.float_side()
                results[variant.name] = self._variant(variant, used, inputs, keys[variant.name])

    def _compressed(self, model, inputs: Inputs, sparsity: float, *, qat: bool, needs_qat: bool) -> Compressed:
        """What ``build`` of this point's recipe compresses, QAT included when the grid has a
        QAT variant here (the float side is the same either way), from the checkpoint if kept."""
        point = point_recipe(self.recipe, sparsity, qat=qat)
        with self.progress.stage(f"compress at {sparsity:.0%}"):
            plan = from_recipe.compression_plan(point, self.targets, needs_qat=needs_qat)
            _, compressed = stages.compressed_models(model, plan, inputs, checkpoints=self.checkpoints, timer=self.timer)
        return compressed

    def _variant(self, variant: Variant, compressed: Compressed, inputs: Inputs, key: str) -> dict:
        """Convert, measure and bundle one variant exactly as ``build`` does, then record it."""
        started, data, settings = time.perf_counter(), self.data, self.settings
        with self.progress.stage(f"convert {variant.name}"):
            artifact = stages.convert_for_target(variant.target, compressed, data, settings, name=variant.name)
        with self.progress.stage(f"measure {variant.name}"):
            artifact = stages.check_and_package(stages.measure(artifact, data, self.scores, settings), data)
        with self.progress.stage(f"bundle {variant.name}"):
            artifact = stages.bundle(artifact, self.out_dir, data, recorded_recipe=variant.recipe(self.recipe).to_dict())
            if signing_key := from_recipe.signing_key(self.recipe):
                sign_bundle(self.out_dir / artifact.path, signing_key)
            claim_tree(self.out_dir, artifact.path)  # the stamp names it: the next run may replace it
        seconds = round(time.perf_counter() - started, 2)
        self.timer.seconds["variants"] = round(self.timer.seconds.get("variants", 0.0) + seconds, 2)
        row = {**artifact.to_report(), "sparsity_target": variant.sparsity, "mode": variant.mode, "compression": dict(compressed.report), "seconds": seconds}
        return self._record(variant, key, {"artifact": row, "float_model": self.float_info}, self.out_dir / artifact.path / "manifest.json")

    def _record(self, variant: Variant, key: str, result: dict, manifest: Path) -> dict:
        """The variant's record, atomically, after its bundle (named by its manifest's sha256):
        its presence means "finished"."""
        self.store.save(variant.name, key, result, manifest)
        row = result["artifact"]
        log.info("%s: accuracy %.2f %%, %s gzip bytes, p50 %.0f µs", variant.name, row["accuracy"] * 100, f"{row['gzip_bytes']:,}", row["latency_us"]["p50"])
        self.progress.variant_done(variant.name)
        return result

    def _report(self, grid: list[Variant], results: Mapping[str, dict], pending: list[Variant]) -> dict:
        from edgekit.report.pareto import mark_pareto
        from edgekit.runtime import resolve_backend

        computed = {v.name for v in pending}
        float_info = self.float_info or next(iter(results.values()))["float_model"]
        artifacts = [results[v.name]["artifact"] for v in grid]
        report = stages.run_report(self.recipe.name, float_info, {}, artifacts, self.timer.seconds)
        report["pareto"] = mark_pareto(report["artifacts"])
        backend = resolve_backend()
        report["environment"]["runtime"] = {"interpreter": backend.name, "version": backend.version, "threads": 1}
        float_path = self.checkpoints.path("float", self.float_key)
        report["sweep"] = {
            "sparsities": sorted({v.sparsity for v in grid}),
            "modes": [m for m in SWEEP_MODES if any(v.mode == m for v in grid)],
            "targets": sorted({v.target.name for v in grid}),
            "variants": len(grid),
            "computed": [v.name for v in pending],
            "reused": [v.name for v in grid if v.name not in computed],
            "float_model_cache": {"path": None if float_path is None else str(float_path), "reused": "float" in self.checkpoints.reused},
        }
        return report


def _stage_count(pending: Sequence[Variant]) -> int:
    """Stages the progress bar expects: data, float model, one compression per sparsity, 3 per variant."""
    if not pending:
        return 0
    return 2 + len({v.sparsity for v in pending}) + 3 * len(pending)

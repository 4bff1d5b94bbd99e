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
from edgekit.distributed.cluster import Lost, opened
from edgekit.distributed.executor import Task, WorkerStats, lost_line
from edgekit.distributed.settings import Placement
from edgekit.errors import InputError, RunError
from edgekit.flows import from_recipe, stages
from edgekit.flows.checkpoints import Checkpoints
from edgekit.flows.progress import Progress
from edgekit.flows.stages import StageTimer
from edgekit.flows.sweep.grid import DEFAULT_SPARSITIES, Variant, plan_grid, variant_key
from edgekit.flows.sweep.resume import finished_variants, variant_store
from edgekit.flows.model_cache import model_bytes
from edgekit.flows.sweep.work import GroupJob, SweepShared, compress_and_convert
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
    placement: Placement | None = None,
) -> SweepResult:
    """Run (or resume) the grid and write the sweep report into ``out`` (a new, empty or
    earlier sweep's folder; ``force``: another, keeping what edgekit did not write).
    ``placement``: where the variants run (``edgekit.distributed``; default this process)."""
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
        placement = placement or Placement(threads=recipe.distributed.threads)
        return _Runner(recipe, resolved, out_dir, checkpoints, progress or Progress(), placement).run(grid)


SWEEP_ENTRIES = ("cache", "variants", "bundles", "plots", "report.json", "report.md", "results.csv", "report.html")


class _Runner:
    """One sweep run: loads what is needed lazily, computes pending variants, writes the report."""

    def __init__(self, recipe: Recipe, targets: tuple, out_dir: Path, checkpoints: Checkpoints, progress: Progress, placement: Placement):
        self.recipe, self.targets, self.out_dir, self.placement = recipe, targets, out_dir, placement
        self.workers = WorkerStats(placement.describe(), placement.threads)
        self.by_name: dict[str, Variant] = {}
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
        self.by_name = {v.name: v for v in grid}
        results = finished_variants(self.store, [v.name for v in grid], keys)
        pending = [v for v in grid if v.name not in results]
        if results:
            names = list(results)
            listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            log.info("skipping %d finished variant(s) already in %s: %s", len(names), self.variants_dir, listed)
        self.progress.start(variants=len(grid), finished=len(results), stages=_stage_count(pending), workers=self.placement.describe())
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
        """The float model once, here; then per sparsity one task (its compression and the
        variants made from it), here or on Dask workers; the driver bundles and records each."""
        with self.timer.stage("load"), self.progress.stage("load data"):
            inputs = from_recipe.load_recipe_inputs(self.recipe)
        with opened(self.placement, self.progress) as executor:
            executor.warm([compress_and_convert.__module__])  # the workers load TensorFlow while the float model trains
            with self.timer.stage("train"), self.progress.stage("float model"):
                model = stages.trained_float_model(inputs, self.recipe.train, self.checkpoints, from_recipe.float_checkpoint(self.recipe))
                self.scores = stages.float_scores(model, inputs.data)
            lost = self._variants(executor, inputs, model, grid, pending, keys, results)
        if lost:
            raise RunError(lost_line(lost, "variant", self.variants_dir), hint="run the same command again: it keeps every finished variant and computes the rest")

    def _variants(self, executor, inputs, model, grid: list[Variant], pending: list[Variant], keys: Mapping[str, str], results: dict) -> list[Lost]:
        """The float model's task and settings decided, then the pending variants' tasks run
        on ``executor``; the variants no worker could finish."""
        self.data = stages.decide_task(self.recipe.task, model, inputs.data, self.scores, trained=self.recipe.train.enabled)
        if not self.data.task.classifies:
            raise InputError(f"a sweep ranks variants by accuracy, and this is a {self.data.task.name} model ({self.data.task.reason})", hint="sweep classifiers; measure other models with edgekit build or convert")
        self.float_info = stages.float_summary(model, self.scores, self.data)
        self.settings = dataclasses.replace(self.settings, input_shape=stages.fixed_input_shape(model, self.data))
        deliver = lambda made: self._take(made, keys, results, "driver")  # noqa: E731
        shared = SweepShared(self.recipe, self.targets, inputs, self.data, self.scores, self.settings, model=model, checkpoints=self.checkpoints, deliver=deliver)
        with self.timer.stage("variants"):
            if self.placement.distributed:
                shared = shared.for_workers(model_bytes(model))
            return self._run_tasks(executor, _group_tasks(grid, pending), shared, keys, results)

    def _run_tasks(self, executor, tasks: list[Task], shared: SweepShared, keys: Mapping[str, str], results: dict) -> list[Lost]:
        """Each task's variants bundled, recorded and checked as they come back; the lost ones."""
        lost = []
        for outcome in executor.run(tasks, shared):
            if isinstance(outcome, Lost):
                log.error("lost %s: %s", outcome.name, outcome.why)
                lost += [Lost(v.name, outcome.why) for t in tasks if t.name == outcome.name for v in t.item.variants]
                continue
            self.workers.add(outcome)
            for name, seconds in outcome.result["timings"].items():
                self.timer.seconds[name] = round(self.timer.seconds.get(name, 0.0) + seconds, 2)
            for made in outcome.result["made"]:
                self._take(made, keys, results, outcome.worker)
            self.progress.advance()
        return lost

    def _take(self, made, keys: Mapping[str, str], results: dict, worker: str) -> None:
        interrupts.check()
        results[made.name] = self._accept(made, keys[made.name], worker)

    def _accept(self, made, key: str, worker: str) -> dict:
        """Bundle one variant's artifact exactly as ``build`` does, record it, then believe it
        only as far as the result store's check (the one a resumed record goes through) does."""
        variant = self.by_name[made.name]
        if made.artifact.name != variant.name or made.artifact.target.label != variant.target.label:
            raise RunError(f"{worker} returned {made.artifact.name!r} for {variant.name}: not the variant it was given")
        artifact = stages.bundle(made.artifact, self.out_dir, self.data, recorded_recipe=variant.recipe(self.recipe).to_dict())
        if signing_key := from_recipe.signing_key(self.recipe):
            sign_bundle(self.out_dir / artifact.path, signing_key)
        claim_tree(self.out_dir, artifact.path)  # the stamp names it: the next run may replace it
        row = {**artifact.to_report(), "sparsity_target": variant.sparsity, "mode": variant.mode, "compression": made.compression, "seconds": made.seconds}
        self.store.save(variant.name, key, {"artifact": row, "float_model": self.float_info}, self.out_dir / artifact.path / "manifest.json")
        believed = finished_variants(self.store, [variant.name], {variant.name: key}).get(variant.name)
        if believed is None:
            raise RunError(f"{variant.name}: the result from {worker} does not check out against its bundle")
        row = believed["artifact"]
        log.info("%s: accuracy %.2f %%, %s gzip bytes, p50 %.0f µs (%s)", variant.name, row["accuracy"] * 100, f"{row['gzip_bytes']:,}", row["latency_us"]["p50"], worker)
        self.progress.variant_done(variant.name)
        return believed

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
        report["distributed"] = self.workers.to_report()
        return report


def _stage_count(pending: Sequence[Variant]) -> int:
    """Stages the progress bar expects: data, float model, one task per sparsity."""
    if not pending:
        return 0
    return 2 + len({v.sparsity for v in pending})


def _group_tasks(grid: Sequence[Variant], pending: Sequence[Variant]) -> list[Task]:
    """One task per sparsity: its compression (with QAT when the grid has a QAT variant there,
    pending or not, so the float side is always the same) and its pending variants."""
    qat_points = {v.sparsity for v in grid if v.mode == "qat"}
    tasks = []
    for sparsity, variants in groupby(pending, key=lambda v: v.sparsity):
        group = tuple(variants)
        job = GroupJob(sparsity, qat=sparsity in qat_points, needs_qat=any(v.mode == "qat" for v in group), variants=group)
        tasks.append(Task(f"sparsity {sparsity:g}", compress_and_convert, job))
    return tasks

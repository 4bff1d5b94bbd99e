"""``edgekit fit``: budgets in, the most accurate model that fits out.

The search, over the stages every flow shares (``edgekit.flows.stages``):

1. The float model is trained once (the teacher of every narrower student), on the training
   split less a held-out validation part that ranks the candidates (``[fit] validation``), so
   the test split stays untouched until the winner is measured on it.
2. Cheap checks first: every candidate structure is built untrained, converted and packaged for
   the target (``edgekit.flows.fit.measure``); what cannot fit the flash, RAM or latency budget is
   rejected without training.
3. Successive halving over what is left: every candidate is trained at a small share of the
   recipe's fine-tuning epochs, the best third (``[fit] halving``) goes on to three times the
   epochs, until the last rung trains with the recipe's full epochs. Each rung measures every
   candidate on its shipped artifact (flash as the file's bytes, the arena in TFLM, Vela's
   figures), so a candidate that only fits on paper is caught before it can win.
4. The winner is measured on the test split and bundled; ``--min-accuracy`` is checked there.

The output folder::

    cache/                     the trained models (float-KEY/, compressed-KEY/)
    candidates/NAME-rN.json    one candidate's measured result at rung N (estimates: NAME-est;
                               ``edgekit.flows.fit.records``), beside NAME-rN.tflite, the
                               artifact it was measured on and is re-measured from on resume
    bundles/NAME/              the winner's bundle
    report.json, report.md, results.csv, report.html, plots/

A candidate's JSON is written when it is finished, so Ctrl-C keeps the finished candidates and
the same command resumes. Nothing fitting is exit 1 with one line naming the closest
candidate and what it missed by; the report is written first.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekit import interrupts
from edgekit.distributed.cluster import Lost, opened
from edgekit.distributed.executor import Task, WorkerStats, lost_line
from edgekit.distributed.settings import Placement
from edgekit.errors import BudgetError, InputError, RunError
from edgekit.flows import from_recipe, stages
from edgekit.flows.fit.measure import check_untrained
from edgekit.flows.fit.records import Records
from edgekit.flows.fit.runs import CandidateRuns, Ground, qat_groups, successive_halving
from edgekit.flows.fit.space import Budgets, Candidate, candidates, describe_miss, largest_kernel, overshoot, plan_space, read_budgets
from edgekit.flows.fit.table import CandidateRows
from edgekit.flows.fit.work import FitShared, RungJob, train_and_measure
from edgekit.flows.fit.winner import Shipping, remove_bundles
from edgekit.flows.model_cache import model_bytes
from edgekit.flows.progress import Progress
from edgekit.flows.stages import Inputs, ModelData, StageTimer
from edgekit.output.folder import OutputFolder
from edgekit.recipe import Recipe, load_recipe
from edgekit.training import distribute
from edgekit.training.train import TrainData

__all__ = ["FIT_ENTRIES", "FitResult", "fit", "holdout"]

log = logging.getLogger("edgekit")
FIT_ENTRIES = ("cache", "candidates", "bundles", "plots", "report.json", "report.md", "results.csv", "report.html")


@dataclass
class FitResult:
    """What ``fit`` returns: the report, where it went, and the winner's row (None: nothing fits)."""

    out_dir: Path
    report: dict
    winner: dict | None


def fit(
    recipe: Recipe | str | Path,
    *,
    target: str,
    flash_kb: float | None = None,
    ram_kb: float | None = None,
    latency_ms: float | None = None,
    min_accuracy: float | None = None,
    board: str | None = None,
    out: str | Path | None = None,
    cache: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    force: bool = False,
    exhaustive: bool = False,
    placement: Placement | None = None,
) -> FitResult:
    """Search (or resume searching) for ``recipe``'s most accurate model that fits the budgets
    on ``target``; raises BudgetError (exit 1) after writing the report when nothing fits.

    ``exhaustive`` is the baseline the search is measured against (benchmarks/fit_vs_sweep.py):
    no estimates and no halving, every candidate trained with the full epochs and measured,
    the fitting ones on the test split too. ``placement``: where the rungs' tasks run
    (``edgekit.distributed``; default this process)."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    try:
        (chosen,) = from_recipe.recipe_targets(recipe, [target])
    except InputError as exc:
        raise InputError(f"--target: {exc.message}", hint=exc.hint) from exc
    budgets = read_budgets(chosen, flash_kb=flash_kb, ram_kb=ram_kb, latency_ms=latency_ms, min_accuracy=min_accuracy, board=board)
    chosen = chosen.variant(**budgets.target_options(chosen))
    from_recipe.signing_key(recipe)  # a bad signing key fails now, not after training
    out_dir = distribute.output_dir(Path(out) if out is not None else from_recipe.default_out_dir(recipe, "-fit"), recipe.train.strategy)
    flag = "--out" if out is not None else f"{recipe.source}: output.dir (+ -fit)"
    with OutputFolder(out_dir, kind="fit", force=force, protect=from_recipe.protected_folders(recipe), entries=FIT_ENTRIES, flag=flag) as output:
        out_dir = output.open_in_place()
        checkpoints = from_recipe.sweep_checkpoints(recipe, Path(cache) if cache else out_dir / "cache")
        placement = placement or Placement(threads=recipe.distributed.threads)
        return _Search(recipe, chosen, budgets, out_dir, checkpoints, progress or Progress(), exhaustive=exhaustive, placement=placement).run()


MIN_TRAINING_ROWS = 16  # fewer rows fine-tune nothing a ranking could trust


def holdout(inputs: Inputs, recipe: Recipe, fraction: float) -> tuple[Inputs, ModelData, Recipe]:
    """(inputs that train on the training split less its last ``fraction`` and rank on that
    part, the test data the winner is measured on, the recipe that trains on that split).

    The recipe's ``data.limit_train`` is set to the rows kept, so checkpoints of a model
    trained on fewer rows are never mistaken for one trained on all of them."""
    data, train = inputs.data, inputs.train
    if not fraction:
        return inputs, data, recipe
    rows = len(train.x)
    kept = rows - max(1, int(round(rows * fraction)))
    if kept < MIN_TRAINING_ROWS:
        raise InputError(f"[fit] validation = {fraction:g} leaves {kept} training rows of {rows}, fewer than {MIN_TRAINING_ROWS}", hint="give more data (data.limit_train), lower fit.validation, or set it to 0 to rank on the test split")
    ranking = dataclasses.replace(data, x_calibration=train.x[:kept], x_test=train.x[kept:], y_test=train.y[kept:])
    trains = TrainData(train.x[:kept], train.y[:kept], batch_size=train.batch_size, seed=train.seed, shift=train.shift)
    test = dataclasses.replace(data, x_calibration=train.x[:kept])
    fitted = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, limit_train=kept))
    return dataclasses.replace(inputs, data=ranking, train=trains), test, fitted


class _Search:
    """One fit run: estimate untrained, train the teacher, halve, ship the winner, report."""

    def __init__(self, recipe: Recipe, target, budgets: Budgets, out_dir: Path, checkpoints, progress: Progress, *, exhaustive: bool = False, placement: Placement):
        self.recipe, self.target, self.budgets, self.out_dir, self.placement = recipe, target, budgets, out_dir, placement
        self.workers = WorkerStats(placement.describe(), placement.threads)
        self.executor = None  # while the teacher trains and the rungs run
        self.checkpoints, self.progress, self.exhaustive = checkpoints, progress, exhaustive
        self.records = Records(out_dir)
        self.rows = CandidateRows()
        self.timer = StageTimer()
        self.runs: CandidateRuns | None = None  # once the teacher is trained
        self.scales: list[float] = []  # the rungs' epoch shares, once planned
        self.float_info: dict = {}

    def run(self) -> FitResult:
        started = time.perf_counter()
        with interrupts.on_interrupt(self._say_kept):
            winner = self._search()
        if winner is None:  # an earlier run's winner may be over these budgets: it must not ship
            remove_bundles(self.out_dir, keep=None)
        self.timer.seconds["total"] = round(time.perf_counter() - started, 2)
        report = self._report(winner)
        from edgekit.report.files import write_report_folder

        write_report_folder(self.out_dir, report)
        log.info("wrote %s", self.out_dir)
        if winner is None:
            raise BudgetError(report["fit"]["verdict"], hint=report["fit"]["hint"])
        return FitResult(self.out_dir, report, winner)

    def _say_kept(self) -> None:
        log.warning("interrupted: %d finished candidate result(s) are kept in %s; run the same command to continue", self.records.count(), self.records.folder)

    def _search(self) -> dict | None:
        ground, test_data = self._prepare()
        points = candidates(self.space)
        self.progress.start(variants=len(points), finished=0, stages=len(points))
        if self.exhaustive:
            for point in points:
                self.rows.add(point, None)
            feasible = points
        else:  # before the float model: nothing trains for a budget nothing meets
            with self.timer.stage("estimate"):
                feasible = check_untrained(points, ground, self.records, self.rows, progress=self.progress)
        if not feasible:
            return None
        with opened(self.placement, self.progress) as self.executor:
            self.executor.warm([train_and_measure.__module__])  # the workers load TensorFlow while the teacher trains
            self.runs = self._teach(ground, feasible)
            test_data = dataclasses.replace(test_data, task=self.runs.data.task, outputs=self.runs.data.outputs)
            shared = FitShared(self.runs.ground, self.runs.data, self.runs.scores, self.runs.group_qat, runs=self.runs)
            self.shared = shared.for_workers(model_bytes(self.runs.teacher)) if self.placement.distributed else shared
            finalists, self.scales = successive_halving(feasible, self._rungs, self.rows, halving=self.recipe.fit.halving, exhaustive=self.exhaustive)
        return Shipping(self.runs, self.rows, test_data, self.out_dir).winner(finalists, exhaustive=self.exhaustive)

    def _prepare(self) -> tuple[Ground, ModelData]:
        """The data split for ranking, the space, and what every candidate shares."""
        with self.timer.stage("load"), self.progress.stage("load data"):
            inputs = from_recipe.load_recipe_inputs(self.recipe)
        if self.recipe.cluster.layers:  # build refuses the same names
            from edgekit.compression.cluster import check_cluster_layers

            check_cluster_layers(inputs.model, self.recipe.cluster.layers)
        ranking, test_data, fit_recipe = holdout(inputs, self.recipe, self.recipe.fit.validation)
        self.space = plan_space(self.recipe, self.target, shrinkable=_shrinkable(inputs.model))
        self.float_info = {"params": int(inputs.model.count_params())}
        ground = Ground(
            recipe=self.recipe,
            fit_recipe=fit_recipe,
            target=self.target,
            budgets=self.budgets,
            settings=from_recipe.artifact_settings(fit_recipe, input_shape=stages.fixed_input_shape(inputs.model, ranking.data)),
            inputs=ranking,
            largest=largest_kernel(inputs.model, exclude=(*self.recipe.cluster.exclude, *self.recipe.cluster.layers)),
            float_key=from_recipe.float_model_key(fit_recipe),
        )
        return ground, test_data

    def _teach(self, ground: Ground, feasible: Sequence[Candidate]) -> CandidateRuns:
        """The trained float model (every narrower student's teacher) and the task it shows."""
        with self.timer.stage("train"), self.progress.stage("float model"):
            teacher = stages.trained_float_model(ground.inputs, ground.fit_recipe.train, self.checkpoints, from_recipe.float_checkpoint(ground.fit_recipe))
        scores = stages.float_scores(teacher, ground.inputs.data)
        data = stages.decide_task(self.recipe.task, teacher, ground.inputs.data, scores, trained=ground.fit_recipe.train.enabled)
        if not data.task.classifies:
            raise InputError(f"fit ranks candidates by accuracy, and this is a {data.task.name} model ({data.task.reason})", hint="fit classifiers; measure other models with edgekit convert --flash-kb/--ram-kb")
        self.float_info = {**stages.float_summary(teacher, scores, data), "validation_samples": len(data.x_test)}
        return CandidateRuns(ground, teacher, data, scores, qat_groups(feasible), checkpoints=self.checkpoints, timer=self.timer, progress=self.progress)

    def _rungs(self, groups: list[list[Candidate]], rung: int, scale: float) -> list[list[dict]]:
        """Every group's candidates at one rung: from their records when proven, else one task
        per group (here or on the workers); each result recorded in its row."""
        results = {p.name: self.runs.recorded(p, rung, scale, self.records) for group in groups for p in group}
        tasks = [Task(f"{group[0].name} r{rung + 1}", train_and_measure, RungJob(tuple(p for p in group if results[p.name] is None), rung, scale)) for group in groups]
        tasks = [t for t in tasks if t.item.points]
        lost = []
        for outcome in self.executor.run(tasks, self.shared):
            if isinstance(outcome, Lost):
                log.error("lost %s: %s", outcome.name, outcome.why)
                lost.append(outcome)
                continue
            self.workers.add(outcome)
            self.runs.trained += outcome.result["trained"]
            for name, seconds in outcome.result["timings"].items():
                self.timer.seconds[name] = round(self.timer.seconds.get(name, 0.0) + seconds, 2)
            job = next(t.item for t in tasks if t.name == outcome.name)
            for point, made in zip(job.points, outcome.result["made"]):
                interrupts.check()
                results[point.name] = self.runs.accept(point, rung, scale, self.records, made, check=self.placement.distributed)
        if lost:
            raise RunError(lost_line(lost, "candidate group", self.records.folder), hint="run the same command again: it keeps every finished candidate and computes the rest")
        for group in groups:
            for point in group:
                self._record_rung(point, rung, results[point.name])
        return [[results[p.name] for p in group] for group in groups]

    def _record_rung(self, point: Candidate, rung: int, result: dict) -> None:
        """One candidate's rung result in its row (rejected when it misses a budget)."""
        self.rows.add_rung(point, result)
        if not result["fits"]:
            self.rows.reject(point, f"over budget at rung {rung + 1}", result["misses"])
        self.progress.variant_done(f"{point.name} r{rung + 1}")

    # --- the report ---------------------------------------------------------------------------

    def _report(self, winner: dict | None) -> dict:
        rows = self.rows.finished()
        report = stages.run_report(self.recipe.name, self.float_info, {}, [winner["artifact"]] if winner else [], self.timer.seconds)
        fit = {
            "target": self.target.name,
            "budgets": self.budgets.to_dict(),
            "space": self.space.to_dict(),
            "candidates": len(rows),
            "rejected_before_training": sum(1 for r in rows if r.get("estimated")),
            "rungs": [round(s, 4) for s in self.scales],
            "trained": list(self.runs.trained) if self.runs else [],
            "reused": list(self.records.reused),
            "validation": self.recipe.fit.validation,
        }
        if winner is None:
            fit["verdict"], fit["hint"] = _verdict(rows, self.budgets, self.target.name)
        report.update(fit=fit, winner=winner, candidates=rows, distributed=self.workers.to_report())
        return report


def _verdict(rows: Sequence[Mapping], budgets: Budgets, target: str) -> tuple[str, str]:
    """One line: the closest candidate and what it missed by."""
    missed = [r for r in rows if r.get("misses")]
    limits = ", ".join(_limit_text(figure, limit) for figure, limit in budgets.limits().items())
    if budgets.min_accuracy is not None:
        limits += f", accuracy >= {budgets.min_accuracy * 100:g} %"
    if not missed:
        return f"nothing fits {limits} on {target}", "widen the [fit] space or relax the budgets"
    closest = min(missed, key=lambda r: overshoot(r["misses"]))
    how = "; ".join(describe_miss(m) for m in closest["misses"])
    return (
        f"nothing in {len(rows)} candidates fits {limits} on {target}: the closest, {closest['name']}, misses by {how}",
        "relax the budget, pick a larger board, or widen the space in the recipe's [fit] table (smaller widths, fewer clusters)",
    )


def _limit_text(figure: str, limit: float) -> str:
    return f"latency <= {limit:g} ms" if figure == "latency" else f"{'RAM' if figure == 'ram' else 'flash'} <= {limit / 1024:g} KiB"


def _shrinkable(model) -> bool:
    return type(model).__name__ in ("Sequential", "Functional")

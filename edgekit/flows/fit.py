"""``edgekit fit``: budgets in, the most accurate model that fits out.

The search, over the stages every flow shares (``edgekit.stages``):

1. The float model is trained once (the teacher of every narrower student), on the training
   split less a held-out validation part that ranks the candidates (``[fit] validation``), so
   the test split stays untouched until the winner is measured on it.
2. Cheap checks first: every candidate structure is built untrained, converted and packaged for
   the target (``edgekit.fit_measure``); what cannot fit the flash, RAM or latency budget is
   rejected without training.
3. Successive halving over what is left: every candidate is trained at a small share of the
   recipe's fine-tuning epochs, the best third (``[fit] halving``) goes on to three times the
   epochs, until the last rung trains with the recipe's full epochs. Each rung measures every
   candidate on its shipped artifact (flash as the file's bytes, the arena in TFLM, Vela's
   figures), so a candidate that only fits on paper is caught before it can win.
4. The winner is measured on the test split and bundled; ``--min-accuracy`` is checked there.

The output folder::

    cache/                     the trained models (float-KEY/, compressed-KEY/)
    candidates/NAME-rN.json    one candidate's measured result at rung N (estimates: NAME-est)
    bundles/NAME/              the winner's bundle
    report.json, report.md, results.csv, report.html, plots/

A candidate's JSON is written when it is finished, so Ctrl-C keeps the finished candidates and
the same command resumes. Nothing fitting is exit 1 with one line naming the closest
candidate and what it missed by; the report is written first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekit import distribute, interrupts, stages
from edgekit.atomic import write_file_atomic
from edgekit.checkpoints import Checkpoints
from edgekit.errors import BudgetError, InputError
from edgekit.fit_measure import estimate, package_and_judge
from edgekit.fit_space import Budgets, Candidate, candidate_recipe, candidates, describe_miss, largest_kernel, overshoot, plan_space, read_budgets
from edgekit.flows.sweep import Progress
from edgekit.model_cache import compression_key, digest, float_model_key
from edgekit.outputs import OutputFolder, protected_folders
from edgekit.recipe import Recipe, load_recipe
from edgekit.signing import recipe_key, sign_bundle
from edgekit.stages import ArtifactSettings, Inputs, ModelData, StageTimer
from edgekit.sweep_grid import default_out_dir
from edgekit.train import TrainData

log = logging.getLogger("edgekit")
FIT_ENTRIES = ("cache", "candidates", "bundles", "plots", "report.json", "report.md", "results.csv", "report.html")
MAX_RUNGS = 3
RANKING_LATENCY_RUNS = 10  # latency runs while ranking, unless latency is a budget


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
) -> FitResult:
    """Search (or resume searching) for ``recipe``'s most accurate model that fits the budgets
    on ``target``; raises BudgetError (exit 1) after writing the report when nothing fits.

    ``exhaustive`` is the baseline the search is measured against (benchmarks/fit_vs_sweep.py):
    no estimates and no halving, every candidate trained with the full epochs and measured,
    the fitting ones on the test split too."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    try:
        (chosen,) = stages.recipe_targets(recipe, [target])
    except InputError as exc:
        raise InputError(f"--target: {exc.message}", hint=exc.hint) from exc
    budgets = read_budgets(chosen, flash_kb=flash_kb, ram_kb=ram_kb, latency_ms=latency_ms, min_accuracy=min_accuracy, board=board)
    chosen = chosen.variant(**budgets.target_options(chosen))
    recipe_key(recipe)  # a bad signing key fails now, not after training
    out_dir = distribute.output_dir(Path(out) if out is not None else default_out_dir(recipe, "-fit"), recipe.train.strategy)
    flag = "--out" if out is not None else f"{recipe.source}: output.dir (+ -fit)"
    with OutputFolder(out_dir, kind="fit", force=force, protect=protected_folders(recipe), entries=FIT_ENTRIES, flag=flag) as output:
        out_dir = output.open_in_place()
        checkpoints = Checkpoints.for_sweep(recipe, Path(cache) if cache else out_dir / "cache")
        return _Search(recipe, chosen, budgets, out_dir, checkpoints, progress or Progress(), exhaustive=exhaustive).run()


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
    if kept < 1:
        raise InputError(f"[fit] validation = {fraction:g} leaves no training rows of {rows}", hint="lower fit.validation, or set it to 0 to rank on the test split")
    ranking = dataclasses.replace(data, x_calibration=train.x[:kept], x_test=train.x[kept:], y_test=train.y[kept:])
    trains = TrainData(train.x[:kept], train.y[:kept], batch_size=train.batch_size, seed=train.seed, shift=train.shift)
    test = dataclasses.replace(data, x_calibration=train.x[:kept])
    fitted = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, limit_train=kept))
    return dataclasses.replace(inputs, data=ranking, train=trains), test, fitted


def rung_scales(groups: int, halving: int) -> list[float]:
    """Epoch shares of the rungs, last 1.0: as many halvings as it takes to get from
    ``groups`` candidates to one, at most ``MAX_RUNGS`` rungs."""
    rungs = 1 if groups <= 1 else min(MAX_RUNGS, 1 + math.ceil(math.log(groups) / math.log(halving)))
    return [halving ** -(rungs - 1 - r) for r in range(rungs)]


class _Search:
    """One fit run: train the teacher, estimate, halve, measure and bundle the winner, report."""

    def __init__(self, recipe: Recipe, target, budgets: Budgets, out_dir: Path, checkpoints: Checkpoints, progress: Progress, *, exhaustive: bool = False):
        self.exhaustive = exhaustive
        self.recipe, self.target, self.budgets, self.out_dir = recipe, target, budgets, out_dir
        self.records = out_dir / "candidates"
        self.checkpoints, self.progress = checkpoints, progress
        self.timer = StageTimer()
        self.rows: dict[str, dict] = {}  # candidate name -> its report row
        self.trained: list[str] = []  # "NAME at rung N" for every compression run this search paid for
        self.reused: list[str] = []
        self.final_models: dict[str, Any] = {}  # candidate name -> its full-epoch Compressed
        self.latest: dict[str, Any] = {}  # compression key -> the models of the group being measured
        self.scales: list[float] = []  # the rungs' epoch shares, once planned
        self.test_scores = None

    # --- the search --------------------------------------------------------------------------

    def run(self) -> FitResult:
        started = time.perf_counter()
        with interrupts.on_interrupt(self._say_kept):
            winner = self._search()
        self.timer.seconds["total"] = round(time.perf_counter() - started, 2)
        report = self._report(winner)
        from edgekit.fit_report import write_fit_reports

        write_fit_reports(self.out_dir, report)
        log.info("wrote %s", self.out_dir)
        if winner is None:
            raise BudgetError(report["fit"]["verdict"], hint=report["fit"]["hint"])
        return FitResult(self.out_dir, report, winner)

    def _say_kept(self) -> None:
        done = len(list(self.records.glob("*.json"))) if self.records.is_dir() else 0
        log.warning("interrupted: %d finished candidate result(s) are kept in %s; run the same command to continue", done, self.records)

    def _search(self) -> dict | None:
        with self.timer.stage("load"), self.progress.stage("load data"):
            inputs = stages.load_recipe_inputs(self.recipe, (self.target,))
        self.inputs, self.test_data, self.fit_recipe = holdout(inputs, self.recipe, self.recipe.fit.validation)
        self.float_key = float_model_key(self.fit_recipe)
        self.settings = ArtifactSettings.from_recipe(self.fit_recipe, input_shape=stages.fixed_input_shape(inputs.model, self.inputs.data))
        self.space = plan_space(self.recipe, self.target, shrinkable=_shrinkable(inputs.model))
        self.largest = largest_kernel(inputs.model, exclude=self.recipe.cluster.exclude)
        self.float_info = {"params": int(inputs.model.count_params())}
        points = candidates(self.space)
        self.progress.start(variants=len(points), finished=0, stages=len(points))
        if self.exhaustive:
            self.rows.update({p.name: {**p.to_dict(), "estimate": None, "rungs": []} for p in points})
            feasible = points
        else:  # before the float model: nothing trains for a budget nothing meets
            feasible = self._estimates(inputs.model, points)
        if not feasible:
            return None
        with self.timer.stage("train"), self.progress.stage("float model"):
            self.teacher = stages.trained_float_model(self.inputs, self.fit_recipe, self.checkpoints)
        scores = stages.float_scores(self.teacher, self.inputs.data)
        self.data = stages.decide_task(self.recipe.task, self.teacher, self.inputs.data, scores)
        if not self.data.task.classifies:
            raise InputError(f"fit ranks candidates by accuracy, and this is a {self.data.task.name} model ({self.data.task.reason})", hint="fit classifiers; measure other models with edgekit convert --flash-kb/--ram-kb")
        self.test_data = dataclasses.replace(self.test_data, task=self.data.task, outputs=self.data.outputs)
        self.val_scores = scores
        self.float_info = {**stages.float_summary(self.teacher, scores, self.data), "validation_samples": len(self.data.x_test)}
        return self._winner(self._halving(feasible))

    def _estimates(self, model, points: Sequence[Candidate]) -> list[Candidate]:
        """Every structure checked untrained; the candidates whose structure fits."""
        by_structure: dict[tuple, dict] = {}
        with self.timer.stage("estimate"):
            for point in points:
                if point.structure not in by_structure:
                    with self.progress.stage(f"estimate {point.name}"):
                        by_structure[point.structure] = self._estimate(model, point)
        feasible = []
        for point in points:
            found = by_structure[point.structure]
            self.rows[point.name] = {**point.to_dict(), "estimate": found["figures"], "rungs": []}
            if found["misses"]:
                self._reject(point, "rejected before training", found["misses"], estimated=True)
            else:
                feasible.append(point)
        log.info("%d of %d candidates can fit (checked untrained); %d rejected without training", len(feasible), len(points), len(points) - len(feasible))
        return feasible

    def _estimate(self, model, point: Candidate) -> dict:
        key = digest({"estimate": list(point.structure), "target": self._target_key(), "budgets": self.budgets.to_dict(), "float": self.float_key})
        return self._cached(f"{point.name}-est", key, lambda: estimate(
            model, point, self.target, self.inputs.data, self.settings, self.budgets, largest_layer=self.largest, exclude=self.recipe.cluster.exclude
        ))  # fmt: skip

    def _halving(self, feasible: Sequence[Candidate]) -> list[Candidate]:
        """Successive halving over the training groups; the candidates alive after the last rung."""
        groups: dict[tuple, list[Candidate]] = {}
        for point in feasible:
            groups.setdefault(point.training, []).append(point)
        self.group_qat = {training: any(p.mode == "qat" for p in group) for training, group in groups.items()}
        alive = list(groups)
        scales = [1.0] if self.exhaustive else rung_scales(len(alive), self.recipe.fit.halving)
        self.scales = scales
        for rung, scale in enumerate(scales):
            log.info("rung %d of %d: %d candidate group(s) at %.0f %% of the fine-tuning epochs", rung + 1, len(scales), len(alive), scale * 100)
            ranked = []
            for training in alive:
                results = [self._rung_result(point, rung, scale, groups[training]) for point in groups[training]]
                fitting = [r["val_accuracy"] for r in results if r["fits"]]
                ranked.append((max(fitting) if fitting else -1.0, training))
            ranked.sort(key=lambda item: -item[0])
            if rung == len(scales) - 1:
                return [p for _, t in ranked for p in groups[t]]
            keep = max(1, math.ceil(len(ranked) / self.recipe.fit.halving))
            survivors = [t for score, t in ranked[:keep] if score >= 0]
            for score, training in ranked:
                if training not in survivors:
                    for point in groups[training]:
                        self._drop(point, "over budget at every mode" if score < 0 else f"ranked below the best {keep} at rung {rung + 1}")
            alive = survivors
            if not alive:
                return []
        return []

    def _rung_result(self, point: Candidate, rung: int, scale: float, group: Sequence[Candidate]) -> dict:
        """The candidate trained at ``scale`` of the epochs, converted, packaged and measured on
        the validation part (the record on disk when this rung ran before)."""
        qat = self.group_qat[point.training]
        recipe = candidate_recipe(self.fit_recipe, point, scale=scale, largest_layer=self.largest, qat=qat)
        key = digest({"compressed": compression_key(recipe, self.float_key, (self.target,)), "candidate": point.to_dict(), "target": self._target_key(), "budgets": self.budgets.to_dict()})
        result = self._cached(f"{point.name}-r{rung + 1}", key, lambda: self._measure(point, recipe, qat=qat, keep=scale == 1))
        result = {**result, "rung": rung + 1, "epochs_share": scale}
        self.rows[point.name]["rungs"].append(result)
        if not result["fits"]:
            self._reject(point, f"over budget at rung {rung + 1}", result["misses"])
        self.progress.variant_done(f"{point.name} r{rung + 1}")
        return result

    def _measure(self, point: Candidate, recipe: Recipe, *, qat: bool, keep: bool = False) -> dict:
        """Train (or reuse) the candidate's models and measure its artifact on the validation
        part; ``keep``: the last rung's models stay in memory for the winner's bundle (a QAT
        model that cannot be saved would otherwise be trained again)."""
        compressed = self._compressed(point, recipe, qat=qat)
        if keep:
            self.final_models[point.name] = compressed
        artifact, figures, found = self._artifact(point, compressed, self.data, self.val_scores)
        return {"val_accuracy": artifact.metrics.get("accuracy", 0.0), "figures": figures, "misses": found, "fits": not found}

    def _compressed(self, point: Candidate, recipe: Recipe, *, qat: bool):
        """The candidate's models: the group's run in memory (its PTQ and QAT candidates share
        one, and a QAT model that cannot be checkpointed is not trained twice), else the
        checkpoint's, else trained now."""
        key = compression_key(recipe, self.float_key, (self.target,))
        compressed = self.latest.get(key)
        if compressed is None:
            with self.progress.stage(f"train {point.name}"):
                before = self.timer.seconds.get("compress")
                _, compressed = stages.compressed_models(self.teacher, recipe, self.inputs, (self.target,), checkpoints=self.checkpoints, timer=self.timer, needs_qat=qat)
                if self.timer.seconds.get("compress") != before:  # the compress stage ran: this search paid for it
                    self.trained.append(f"{point.name} ({_epochs_text(recipe, qat=qat)})")
            self.latest = {key: compressed}  # one group's models at a time
        return compressed if point.mode == "qat" else compressed.float_side()

    def _artifact(self, point: Candidate, compressed, data: ModelData, scores, *, runs: int | None = None):
        chosen = self.target.variant(quantization=point.quantization)
        runs = runs or (self.settings.latency_runs if self.budgets.latency is not None else RANKING_LATENCY_RUNS)
        settings = dataclasses.replace(self.settings, latency_runs=runs)
        artifact = stages.convert_for_target(chosen, compressed, data, settings, name=f"{self.recipe.name}-{point.name}")
        artifact = stages.measure(artifact, data, scores, settings)
        return package_and_judge(artifact, data, self.budgets)

    def _winner(self, finalists: Sequence[Candidate]) -> dict | None:
        """The most accurate finalist that fits, measured on the test split and bundled."""
        fitting = [p for p in finalists if self.rows[p.name]["rungs"] and self.rows[p.name]["rungs"][-1]["fits"]]
        if not fitting:
            return None
        last = lambda p: self.rows[p.name]["rungs"][-1]  # noqa: E731
        best = max(fitting, key=lambda p: (last(p)["val_accuracy"], -last(p)["figures"]["flash"]))
        if self.exhaustive:
            self._test_every(fitting)
        for point in fitting:
            if point is not best:
                self.rows[point.name].update(status="fits", reason=f"fits; less accurate on validation than {best.name}")
        with self.timer.stage("winner"), self.progress.stage(f"bundle {best.name}"):
            winner = self._ship(best)
        accuracy = winner["artifact"].get("accuracy", 0.0)
        if self.budgets.min_accuracy is not None and accuracy < self.budgets.min_accuracy:
            miss = {"figure": "accuracy", "needs": accuracy, "limit": self.budgets.min_accuracy}
            self.rows[best.name].update(status="rejected", reason=f"measured on the test split: {describe_miss(miss)}", misses=[miss], test=winner["artifact"])
            self._remove_bundles(keep=None)
            return None
        self.rows[best.name].update(status="winner", reason="the most accurate candidate that fits", test=winner["artifact"], path=winner["path"])
        return winner

    def _test_scores(self):
        """The float model's outputs on the test split, computed once (the winner and the
        exhaustive baseline's table both compare with them)."""
        if self.test_scores is None:
            self.test_scores = stages.float_scores(self.teacher, self.test_data)
        return self.test_scores

    def _test_every(self, fitting: Sequence[Candidate]) -> None:
        """The exhaustive baseline's table: every fitting candidate's accuracy on the test split."""
        scores = self._test_scores()
        for point in fitting:
            chosen = self.target.variant(quantization=point.quantization)
            artifact = stages.convert_for_target(chosen, self.final_models[point.name], self.test_data, self.settings, name=point.name)
            measured = stages.measure(artifact, self.test_data, scores, dataclasses.replace(self.settings, latency_runs=RANKING_LATENCY_RUNS))
            self.rows[point.name]["test_accuracy"] = measured.metrics.get("accuracy")

    def _ship(self, point: Candidate) -> dict:
        """The winner's artifact from its full-epoch models, measured on the test split, bundled."""
        compressed = self.final_models.get(point.name)
        if compressed is None:  # a resumed search: its last rung was measured by an earlier run
            group_qat = self.group_qat[point.training]
            recipe = candidate_recipe(self.fit_recipe, point, scale=1.0, largest_layer=self.largest, qat=group_qat)
            compressed = self._compressed(point, recipe, qat=group_qat)
        scores = self._test_scores()
        artifact, figures, found = self._artifact(point, compressed, self.test_data, scores, runs=self.settings.latency_runs)
        if found:  # the same bytes as the rung's: a difference here is a bug, not a verdict
            raise BudgetError(f"{point.name}: fitted on validation but its test artifact misses: {'; '.join(map(describe_miss, found))}", hint="report this as a bug")
        self._remove_bundles(keep=artifact.name)
        shipped_recipe = dataclasses.replace(candidate_recipe(self.recipe, point, largest_layer=self.largest), targets=(self.target.label.replace("-", ":", 1),))
        artifact = stages.bundle(artifact, self.out_dir, self.test_data, recipe=shipped_recipe.to_dict())
        if signing_key := recipe_key(self.recipe):
            sign_bundle(self.out_dir / artifact.path, signing_key)
        row = {**artifact.to_report(), "figures": figures}
        return {"name": point.name, "path": artifact.path, "figures": figures, "artifact": row}

    def _remove_bundles(self, *, keep: str | None) -> None:
        """Only the current winner's bundle stays in bundles/ (an earlier run's winner goes)."""
        folder = self.out_dir / "bundles"
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name != keep and (entry / "manifest.json").is_file():
                shutil.rmtree(entry)

    # --- records ------------------------------------------------------------------------------

    def _cached(self, name: str, key: str, compute) -> dict:
        """A finished result from ``candidates/NAME.json`` when its key matches, else computed
        and written (atomically) there."""
        path = self.records / f"{name}.json"
        try:
            found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        except (ValueError, UnicodeDecodeError):
            found = None
        if isinstance(found, dict) and found.get("key") == key:
            self.reused.append(name)
            return found["result"]
        result = compute()
        self.records.mkdir(parents=True, exist_ok=True)
        write_file_atomic(path, json.dumps({"key": key, "result": result}, indent=2) + "\n")
        return result

    def _target_key(self) -> list:
        t = self.target
        return [t.label, dict(t.options), dict(t.converter_options), t.static_batch, self.settings.calibration_samples, self.recipe.output.latency_runs]

    def _reject(self, point: Candidate, why: str, found: Sequence[Mapping], *, estimated: bool = False) -> None:
        self.rows[point.name].update(status="rejected", reason=f"{why}: {'; '.join(map(describe_miss, found))}", misses=list(found), estimated=estimated)

    def _drop(self, point: Candidate, why: str) -> None:
        if self.rows[point.name].get("status") != "rejected":
            self.rows[point.name].update(status="dropped", reason=why)

    # --- the report ---------------------------------------------------------------------------

    def _report(self, winner: dict | None) -> dict:
        rows = list(self.rows.values())
        for row in rows:
            row.setdefault("status", "not reached")
            row.setdefault("reason", "")
        report = stages.run_report(self.recipe, self.float_info, {}, [winner["artifact"]] if winner else [], self.timer.seconds)
        fit = {
            "target": self.target.name,
            "budgets": self.budgets.to_dict(),
            "space": self.space.to_dict(),
            "candidates": len(rows),
            "rejected_before_training": sum(1 for r in rows if r.get("estimated")),
            "rungs": [round(s, 4) for s in self.scales],
            "trained": list(self.trained),
            "reused": list(self.reused),
            "validation": self.recipe.fit.validation,
        }
        if winner is None:
            fit["verdict"], fit["hint"] = self._verdict(rows)
        report.update(fit=fit, winner=winner, candidates=rows)
        return report

    def _verdict(self, rows: Sequence[Mapping]) -> tuple[str, str]:
        """One line: the closest candidate and what it missed by."""
        missed = [r for r in rows if r.get("misses")]
        limits = ", ".join(_limit_text(figure, limit) for figure, limit in self.budgets.limits().items())
        if self.budgets.min_accuracy is not None:
            limits += f", accuracy >= {self.budgets.min_accuracy * 100:g} %"
        if not missed:
            return f"nothing fits {limits} on {self.target.name}", "widen the [fit] space or relax the budgets"
        closest = min(missed, key=lambda r: overshoot(r["misses"]))
        how = "; ".join(describe_miss(m) for m in closest["misses"])
        return (
            f"nothing in {len(rows)} candidates fits {limits} on {self.target.name}: the closest, {closest['name']}, misses by {how}",
            "relax the budget, pick a larger board, or widen the space in the recipe's [fit] table (smaller widths, fewer clusters)",
        )


def _epochs_text(recipe: Recipe, *, qat: bool) -> str:
    """``distill 4, cluster 2, QAT 1 epochs``: what one compression run trained."""
    parts = [
        ("distill", recipe.distill.epochs if recipe.distill.enabled else 0),
        ("prune", recipe.prune.epochs if recipe.prune.enabled else 0),
        ("cluster", recipe.cluster.epochs if recipe.cluster.clusters else 0),
        ("QAT", recipe.quantize.epochs if qat else 0),
    ]
    return ", ".join(f"{name} {n}" for name, n in parts if n) + " epochs"


def _limit_text(figure: str, limit: float) -> str:
    return f"latency <= {limit:g} ms" if figure == "latency" else f"{'RAM' if figure == 'ram' else 'flash'} <= {limit / 1024:g} KiB"


def _shrinkable(model) -> bool:
    return type(model).__name__ in ("Sequential", "Functional")

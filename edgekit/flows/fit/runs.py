"""Training and measuring fit candidates, and the successive halving over them.

Candidates that differ only in how int8 is reached (PTQ or QAT) share one compression run
(their ``training``); a group's run is kept in memory while its candidates are measured, and
checkpointed like a build's, so a resumed search trains nothing twice. Every rung measures
each candidate on its shipped artifact (flash as the file's bytes, the arena in TFLM, Vela's
figures), on the validation part of the training split.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from edgekit.flows import from_recipe, stages
from edgekit.flows.fit.measure import package_and_judge
from edgekit.flows.fit.records import Records
from edgekit.flows.fit.space import Budgets, Candidate, candidate_recipe
from edgekit.flows.fit.table import CandidateRows
from edgekit.flows.model_cache import digest
from edgekit.flows.progress import Progress
from edgekit.flows.stages import Artifact, ArtifactSettings, Inputs, ModelData, StageTimer
from edgekit.recipe import Recipe
from edgekit.target import Target

__all__ = ["CandidateRuns", "Ground", "RANKING_LATENCY_RUNS", "qat_groups", "rung_scales", "successive_halving"]

log = logging.getLogger("edgekit")
MAX_RUNGS = 3
RANKING_LATENCY_RUNS = 10  # latency runs while ranking, unless latency is a budget


@dataclass(frozen=True, kw_only=True)
class Ground:
    """What every candidate is trained and measured with.

    ``recipe`` is the user's, ``fit_recipe`` the one that trains on the training split less
    the validation part (``inputs`` train on it and rank on that part); ``largest`` is the
    layer with the most kernel weights; ``float_key`` the trained float model's checkpoint key.
    """

    recipe: Recipe
    fit_recipe: Recipe
    target: Target
    budgets: Budgets
    settings: ArtifactSettings
    inputs: Inputs
    largest: str | None
    float_key: str

    def target_key(self) -> list:
        """What a result depends on besides the candidate: the target as configured, calibration, latency runs."""
        t = self.target
        return [t.label, dict(t.options), dict(t.converter_options), t.static_batch, self.settings.calibration_samples, self.recipe.output.latency_runs]

    def candidate_recipe(self, point: Candidate, *, scale: float, qat: bool) -> Recipe:
        return candidate_recipe(self.fit_recipe, point, scale=scale, largest_layer=self.largest, qat=qat)


def rung_scales(groups: int, halving: int) -> list[float]:
    """Epoch shares of the rungs, last 1.0: as many halvings as it takes to get from
    ``groups`` candidates to one, at most ``MAX_RUNGS`` rungs."""
    rungs = 1 if groups <= 1 else min(MAX_RUNGS, 1 + math.ceil(math.log(groups) / math.log(halving)))
    return [halving ** -(rungs - 1 - r) for r in range(rungs)]


def qat_groups(points: Sequence[Candidate]) -> dict[tuple, bool]:
    """Per training group: whether one of its candidates needs the QAT model."""
    groups: dict[tuple, bool] = {}
    for point in points:
        groups[point.training] = groups.get(point.training, False) or point.mode == "qat"
    return groups


class CandidateRuns:
    """Trains (or reuses) candidates' models and measures their artifacts.

    ``teacher`` is the trained float model, ``data`` the validation part with the task
    decided and ``scores`` the teacher's outputs on it; ``group_qat`` says, per training
    group, whether its compression run includes QAT.
    """

    def __init__(self, ground: Ground, teacher, data: ModelData, scores, group_qat: dict[tuple, bool], *, checkpoints, timer: StageTimer, progress: Progress):
        self.ground, self.teacher, self.data, self.scores, self.group_qat = ground, teacher, data, scores, group_qat
        self.checkpoints, self.timer, self.progress = checkpoints, timer, progress
        self.trained: list[str] = []  # "NAME (epochs)" for every compression run this search paid for
        self.final_models: dict[str, Any] = {}  # candidate name -> its full-epoch Compressed
        self.latest: dict[str, Any] = {}  # compression key -> the models of the group being measured

    def rung_key(self, point: Candidate, rung: int, scale: float) -> tuple[str, str, Recipe]:
        """(record name, key, recipe) of the candidate at one rung: everything its result depends on."""
        ground, qat = self.ground, self.group_qat[point.training]
        recipe = ground.candidate_recipe(point, scale=scale, qat=qat)
        compressed_key = from_recipe.compression_key(recipe, ground.float_key, (ground.target,))
        key = digest({"compressed": compressed_key, "candidate": point.to_dict(), "target": ground.target_key(), "budgets": ground.budgets.to_dict()})
        return f"{point.name}-r{rung + 1}", key, recipe

    def recorded(self, point: Candidate, rung: int, scale: float, records: Records) -> dict | None:
        """The rung's result from its record and artifact on disk, None when it must be computed."""
        name, key, _ = self.rung_key(point, rung, scale)
        result = records.recorded(name, key, lambda model_bytes: self.remeasure(point, model_bytes))
        return None if result is None else {**result, "rung": rung + 1, "epochs_share": scale}

    def accept(self, point: Candidate, rung: int, scale: float, records: Records, made: tuple[dict, bytes], *, check: bool) -> dict:
        """A result computed elsewhere (``made``: result, artifact bytes), written to the
        records; ``check``: believed only as far as its artifact, re-measured here, proves it."""
        name, key, _ = self.rung_key(point, rung, scale)
        result = records.accept(name, key, made, lambda model_bytes: self.remeasure(point, model_bytes), check=check)
        return {**result, "rung": rung + 1, "epochs_share": scale}

    def measure_fresh(self, point: Candidate, recipe: Recipe, *, keep: bool) -> tuple[dict, bytes]:
        """Train (or reuse) the candidate's models and measure its artifact on the validation
        part: (the result, the artifact's bytes); ``keep``: the last rung's models stay in
        memory for the winner's bundle (a QAT model that cannot be saved would otherwise be
        trained again)."""
        compressed = self.models(point, recipe)
        if keep:
            self.final_models[point.name] = compressed
        artifact, figures, found = self.artifact(point, compressed, self.data, self.scores)
        return _rung(artifact, figures, found), artifact.model_bytes

    def remeasure(self, point: Candidate, model_bytes: bytes) -> dict:
        """A rung's result measured again from its artifact's bytes (a resumed search believes
        no recorded figure): accuracy on the validation part, the target's packaging."""
        chosen = self.ground.target.variant(quantization=point.quantization)
        artifact = Artifact(name=f"{self.ground.recipe.name}-{point.name}", target=chosen, quantization=chosen.quantization, model_bytes=model_bytes)
        return _rung(*self.judge(artifact, self.data, self.scores))

    def models(self, point: Candidate, recipe: Recipe | None = None):
        """The candidate's models: the group's run in memory (its PTQ and QAT candidates share
        one, and a QAT model that cannot be checkpointed is not trained twice), else the
        checkpoint's, else trained now. ``recipe`` defaults to the full epochs."""
        qat = self.group_qat[point.training]
        recipe = recipe or self.ground.candidate_recipe(point, scale=1.0, qat=qat)
        plan = from_recipe.compression_plan(recipe, (self.ground.target,), needs_qat=qat)
        key = plan.checkpoint.key if plan.checkpoint else None
        compressed = self.latest.get(key)
        if compressed is None:
            with self.progress.stage(f"train {point.name}"):
                before = self.timer.seconds.get("compress")
                _, compressed = stages.compressed_models(self.teacher, plan, self.ground.inputs, checkpoints=self.checkpoints, timer=self.timer)
                if self.timer.seconds.get("compress") != before:  # the compress stage ran: this search paid for it
                    self.trained.append(f"{point.name} ({_epochs_text(recipe, qat=qat)})")
            self.latest = {key: compressed}  # one group's models at a time
        return compressed if point.mode == "qat" else compressed.float_side()

    def artifact(self, point: Candidate, compressed, data: ModelData, scores, *, runs: int | None = None):
        """(packaged artifact, figures, misses) of the candidate's models on ``data``."""
        ground = self.ground
        chosen = ground.target.variant(quantization=point.quantization)
        artifact = stages.convert_for_target(chosen, compressed, data, self._settings(runs), name=f"{ground.recipe.name}-{point.name}")
        return self.judge(artifact, data, scores, runs=runs)

    def judge(self, artifact: Artifact, data: ModelData, scores, *, runs: int | None = None):
        """(packaged artifact, figures, misses) of a converted artifact measured on ``data``."""
        settings = self._settings(runs)
        return package_and_judge(stages.measure(artifact, data, scores, settings), data, self.ground.budgets)

    def _settings(self, runs: int | None) -> ArtifactSettings:
        ground = self.ground
        runs = runs or (ground.settings.latency_runs if ground.budgets.latency is not None else RANKING_LATENCY_RUNS)
        return dataclasses.replace(ground.settings, latency_runs=runs)


def successive_halving(
    feasible: Sequence[Candidate], rung_results: Callable[[list[list[Candidate]], int, float], list[list[dict]]], rows: CandidateRows, *, halving: int, exhaustive: bool
) -> tuple[list[Candidate], list[float]]:
    """(the candidates alive after the last rung, the rungs' epoch shares): every training
    group measured at each rung (``rung_results(groups, rung, scale)``: per group, its
    candidates' results, in order; the groups may run in parallel), the best ``1/halving`` of
    the groups going on."""
    groups: dict[tuple, list[Candidate]] = {}
    for point in feasible:
        groups.setdefault(point.training, []).append(point)
    alive = list(groups)
    scales = [1.0] if exhaustive else rung_scales(len(alive), halving)
    for rung, scale in enumerate(scales):
        log.info("rung %d of %d: %d candidate group(s) at %.0f %% of the fine-tuning epochs", rung + 1, len(scales), len(alive), scale * 100)
        measured = rung_results([groups[t] for t in alive], rung, scale)
        ranked = []
        for training, results in zip(alive, measured):
            fitting = [r["val_accuracy"] for r in results if r["fits"]]
            ranked.append((max(fitting) if fitting else -1.0, training))
        ranked.sort(key=lambda item: -item[0])
        if rung == len(scales) - 1:
            return [p for _, t in ranked for p in groups[t]], scales
        keep = max(1, math.ceil(len(ranked) / halving))
        survivors = [t for score, t in ranked[:keep] if score >= 0]
        for score, training in ranked:
            if training not in survivors:
                for point in groups[training]:
                    rows.drop(point, "over budget at every mode" if score < 0 else f"ranked below the best {keep} at rung {rung + 1}")
        alive = survivors
        if not alive:
            return [], scales
    return [], scales


def _rung(artifact: Artifact, figures: dict, found: list) -> dict:
    return {"val_accuracy": artifact.metrics.get("accuracy", 0.0), "figures": figures, "misses": found, "fits": not found}


def _epochs_text(recipe: Recipe, *, qat: bool) -> str:
    """``distill 4, cluster 2, QAT 1 epochs``: what one compression run trained."""
    parts = [
        ("distill", recipe.distill.epochs if recipe.distill.enabled else 0),
        ("prune", recipe.prune.epochs if recipe.prune.enabled else 0),
        ("cluster", recipe.cluster.epochs if recipe.cluster.clusters else 0),
        ("QAT", recipe.quantize.epochs if qat else 0),
    ]
    return ", ".join(f"{name} {n}" for name, n in parts if n) + " epochs"

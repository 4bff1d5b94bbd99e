"""The end of a fit: the most accurate finalist that fits, measured on the test split and bundled.

The winner is chosen on validation accuracy (ties: the smaller file), then its artifact is
made from its full-epoch models and measured on the test split, which nothing before has
seen; ``--min-accuracy`` is checked there. Only the current winner's bundle stays in
``bundles/``: an earlier run's winner is removed (and a search that ends with nothing fitting
removes it too), so a stale model never ships; only bundles the stamp says edgekit wrote go.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from edgekit.bundle.signing import sign_bundle
from edgekit.errors import BudgetError
from edgekit.flows import from_recipe, stages
from edgekit.flows.fit.runs import RANKING_LATENCY_RUNS, CandidateRuns
from edgekit.flows.fit.space import Candidate, candidate_recipe, describe_miss
from edgekit.flows.fit.table import CandidateRows
from edgekit.flows.stages import ModelData
from edgekit.output.stamp import claim_tree, owned_inside, read_stamp, remove_owned

__all__ = ["remove_bundles", "Shipping"]


class Shipping:
    """Picks, measures and bundles the winner into ``out_dir``."""

    def __init__(self, runs: CandidateRuns, rows: CandidateRows, test_data: ModelData, out_dir: Path):
        self.runs, self.rows, self.test_data, self.out_dir = runs, rows, test_data, out_dir
        self.ground = runs.ground
        self._scores = None

    def winner(self, finalists: Sequence[Candidate], *, exhaustive: bool = False) -> dict | None:
        """The most accurate finalist that fits, shipped; None when none fits (or the
        winner misses ``--min-accuracy`` on the test split)."""
        fitting = [p for p in finalists if (self.rows.last_rung(p) or {}).get("fits")]
        if not fitting:
            return None
        best = max(fitting, key=lambda p: (self.rows.last_rung(p)["val_accuracy"], -self.rows.last_rung(p)["figures"]["flash"]))
        if exhaustive:
            self.test_every(fitting)
        for point in fitting:
            if point is not best:
                self.rows.update(point, status="fits", reason=f"fits; less accurate on validation than {best.name}")
        with self.runs.timer.stage("winner"), self.runs.progress.stage(f"bundle {best.name}"):
            winner = self.ship(best)
        accuracy, floor = winner["artifact"].get("accuracy", 0.0), self.ground.budgets.min_accuracy
        if floor is not None and accuracy < floor:
            miss = {"figure": "accuracy", "needs": accuracy, "limit": floor}
            self.rows.update(best, status="rejected", reason=f"measured on the test split: {describe_miss(miss)}", misses=[miss], test=winner["artifact"])
            self.remove_bundles(keep=None)
            return None
        self.rows.update(best, status="winner", reason="the most accurate candidate that fits", test=winner["artifact"], path=winner["path"])
        return winner

    def test_scores(self):
        """The float model's outputs on the test split, computed once (the winner and the
        exhaustive baseline's table both compare with them)."""
        if self._scores is None:
            self._scores = stages.float_scores(self.runs.teacher, self.test_data)
        return self._scores

    def test_every(self, fitting: Sequence[Candidate]) -> None:
        """The exhaustive baseline's table: every fitting candidate's accuracy on the test split."""
        settings = self.ground.settings
        for point in fitting:
            chosen = self.ground.target.variant(quantization=point.quantization)
            artifact = stages.convert_for_target(chosen, self.runs.final_models[point.name], self.test_data, settings, name=point.name)
            measured = stages.measure(artifact, self.test_data, self.test_scores(), dataclasses.replace(settings, latency_runs=RANKING_LATENCY_RUNS))
            self.rows.update(point, test_accuracy=measured.metrics.get("accuracy"))

    def ship(self, point: Candidate) -> dict:
        """The winner's artifact from its full-epoch models, measured on the test split, bundled."""
        compressed = self.runs.final_models.get(point.name)
        if compressed is None:  # a resumed search: its last rung was measured by an earlier run
            compressed = self.runs.models(point)
        ground = self.ground
        artifact, figures, found = self.runs.artifact(point, compressed, self.test_data, self.test_scores(), runs=ground.settings.latency_runs)
        if found:  # the same bytes as the rung's: a difference here is a bug, not a verdict
            raise BudgetError(f"{point.name}: fitted on validation but its test artifact misses: {'; '.join(map(describe_miss, found))}", hint="report this as a bug")
        self.remove_bundles(keep=artifact.name)
        shipped = candidate_recipe(ground.recipe, point, largest_layer=ground.largest)
        shipped = dataclasses.replace(shipped, targets=(ground.target.label.replace("-", ":", 1),))
        artifact = stages.bundle(artifact, self.out_dir, self.test_data, recorded_recipe=shipped.to_dict())
        if signing_key := from_recipe.signing_key(ground.recipe):
            sign_bundle(self.out_dir / artifact.path, signing_key)
        claim_tree(self.out_dir, artifact.path)  # the stamp names it: the next run may replace it
        row = {**artifact.to_report(), "figures": figures}
        return {"name": point.name, "path": artifact.path, "figures": figures, "artifact": row}

    def remove_bundles(self, *, keep: str | None) -> None:
        remove_bundles(self.out_dir, keep=keep)


def remove_bundles(out_dir: Path, *, keep: str | None) -> None:
    """Only the current winner's bundle stays in bundles/: every other bundle edgekit wrote
    there goes (the stamp says which), so a stale model never ships; a user's file is never
    removed (a run whose bundles/ holds one was refused before it started)."""
    stamp = read_stamp(out_dir)
    owned = owned_inside(out_dir, stamp) if stamp else set()
    names = {path.split("/")[1] for path in owned if path.startswith("bundles/") and path.count("/") >= 2}
    for name in sorted(names - {keep}):
        if os.path.lexists(out_dir / "bundles" / name):
            remove_owned(out_dir, f"bundles/{name}")

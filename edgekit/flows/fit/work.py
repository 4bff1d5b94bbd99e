"""A fit's task: one training group's candidates at one rung.

Candidates that differ only in how int8 is reached share one compression run, whose QAT model
cannot be saved and loaded back, so the unit of work that runs anywhere is that run plus the
group's candidates. The task trains (or, in the driver, reuses) the group's models at the
rung's share of the epochs, converts, packages and measures each candidate on the validation
part, and returns (result, artifact bytes) per candidate; the driver writes the records and,
for a worker's results, re-measures them from the bytes before it believes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgekit.flows.fit.runs import CandidateRuns, Ground
from edgekit.flows.fit.space import Candidate
from edgekit.flows.progress import Progress
from edgekit.flows.stages import ModelData, StageTimer

__all__ = ["FitShared", "RungJob", "train_and_measure"]


@dataclass(frozen=True)
class FitShared:
    """What every task of a search needs. In the driver ``runs`` is the search's own
    CandidateRuns (its checkpoints and the models it keeps for the winner); a worker gets the
    teacher as ``.keras`` bytes and builds its own, with no checkpoints."""

    ground: Ground
    data: ModelData
    scores: Any
    group_qat: dict
    teacher_bytes: bytes | None = None
    runs: Any = field(default=None, compare=False)

    def for_workers(self, teacher_bytes: bytes) -> "FitShared":
        inputs = dataclasses.replace(self.ground.inputs, model=None)
        return dataclasses.replace(self, ground=dataclasses.replace(self.ground, inputs=inputs), teacher_bytes=teacher_bytes, runs=None)


@dataclass(frozen=True)
class RungJob:
    """One training group's candidates at one rung."""

    points: tuple[Candidate, ...]
    rung: int
    scale: float


def train_and_measure(shared: FitShared, job: RungJob) -> dict:
    """{"made": [(result, artifact bytes) per candidate], "trained": [...], "timings": {...}}."""
    runs = shared.runs if shared.runs is not None else _worker_runs(shared)
    before = len(runs.trained)
    made = []
    for point in job.points:
        recipe = shared.ground.candidate_recipe(point, scale=job.scale, qat=shared.group_qat[point.training])
        made.append(runs.measure_fresh(point, recipe, keep=job.scale == 1 and shared.runs is not None))
    if shared.runs is not None:  # the driver's own runs and timer already hold them
        return {"made": made, "trained": [], "timings": {}}
    return {"made": made, "trained": runs.trained[before:], "timings": dict(runs.timer.seconds)}


def _worker_runs(shared: FitShared) -> CandidateRuns:
    from edgekit.flows.checkpoints import Checkpoints
    from edgekit.flows.model_cache import load_model_bytes

    teacher = load_model_bytes(shared.teacher_bytes)
    return CandidateRuns(shared.ground, teacher, shared.data, shared.scores, shared.group_qat, checkpoints=Checkpoints(None), timer=StageTimer(), progress=Progress())

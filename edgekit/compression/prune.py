"""Magnitude pruning with TF-MOT, with a schedule that actually reaches its target.

TF-MOT's ``PolynomialDecay`` only prunes on steps where ``(step - begin) % frequency == 0``
up to ``end_step``; with the default ``frequency=100`` and an ``end_step`` that is not a
multiple of it (or beyond the last step), the final sparsity is silently never applied. The
schedule here is derived from the real number of steps: pruning ramps over the first
``ramp_fraction`` of fine-tuning, ends exactly on a pruning step, and the rest of the
fine-tuning recovers accuracy at the final sparsity.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit._compat import tfmot
from edgekit.errors import EdgekitError
from edgekit.train import TrainData, fit

PRUNING_EVENTS = 10  # how many times the mask is tightened on the way to the target


@dataclass(frozen=True, kw_only=True)
class PruneSchedule:
    """The derived schedule, reported so users can see what was run."""

    kind: str
    target_sparsity: float
    begin_step: int
    end_step: int
    frequency: int
    total_steps: int

    def build(self):
        sparsity = tfmot().sparsity.keras
        if self.kind == "constant":
            return sparsity.ConstantSparsity(
                self.target_sparsity, begin_step=self.begin_step, end_step=self.end_step, frequency=self.frequency
            )
        return sparsity.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=self.target_sparsity,
            begin_step=self.begin_step,
            end_step=self.end_step,
            frequency=self.frequency,
        )


def derive_schedule(*, kind: str, sparsity: float, total_steps: int, ramp_fraction: float) -> PruneSchedule:
    """A schedule whose last pruning step falls inside training and on a pruning turn."""
    if total_steps < 2:
        raise EdgekitError(f"pruning needs at least 2 training steps, got {total_steps}", hint="use more data or epochs")
    ramp = max(1, min(total_steps - 1, int(total_steps * ramp_fraction)))
    if kind == "constant":
        return PruneSchedule(kind=kind, target_sparsity=sparsity, begin_step=0, end_step=-1, frequency=max(1, ramp), total_steps=total_steps)
    frequency = max(1, ramp // PRUNING_EVENTS)
    end_step = frequency * (ramp // frequency)
    return PruneSchedule(
        kind=kind, target_sparsity=sparsity, begin_step=0, end_step=end_step, frequency=frequency, total_steps=total_steps
    )


@dataclass(kw_only=True)
class Prune:
    """Prune conv and dense kernels to ``sparsity`` while fine-tuning for ``epochs``."""

    sparsity: float
    epochs: int = 2
    learning_rate: float = 5e-4
    schedule: str = "polynomial"
    ramp_fraction: float = 0.6
    name: str = "prune"
    last_schedule: PruneSchedule | None = None

    def apply(self, model, data: TrainData):
        total_steps = data.steps_per_epoch * self.epochs
        self.last_schedule = derive_schedule(
            kind=self.schedule, sparsity=self.sparsity, total_steps=total_steps, ramp_fraction=self.ramp_fraction
        )
        sparsity = tfmot().sparsity.keras
        wrapped = sparsity.prune_low_magnitude(model, pruning_schedule=self.last_schedule.build())
        fit(
            wrapped,
            data,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            stage="prune",
            callbacks=[sparsity.UpdatePruningStep()],
        )
        return wrapped

    def strip(self, model):
        return tfmot().sparsity.keras.strip_pruning(model)

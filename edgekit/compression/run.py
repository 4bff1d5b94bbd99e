"""Run a sequence of compression steps and keep what each stage produced.

The pipeline needs two models out of compression: the stripped float model (pruned, for
float and post-training-quantised artifacts) and the QAT model (for QAT int8 artifacts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

from edgekit._compat import keras
from edgekit.compression import Prune, QuantizeAware, kernel_sparsity
from edgekit.errors import EdgekitError
from edgekit.recipe import Recipe
from edgekit.train import TrainData

log = logging.getLogger("edgekit")
SPARSITY_TOLERANCE = 0.01


@dataclass
class Compressed:
    """The models compression produced and a short report of what it did."""

    float_model: Any
    qat_model: Any | None
    report: dict = field(default_factory=dict)

    @property
    def model(self):
        """The most compressed Keras model (QAT if it ran)."""
        return self.qat_model if self.qat_model is not None else self.float_model


def steps_from_recipe(recipe: Recipe) -> list:
    """Pruning when sparsity > 0, then QAT (prune-preserving after pruning) when asked."""
    steps: list = []
    lr = recipe.train.learning_rate
    if recipe.prune.sparsity > 0:
        steps.append(
            Prune(
                sparsity=recipe.prune.sparsity,
                epochs=recipe.prune.epochs,
                learning_rate=recipe.prune.learning_rate or lr / 2,
                schedule=recipe.prune.schedule,
                ramp_fraction=recipe.prune.ramp_fraction,
            )
        )
    if recipe.quantize.mode == "qat":
        pruned = bool(steps)
        steps.append(
            QuantizeAware(
                epochs=recipe.quantize.epochs,
                learning_rate=recipe.quantize.learning_rate or lr / 10,
                preserve_sparsity=pruned,
                name="pqat" if pruned else "qat",
            )
        )
    return steps


def clone_with_weights(model):
    """An independent copy, so compressing never changes the float reference."""
    copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def run_compression(model, steps: Sequence, data: TrainData) -> Compressed:
    """Apply ``steps`` in order to a copy of ``model``."""
    current = clone_with_weights(model)
    float_model, qat_model, report = current, None, {}
    for step in steps:
        log.info("%s: fine-tuning", step.name)
        if isinstance(step, QuantizeAware):
            qat_model = step.apply(float_model, data)
            report[step.name] = {"scheme": type(step.scheme()).__name__, "epochs": step.epochs}
            continue
        float_model = step.strip(step.apply(float_model, data))
        if isinstance(step, Prune):
            report["prune"] = _verify_sparsity(step, float_model)
    return Compressed(float_model=float_model, qat_model=qat_model, report=report)


def _verify_sparsity(step: Prune, model) -> dict:
    """Refuse to go on if stripping left less sparsity than asked (a silent TF-MOT failure)."""
    measured = kernel_sparsity(model)
    if measured["overall"] < step.sparsity - SPARSITY_TOLERANCE:
        raise EdgekitError(
            f"pruning reached {measured['overall']:.1%} sparsity, the recipe asked for {step.sparsity:.1%}",
            hint="raise prune.epochs or lower prune.ramp_fraction so the schedule finishes",
        )
    schedule = step.last_schedule
    return {
        "target_sparsity": step.sparsity,
        "sparsity_after_strip": round(measured["overall"], 5),
        "layers": {name: round(value, 5) for name, value in measured["layers"].items()},
        "schedule": {
            "kind": schedule.kind,
            "begin_step": schedule.begin_step,
            "end_step": schedule.end_step,
            "frequency": schedule.frequency,
            "total_steps": schedule.total_steps,
        },
    }

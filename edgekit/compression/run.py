"""Run a sequence of compression steps and keep what each stage produced.

The pipeline needs two models out of compression: the stripped float model (distilled, pruned,
clustered: for float and post-training-quantised artifacts) and the QAT model (for QAT int8
artifacts). After a distillation step the teacher stays on the training data, so every later
fine-tuning (pruning, clustering, QAT) is distillation-aware.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from edgekit._compat import keras
from edgekit.compression.cluster import Cluster
from edgekit.compression.distill import Distill
from edgekit.compression.prune import Prune
from edgekit.compression.qat import QuantizeAware
from edgekit.recipe import Recipe, parse_m_by_n
from edgekit.train import TrainData

log = logging.getLogger("edgekit")


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

    @property
    def skipped_layers(self) -> list[dict]:
        """Layers some step left as they were (unsupported or excluded), with the reasons."""
        return list(self.report.get("skipped_layers", []))


def steps_from_recipe(recipe: Recipe, *, exclude: Mapping[str, Sequence[str]] | None = None) -> list:
    """Distil, prune, cluster, QAT, in that order, as far as the recipe asks.

    ``exclude`` adds layer names to ``prune`` / ``quantize`` exclusions (sensitivity analysis).
    QAT's scheme follows what came before: PQAT after pruning, CQAT after clustering, PCQAT
    after both.
    """
    exclude = exclude or {}
    lr = recipe.train.learning_rate
    steps: list = []
    if recipe.distill.enabled:
        steps.append(distill_from_recipe(recipe))
    pruned, clustered = recipe.prune.enabled, recipe.cluster.clusters > 0
    if pruned:
        spec = recipe.prune
        steps.append(
            Prune(
                sparsity=spec.sparsity,
                epochs=spec.epochs,
                learning_rate=spec.learning_rate or lr / 2,
                schedule=spec.schedule,
                ramp_fraction=spec.ramp_fraction,
                m_by_n=parse_m_by_n(spec.m_by_n) if spec.m_by_n else None,
                policy=pruning_policy(recipe),
                exclude=(*spec.exclude, *exclude.get("prune", ())),
            )
        )
    if clustered:
        spec = recipe.cluster
        steps.append(
            Cluster(
                clusters=spec.clusters,
                epochs=spec.epochs,
                learning_rate=spec.learning_rate or lr / 10,
                init=spec.init,
                preserve_sparsity=pruned,
                exclude=tuple(spec.exclude),
            )
        )
    if recipe.quantize.mode == "qat":
        steps.append(
            QuantizeAware(
                epochs=recipe.quantize.epochs,
                learning_rate=recipe.quantize.learning_rate or lr / 10,
                preserve_sparsity=pruned,
                preserve_clusters=clustered,
                exclude=(*recipe.quantize.exclude, *exclude.get("quantize", ())),
            )
        )
    return steps


def distill_from_recipe(recipe: Recipe) -> Distill:
    """The distillation step, with the teacher file and student factory resolved lazily."""
    from edgekit.models import load_model_file, model_from_factory

    spec = recipe.distill
    teacher = None if spec.teacher == "model" else (lambda: load_model_file(recipe.resolve(spec.teacher)))
    student = None
    if spec.student is not None:
        student = lambda: model_from_factory(spec.student, spec.student_kwargs, base_dir=recipe.base_dir)  # noqa: E731
    return Distill(
        student=student,
        width=spec.width,
        teacher=teacher,
        alpha=spec.alpha,
        temperature=spec.temperature,
        epochs=spec.epochs,
        learning_rate=spec.learning_rate or recipe.train.learning_rate,
        guide=spec.guide,
    )


def pruning_policy(recipe: Recipe) -> str:
    """The recipe's ``prune.policy``, or the policy a target asks for (``pruning_policy`` option)."""
    if recipe.prune.policy != "none":
        return recipe.prune.policy
    from edgekit.registry import get_target

    for spec in recipe.targets:
        target = get_target(spec)
        policy = {**target.options, **recipe.target.get(target.name, {})}.get("pruning_policy") or "none"
        if policy != "none":
            return str(policy)
    return "none"


def clone_with_weights(model):
    """An independent copy, so compressing never changes the float reference.

    A subclassed model cannot be cloned by Keras; it is used as is (no TF-MOT step can wrap
    it either, so nothing will train it).
    """
    from edgekit.compression.shrink import is_graph_model

    if not is_graph_model(model):
        log.warning("%s is a subclassed model: TF-MOT steps can only leave it as it is", model.name)
        return model
    copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def run_compression(model, steps: Sequence, data: TrainData) -> Compressed:
    """Apply ``steps`` in order to a copy of ``model``; each step verifies what it left."""
    float_model, qat_model, report, skipped = clone_with_weights(model), None, {}, []
    for step in steps:
        log.info("%s: fine-tuning", step.name)
        if isinstance(step, QuantizeAware):
            qat_model = step.apply(float_model, data)
            report[step.name] = step.verify(qat_model)
        else:
            float_model = step.strip(step.apply(float_model, data))
            report[step.name] = step.verify(float_model)
        skipped += [layer.to_dict() for layer in getattr(step, "skipped", [])]
        teacher = step.guidance() if isinstance(step, Distill) else None
        if teacher is not None:
            data = dataclasses.replace(data, teacher=teacher)
    if skipped:
        report["skipped_layers"] = skipped
    return Compressed(float_model=float_model, qat_model=qat_model, report=report)

"""A recipe's compression, as steps: the flow layer's side of ``edgekit.compression``.

Compression steps take a model and data and know nothing of recipes or targets; this module
reads the recipe's ``[distill]``, ``[prune]``, ``[cluster]`` and ``[quantize]`` sections and
the targets' pruning policy and turns them into configured steps, in the one order that
works: distil, prune, cluster, QAT.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from edgekit.compression import Cluster, Distill, Prune, QuantizeAware
from edgekit.recipe import Recipe, parse_m_by_n


def steps_from_recipe(recipe: Recipe, targets: Sequence = (), *, exclude: Mapping[str, Sequence[str]] | None = None) -> list:
    """Distil, prune, cluster, QAT, in that order, as far as the recipe asks.

    ``targets`` are the resolved ``Target`` objects the artifacts are for (their options may
    ask for a pruning policy). ``exclude`` adds layer names to ``prune`` / ``quantize``
    exclusions (sensitivity analysis). QAT's scheme follows what came before: PQAT after
    pruning, CQAT after clustering, PCQAT after both.
    """
    exclude = exclude or {}
    pruned, clustered = recipe.prune.enabled, recipe.cluster.clusters > 0
    steps: list = []
    if recipe.distill.enabled:
        steps.append(distill_from_recipe(recipe))
    if pruned:
        steps.append(prune_from_recipe(recipe, pruning_policy(recipe, targets), exclude.get("prune", ())))
    if clustered:
        steps.append(cluster_from_recipe(recipe, preserve_sparsity=pruned))
    if recipe.quantize.mode == "qat":
        steps.append(qat_from_recipe(recipe, pruned=pruned, clustered=clustered, exclude=exclude.get("quantize", ())))
    return steps


def prune_from_recipe(recipe: Recipe, policy: str, exclude: Sequence[str] = ()) -> Prune:
    spec = recipe.prune
    return Prune(
        sparsity=spec.sparsity,
        epochs=spec.epochs,
        learning_rate=spec.learning_rate or recipe.train.learning_rate / 2,
        schedule=spec.schedule,
        ramp_fraction=spec.ramp_fraction,
        m_by_n=parse_m_by_n(spec.m_by_n) if spec.m_by_n else None,
        policy=policy,
        exclude=(*spec.exclude, *exclude),
    )


def cluster_from_recipe(recipe: Recipe, *, preserve_sparsity: bool) -> Cluster:
    spec = recipe.cluster
    return Cluster(
        clusters=spec.clusters,
        per_layer=dict(spec.layers),
        epochs=spec.epochs,
        learning_rate=spec.learning_rate or recipe.train.learning_rate / 10,
        init=spec.init,
        preserve_sparsity=preserve_sparsity,
        exclude=tuple(spec.exclude),
    )


def qat_from_recipe(recipe: Recipe, *, pruned: bool, clustered: bool, exclude: Sequence[str] = ()) -> QuantizeAware:
    spec = recipe.quantize
    return QuantizeAware(
        epochs=spec.epochs,
        learning_rate=spec.learning_rate or recipe.train.learning_rate / 10,
        preserve_sparsity=pruned,
        preserve_clusters=clustered,
        exclude=(*spec.exclude, *exclude),
    )


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


def pruning_policy(recipe: Recipe, targets: Sequence = ()) -> str:
    """The recipe's ``prune.policy``, else the first policy a target asks for (its
    ``pruning_policy`` option, e.g. ``[target.cpu] pruning_policy = "xnnpack"``)."""
    if recipe.prune.policy != "none":
        return recipe.prune.policy
    for target in targets:
        policy = target.options.get("pruning_policy") or "none"
        if policy != "none":
            return str(policy)
    return "none"

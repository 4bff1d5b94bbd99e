"""A recipe, unpacked for the stages: the one place that reads a recipe's sections for them.

Stages, checkpoints, caches, manifests and outputs take the values they use; the flows (and
this module, which they share) decide those values from the recipe. Here a recipe becomes:

- its targets with their ``[target.NAME]`` settings (:func:`recipe_targets`);
- its inputs: model, data and training batches (:func:`load_recipe_inputs`);
- compression steps, in the one order that works: distil, prune, cluster, QAT
  (:func:`steps_from_recipe`; the steps know nothing of recipes or targets), and the
  :class:`~edgekit.flows.stages.CompressionPlan` that runs them (:func:`compression_plan`);
- the checkpoint keys of its trained and compressed models (:func:`float_checkpoint`,
  :func:`compression_key`): the sections, the files they name and the package versions;
- how artifacts are made (:func:`artifact_settings`), signed (:func:`signing_key`) and where
  they may not be written (:func:`protected_folders`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from edgekit.compression import Cluster, Distill, Prune, QuantizeAware
from edgekit.flows import stages
from edgekit.flows.checkpoints import CheckpointKey, Checkpoints
from edgekit.flows.model_cache import digest, path_digest
from edgekit.recipe import Recipe, factory_file, parse_m_by_n
from edgekit.target import Target

__all__ = [
    "artifact_settings",
    "build_checkpoints",
    "compression_key",
    "compression_plan",
    "compresses",
    "default_out_dir",
    "float_checkpoint",
    "float_model_key",
    "load_recipe_inputs",
    "protected_folders",
    "pruning_policy",
    "recipe_targets",
    "sensitivity_settings",
    "signing_key",
    "steps_from_recipe",
    "sweep_checkpoints",
]

log = logging.getLogger("edgekit")
FLOAT_SECTIONS = ("model", "data", "train")  # what the trained float model depends on
COMPRESSION_SECTIONS = ("distill", "prune", "cluster", "quantize", "analyze")


# --- targets and inputs ------------------------------------------------------------------


def recipe_targets(recipe: Recipe, specs: Sequence[str] | None = None) -> tuple[Target, ...]:
    """The recipe's targets (or ``specs``) with their ``[target.NAME]`` settings applied."""
    from edgekit.registry import get_target

    resolved = []
    for spec in recipe.targets if specs is None else specs:
        target = get_target(spec)
        resolved.append(target.variant(**recipe.target.get(target.name, {})))
    return tuple(resolved)


def load_recipe_inputs(recipe: Recipe, *, trust: bool = False) -> stages.Inputs:
    """The recipe's model, data set and training batches (``stages.load_inputs``)."""
    return stages.load_inputs(recipe.model, recipe.data, recipe.train, base_dir=recipe.base_dir, compresses=compresses(recipe), trust=trust)


def artifact_settings(recipe: Recipe, *, input_shape: tuple[int, ...] | None = None) -> stages.ArtifactSettings:
    """How the recipe's artifacts are made: names, calibration, latency runs, sparse encoding,
    and the flavour with the ``[metadata]`` it writes."""
    import dataclasses

    return stages.ArtifactSettings(
        input_shape=input_shape,
        name=recipe.name,
        calibration_samples=recipe.quantize.calibration_samples,
        latency_runs=recipe.output.latency_runs,
        sparse_encoding=recipe.prune.sparse_encoding,
        probe_samples=recipe.analyze.samples,
        flavour=recipe.output.flavour,
        metadata=dataclasses.asdict(recipe.metadata),
    )


# --- compression ---------------------------------------------------------------------------


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
    from edgekit.models.load import load_model_file, model_from_factory

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


def compresses(recipe: Recipe) -> bool:
    """Whether the recipe asks for any compression step or sensitivity analysis."""
    return bool(steps_from_recipe(recipe)) or recipe.analyze.threshold is not None


def sensitivity_settings(recipe: Recipe) -> stages.SensitivitySettings:
    """Per-layer sensitivity with the recipe's sparsity, m:n pattern, calibration, sample
    count and ``analyze.threshold``."""
    return stages.SensitivitySettings(
        samples=recipe.analyze.samples,
        sparsity=recipe.prune.sparsity,
        m_by_n=parse_m_by_n(recipe.prune.m_by_n) if recipe.prune.m_by_n else None,
        calibration_samples=recipe.quantize.calibration_samples,
        threshold=recipe.analyze.threshold,
    )


def compression_plan(recipe: Recipe, targets: Sequence[Target] = (), *, needs_qat: bool | None = None) -> stages.CompressionPlan:
    """What ``stages.compressed_models`` runs for the recipe's compression sections, and the
    checkpoint it is kept under. ``needs_qat`` (default: whether the recipe runs QAT) False
    lets a checkpoint without its QAT model serve artifacts made from the float side."""
    analyzed, enabled = recipe.analyze.threshold is not None, compresses(recipe)
    key = compression_key(recipe, float_model_key(recipe), targets) if enabled else None  # hashing files costs
    return stages.CompressionPlan(
        enabled=enabled,
        steps=lambda exclude: steps_from_recipe(recipe, targets, exclude=exclude),
        checkpoint=None if key is None else CheckpointKey(key, _note(recipe, COMPRESSION_SECTIONS)),
        seed=recipe.train.seed,
        strategy=recipe.train.strategy,
        sensitivity=sensitivity_settings(recipe) if analyzed else None,
        needs_qat=recipe.quantize.mode == "qat" if needs_qat is None else needs_qat,
    )


# --- checkpoints ----------------------------------------------------------------------------


def float_model_key(recipe: Recipe) -> str:
    """What the trained float model depends on: the model, data and train sections (seed
    included), the files they name and the software that trains it. Code a factory imports
    from elsewhere is not hashed: ``--fresh`` retrains after such an edit."""
    from edgekit.runtime.environment import package_versions

    raw = recipe.to_dict()
    sections = {name: raw[name] for name in FLOAT_SECTIONS}
    data = None if recipe.data.source == "mnist" else recipe.data.source
    files = _file_digests(recipe, {"model": recipe.model.file, "factory": factory_file(recipe.model.factory), "data": data})
    return digest({"sections": sections, "files": files, "versions": package_versions()})


def compression_key(recipe: Recipe, float_key: str, targets: Sequence = ()) -> str:
    """What the compressed models depend on besides the float model: the sections of the
    steps that run (``quantize`` only for QAT, ``analyze`` and ``quantize`` only when the
    sensitivity analysis picks layers), the pruning policy the targets ask for, and the teacher
    and student files."""
    raw = recipe.to_dict()
    analyzed = recipe.analyze.threshold is not None
    running = {
        "distill": recipe.distill.enabled,
        "prune": recipe.prune.enabled,
        "cluster": recipe.cluster.clusters > 0,
        "quantize": analyzed or recipe.quantize.mode == "qat",
        "analyze": analyzed,
    }
    sections = {name: raw[name] for name, runs in running.items() if runs}
    teacher = None if recipe.distill.teacher == "model" else recipe.distill.teacher
    files = _file_digests(recipe, {"teacher": teacher, "student": factory_file(recipe.distill.student)})
    return digest({"float": float_key, "sections": sections, "policy": pruning_policy(recipe, targets), "files": files})


def float_checkpoint(recipe: Recipe) -> CheckpointKey:
    """The key and note of the recipe's trained float model."""
    return CheckpointKey(float_model_key(recipe), _note(recipe, FLOAT_SECTIONS))


def build_checkpoints(recipe: Recipe, out_dir: Path, *, cache=None, fresh: bool = False, trust: bool = False) -> Checkpoints:
    """A build's checkpoints (``Checkpoints.for_build``), none under multi-worker training."""
    return Checkpoints.for_build(out_dir, cache=cache, fresh=fresh, trust=trust, enabled=_checkpoints_allowed(recipe))


def sweep_checkpoints(recipe: Recipe, folder: Path) -> Checkpoints:
    """A sweep's or fit's checkpoints in ``folder``, none under multi-worker training."""
    return Checkpoints.for_sweep(folder, enabled=_checkpoints_allowed(recipe))


def _checkpoints_allowed(recipe: Recipe) -> bool:
    if recipe.train.strategy == "multi_worker":
        log.info("no checkpoints under train.strategy multi_worker: every worker must train alike")
        return False
    return True


def _note(recipe: Recipe, sections: Sequence[str]) -> dict:
    raw = recipe.to_dict()
    return {"recipe": recipe.name, "sections": {name: raw[name] for name in sections}}


def _file_digests(recipe: Recipe, paths: Mapping[str, str | None]) -> dict[str, str]:
    return {name: path_digest(recipe.resolve(path)) for name, path in paths.items() if path}


# --- outputs ----------------------------------------------------------------------------------


def signing_key(recipe: Recipe) -> Path | None:
    """The recipe's ``[output] sign_key``, checked, or None when bundles are not signed."""
    from edgekit.bundle.signing import check_signing_key

    if not recipe.output.sign_key:
        return None
    return check_signing_key(recipe.resolve(recipe.output.sign_key), what=f"{recipe.source}: output.sign_key")


def default_out_dir(recipe: Recipe, suffix: str = "-sweep") -> Path:
    """Beside the build output, never inside it (a build replaces its whole folder): the
    recipe's ``output.dir`` with ``suffix`` (``-sweep``, ``-fit``)."""
    import os

    build_dir = Path(os.path.abspath(recipe.resolve(recipe.output.dir)))
    return build_dir.with_name(build_dir.name + suffix)


def protected_folders(recipe: Recipe) -> list[Path]:
    """The folders a recipe's output must not replace: its own."""
    return [Path(recipe.base_dir)]

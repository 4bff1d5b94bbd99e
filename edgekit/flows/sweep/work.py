"""A sweep's task: one sparsity's compression and every variant made from it.

Variants of one sparsity share one compression run (its QAT model included), and TF-MOT's
cluster-preserving QAT models cannot be saved and loaded back, so the models cannot travel
between processes: the unit of work that runs anywhere is the compression plus its variants.
The task converts, measures and packages each variant and returns the artifacts (bytes and
figures); the driver bundles and records them. The same function runs in the driver (the
sequential path, which keeps the compression's checkpoint) and on Dask workers (which get the
trained float model as ``.keras`` bytes and write nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from edgekit.flows import from_recipe, model_cache, stages
from edgekit.flows.stages import ArtifactSettings, Inputs, ModelData, StageTimer
from edgekit.flows.sweep.grid import Variant, point_recipe
from edgekit.recipe import Recipe

__all__ = ["GroupJob", "Made", "SweepShared", "compress_and_convert"]


@dataclass(frozen=True)
class SweepShared:
    """What every task of a sweep needs. In the driver ``model`` is the live float model and
    ``checkpoints`` the sweep's; a worker gets ``model_bytes`` instead and no checkpoints."""

    recipe: Recipe
    targets: tuple
    inputs: Inputs
    data: ModelData
    scores: Any
    settings: ArtifactSettings
    model_bytes: bytes | None = None
    model: Any = field(default=None, compare=False)
    checkpoints: Any = field(default=None, compare=False)
    deliver: Callable[[Made], None] | None = field(default=None, compare=False)  # the driver's: bundle and record now

    def for_workers(self, model_bytes: bytes) -> "SweepShared":
        """What travels: the model as bytes, no live objects of the driver."""
        from dataclasses import replace

        return replace(self, inputs=replace(self.inputs, model=None), model_bytes=model_bytes, model=None, checkpoints=None, deliver=None)


@dataclass(frozen=True)
class GroupJob:
    """One sparsity's variants (in grid order), and whether its compression includes QAT."""

    sparsity: float
    qat: bool
    needs_qat: bool
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Made:
    """One variant's packaged, measured artifact (not bundled yet), the compression report and
    the seconds it took, as the task returns it to the driver."""

    name: str
    artifact: stages.Artifact
    compression: dict
    seconds: float


def compress_and_convert(shared: SweepShared, job: GroupJob) -> dict:
    """{"made": [Made per variant], "timings": {stage: seconds}}: ``job``'s compression (the
    checkpoint's in the driver, when kept) and each of its variants converted and measured;
    in the driver each one goes to ``shared.deliver`` as soon as it is measured instead."""
    import time

    timer = StageTimer()
    model = shared.model if shared.model is not None else model_cache.load_model_bytes(shared.model_bytes)
    point = point_recipe(shared.recipe, job.sparsity, qat=job.qat)
    plan = from_recipe.compression_plan(point, shared.targets, needs_qat=job.needs_qat)
    checkpoints = shared.checkpoints if shared.checkpoints is not None else _no_checkpoints()
    _, compressed = stages.compressed_models(model, plan, shared.inputs, checkpoints=checkpoints, timer=timer)
    made = []
    for variant in job.variants:
        started = time.perf_counter()
        used = compressed if variant.mode == "qat" else compressed.float_side()
        artifact = stages.convert_for_target(variant.target, used, shared.data, shared.settings, name=variant.name)
        artifact = stages.check_and_package(stages.measure(artifact, shared.data, shared.scores, shared.settings), shared.data)
        one = Made(variant.name, artifact, dict(used.report), round(time.perf_counter() - started, 2))
        if shared.deliver is not None:  # in the driver: kept at once, so Ctrl-C keeps every finished variant
            shared.deliver(one)
        else:
            made.append(one)
    return {"made": made, "timings": dict(timer.seconds)}


def _no_checkpoints():
    from edgekit.flows.checkpoints import Checkpoints

    return Checkpoints(None)

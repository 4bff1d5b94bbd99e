"""A fit candidate's budget figures: estimated before training, measured on what ships.

The shipped file's size and the arena TFLM (or Vela) plans depend on the model's structure
and on how many distinct values each kernel holds, not on what training makes those values.
So before any fine-tuning, a candidate's structure is built untrained (the model shrunk to its
width, each kernel set to its cluster count of evenly spaced values, its sparsity zeroed),
converted, and run through the target's own packaging step: the mcu's real TFLM arena and LUT
compression, Vela for ethos-u. A candidate whose structure cannot fit is rejected in seconds.
Every figure that decides the winner is then measured again on the trained candidate's artifact.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Sequence

import numpy as np

from edgekit.compression.run import uncompressed
from edgekit.errors import BudgetError
from edgekit.flows import stages
from edgekit.flows.fit.space import Budgets, Candidate, misses
from edgekit.flows.model_cache import digest
from edgekit.flows.stages import Artifact, ArtifactSettings, ModelData
from edgekit.target import Target

__all__ = ["check_untrained", "estimate", "judge_estimate", "package_and_judge"]

log = logging.getLogger("edgekit")
ESTIMATE_CALIBRATION = 32  # calibration samples for an untrained structure: ranges only
ESTIMATE_LATENCY_RUNS = 20


def shipped_figures(artifact: Artifact) -> dict[str, float | None]:
    """``flash`` (bytes of what the device stores), ``ram`` (the arena, where measured) and
    ``latency`` (ms, where the target is timed) of a packaged artifact."""
    details = (artifact.target_report or {}).get("details", {})
    name = artifact.target_name
    packed = name in ("mcu", "ethos-u")  # the shipped file is the target's own (LUT, Vela)
    return {
        "flash": int(details.get("flash_bytes", len(artifact.model_bytes))) if packed else len(artifact.model_bytes),
        "ram": details.get("arena_bytes") if packed else None,
        "latency": _latency_ms(artifact, details),
    }


def _latency_ms(artifact: Artifact, details: Mapping[str, Any]) -> float | None:
    name = artifact.target_name
    if name == "ethos-u":
        return details.get("inference_time_ms")
    if name == "gpu":
        p50 = ((details.get("gpu_accelerator") or {}).get("latency_us") or {}).get("p50")
        return None if p50 is None else round(p50 / 1000, 4)
    if name == "cpu" and artifact.metrics.get("latency_us"):
        return round(artifact.metrics["latency_us"]["p50"] / 1000, 4)
    return None


def miss_from_error(exc: BudgetError) -> dict | None:
    """The miss a target's own budget check raised, as numbers (None: it gave none)."""
    if exc.figure is None or exc.needs is None:
        return None
    return {"figure": exc.figure, "needs": exc.needs, "limit": exc.limit, **({"bound": True} if exc.bound else {})}


def package_and_judge(artifact: Artifact, data: ModelData, budgets: Budgets) -> tuple[Artifact, dict, list[dict]]:
    """(packaged artifact, its figures, the budgets it misses): a target's own budget refusal
    (mcu, ethos-u) is a miss like any other, not an error."""
    try:
        packaged = stages.check_and_package(artifact, data)
    except BudgetError as exc:
        miss = miss_from_error(exc)
        if miss is None:
            raise
        return artifact, {miss["figure"]: miss["needs"]}, [miss]
    figures = shipped_figures(packaged)
    return packaged, figures, misses(figures, budgets)


def estimate(
    model, candidate: Candidate, target: Target, data: ModelData, settings: ArtifactSettings, budgets: Budgets, *, largest_layer: str | None, exclude=(), pinned: Mapping[str, int] | None = None
) -> tuple[dict, bytes]:
    """The candidate's structure, untrained, converted and packaged for ``target``:
    (``{"figures": ..., "misses": [...]}``, the converted structure's bytes)."""
    structure = structure_model(model, candidate, largest_layer=largest_layer, exclude=exclude, pinned=pinned)
    quick, no_test = _quick(settings), _no_test(data)
    chosen = target.variant(quantization=candidate.quantization)
    artifact = stages.convert_for_target(chosen, uncompressed(structure), no_test, quick, name=f"estimate-{candidate.name}")
    return judge_estimate(artifact, data, settings, budgets), artifact.model_bytes


def judge_estimate(artifact: Artifact, data: ModelData, settings: ArtifactSettings, budgets: Budgets) -> dict:
    """An untrained structure's figures and misses, from its converted bytes (also what a
    resumed search re-derives an estimate's record from)."""
    quick, no_test = _quick(settings), _no_test(data)
    if budgets.latency is not None:
        artifact = stages.measure(artifact, no_test, None, quick)
    _, figures, found = package_and_judge(artifact, no_test, budgets)
    return {"figures": figures, "misses": found}


def _quick(settings: ArtifactSettings) -> ArtifactSettings:
    return dataclasses.replace(settings, calibration_samples=ESTIMATE_CALIBRATION, latency_runs=ESTIMATE_LATENCY_RUNS, sparse_encoding=False, flavour="plain")


def _no_test(data: ModelData) -> ModelData:
    return dataclasses.replace(data, x_test=None, y_test=None, x_calibration=data.x_calibration[:ESTIMATE_CALIBRATION])


def check_untrained(points: Sequence[Candidate], ground, records, rows, *, progress) -> list[Candidate]:
    """Every structure checked untrained (once per structure, kept in ``records``); the
    candidates whose structure fits, the others rejected in ``rows`` before any training.
    ``ground`` is what every candidate shares (``edgekit.flows.fit.runs.Ground``)."""
    by_structure: dict[tuple, dict] = {}
    for point in points:
        if point.structure not in by_structure:
            with progress.stage(f"estimate {point.name}"):
                by_structure[point.structure] = _estimated(ground, point, records)
    feasible = []
    for point in points:
        found = by_structure[point.structure]
        rows.add(point, found["figures"])
        if found["misses"]:
            rows.reject(point, "rejected before training", found["misses"], estimated=True)
        else:
            feasible.append(point)
    log.info("%d of %d candidates can fit (checked untrained); %d rejected without training", len(feasible), len(points), len(points) - len(feasible))
    return feasible


def _estimated(ground, point: Candidate, records) -> dict:
    key = digest({"estimate": list(point.structure), "target": ground.target_key(), "budgets": ground.budgets.to_dict(), "float": ground.float_key})
    model, data, exclude = ground.inputs.model, ground.inputs.data, ground.recipe.cluster.exclude
    pinned = dict(ground.recipe.cluster.layers)
    key = digest({"estimate": list(point.structure), "target": ground.target_key(), "budgets": ground.budgets.to_dict(), "float": ground.float_key, "pinned": pinned}) if pinned else key
    compute = lambda: estimate(model, point, ground.target, data, ground.settings, ground.budgets, largest_layer=ground.largest, exclude=exclude, pinned=pinned)  # noqa: E731
    return records.cached(f"{point.name}-est", key, compute, lambda model_bytes: _rederived(ground, point, model_bytes))


def _rederived(ground, point: Candidate, model_bytes: bytes) -> dict:
    """An estimate's figures from its recorded structure's bytes, packaged again."""
    chosen = ground.target.variant(quantization=point.quantization)
    artifact = Artifact(name=f"estimate-{point.name}", target=chosen, quantization=chosen.quantization, model_bytes=model_bytes)
    return judge_estimate(artifact, ground.inputs.data, ground.settings, ground.budgets)


def structure_model(model, candidate: Candidate, *, largest_layer: str | None, exclude=(), pinned: Mapping[str, int] | None = None):
    """An untrained model with the candidate's shape and each kernel's distinct-value count
    (``pinned``: the recipe's own per-layer counts, applied where the candidate clusters)."""
    from edgekit.compression.layers import clone_with_weights
    from edgekit.compression.shrink import shrink

    built = shrink(model, candidate.width) if candidate.width < 1 else clone_with_weights(model)
    rng = np.random.default_rng(0)
    for layer in built.layers:
        if not hasattr(layer, "kernel") or layer.name in exclude:
            continue
        count = candidate.largest if candidate.largest and layer.name == largest_layer else candidate.clusters
        if candidate.clusters and layer.name in (pinned or {}):
            count = int(pinned[layer.name])
        weights = layer.get_weights()
        weights[0] = _shaped_kernel(weights[0], count, candidate.sparsity, rng)
        # Trained biases are not zero; zero ones convert to a smaller graph (shared buffers).
        weights[1:] = [w if np.any(w) else rng.uniform(0.01, 0.1, w.shape).astype(w.dtype) for w in weights[1:]]
        layer.set_weights(weights)
    return built


def _shaped_kernel(kernel: np.ndarray, count: int, sparsity: float, rng) -> np.ndarray:
    """``kernel`` with ``sparsity`` of it zeroed and at most ``count`` distinct values (0: as is)."""
    kernel = kernel.copy()
    if not np.any(kernel):  # a zero-initialised kernel would give the estimate a single value
        kernel = rng.standard_normal(kernel.shape).astype(kernel.dtype) * 0.05
    if sparsity:
        kernel[np.abs(kernel) <= np.quantile(np.abs(kernel), sparsity)] = 0
    if count:
        levels = np.linspace(kernel.min(), kernel.max(), count, dtype=kernel.dtype)
        kernel = levels[np.abs(kernel[..., None] - levels).argmin(-1)]
    return kernel

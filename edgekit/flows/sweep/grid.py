"""A sweep's grid: which variants exist, what each one's recipe is, and what its numbers depend on.

A variant is one target x pruning sparsity x quantisation mode; its recipe is the sweep's
recipe with that point's ``prune.sparsity`` and ``quantize.mode`` (``qat`` or ``ptq``), so a
variant is exactly what ``edgekit build`` of that recipe would ship for that target.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Sequence

from edgekit.errors import InputError
from edgekit.flows.from_recipe import compression_key
from edgekit.flows.model_cache import digest
from edgekit.recipe import Recipe
from edgekit.target import Target
from edgekit.vocabulary import SWEEP_MODES, sweep_quantization

__all__ = ["DEFAULT_SPARSITIES", "plan_grid", "point_recipe", "Variant", "variant_key"]

log = logging.getLogger("edgekit")
DEFAULT_SPARSITIES = (0.0, 0.5, 0.8, 0.9)


@dataclass(frozen=True)
class Variant:
    """One point of the grid: a target (set to this variant's quantization), a pruning
    sparsity and a quantisation mode."""

    recipe_name: str
    target: Target
    sparsity: float
    mode: str

    @property
    def quantization(self) -> str:
        return sweep_quantization(self.mode)

    @property
    def name(self) -> str:
        return f"{self.recipe_name}-{self.target.name}-s{self.sparsity * 100:g}-{self.mode}"

    def recipe(self, recipe: Recipe) -> Recipe:
        """The single-variant recipe that ``build`` would need for this artifact (for manifests)."""
        return dataclasses.replace(point_recipe(recipe, self.sparsity, qat=self.mode == "qat"), targets=(self.target.label.replace("-", ":", 1),))


def point_recipe(recipe: Recipe, sparsity: float, *, qat: bool) -> Recipe:
    """``recipe`` with one grid point's ``prune.sparsity`` and ``quantize.mode``."""
    return dataclasses.replace(
        recipe,
        prune=dataclasses.replace(recipe.prune, sparsity=sparsity),
        quantize=dataclasses.replace(recipe.quantize, mode="qat" if qat else "ptq"),
    )


def plan_grid(recipe: Recipe, targets: Sequence[Target], *, sparsities: Sequence[float], modes: Sequence[str]) -> list[Variant]:
    """The variants in run order: by sparsity, then mode (QAT last), then target."""
    check_grid(sparsities, modes)
    grid, skipped = [], []
    for sparsity in sorted(set(float(s) for s in sparsities)):
        for mode in sorted(set(modes), key=SWEEP_MODES.index):
            for target in targets:
                quantization = sweep_quantization(mode)
                if quantization not in target.quantizations:
                    skipped.append(f"{target.name} x {mode}")
                    continue
                grid.append(Variant(recipe.name, target.variant(quantization=quantization), sparsity, mode))
    if skipped:
        log.info("not in the grid (the target has no such mode): %s", ", ".join(sorted(set(skipped))))
    if not grid:
        raise InputError("the sweep grid is empty: no target supports the quantize modes asked for", hint="check --quantize and --targets")
    return grid


def check_grid(sparsities: Sequence[float], modes: Sequence[str]) -> None:
    if not sparsities or not modes:
        raise InputError("the sweep needs at least one sparsity and one quantize mode")
    for sparsity in sparsities:
        if not 0 <= sparsity < 1:
            raise InputError(f"sparsity {sparsity!r} must be in [0, 1), e.g. 0.8 for 80 %")
    for mode in modes:
        if mode not in SWEEP_MODES:
            raise InputError(f"unknown quantize mode {mode!r}", hint=f"choose from: {', '.join(SWEEP_MODES)}")


def variant_key(recipe: Recipe, float_key: str, variant: Variant, targets: Sequence[Target]) -> str:
    """Everything a variant's numbers depend on, and nothing else: a finished variant is reused
    only on a match, and changing, say, prune.epochs re-measures only the pruned variants."""
    quantize = variant.recipe(recipe).to_dict()["quantize"]
    target = variant.target
    point = point_recipe(recipe, variant.sparsity, qat=False)
    return digest(
        {
            "float": float_key,
            # the float side's own key: distill, prune, cluster, the pruning policy and files
            "compressed": compression_key(point, float_key, targets),
            "qat": [quantize["epochs"], quantize["learning_rate"], quantize["exclude"]] if variant.mode == "qat" else None,
            "calibration": quantize["calibration_samples"] if variant.quantization == "int8" else None,
            "artifacts": [recipe.output.latency_runs, recipe.output.flavour, recipe.prune.sparse_encoding, recipe.to_dict()["metadata"]],
            "target": [target.label, target.io_dtype, dict(target.options), dict(target.converter_options), target.static_batch],
        }
    )

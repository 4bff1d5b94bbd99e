"""``edgekit analyze``: the recipe's float model, trained as ``build`` trains it, then each layer
pruned alone and quantised alone, measured through the interpreter (``edgekit.compression.sensitivity``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgekit.flows import from_recipe, stages
from edgekit.flows.checkpoints import Checkpoints
from edgekit.recipe import Recipe, load_recipe

__all__ = ["analyze"]


def analyze(recipe: Recipe | str | Path, *, overrides: Mapping[str, Any] | None = None) -> dict:
    """The per-layer sensitivity table and the QuantizationDebugger's per-op int8 error."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    inputs = from_recipe.load_recipe_inputs(recipe)
    model = stages.trained_float_model(inputs, recipe.train, Checkpoints(None), from_recipe.float_checkpoint(recipe))
    return {**stages.sensitivity(model, from_recipe.sensitivity_settings(recipe), inputs.data), "recipe": recipe.name}

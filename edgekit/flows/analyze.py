"""``edgekit analyze``: the recipe's float model, trained as ``build`` trains it, then each layer
pruned alone and quantised alone, measured through the interpreter (``edgekit.compression.sensitivity``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgekit import stages
from edgekit.checkpoints import Checkpoints
from edgekit.recipe import Recipe, load_recipe


def analyze(recipe: Recipe | str | Path, *, overrides: Mapping[str, Any] | None = None) -> dict:
    """The per-layer sensitivity table and the QuantizationDebugger's per-op int8 error."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    inputs = stages.load_recipe_inputs(recipe, stages.recipe_targets(recipe))
    model = stages.trained_float_model(inputs, recipe, Checkpoints(None))
    return {**stages.sensitivity(model, recipe, inputs.data), "recipe": recipe.name}

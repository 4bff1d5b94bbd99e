"""edgekit: compress Keras models, convert them per hardware target, bundle and measure them.

The public API is small: :func:`build` runs a recipe, :func:`compress` prunes and
quantisation-aware-trains a model in one call, :func:`load_recipe` reads a recipe. Heavy
modules (TensorFlow, TF-MOT) load only when these are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgekit._version import __version__
from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.compression.run import Compressed

__all__ = ["EdgekitError", "__version__", "build", "compress", "load_recipe"]


def build(recipe, *, out=None, overrides=None, trust_model=False, cache=None, fresh=False, force=False):
    """Run a recipe (path or :class:`~edgekit.recipe.Recipe`); see :mod:`edgekit.flows.build`."""
    from edgekit.flows.build import build as run

    return run(recipe, out=out, overrides=overrides, trust_model=trust_model, cache=cache, fresh=fresh, force=force)


def compress(model, data, ratio: float = 0.5, **options: Any) -> "Compressed":
    """Prune ``model`` to ``ratio`` sparsity and apply QAT; see :func:`edgekit.api.compress`."""
    from edgekit.api import compress as run

    return run(model, data, ratio=ratio, **options)


def load_recipe(path, *, overrides=None):
    """Read and validate a recipe TOML file."""
    from edgekit.recipe import load_recipe as load

    return load(path, overrides=overrides)

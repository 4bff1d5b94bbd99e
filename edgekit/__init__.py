"""edgekit: compress Keras models, convert them per hardware target, bundle and measure them.

The public API is small: :func:`build` runs a recipe, :func:`compress` prunes and
quantisation-aware-trains a Keras model in one call, :func:`compress_model` does the same for
a PyTorch module or a model file and hands back its int8 artifact, measured, :func:`load_recipe`
reads a recipe, and the errors callers catch (:class:`EdgekitError`, :class:`BudgetError`,
:class:`EdgekitWarning`).

Each name is loaded from its module on first use (a module ``__getattr__``), so ``import
edgekit`` stays cheap and TensorFlow loads only when a function that needs it runs; what is
loaded is the function itself, so ``help(edgekit.compress)`` shows its real signature.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgekit._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.errors import BudgetError, EdgekitError, EdgekitWarning
    from edgekit.flows.build import build
    from edgekit.flows.compress import compress, compress_model
    from edgekit.recipe import load_recipe

# Public name -> the module that defines it.
_EXPORTS = {
    "build": "edgekit.flows.build",
    "compress": "edgekit.flows.compress",
    "compress_model": "edgekit.flows.compress",
    "load_recipe": "edgekit.recipe",
    "EdgekitError": "edgekit.errors",
    "BudgetError": "edgekit.errors",
    "EdgekitWarning": "edgekit.errors",
}

__all__ = ["BudgetError", "EdgekitError", "EdgekitWarning", "__version__", "build", "compress", "compress_model", "load_recipe"]


def __getattr__(name: str) -> Any:
    """Load a public name from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return list(__all__)

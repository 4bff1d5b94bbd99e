"""edgekit's own exceptions.

Every failure a user can cause (bad file, bad recipe key, wrong data shape, budget exceeded)
is raised as an :class:`EdgekitError` with a message that names the thing and the fix, so
the CLI can print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "BundleError",
    "BusyError",
    "DataError",
    "EdgekitError",
    "EdgekitWarning",
    "InputError",
    "InterpreterError",
    "ModelError",
    "RecipeError",
    "RunError",
    "ToolError",
]


class EdgekitError(Exception):
    """Base class: a failure with a message meant for the user.

    ``exit_code`` follows the usual convention: 2 for usage/input errors, 1 for failures
    of a run that was set up correctly.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class InputError(EdgekitError):
    """The user gave something unusable: a missing/corrupt file, wrong shape, bad value."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe key is unknown, mistyped or out of range."""


class ModelError(InputError):
    """A model file cannot be loaded or a model cannot be handled."""


class InterpreterError(ModelError, RuntimeError):
    """The interpreter refused to run a model (a kernel's check, an allocation over the memory
    budget); a RuntimeError too, as the interpreter's own error is."""


class DataError(InputError):
    """Data has the wrong shape, dtype or label range, or cannot be found."""


class BudgetError(EdgekitError):
    """A measured artifact exceeds a budget the recipe set (flash, RAM, size...).

    ``figure`` (``"flash"``, ``"ram"``), ``needs`` and ``limit`` (bytes) say the miss as numbers
    for callers that compare misses (``edgekit fit``'s closest candidate); ``bound`` marks a
    lower bound read from the graph rather than a measurement of the shipped file.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, figure: str | None = None, needs: float | None = None, limit: float | None = None, bound: bool = False
    ):
        super().__init__(message, hint=hint)
        self.figure, self.needs, self.limit, self.bound = figure, needs, limit, bound


class ToolError(EdgekitError):
    """An external tool (compiler, interpreter backend) is missing or failed."""


class BundleError(InputError):
    """A bundle is incomplete, tampered with, or of an unknown format."""


class BusyError(EdgekitError):
    """Another edgekit process is writing the same output."""


class EdgekitWarning(UserWarning):
    """Something the user should know that does not stop the run."""


class RunError(EdgekitError):
    """A well-formed run that could not finish its work (a task lost on a cluster, a worker's
    result that does not check out); what finished is kept, and the same command resumes."""

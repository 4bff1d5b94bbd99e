"""The base every compression step extends, and what the generic loop reads from it.

A step says itself what it hands on, so the loop in ``edgekit.compression.run`` never asks
which concrete step it holds: ``yields_qat_model`` (its result is a QAT model the int8
converter reads ranges from, not a float model the next step continues from) and
``guidance()`` (a teacher that later fine-tuning trains against, e.g. after distillation).
The defaults live here once: a step yields a float model, leaves nothing to strip and guides
nothing, unless it says otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar

from edgekit.training.train import TrainData

__all__ = ["CompressionStep"]


class CompressionStep:
    """Wrap a model for a compression method, fine-tune it, and strip the wrappers.

    Subclasses are dataclasses with a ``name`` and a ``skipped`` list (``SkippedLayer``:
    layers the step left as they were, and why), and implement ``apply`` and ``verify``.
    """

    name: str
    skipped: list
    yields_qat_model: ClassVar[bool] = False

    def apply(self, model, data: TrainData):
        """Return the wrapped model after fine-tuning on ``data``."""
        raise NotImplementedError

    def strip(self, model):
        """Return a plain Keras model that keeps what ``apply`` learnt (default: the model as it is)."""
        return model

    def verify(self, model) -> dict:
        """Check that what ``apply`` did survived ``strip`` (raise if not); report what it did."""
        raise NotImplementedError

    def guidance(self) -> Any:
        """A teacher (``edgekit.compression.distill.Teacher``) for the later steps, or None."""
        return None

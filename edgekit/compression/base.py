"""The protocol every compression step follows, and what the generic loop reads from it.

A step says itself what it hands on, so the loop in ``edgekit.compression.run`` never asks
which concrete step it holds: ``yields_qat_model`` (its result is a QAT model the int8
converter reads ranges from, not a float model the next step continues from) and
``guidance()`` (a teacher that later fine-tuning trains against, e.g. after distillation).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Sequence

from edgekit.train import TrainData


class CompressionStep(Protocol):
    """Wrap a model for a compression method, fine-tune it, and strip the wrappers."""

    name: str
    yields_qat_model: ClassVar[bool]
    skipped: Sequence[Any]  # SkippedLayer: layers the step left as they were, and why

    def apply(self, model, data: TrainData):
        """Return the wrapped model after fine-tuning on ``data``."""

    def strip(self, model):
        """Return a plain Keras model that keeps what ``apply`` learnt."""

    def verify(self, model) -> dict:
        """Check that what ``apply`` did survived ``strip`` (raise if not); report what it did."""

    def guidance(self) -> Any:
        """A teacher (``edgekit.compression.distill.Teacher``) for the later steps, or None."""

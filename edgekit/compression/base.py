"""The protocol every compression step follows."""

from __future__ import annotations

from typing import Protocol

from edgekit.train import TrainData


class CompressionStep(Protocol):
    """Wrap a model for a compression method, fine-tune it, and strip the wrappers."""

    name: str

    def apply(self, model, data: TrainData):
        """Return the wrapped model after fine-tuning on ``data``."""

    def strip(self, model):
        """Return a plain Keras model that keeps what ``apply`` learnt."""

    def verify(self, model) -> dict:
        """Check that what ``apply`` did survived ``strip`` (raise if not); report what it did."""

"""Compression steps: small strategy objects with one protocol.

Each step has ``apply(model, data) -> model`` (wrap and fine-tune) and
``strip(model) -> model`` (remove training-only wrappers, keep what was learnt).
"""

from edgekit.compression.base import CompressionStep
from edgekit.compression.prune import Prune
from edgekit.compression.qat import QuantizeAware
from edgekit.compression.sparsity import kernel_sparsity

__all__ = ["CompressionStep", "Prune", "QuantizeAware", "kernel_sparsity"]

"""Compression steps: small strategy objects with one protocol.

Each step has ``apply(model, data) -> model`` (wrap and fine-tune) and
``strip(model) -> model`` (remove training-only wrappers, keep what was learnt).
"""

from edgekit.compress.base import CompressionStep
from edgekit.compress.prune import Prune
from edgekit.compress.qat import QuantizeAware
from edgekit.compress.sparsity import kernel_sparsity

__all__ = ["CompressionStep", "Prune", "QuantizeAware", "kernel_sparsity"]

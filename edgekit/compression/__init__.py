"""Compression steps: small strategy objects with one protocol.

Each step has ``apply(model, data) -> model`` (wrap and fine-tune), ``strip(model) -> model``
(remove training-only wrappers, keep what was learnt) and ``verify(model) -> dict`` (check
that what it did survived stripping, and say what it did).
"""

from edgekit.compression.base import CompressionStep
from edgekit.compression.cluster import Cluster
from edgekit.compression.distill import Distill, Teacher
from edgekit.compression.prune import Prune
from edgekit.compression.qat import QuantizeAware
from edgekit.compression.sparsity import kernel_sparsity, unique_weights_per_kernel

__all__ = [
    "Cluster",
    "CompressionStep",
    "Distill",
    "Prune",
    "QuantizeAware",
    "Teacher",
    "kernel_sparsity",
    "unique_weights_per_kernel",
]

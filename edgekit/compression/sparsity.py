"""Measure weight sparsity where pruning acts: the kernels of conv and dense layers."""

from __future__ import annotations

import numpy as np

_KERNEL_NAMES = ("kernel", "depthwise_kernel")


def kernel_sparsity(model) -> dict:
    """Fraction of zero weights over all prunable kernels, and per layer."""
    zeros = total = 0
    per_layer = {}
    for layer in model.layers:
        for weight in layer.weights:
            short = weight.name.split("/")[-1].split(":")[0]
            if short not in _KERNEL_NAMES:
                continue
            values = np.asarray(weight.numpy())
            layer_zeros = int(np.count_nonzero(values == 0))
            per_layer[layer.name] = layer_zeros / values.size
            zeros += layer_zeros
            total += values.size
    return {"overall": zeros / total if total else 0.0, "layers": per_layer}

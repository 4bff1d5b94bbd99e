"""Measure what pruning and clustering leave in the kernels of conv and dense layers."""

from __future__ import annotations

import numpy as np

__all__ = ["follows_m_by_n", "kernel_sparsity", "kernels", "unique_weights_per_kernel", "weight_base_name"]

_KERNEL_NAMES = ("kernel", "depthwise_kernel")
_MODEL_TYPES = ("Sequential", "Functional", "Model")


def weight_base_name(weight) -> str:
    """``kernel`` for ``model/conv1/kernel:0``: a weight's own name, without scopes and index."""
    return weight.name.split("/")[-1].split(":")[0]


def kernels(model) -> dict[str, np.ndarray]:
    """Layer name -> kernel values, for every conv/dense kernel (nested models included)."""
    found = {}
    for layer in _layers(model):
        for weight in layer.weights:
            if weight_base_name(weight) in _KERNEL_NAMES:
                found[layer.name] = np.asarray(weight.numpy())
    return found


def kernel_sparsity(model, layers=None) -> dict:
    """Fraction of zero weights over all prunable kernels (or only ``layers``), and per layer."""
    per_layer = {}
    zeros = total = 0
    for name, values in kernels(model).items():
        layer_zeros = int(np.count_nonzero(values == 0))
        per_layer[name] = layer_zeros / values.size
        if layers is None or name in layers:
            zeros += layer_zeros
            total += values.size
    return {"overall": zeros / total if total else 0.0, "layers": per_layer}


def unique_weights_per_kernel(model, layers=None) -> dict[str, int]:
    """Layer name -> number of distinct values in its kernel (clustering leaves few)."""
    return {name: int(np.unique(values).size) for name, values in kernels(model).items() if layers is None or name in layers}


def follows_m_by_n(values: np.ndarray, m_by_n: tuple[int, int]) -> bool:
    """True when every block of n consecutive input-channel weights holds at least m zeros.

    TF kernels are (..., in, out). TF-MOT and TFLite group m:n along the input channels, the
    last axis of TFLite's (out, ..., in) layout; a ragged tail shorter than n is not checked.
    """
    zeros, block = m_by_n
    rows = np.moveaxis(values, -1, 0).reshape(-1, values.shape[-2]) if values.ndim > 1 else values[None]
    usable = rows.shape[1] - rows.shape[1] % block
    groups = rows[:, :usable].reshape(rows.shape[0], -1, block)
    return bool(np.all(np.count_nonzero(groups == 0, axis=-1) >= zeros))


def _layers(model):
    for layer in model.layers:
        if type(layer).__name__ in _MODEL_TYPES:
            yield from _layers(layer)
        else:
            yield layer

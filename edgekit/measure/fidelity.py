"""How close an artifact's outputs are to the float Keras model's, output by output.

The same four figures for every task, since a reconstruction, a box regressor and an
embedding have no top-1 to agree on: signal-to-noise ratio in dB (the float output's energy
over the error's; None when they are identical), mean cosine similarity per sample, and the
mean and max absolute error. Task metrics (accuracy, AUC) come on top, from ``edgekit.measure.tasks``.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

__all__ = ["fidelity", "output_fidelity", "worst"]


def output_fidelity(expected: np.ndarray, actual: np.ndarray) -> dict:
    """SNR (dB), cosine, mean and max absolute error of ``actual`` against ``expected``."""
    ref = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    got = np.asarray(actual, dtype=np.float64).reshape(len(actual), -1)
    error = got - ref
    noise, signal = float(np.sum(error**2)), float(np.sum(ref**2))
    return {
        "snr_db": None if noise == 0 else round(10 * math.log10(signal / noise), 3) if signal > 0 else round(-10 * math.log10(noise), 3),
        "cosine": round(_mean_cosine(ref, got), 6),
        "mean_abs_error": round(float(np.mean(np.abs(error))), 6),
        "max_abs_error": round(float(np.max(np.abs(error))), 6),
    }


def _mean_cosine(ref: np.ndarray, got: np.ndarray) -> float:
    """Mean over samples; two zero vectors agree (1), a zero against a non-zero does not (0)."""
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    dots = np.sum(ref * got, axis=1)
    both_zero = (np.linalg.norm(ref, axis=1) == 0) & (np.linalg.norm(got, axis=1) == 0)
    cosine = np.where(norms > 0, dots / np.where(norms > 0, norms, 1), np.where(both_zero, 1.0, 0.0))
    return float(np.mean(cosine))


def fidelity(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """Per output name (in ``expected``'s order): :func:`output_fidelity`."""
    missing = [name for name in expected if name not in actual]
    if missing:
        from edgekit.errors import ModelError

        raise ModelError(f"the converted model has no output named {missing[0]!r} (it has {', '.join(actual)})")
    return {name: output_fidelity(expected[name], actual[name]) for name in expected}


def worst(per_output: Mapping[str, Mapping]) -> dict:
    """The weakest figure over all outputs: the lowest SNR and cosine, the largest errors."""
    snrs = [f["snr_db"] for f in per_output.values() if f["snr_db"] is not None]
    return {
        "snr_db": min(snrs) if snrs else None,
        "cosine": min(f["cosine"] for f in per_output.values()),
        "mean_abs_error": max(f["mean_abs_error"] for f in per_output.values()),
        "max_abs_error": max(f["max_abs_error"] for f in per_output.values()),
    }

"""The converter's sparse tensor encoding (``Optimize.EXPERIMENTAL_SPARSITY``), measured, not assumed.

Sparse encoding stores pruned kernels in a compressed format that a DENSIFY op (or a sparse
kernel) reads at run time. Whether that helps depends on the build: on TF 2.21 a sparse int8
model fails to prepare under XNNPACK, and a sparse float model loads but runs no faster. So the
sparse version is converted, loaded through the same interpreter and delegate as the dense one,
compared output for output and timed; it ships only if it runs, agrees and is smaller, and the
report says what was found either way.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtime import open_model
from edgekit.runtime.latency import measure_latency

__all__ = ["sparse_optimizations", "try_sparse"]

log = logging.getLogger("edgekit")
AGREEMENT_NEEDED = 1.0  # the same encoding of the same weights must give the same answers
FASTER = 0.95  # sparse must be 5 % faster (p50) to be called faster


def sparse_optimizations(quantization: str) -> list:
    """Converter optimisations for the sparse version of an artifact in ``quantization``."""
    from edgekit._compat import tf

    lite = tf().lite
    if quantization == "float32":
        return [lite.Optimize.EXPERIMENTAL_SPARSITY]
    return [lite.Optimize.DEFAULT, lite.Optimize.EXPERIMENTAL_SPARSITY]


def try_sparse(dense: bytes, convert: Callable[[], bytes], *, quantization: str, x: np.ndarray, latency_runs: int = 50) -> tuple[bytes, dict]:
    """(bytes to ship, what was measured): the sparse encoding only where it is worth shipping."""
    report = {"tried": True, "shipped": False, "bytes_dense": len(dense)}
    try:
        sparse = convert()
    except EdgekitError as exc:
        return dense, {**report, "note": f"the converter could not encode {quantization} sparse: {exc.message}"}
    report["bytes_sparse"] = len(sparse)
    try:
        runner = open_model(sparse)
        scores = runner.predict(x)
    except EdgekitError as exc:
        note = f"sparse {quantization} model fails under XNNPACK on this TF build ({_first(exc.message)}); shipped the dense encoding"
        log.warning(note)
        return dense, {**report, "runs": False, "note": note}
    agreement = float(np.mean(scores.argmax(-1) == open_model(dense).predict(x).argmax(-1)))
    dense_p50 = measure_latency(dense, runs=latency_runs).p50
    sparse_p50 = measure_latency(sparse, runs=latency_runs).p50
    report.update(runs=True, agreement=round(agreement, 5), p50_dense_us=dense_p50, p50_sparse_us=sparse_p50)
    faster = sparse_p50 < dense_p50 * FASTER
    ship = agreement >= AGREEMENT_NEEDED and len(sparse) < len(dense)
    report.update(faster=faster, shipped=ship, note=_note(quantization, ship, faster, agreement, report))
    log.info("sparse encoding (%s): %s", quantization, report["note"])
    return (sparse if ship else dense), report


def _note(quantization: str, ship: bool, faster: bool, agreement: float, report: dict) -> str:
    speed = (
        f"runs faster ({report['p50_sparse_us']:.0f} vs {report['p50_dense_us']:.0f} µs p50)"
        if faster
        else f"runs no faster ({report['p50_sparse_us']:.0f} vs {report['p50_dense_us']:.0f} µs p50)"
    )
    if agreement < AGREEMENT_NEEDED:
        return f"sparse {quantization} model disagrees with the dense one on {1 - agreement:.1%} of inputs; shipped the dense encoding"
    size = f"{report['bytes_sparse']:,} vs {report['bytes_dense']:,} bytes"
    if ship:
        return f"sparse {quantization} model {speed}; shipped it for its size ({size})"
    return f"sparse {quantization} model {speed} and is not smaller ({size}); shipped the dense encoding"


def _first(message: str) -> str:
    return message.splitlines()[0][:200]

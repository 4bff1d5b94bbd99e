"""TensorFlow's threads, pinned the same way in every process that trains or converts a variant.

Training results depend on the number of intra-op threads (measured: two epochs of a small
CNN give different weights at 1, 2 and 4 threads), so a variant computed on a Dask worker
matches the sequential run only when both run TensorFlow with the same count. The count is the
recipe's ``[distributed] threads`` (default 1: each task gets one CPU, and a sweep's variants
are what runs in parallel), set before TensorFlow starts, in the driver and in every worker.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["pin_threads", "pinned_threads"]

log = logging.getLogger("edgekit")
_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def pin_threads(threads: int) -> bool:
    """Ask TensorFlow for ``threads`` intra- and inter-op threads in this process (and in the
    processes it starts); False when TensorFlow already runs with another count."""
    for name in _VARIABLES:
        os.environ[name] = str(threads)
    if "tensorflow" not in sys.modules:
        return True
    return pinned_threads() == threads


def pinned_threads() -> int | None:
    """The intra-op thread count this process's TensorFlow runs with, as far as it is known."""
    if "tensorflow" not in sys.modules:
        value = os.environ.get(_VARIABLES[0], "")
        return int(value) if value.isdigit() else None
    tf = sys.modules["tensorflow"]
    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return configured
    value = os.environ.get(_VARIABLES[0], "")
    return int(value) if value.isdigit() else None

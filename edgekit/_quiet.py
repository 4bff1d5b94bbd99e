"""Silence native libraries that write straight to file descriptor 2.

TensorFlow's converter and LiteRT's interpreter print start-up and progress lines from C++
("Created TensorFlow Lite XNNPACK delegate", "fully_quantize: 0, ...") that Python logging
cannot catch. Unless ``--verbose`` is on, such calls run with fd 2 pointed at /dev/null;
Python exceptions still carry the real error message.
"""

from __future__ import annotations

import contextlib
import os
import sys

_verbose = False


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = verbose


@contextlib.contextmanager
def quiet_native_output():
    """Point fd 2 at /dev/null for the duration, unless verbose."""
    if _verbose:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded consoles)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

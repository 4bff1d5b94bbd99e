"""The device side: numpy and one TFLite interpreter, never TensorFlow unless it is the only one.

This package is what runs on a phone-class CPU or a Raspberry Pi. Backends are tried in the
order of ``BACKENDS``: LiteRT (``ai_edge_litert``), the legacy ``tflite_runtime`` (numpy<2,
32-bit Pi OS), and TensorFlow's own ``tf.lite`` as the last resort.

The names below load on first use, so the CLI process that only supervises a device command
(:mod:`edgekit.runtime.supervisor`) starts without numpy or an interpreter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgekit.runtime.backends import BACKENDS, Backend, resolve_backend
    from edgekit.runtime.interpreter import ModelRunner, open_model

__all__ = ["BACKENDS", "Backend", "ModelRunner", "open_model", "resolve_backend"]

_HOME = {"BACKENDS": "backends", "Backend": "backends", "resolve_backend": "backends", "ModelRunner": "interpreter", "open_model": "interpreter"}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'edgekit.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgekit.runtime.{_HOME[name]}"), name)

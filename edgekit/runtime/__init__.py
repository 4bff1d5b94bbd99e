"""The device side: numpy and one TFLite interpreter, never TensorFlow unless it is the only one.

This package is what runs on a phone-class CPU or a Raspberry Pi. Backends are tried in the
order of ``BACKENDS``: LiteRT (``ai_edge_litert``), the legacy ``tflite_runtime`` (numpy<2,
32-bit Pi OS), and TensorFlow's own ``tf.lite`` as the last resort.
"""

from edgekit.runtime.backends import BACKENDS, Backend, resolve_backend
from edgekit.runtime.interpreter import ModelRunner, open_model

__all__ = ["BACKENDS", "Backend", "ModelRunner", "open_model", "resolve_backend"]

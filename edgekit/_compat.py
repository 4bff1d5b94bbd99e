"""The one place that loads TensorFlow, tf_keras and TF-MOT.

TF-MOT 0.8 only supports Keras 2, which TensorFlow 2.21 ships as ``tf_keras`` and selects
when ``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is first imported. Setting it here,
and importing TensorFlow only here, keeps that rule in one place and keeps the CLI's start-up
and the device runtime free of TensorFlow.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import warnings

from edgekit.errors import ToolError

_verbose = False
_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # C++ INFO/WARNING/ERROR start-up lines (oneDNN, CUDA)
    "TF_ENABLE_ONEDNN_OPTS": "0",  # oneDNN's "results may differ" banner and its nondeterminism
    "GRPC_VERBOSITY": "ERROR",
}


def set_verbose(verbose: bool) -> None:
    """Let TensorFlow's own logging through (``--verbose``); must run before TF loads."""
    global _verbose
    _verbose = verbose


def is_verbose() -> bool:
    """Whether ``--verbose`` asked for the libraries' own log lines."""
    return _verbose


def _prepare_environment() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if not _verbose:
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)


def _silence_python_loggers() -> None:
    if _verbose:
        return
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="tensorflow_model_optimization")
    warnings.filterwarnings("ignore", module="tf_keras")
    warnings.filterwarnings("ignore", module="tensorflow")


def require(module: str, missing: str, *, hint: str = "pip install 'edgekit-tflite[train]'"):
    """The module, or a one-line error saying what needs it and how to install it (every
    optional dependency edgekit imports lazily comes through here)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ToolError(missing, hint=hint) from exc


@functools.cache
def tf():
    """Import TensorFlow with legacy Keras selected and its start-up noise silenced."""
    _prepare_environment()
    from edgekit._quiet import quiet_native_output

    with quiet_native_output():
        tensorflow = require("tensorflow", "TensorFlow is not installed; training and conversion need it")
    _silence_python_loggers()
    tensorflow.get_logger().setLevel(logging.ERROR)
    return tensorflow


@functools.cache
def keras():
    """The Keras 2 API (``tf_keras``) that TF-MOT works with."""
    tf()
    return require("tf_keras", "tf_keras is not installed")


@functools.cache
def tfmot():
    """TensorFlow Model Optimization, bound to tf_keras."""
    tf()
    return require("tensorflow_model_optimization", "tensorflow-model-optimization is not installed")


def tf_version() -> str | None:
    """TensorFlow's version if it is already loaded, without loading it."""
    import sys

    module = sys.modules.get("tensorflow")
    return getattr(module, "__version__", None)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TF for deterministic kernels."""
    tensorflow = tf()
    keras().utils.set_random_seed(seed)
    try:
        tensorflow.config.experimental.enable_op_determinism()
    except (AttributeError, RuntimeError):  # pragma: no cover - older TF or already set
        pass

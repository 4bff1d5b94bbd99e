"""Tiny Keras models holding ops a mobile GPU or the Edge TPU cannot run, for the target checks.

Each is a few hundred parameters on an 8x8x3 input, so converting one takes about a second.
Lambda layers are named, so building these does not move tf_keras's automatic "lambda_N"
numbering that other tests' models rely on.
"""

from __future__ import annotations

import numpy as np

SHAPE = (8, 8, 3)


def build(name: str):
    """A fresh tf_keras model by name (see ``BUILDERS``)."""
    from edgekit._compat import keras

    k = keras()
    inputs = k.Input(SHAPE, name="image")
    return k.Model(inputs, BUILDERS[name](k, inputs), name=name)


def calibration(count: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((count, *SHAPE), dtype=np.float32)


def _cnn(k, x):
    x = k.layers.Conv2D(4, 3, activation="relu")(x)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Flatten()(x)
    return k.layers.Dense(3, activation="softmax")(x)


def _cumsum_between_convs(k, x):
    from edgekit._compat import tf

    x = k.layers.Conv2D(4, 3, activation="relu")(x)
    x = k.layers.Lambda(lambda t: tf().math.cumsum(t, axis=2), name="cumsum")(x)
    return k.layers.Conv2D(4, 3)(x)


def _leaky_relu_between_convs(k, x):
    x = k.layers.Conv2D(4, 3)(x)
    x = k.layers.LeakyReLU(0.1)(x)  # a standalone LEAKY_RELU op: not fusable, not on the Edge TPU
    return k.layers.Conv2D(4, 3, activation="relu")(x)


def _rfft2d(k, x):
    from edgekit._compat import tf

    t = tf()
    x = k.layers.Conv2D(2, 1)(x)
    return k.layers.Lambda(lambda v: t.abs(t.signal.rfft2d(t.transpose(v, [0, 3, 1, 2]))), name="rfft2d_abs")(x)


def _top_k(k, x):
    from edgekit._compat import tf

    x = k.layers.Flatten()(k.layers.Conv2D(2, 1)(x))
    return k.layers.Lambda(lambda v: tf().math.top_k(v, k=2).values, name="top_k")(x)


def _where(k, x):
    from edgekit._compat import tf

    t = tf()
    x = k.layers.Conv2D(2, 1)(x)
    return k.layers.Lambda(lambda v: t.cast(t.where(v > 0.5), t.float32), name="where")(x)


def _five_d(k, x):
    x = k.layers.Reshape((2, 4, 8, 3))(x)  # (batch, 2, 4, 8, 3): a 5-D tensor
    return k.layers.Lambda(lambda v: v * 2.0, name="times_two")(x)


def _l2norm_between_convs(k, x):
    from edgekit._compat import tf

    x = k.layers.Conv2D(4, 3, activation="relu")(x)
    x = k.layers.Lambda(lambda t: tf().math.l2_normalize(t, axis=-1), name="l2_normalize")(x)  # L2_NORMALIZATION: not on the GPU
    x = k.layers.Conv2D(4, 3, activation="relu")(x)
    return k.layers.Conv2D(4, 1)(x)


BUILDERS = {
    "cnn": _cnn,
    "cumsum": _cumsum_between_convs,
    "leaky_relu": _leaky_relu_between_convs,
    "rfft2d": _rfft2d,
    "top_k": _top_k,
    "where": _where,
    "five_d": _five_d,
    "l2norm": _l2norm_between_convs,
}

"""The seed document's SimpleCNN, in tf_keras.

conv 16 -> max-pool -> conv 32 -> max-pool -> dense 128 -> dense 10, with the input shape
as a parameter (32x32x3 by default, 28x28x1 for MNIST). Used by ``samples/mnist_cnn.toml``
as ``factory = "simple_cnn.py:build"``.
"""

from __future__ import annotations


def build(input_shape=(32, 32, 3), num_classes: int = 10, width: float = 1.0):
    """An untrained SimpleCNN; ``width`` scales every layer's channels/units."""
    from edgekit._compat import keras

    layers = keras().layers
    return keras().Sequential(
        [
            layers.Input(shape=tuple(input_shape), name="image"),
            layers.Conv2D(int(16 * width), 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(int(32 * width), 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(int(128 * width), activation="relu", name="dense1"),
            layers.Dense(num_classes, activation="softmax", name="probabilities"),
        ],
        name="simple_cnn",
    )

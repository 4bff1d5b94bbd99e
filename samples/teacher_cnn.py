"""A larger CNN for MNIST-sized inputs, used as a distillation teacher.

Two VGG-style blocks (two 3x3 convolutions with batch norm each, max-pool, dropout), a
256-unit dense layer with dropout, softmax: about 870,000 parameters, four times the
SimpleCNN. ``benchmarks/distill_vs_labels.py`` trains it once and distils small students from it.
"""

from __future__ import annotations


def build(input_shape=(28, 28, 1), num_classes: int = 10, width: float = 1.0, dropout: float = 0.25):
    """An untrained teacher; ``width`` scales every layer's channels/units."""
    from edgekit._compat import keras

    layers = keras().layers

    def block(x, channels: int, name: str):
        for index in (1, 2):
            x = layers.Conv2D(int(channels * width), 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{index}")(x)
            x = layers.ReLU(name=f"{name}_relu{index}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
        return layers.Dropout(dropout, name=f"{name}_dropout")(x)

    inputs = layers.Input(shape=tuple(input_shape), name="image")
    x = block(block(inputs, 32, "block1"), 64, "block2")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(int(256 * width), activation="relu", name="dense1")(x)
    x = layers.Dropout(2 * dropout, name="dense1_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras().Model(inputs, outputs, name="teacher_cnn")

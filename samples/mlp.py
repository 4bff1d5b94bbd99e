"""A one-hidden-layer perceptron: the smallest useful digit classifier for a microcontroller.

flatten -> dense 128 (ReLU) -> dense 10 (softmax): 101,770 parameters for 28x28 inputs. It has
no convolution, so it does not see a shifted digit as the same digit unless it is taught so —
by augmented data, or by a teacher that learned it (``benchmarks/distill_vs_labels.py``).
"""

from __future__ import annotations


def build(input_shape=(28, 28, 1), num_classes: int = 10, width: float = 1.0, hidden: int = 128):
    """An untrained MLP; ``width`` scales the hidden layer."""
    from edgekit._compat import keras

    layers = keras().layers
    return keras().Sequential(
        [
            layers.Input(shape=tuple(input_shape), name="image"),
            layers.Flatten(name="flatten"),
            layers.Dense(int(hidden * width), activation="relu", name="dense1"),
            layers.Dense(num_classes, activation="softmax", name="probabilities"),
        ],
        name="mlp",
    )

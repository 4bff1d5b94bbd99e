"""Small models of the kinds users bring besides MNIST classifiers: a face detector's R-Net
(a list of outputs: boxes and a face score), an audio model with a dict of outputs, a dense
autoencoder (anomaly detection), a fully convolutional net with a dynamic input size, an
embedding, and a regression head. Each is a few thousand parameters, so a conversion takes
about a second. Untrained weights are seeded: the measurements compare the converted model
with the same Keras model, which needs no training to be meaningful.
"""

from __future__ import annotations

import numpy as np

from edgekit._compat import keras, seed_everything


def rnet():
    """Face-detection refinement net (MTCNN's R-Net in miniature): [bbox (4), face (2, softmax)]."""
    k = _k()
    image = k.Input((24, 24, 3), name="image")
    x = k.layers.Conv2D(8, 3, activation="relu")(image)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Conv2D(16, 3, activation="relu")(x)
    x = k.layers.Flatten()(k.layers.MaxPooling2D()(x))
    x = k.layers.Dense(32, activation="relu")(x)
    return k.Model(image, [k.layers.Dense(4, name="bbox")(x), k.layers.Dense(2, activation="softmax", name="face")(x)], name="rnet")


def audio_dict():
    """A speech model with three outputs by name: token logits, an embedding and a voice score."""
    k = _k()
    spectrogram = k.Input((40, 10), name="spectrogram")
    x = k.layers.Flatten()(spectrogram)
    x = k.layers.Dense(32, activation="relu")(x)
    outputs = {
        "voice": k.layers.Dense(1, activation="sigmoid", name="voice")(x),
        "tokens": k.layers.Dense(12, name="tokens")(x),
        "speaker": k.layers.Dense(8, name="speaker")(x),
    }
    return k.Model(spectrogram, outputs, name="audio")


def autoencoder(features: int = 64):
    """A dense autoencoder like MLPerf Tiny's AD model, in miniature: 64 values in, 64 out."""
    k = _k()
    frames = k.Input((features,), name="frames")
    x = k.layers.Dense(24, activation="relu")(frames)
    x = k.layers.Dense(8, activation="relu")(x)
    x = k.layers.Dense(24, activation="relu")(x)
    return k.Model(frames, k.layers.Dense(features, name="reconstruction")(x), name="autoencoder")


def fully_convolutional():
    """Any image size: (None, None, 3) in, 3 class scores out."""
    k = _k()
    image = k.Input((None, None, 3), name="image")
    x = k.layers.Conv2D(8, 3, activation="relu")(image)
    x = k.layers.GlobalAveragePooling2D()(x)
    return k.Model(image, k.layers.Dense(3, activation="softmax", name="scores")(x), name="fcn")


def embedding():
    """Unit-length 16-value embeddings of 32 features."""
    k = _k()
    features = k.Input((32,), name="features")
    x = k.layers.Dense(16)(k.layers.Dense(24, activation="relu")(features))
    return k.Model(features, k.layers.UnitNormalization(name="embedding")(x), name="embedder")


def regression_head():
    """Two real values per sample (e.g. a position): not class scores."""
    k = _k()
    features = k.Input((12,), name="features")
    x = k.layers.Dense(16, activation="relu")(features)
    return k.Model(features, k.layers.Dense(2, name="position")(x), name="regressor")


def constant_classifier():
    """Outputs the same class scores whatever the input (zero kernel): degenerate data."""
    k = _k()
    features = k.Input((12,), name="features")
    scores = k.layers.Dense(4, activation="softmax", kernel_initializer="zeros", bias_initializer="zeros", name="scores")(features)
    return k.Model(features, scores, name="constant")


def train_autoencoder(model, normal: np.ndarray, epochs: int = 60):
    """Fit the autoencoder to reconstruct ``normal`` inputs (so anomalies reconstruct badly)."""
    k = keras()
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="mse")
    model.fit(normal, normal, epochs=epochs, batch_size=32, verbose=0)
    return model


def anomaly_data(features: int = 64, normal: int = 400, anomalous: int = 100, seed: int = 0):
    """Normal inputs on a low-dimensional pattern, anomalies off it: (x_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(4, features)).astype(np.float32)

    def on_pattern(count):
        return (rng.normal(size=(count, 4)).astype(np.float32) @ basis) / 2

    x_train = on_pattern(normal)
    x_test = np.concatenate([on_pattern(anomalous), rng.normal(size=(anomalous, features)).astype(np.float32) * 1.5])
    y_test = np.concatenate([np.zeros(anomalous, dtype=np.int64), np.ones(anomalous, dtype=np.int64)])
    return x_train, x_test, y_test


def random_inputs(shape, count: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, *shape), dtype=np.float32)


def _k():
    seed_everything(0)
    return keras()

"""Fitting and scoring Keras models, shared by float training and every fine-tuning step."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgekit._compat import keras
from edgekit._compat import tf as _tf

__all__ = ["fit", "keras_predictions", "top1_accuracy", "TrainData"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class TrainData:
    """Normalised training inputs and labels plus the batch size and seed to use them with.

    ``teacher`` (a :class:`edgekit.compression.distill.Teacher`) turns every fit on this data
    into distillation: the loss then mixes the labels with the teacher's softened outputs.
    """

    x: np.ndarray
    y: np.ndarray
    batch_size: int = 64
    seed: int = 0
    shift: int = 0
    teacher: Any = None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)


def fit(model, data: TrainData, *, epochs: int, learning_rate: float, stage: str, callbacks: Sequence = ()) -> dict:
    """Compile ``model`` for classification and train it; returns the last epoch's metrics.

    With ``data.teacher`` the student ``model`` is trained inside a wrapper that also runs the
    teacher; the student's own layers (and any TF-MOT wrappers in it) are what learns. A model
    whose output is not a softmax (a PyTorch classifier's logits) is trained on its logits.
    """
    k = keras()
    from_logits = outputs_logits(model)
    trained, loss, metrics = model, k.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]
    if data.teacher is not None:
        trained, loss, metrics = data.teacher.wrap(model, from_logits=from_logits)
    trained.compile(optimizer=k.optimizers.Adam(learning_rate=learning_rate), loss=loss, metrics=metrics)
    history = trained.fit(
        training_dataset(data),
        epochs=epochs,
        verbose=0,
        callbacks=[*callbacks, _epoch_logger(stage, epochs), _interrupt_check()],
    )
    return {key: float(values[-1]) for key, values in history.history.items()}


def outputs_logits(model) -> bool:
    """Whether the classifier's scores are logits (its output layer is not a softmax)."""
    from edgekit.models.keras_io import output_infos

    return output_infos(model)[0].activation != "softmax"


def training_dataset(data: TrainData):
    """Shuffled batches, with random translations of up to ``shift`` pixels when asked.

    Small shifts are the cheapest regulariser for small image sets: on 8,000 MNIST digits they
    lift a SimpleCNN's test accuracy by about a point.
    """
    tf = _tf()
    dataset = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    dataset = dataset.shuffle(len(data.x), seed=data.seed, reshuffle_each_iteration=True)
    if data.shift and data.x.ndim == 4:
        dataset = dataset.map(lambda x, y: (_random_shift(x, data.shift, data.seed), y))
    options = tf.data.Options()
    # Under tf.distribute each worker takes its share of every batch (a no-op on one machine).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # No tf.data autotuning: its background thread keeps waking to model the pipeline, and two
    # trainings side by side (a sweep on --workers 2, 2 cores) then wait on each other's CPUs.
    # Measured on the sample's sparsity-0.5 prune and cluster fine-tune, two at once: 0.89x the
    # wall time with it off; one alone is no slower; the weights are the same bytes.
    options.autotune.enabled = False
    return dataset.batch(data.batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def _random_shift(image, shift: int, seed: int):
    tf = _tf()
    padded = tf.pad(image, [[shift, shift], [shift, shift], [0, 0]])
    return tf.image.random_crop(padded, tf.shape(image), seed=seed)


def _interrupt_check():
    """Stop training at the next batch after a Ctrl-C that TensorFlow swallowed."""
    from edgekit import interrupts

    return keras().callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: interrupts.check())


def _epoch_logger(stage: str, epochs: int):
    def on_epoch_end(epoch, logs):
        log.info("%s: epoch %d/%d  loss %.4f  accuracy %.4f", stage, epoch + 1, epochs, logs["loss"], logs["accuracy"])

    return keras().callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def keras_predictions(model, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Model outputs for ``x`` as a float array."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=-1) == labels))

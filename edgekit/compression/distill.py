"""Knowledge distillation: a small student learns from a trained teacher's softened outputs.

TF-MOT has no distillation. The loss is Hinton et al.'s:

    alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

Models here end in a softmax (edgekit's convention, as in ``fit``), so logits are recovered as
``log(p)``: ``softmax(log(p) / T)`` is exactly the temperature-softened distribution.

Distillation composes with the other steps: once the student exists, ``run_compression`` puts
the :class:`Teacher` on the training data, so pruning, clustering and QAT fine-tune against
the same loss (distillation-aware fine-tuning), not against the labels alone.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

from edgekit._compat import keras
from edgekit._compat import tf as _tf
from edgekit.compression.base import CompressionStep
from edgekit.errors import ModelError
from edgekit.training.train import TrainData, fit

__all__ = ["Distill", "distillation_loss", "Teacher"]

log = logging.getLogger("edgekit")
# Floor for log(p). It must be tiny: the teacher's "dark knowledge" lives in probabilities far
# below 1e-7 (Keras' usual epsilon), which a larger floor would flatten into label smoothing.
_EPSILON = 1e-30


@dataclass(frozen=True)
class Teacher:
    """A frozen teacher model and the loss settings it trains students with."""

    model: Any
    alpha: float = 0.1
    temperature: float = 4.0

    def wrap(self, student, *, from_logits: bool = False):
        """(training model, loss, metrics) that train ``student`` against this teacher
        (``from_logits``: both output logits, not probabilities).

        The training model runs student and teacher on the same (augmented) batch and
        concatenates their probabilities; the loss splits them again. A plain Keras model and
        loss, so callbacks (TF-MOT's pruning step), tf.distribute and the loss scaling across
        replicas all work unchanged.
        """
        k = keras()
        check_compatible(self.model, student)
        inputs = k.Input(shape=tuple(student.input_shape[1:]), name="distill_input")
        joined = k.layers.Concatenate(name="student_and_teacher")([student(inputs), _frozen_teacher_class()(self.model)(inputs)])
        classes = int(student.output_shape[-1])
        loss = distillation_loss(alpha=self.alpha, temperature=self.temperature, classes=classes, from_logits=from_logits)
        accuracy = k.metrics.MeanMetricWrapper(_student_accuracy(classes), name="accuracy")
        return k.Model(inputs, joined, name="distillation"), loss, [accuracy]


def check_compatible(teacher, student) -> None:
    """Teacher and student must take the same input and predict the same classes."""
    for what, a, b in (("input", teacher.input_shape, student.input_shape), ("output", teacher.output_shape, student.output_shape)):
        if isinstance(a, list) or isinstance(b, list):
            raise ModelError(f"distillation needs single-input, single-output models; the {what}s are {a} and {b}")
        if tuple(a[1:]) != tuple(b[1:]):
            raise ModelError(
                f"teacher and student {what} shapes differ: {tuple(a[1:])} vs {tuple(b[1:])}",
                hint="build the student for the same input shape and number of classes",
            )


@functools.cache
def _frozen_teacher_class():
    """The Keras layer class, defined on first use so importing this module stays light."""
    k, tf = keras(), _tf()

    class FrozenTeacher(k.layers.Layer):
        """The teacher in inference mode, with no gradient flowing into it."""

        def __init__(self, teacher, **kwargs):
            super().__init__(trainable=False, name="teacher", **kwargs)
            self.teacher = teacher

        def call(self, inputs):
            return tf.stop_gradient(self.teacher(inputs, training=False))

    return FrozenTeacher


def distillation_loss(*, alpha: float, temperature: float, classes: int, from_logits: bool = False):
    """A Keras loss over ``[student probabilities, teacher probabilities]`` concatenated
    (logits with ``from_logits``: turned into probabilities first, the same loss follows)."""
    k, tf = keras(), _tf()

    class _Loss(k.losses.Loss):
        def call(self, y_true, y_pred):
            student, teacher = y_pred[:, :classes], y_pred[:, classes:]
            if from_logits:
                student, teacher = tf.nn.softmax(student), tf.nn.softmax(teacher)
            hard = k.losses.sparse_categorical_crossentropy(y_true, student)
            student_log = tf.math.log(tf.clip_by_value(student, _EPSILON, 1.0)) / temperature
            teacher_log = tf.math.log(tf.clip_by_value(teacher, _EPSILON, 1.0)) / temperature
            soft_teacher = tf.nn.softmax(teacher_log)
            kl = tf.reduce_sum(soft_teacher * (tf.nn.log_softmax(teacher_log) - tf.nn.log_softmax(student_log)), axis=-1)
            return alpha * hard + (1.0 - alpha) * temperature**2 * kl

    return _Loss(name="distillation")


def _student_accuracy(classes: int):
    k = keras()

    def accuracy(y_true, y_pred):
        return k.metrics.sparse_categorical_accuracy(y_true, y_pred[:, :classes])

    return accuracy


@dataclass(kw_only=True)
class Distill(CompressionStep):
    """Train a student from the teacher: ``apply(teacher, data) -> trained student``.

    ``teacher`` overrides the model passed to ``apply`` (e.g. a loader for a saved file);
    ``student`` is a factory for the untrained student, else the teacher is shrunk by ``width``.
    With neither (``self_distill``), no student is trained: a frozen copy of the model becomes
    the teacher that guides the fine-tuning of the model itself in the later steps.
    """

    student: Callable[[], Any] | None = None
    width: float | None = None
    teacher: Callable[[], Any] | None = None
    alpha: float = 0.1
    temperature: float = 4.0
    epochs: int = 10
    learning_rate: float = 1e-3
    guide: bool = True
    name: str = "distill"
    last_teacher: Teacher | None = None
    last_report: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)  # distillation leaves no layer out

    def apply(self, model, data: TrainData):
        if self.student is None and self.width is None:
            return self._self_distill(model)
        teacher_model = self.teacher() if self.teacher is not None else model
        student = self.make_student(teacher_model)
        self.last_teacher = Teacher(teacher_model, alpha=self.alpha, temperature=self.temperature)
        log.info("distill: student %s parameters, teacher %s", f"{student.count_params():,}", f"{teacher_model.count_params():,}")
        fit(student, dataclasses.replace(data, teacher=self.last_teacher), epochs=self.epochs, learning_rate=self.learning_rate, stage=self.name)
        self.last_report = {
            "teacher_params": int(teacher_model.count_params()),
            "student_params": int(student.count_params()),
            "params_ratio": round(student.count_params() / teacher_model.count_params(), 5),
            "alpha": self.alpha,
            "temperature": self.temperature,
            "epochs": self.epochs,
            "student": "factory" if self.student is not None else f"teacher at width {self.width}",
            "guides_later_steps": self.guide,
        }
        return student

    def _self_distill(self, model):
        """The model stays; a frozen copy (TF-MOT wrappers share layers, so it must be a copy)."""
        from edgekit.compression.layers import clone_with_weights

        teacher_model = self.teacher() if self.teacher is not None else clone_with_weights(model)
        check_compatible(teacher_model, model)
        self.guide = True
        self.last_teacher = Teacher(teacher_model, alpha=self.alpha, temperature=self.temperature)
        params = int(model.count_params())
        self.last_report = {
            "teacher_params": int(teacher_model.count_params()),
            "student_params": params,
            "params_ratio": round(params / teacher_model.count_params(), 5),
            "alpha": self.alpha,
            "temperature": self.temperature,
            "epochs": 0,
            "student": "the model itself (self-distillation)",
            "guides_later_steps": True,
        }
        return model

    def make_student(self, teacher_model):
        if self.student is not None:
            student = self.student()
        elif self.width is not None:
            from edgekit.compression.shrink import shrink

            student = shrink(teacher_model, self.width)
        else:
            raise ModelError("distillation needs a student: a factory or a width to shrink the teacher by")
        check_compatible(teacher_model, student)
        return student

    def verify(self, model) -> dict:
        return dict(self.last_report)

    def guidance(self) -> Teacher | None:
        """The teacher later fine-tuning steps train against, when ``guide`` is on."""
        return self.last_teacher if self.guide else None

"""Distillation: the loss is Hinton's, the student is derived or built, and the teacher keeps guiding."""

import dataclasses
from typing import ClassVar

import numpy as np
import pytest

from edgekit.compression import Distill, Prune, QuantizeAware, Teacher
from edgekit.compression.distill import distillation_loss
from edgekit.compression.run import run_compression
from edgekit.compression.shrink import shrink
from edgekit.errors import ModelError
from edgekit.training.train import TrainData, keras_predictions, top1_accuracy
from tests.conftest import tiny_cnn


def _loss(alpha, temperature, labels, student, teacher):
    loss = distillation_loss(alpha=alpha, temperature=temperature, classes=student.shape[1])
    return float(loss(np.asarray(labels), np.concatenate([student, teacher], axis=1).astype(np.float32)).numpy())


def test_loss_is_cross_entropy_at_alpha_one():
    student = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    teacher = np.array([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32)
    expected = -np.mean(np.log([0.7, 0.8]))
    assert _loss(1.0, 4.0, [0, 2], student, teacher) == pytest.approx(expected, rel=1e-5)


def test_soft_term_is_t_squared_kl_of_softened_distributions():
    student = np.array([[0.6, 0.3, 0.1]], np.float32)
    teacher = np.array([[0.2, 0.5, 0.3]], np.float32)
    temperature = 3.0

    def soften(p):
        q = np.exp(np.log(p) / temperature)
        return q / q.sum()

    s, t = soften(student[0]), soften(teacher[0])
    kl = float(np.sum(t * (np.log(t) - np.log(s))))
    assert _loss(0.0, temperature, [0], student, teacher) == pytest.approx(temperature**2 * kl, rel=1e-4)
    assert _loss(0.0, temperature, [0], teacher, teacher) == pytest.approx(0.0, abs=1e-6)


def test_shrink_scales_every_layer_but_the_head():
    teacher = tiny_cnn()  # 4/8 channels, 32 units
    student = shrink(teacher, 0.5)
    widths = {layer.name: layer.output_shape[-1] for layer in student.layers}
    assert widths["conv1"] == 2 and widths["conv2"] == 4 and widths["dense1"] == 16
    assert widths["probabilities"] == 10
    assert student.count_params() < teacher.count_params() / 3


def test_shrink_functional_residual_model_keeps_shapes_consistent():
    from edgekit._compat import keras

    k = keras()
    inputs = k.Input((12, 12, 1))
    a = k.layers.Conv2D(8, 3, padding="same", name="a")(inputs)
    b = k.layers.Conv2D(8, 3, padding="same", name="b")(a)
    x = k.layers.Add(name="add")([a, b])
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dense(5, name="head")(x)
    outputs = k.layers.Softmax()(x)
    student = shrink(k.Model(inputs, outputs), 0.25)
    assert student.get_layer("a").filters == 2 and student.get_layer("b").filters == 2
    assert student.get_layer("head").units == 5
    assert student.output_shape == (None, 5)


def test_shrink_refuses_subclassed_models_with_the_fix():
    from edgekit._compat import keras

    class Custom(keras().Model):
        def __init__(self):
            super().__init__()
            self.dense = keras().layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(x)

    model = Custom()
    model(np.zeros((1, 4), np.float32))
    with pytest.raises(ModelError, match="Custom.*Sequential or Functional.*student"):
        shrink(model, 0.5)


def test_distilled_student_learns_from_the_teacher(tiny_model, mnist_small):
    from edgekit._compat import seed_everything

    seed_everything(0)  # the student's initial weights must not depend on which tests ran before
    x, y, x_test, y_test = mnist_small
    step = Distill(width=0.5, epochs=3, learning_rate=3e-3)
    student = step.apply(tiny_model, TrainData(x, y, batch_size=32))
    report = step.verify(student)
    assert report["student_params"] <= report["teacher_params"] / 3
    assert report["guides_later_steps"] is True
    # far better than chance after 3 epochs on 512 digits, and it tracks its teacher
    teacher_top1 = keras_predictions(tiny_model, x_test).argmax(-1)
    student_top1 = keras_predictions(student, x_test).argmax(-1)
    assert top1_accuracy(keras_predictions(student, x_test), y_test) > 0.4
    assert np.mean(student_top1 == teacher_top1) > 0.4
    # the teacher is untouched (no gradient reaches it)
    assert tiny_model.trainable


def test_teacher_and_student_must_agree_on_classes(tiny_model):
    from edgekit._compat import keras

    k = keras()
    wrong = k.Sequential([k.layers.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(3, activation="softmax")])
    with pytest.raises(ModelError, match="output shapes differ"):
        Distill(student=lambda: wrong).make_student(tiny_model)


@dataclasses.dataclass
class _Recorder:
    """A real (if trivial) compression step that records the data it was given."""

    name: str = "record"
    seen: list = dataclasses.field(default_factory=list)
    skipped: tuple = ()
    yields_qat_model: ClassVar[bool] = False

    def apply(self, model, data):
        self.seen.append(data.teacher)
        return model

    def strip(self, model):
        return model

    def verify(self, model):
        return {}

    def guidance(self):
        return None


def test_teacher_guides_every_later_step(tiny_model, mnist_small):
    """distil -> prune -> QAT: the teacher is on the data of every step after distillation."""
    x, y, _, _ = mnist_small
    data = TrainData(x[:128], y[:128], batch_size=32)
    before, after = _Recorder(), _Recorder()
    distill = Distill(width=0.5, epochs=1)
    steps = [before, distill, Prune(sparsity=0.5, epochs=2), after, QuantizeAware(epochs=1, preserve_sparsity=True)]
    result = run_compression(tiny_model, steps, data)
    assert before.seen == [None]
    teacher = after.seen[0]
    assert isinstance(teacher, Teacher)
    # the teacher is the (copied) float model, unchanged by distilling, pruning and QAT
    assert all(np.array_equal(a, b) for a, b in zip(teacher.model.get_weights(), tiny_model.get_weights()))
    assert result.report["distill"]["student_params"] < tiny_model.count_params()
    assert result.report["pqat"]["applied"] is True
    assert result.qat_model.count_params() < tiny_model.count_params()


def test_guide_off_leaves_later_steps_on_labels(tiny_model, mnist_small):
    x, y, _, _ = mnist_small
    after = _Recorder()
    run_compression(tiny_model, [Distill(width=0.5, epochs=1, guide=False), after], TrainData(x[:64], y[:64], batch_size=32))
    assert after.seen == [None]


def test_self_distillation_guides_the_model_with_a_frozen_copy(tiny_model, mnist_small):
    """No student: the float model teaches its own pruned copy; pruning must not touch the teacher."""
    from edgekit.compression import kernel_sparsity

    x, y, _, _ = mnist_small
    after = _Recorder()
    result = run_compression(tiny_model, [Distill(), Prune(sparsity=0.6, epochs=2), after], TrainData(x[:128], y[:128], batch_size=32))
    teacher = after.seen[0]
    assert isinstance(teacher, Teacher)
    assert result.report["distill"]["student"] == "the model itself (self-distillation)"
    assert kernel_sparsity(result.float_model)["overall"] == pytest.approx(0.6, abs=0.01)
    assert kernel_sparsity(teacher.model)["overall"] < 0.05  # the teacher stayed dense
    assert all(np.array_equal(a, b) for a, b in zip(teacher.model.get_weights(), tiny_model.get_weights()))


def test_teacher_from_a_model_file(tiny_model, tmp_path):
    """[distill] teacher = "file.keras": loaded (not retrained) and shrunk into the student."""
    from edgekit.flows.from_recipe import steps_from_recipe
    from edgekit.recipe import recipe_from_dict

    tiny_model.save(tmp_path / "teacher.keras")
    recipe = recipe_from_dict(
        {"model": {"factory": "simple_cnn.py:build"}, "distill": {"teacher": "teacher.keras", "width": 0.5}}, base_dir=tmp_path
    )
    (step,) = steps_from_recipe(recipe)
    teacher = step.teacher()
    assert all(np.array_equal(a, b) for a, b in zip(teacher.get_weights(), tiny_model.get_weights()))
    assert step.make_student(teacher).count_params() < teacher.count_params() / 3


def test_benchmark_models_keep_the_student_under_a_quarter_of_the_teacher():
    """``benchmarks/distill_vs_labels.py``'s default pair: the MLP student is 0.117 of the teacher."""
    from edgekit.models.load import load_factory
    from tests.conftest import REPO

    teacher = load_factory("samples/teacher_cnn.py:build", base_dir=REPO)()
    student = load_factory("samples/mlp.py:build", base_dir=REPO)()
    assert (teacher.count_params(), student.count_params()) == (871_210, 101_770)
    assert teacher.input_shape == student.input_shape == (None, 28, 28, 1)
    assert teacher.output_shape == student.output_shape == (None, 10)
    assert student.count_params() / teacher.count_params() <= 0.25

"""The stages every flow is made of: load, train, compress, convert for a target, check and
package, measure, bundle, report.

``edgekit build``, ``convert``, ``sweep`` and ``analyze`` (``edgekit/flows/``) are short
sequences of these functions, so the same model, data and target give the same bytes and the
same figures whichever command made them. A stage takes frozen values and returns new ones
(``dataclasses.replace``): nothing is patched in place, and an artifact carries its ``Target``
itself, never a name to look up again. A target's converter options, fixed batch and I/O
dtypes, the sparse encoding and the flavour's dressing are applied in one place only,
:func:`convert_for_target`.

The work itself is done by the modules that know how (``edgekit.train``,
``edgekit.compression``, the converters, the targets, ``edgekit.evaluate``,
``edgekit.bundle``); the stages decide what goes in and what comes out.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from edgekit import distribute, keras_io, shapes
from edgekit._compat import seed_everything
from edgekit.bundle import write_bundle
from edgekit.compression.run import Compressed, run_compression, uncompressed
from edgekit.data import Dataset, load_dataset
from edgekit.environment import describe_machine, software_versions
from edgekit.errors import DataError, ModelError
from edgekit.evaluate import io_description, measure_artifact
from edgekit.flavours import PROBE_INPUTS, DressInput, check_same_predictions, get_flavour
from edgekit.recipe import Recipe, parse_m_by_n
from edgekit.registry import get_converter, get_target, load_object
from edgekit.shapes import shape_fits
from edgekit.steps import steps_from_recipe
from edgekit.target import PackageInput, Target
from edgekit.tasks import Task, decide, float_metrics, warnings_for
from edgekit.train import TrainData, fit

log = logging.getLogger("edgekit")
REFERENCE = "float32"


# --- the values passed between stages --------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelData:
    """The data a flow calibrates and measures with, and what a bundle records about it.

    ``x_calibration`` and ``x_test`` are normalised float inputs; ``y_test`` labels or None
    (then no task metric is reported); ``labels`` class names (bundled for classifiers only);
    ``normalization`` what the device must apply to raw inputs (mean, std, raw dtype); ``task``
    what the outputs mean, once decided (:func:`decide_task`).
    """

    x_calibration: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    labels: tuple[str, ...]
    normalization: Mapping[str, Any]
    image: Mapping[str, Any] | None = None
    task: Task | None = None
    outputs: tuple[str, ...] = ()  # the model's output names, in its order, once decided

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """The shape of one input sample (without the batch), when there are samples."""
        x = self.x_test if self.x_test is not None else self.x_calibration
        return None if x is None else tuple(x.shape[1:])

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> "ModelData":
        """A recipe's data set: calibrate on the train split, measure on the test split."""
        return cls(
            x_calibration=dataset.normalize(dataset.x_train),
            x_test=dataset.normalize(dataset.x_test),
            y_test=dataset.y_test,
            labels=tuple(dataset.labels),
            normalization=dataset.normalization(),
            image=dataset.image_info(),
        )


@dataclass(frozen=True)
class Inputs:
    """What a recipe's flow starts from: the model (untrained from a factory, or loaded),
    its data set, the data artifacts are made and measured with, and the training data."""

    model: Any
    dataset: Dataset
    data: ModelData
    train: TrainData


@dataclass(frozen=True, kw_only=True)
class ArtifactSettings:
    """How a run makes its artifacts, the same for every target: names, calibration,
    latency runs, sparse encoding, and the flavour with the metadata it writes."""

    name: str
    calibration_samples: int = 200
    latency_runs: int = 50
    sparse_encoding: bool = False
    probe_samples: int = 1000  # test inputs the sparse encoding is compared on
    flavour: str = "plain"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None  # fixes the model's dynamic input dimensions

    @classmethod
    def from_recipe(cls, recipe: Recipe, *, input_shape: tuple[int, ...] | None = None) -> "ArtifactSettings":
        return cls(
            input_shape=input_shape,
            name=recipe.name,
            calibration_samples=recipe.quantize.calibration_samples,
            latency_runs=recipe.output.latency_runs,
            sparse_encoding=recipe.prune.sparse_encoding,
            probe_samples=recipe.analyze.samples,
            flavour=recipe.output.flavour,
            metadata=dataclasses.asdict(recipe.metadata),
        )


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One converted model, what it was made for, and what was measured on it.

    ``target`` is the Target it was converted for (None: the float32 reference); ``files``
    are the bundle's files besides the model (a target's package, a flavour's README);
    ``facts`` how it was made (layers compression skipped, sparse encoding); ``metrics`` what
    was measured; ``path`` where its bundle went, relative to the output folder.
    """

    name: str
    target: Target | None
    quantization: str
    model_bytes: bytes
    files: Mapping[str, bytes] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    target_report: Mapping[str, Any] | None = None
    path: str = ""

    @property
    def target_name(self) -> str:
        return "reference" if self.target is None else self.target.name

    @property
    def label(self) -> str:
        """``cpu-int8``: what flavours and reports call this kind of artifact."""
        return f"{self.target_name}-{self.quantization}"

    def to_report(self) -> dict:
        return {
            "name": self.name,
            "target": self.target_name,
            "quantization": self.quantization,
            "path": self.path,
            **self.metrics,
            **self.facts,
            "target_report": None if self.target_report is None else dict(self.target_report),
        }


class StageTimer:
    """Seconds per stage for the report, summed when a stage runs more than once (a sweep)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        log.info("%s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 2)


# --- load -----------------------------------------------------------------------------


def recipe_targets(recipe: Recipe, specs: Sequence[str] | None = None) -> tuple[Target, ...]:
    """The recipe's targets (or ``specs``) with their ``[target.NAME]`` settings applied."""
    resolved = []
    for spec in recipe.targets if specs is None else specs:
        target = get_target(spec)
        resolved.append(target.variant(**recipe.target.get(target.name, {})))
    return tuple(resolved)


def load_recipe_inputs(recipe: Recipe, targets: Sequence[Target], *, trust: bool = False) -> Inputs:
    """Seeds, data set and model, checked against each other and the targets. The model is
    created inside the recipe's tf.distribute strategy (if any), as training needs."""
    with distribute.strategy_scope(recipe.train.strategy):
        seed_everything(recipe.train.seed)
        if colour_from_model(recipe):  # an image folder is read in the colour the model takes
            model = recipe_model(recipe, trust=trust)
            dataset = load_dataset(recipe.data, base_dir=recipe.base_dir, channels=keras_io.input_shape(model)[-1])
        else:  # data first: a missing data file is reported before TensorFlow loads
            dataset = load_dataset(recipe.data, base_dir=recipe.base_dir)
            model = recipe_model(recipe, trust=trust)
    check_model_takes(model, dataset, trains=recipe.train.enabled)
    data = ModelData.from_dataset(dataset)
    spec = recipe.train
    train = TrainData(data.x_calibration, dataset.y_train, batch_size=spec.batch_size, seed=spec.seed, shift=spec.augment_shift)
    return Inputs(model=model, dataset=dataset, data=data, train=train)


def colour_from_model(recipe: Recipe) -> bool:
    """An image folder without ``data.color``: read in the colour of the model's input."""
    return recipe.data.color is None and recipe.data.source != "mnist" and recipe.resolve(recipe.data.source).is_dir()


def recipe_model(recipe: Recipe, *, trust: bool = False):
    """The recipe's model: a fresh one from its factory or a saved file."""
    from edgekit.models import load_model_file, model_from_factory

    from edgekit.saved_model import is_signature_model

    spec = recipe.model
    if spec.factory:
        return model_from_factory(spec.factory, spec.kwargs, base_dir=recipe.base_dir)
    model = load_model_file(recipe.resolve(spec.file), trust=trust)
    if is_signature_model(model) and (recipe.train.enabled or compresses(recipe)):
        raise ModelError(
            f"{spec.file}: a SavedModel without Keras layers can be converted and measured, not trained or compressed",
            hint="set train.enabled = false and leave [prune], [cluster], [distill] and quantize.mode = \"qat\" out",
        )
    return model


def check_model_takes(model, dataset: Dataset, *, trains: bool = True) -> None:
    """Data and model must agree on the per-sample input shape (and a classifier on the number
    of classes); the hint names the recipe key that fixes the mismatch."""
    expected = keras_io.input_shape(model)
    actual = dataset.input_shape
    if not shape_fits(expected, actual):
        raise DataError(f"the model takes inputs of shape {expected} but the data has {actual}", hint=_shape_hint(expected, actual))
    outputs = keras_io.output_infos(model)
    scores = outputs[0].shape[-1] if len(outputs) == 1 and outputs[0].shape else None
    if scores != dataset.num_classes and (trains or outputs[0].activation == "softmax"):
        raise DataError(
            f"the model has {scores if scores is not None else len(outputs)} outputs but the data has {dataset.num_classes} classes",
            hint="build the model for the data's classes ([model] kwargs), or name the classes in data.labels",
        )


def _shape_hint(expected: Sequence[int | None], actual: Sequence[int]) -> str:
    if len(expected) == len(actual) == 3 and shape_fits(expected[:2], actual[:2]) and expected[2] in (1, 3):
        return f'set data.color = "{"grayscale" if expected[2] == 1 else "rgb"}" (the model takes {expected[2]} channel(s))'
    if len(expected) == len(actual) == 3:
        return f"resize the data with data.image_size = [{expected[0]}, {expected[1]}], or match the factory's input_shape ([model] kwargs)"
    return "match the factory's input_shape ([model] kwargs) to the data"


# --- train and compress ---------------------------------------------------------------


def trained_float_model(inputs: Inputs, recipe: Recipe, checkpoints):
    """The trained float model: ``checkpoints``' when a run of this recipe trained it before."""
    with distribute.strategy_scope(recipe.train.strategy):
        return checkpoints.float_model(recipe, inputs.model, lambda model: train_float(model, inputs.train, recipe))


def train_float(model, data: TrainData, recipe: Recipe) -> None:
    if recipe.train.enabled:
        fit(model, data, epochs=recipe.train.epochs, learning_rate=recipe.train.learning_rate, stage="train")


def float_summary(model, outputs: Mapping[str, np.ndarray] | None, data: ModelData) -> dict:
    """The float Keras model's task figures on the test split (accuracy of a classifier, AUC
    of an autoencoder) and its size, for reports."""
    figures = {} if outputs is None or data.task is None else float_metrics(data.task, outputs, data.x_test, data.y_test)
    return {**figures, "params": int(model.count_params())}


def float_scores(model, data: ModelData) -> dict[str, np.ndarray] | None:
    """The float Keras model's outputs on the test inputs, by output name: what every
    artifact is compared with (None without test inputs)."""
    return None if data.x_test is None else keras_io.predictions(model, data.x_test)


def decide_task(requested: str, model, data: ModelData, outputs: Mapping[str, np.ndarray] | None) -> ModelData:
    """``data`` with its task: the one asked for, or (``auto``) the one the outputs show;
    what was decided and why is logged, and kept for the report."""
    task = decide(requested, keras_io.output_infos(model), keras_io.input_shape(model), outputs)
    if requested == "auto":
        log.info("task: %s (%s)", task.name, task.reason)
    for warning in warnings_for(task, outputs or {}):
        log.warning("%s", warning)
    return dataclasses.replace(data, task=task, outputs=tuple(keras_io.output_names(model)))


def task_report(data: ModelData, outputs: Mapping[str, np.ndarray] | None) -> dict:
    """The decided task, why, and what in the data makes the figures say little."""
    return {**data.task.to_dict(), "warnings": warnings_for(data.task, outputs or {})}


def fixed_input_shape(model, data: ModelData, *, given: Sequence[int] | None = None) -> tuple[int, ...] | None:
    """The sample shape a model with dynamic input dimensions is converted at (None: static)."""
    name = f"input {model.input_names[0]!r}" if getattr(model, "input_names", None) else "the input"
    return shapes.fixed_input_shape(keras_io.input_shape(model), given=given, data_shape=data.sample_shape, name=name)


def compressed_models(
    model, recipe: Recipe, inputs: Inputs, targets: Sequence[Target], *, checkpoints, timer: StageTimer, needs_qat: bool | None = None
) -> tuple[dict | None, Compressed]:
    """(sensitivity analysis or None, compressed models) for ``recipe``'s compression sections,
    the checkpoint's when this compression ran before (``needs_qat`` False: a checkpoint of the
    float side alone will do)."""
    if not compresses(recipe):
        return None, uncompressed(model)
    compute = lambda: analyze_and_compress(model, recipe, inputs, targets, timer)  # noqa: E731
    return checkpoints.compressed(recipe, targets, compute, needs_qat=needs_qat)


def compresses(recipe: Recipe) -> bool:
    """Whether the recipe asks for any compression step or sensitivity analysis."""
    return bool(steps_from_recipe(recipe)) or recipe.analyze.threshold is not None


def analyze_and_compress(model, recipe: Recipe, inputs: Inputs, targets: Sequence[Target], timer: StageTimer) -> tuple[dict | None, Compressed]:
    """Sensitivity analysis (if asked for), then compression, from freshly reset seeds: what
    they compute must not depend on whether training ran in this process or was reused."""
    seed_everything(recipe.train.seed)
    analysis, exclude = None, {}
    if recipe.analyze.threshold is not None:
        with timer.stage("analyze"):
            analysis, exclude = sensitivity_exclusions(model, recipe, inputs.data)
    steps = steps_from_recipe(recipe, targets, exclude=exclude)
    with timer.stage("compress"), distribute.strategy_scope(recipe.train.strategy):
        return analysis, run_compression(model, steps, inputs.train) if steps else uncompressed(model)


def sensitivity(model, recipe: Recipe, data: ModelData) -> dict:
    """Per-layer sensitivity with the recipe's sparsity, m:n pattern, calibration and sample count."""
    from edgekit.compression.sensitivity import analyze_model

    samples = recipe.analyze.samples
    return analyze_model(
        model,
        x_calibration=data.x_calibration,
        x_test=data.x_test[:samples],
        y_test=data.y_test[:samples],
        sparsity=recipe.prune.sparsity,
        m_by_n=parse_m_by_n(recipe.prune.m_by_n) if recipe.prune.m_by_n else None,
        calibration_samples=recipe.quantize.calibration_samples,
    )


def sensitivity_exclusions(model, recipe: Recipe, data: ModelData) -> tuple[dict, dict]:
    """The sensitivity table, and the layers ``analyze.threshold`` keeps from compression."""
    from edgekit.compression.sensitivity import sensitive_layers

    analysis = sensitivity(model, recipe, data)
    exclude = sensitive_layers(analysis, recipe.analyze.threshold)
    return {**analysis, "threshold": recipe.analyze.threshold, "excluded": exclude}, exclude


# --- convert for a target -------------------------------------------------------------


def convert_reference(float_model, settings: ArtifactSettings) -> Artifact:
    """The uncompressed float32 model, what every artifact's size is compared with."""
    model_bytes = get_converter("keras_tflite")(float_model, input_shape=settings.input_shape)
    return Artifact(name=f"{settings.name}-{REFERENCE}", target=None, quantization=REFERENCE, model_bytes=model_bytes, facts={"skipped_layers": []})


def convert_for_target(target: Target, compressed: Compressed, data: ModelData, settings: ArtifactSettings, *, name: str | None = None) -> Artifact:
    """The artifact ``target`` ships: converted with its options, batch and I/O dtypes, the
    sparse encoding where asked for and measurably worth it, dressed by the flavour."""
    artifact = Artifact(
        name=name or f"{settings.name}-{target.label}",
        target=target,
        quantization=target.quantization,
        model_bytes=target_conversion(target, compressed, data, settings),
        facts={"skipped_layers": compressed.skipped_layers},
    )
    if settings.sparse_encoding:
        artifact = encode_sparse(artifact, compressed, data, settings)
    return dress(artifact, data, settings)


def target_conversion(target: Target, compressed: Compressed, data: ModelData, settings: ArtifactSettings, *, options: Mapping | None = None) -> bytes:
    """int8 from the QAT model when QAT ran, else by calibration; float modes from the float
    model. Targets whose compilers need static shapes get batch 1."""
    convert_keras = get_converter("keras_tflite")
    common = dict(
        quantization=target.quantization,
        options=target.converter_options if options is None else options,
        batch_size=1 if target.static_batch else None,
        input_shape=settings.input_shape,
    )
    if target.quantization != "int8":
        return convert_keras(compressed.float_model, **common)
    # A QAT model carries its own ranges; the converter still wants samples to set I/O types.
    model = compressed.qat_model if compressed.qat_model is not None else compressed.float_model
    return convert_keras(
        model, io_dtype=target.artifact_io_dtype, representative_data=data.x_calibration, calibration_samples=settings.calibration_samples, **common
    )


def encode_sparse(artifact: Artifact, compressed: Compressed, data: ModelData, settings: ArtifactSettings) -> Artifact:
    """The converter's sparse encoding instead, where it runs, agrees and is smaller."""
    from edgekit.compression.sparse_encoding import sparse_optimizations, try_sparse

    target = artifact.target
    options = {**target.converter_options, "optimizations": sparse_optimizations(target.quantization)}
    model_bytes, report = try_sparse(
        artifact.model_bytes,
        lambda: target_conversion(target, compressed, data, settings, options=options),
        quantization=target.quantization,
        x=data.x_test[: settings.probe_samples],
        latency_runs=settings.latency_runs,
    )
    return dataclasses.replace(artifact, model_bytes=model_bytes, facts={**artifact.facts, "sparse_encoding": report})


def dress(artifact: Artifact, data: ModelData, settings: ArtifactSettings) -> Artifact:
    """The flavour's dressing (phone: metadata and a README), when it dresses this artifact;
    the dressed model must predict exactly what the undressed one did."""
    flavour = get_flavour(settings.flavour)
    if flavour.dress is None or artifact.label not in flavour.dresses:
        return artifact
    if data.task is not None and not data.task.classifies:
        log.info("%s: the %s flavour dresses classifiers; this is a %s model, left plain", artifact.name, flavour.name, data.task.name)
        return artifact
    job = DressInput(
        artifact=artifact.name,
        target=artifact.target_name,
        quantization=artifact.quantization,
        labels=data.labels,
        normalization=data.normalization,
        image=data.image,
        metadata=settings.metadata,
        model_name=settings.name,
    )
    dressed = load_object(flavour.dress)(artifact.model_bytes, job)
    check_same_predictions(artifact.name, artifact.model_bytes, dressed.model_bytes, data.x_test[:PROBE_INPUTS])
    return dataclasses.replace(artifact, model_bytes=dressed.model_bytes, files={**artifact.files, **dressed.files})


# --- measure, check and package, bundle -----------------------------------------------


def measure(artifact: Artifact, data: ModelData, expected: Mapping[str, np.ndarray] | None, settings: ArtifactSettings) -> Artifact:
    """Size, weights, latency and, with test inputs, every output's fidelity to the float
    model (``expected``, by output name) and the task's figures."""
    log.info("measuring %s", artifact.name)
    metrics = measure_artifact(
        artifact.model_bytes, x_test=data.x_test, y_test=data.y_test, expected=expected, task=data.task, latency_runs=settings.latency_runs
    )
    return dataclasses.replace(artifact, metrics=metrics)


def check_and_package(artifact: Artifact, data: ModelData) -> Artifact:
    """The target's check of the shipped bytes and, when it has one, its packaging step
    (arena and C sources for mcu, Vela for ethos-u, the compiler for edgetpu, the GPU
    accelerator for gpu), whose measured verdict, where it has one, replaces the check's."""
    target = artifact.target
    if target is None:
        return artifact
    report = target.check(artifact.model_bytes).to_dict()
    if target.package is None:
        return dataclasses.replace(artifact, target_report=report)
    log.info("packaging %s for %s", artifact.name, target.name)
    task = None if data.task is None else data.task.name
    labels = data.y_test if task in (None, "classification") else None  # class labels: accuracy on the target's interpreter
    given = PackageInput(name=artifact.name, x_test=data.x_test, y_test=labels, options=target.options, task=task)
    built = target.package(artifact.model_bytes, given)
    report = {**report, "details": {**report["details"], **built.details}, "notes": [*report["notes"], *built.notes]}
    if built.runnable is not None:  # measured on the target's own runtime: it replaces the prediction
        report["runnable"] = built.runnable
    return dataclasses.replace(artifact, target_report=report, files={**artifact.files, **built.files})


def bundle(
    artifact: Artifact, root: Path, data: ModelData, *, recipe: Mapping | None = None, folder: str = "bundles", order: Sequence[str] | None = None
) -> Artifact:
    """Write the artifact's bundle under ``root`` (in ``folder``) and say where it went.

    Outputs are listed in ``order`` (the Keras model's output names); ``labels.txt`` and the
    labels come with classifiers only."""
    path = f"{folder}/{artifact.name}" if folder else artifact.name
    inputs, outputs = io_description(artifact.model_bytes, order or data.outputs)
    for spec in inputs:
        spec["normalization"] = dict(data.normalization)
        if data.image is not None:
            spec["image"] = dict(data.image)
    classifies = data.task is None or data.task.classifies
    for spec in outputs:
        spec["kind"] = "probabilities" if classifies else data.task.name
    write_bundle(
        Path(root) / path,
        model_bytes=artifact.model_bytes,
        labels=list(data.labels) if classifies else None,
        task=None if data.task is None else data.task.to_dict(),
        extra_files=dict(artifact.files),
        name=artifact.name,
        target=artifact.target_name,
        quantization=artifact.quantization,
        inputs=inputs,
        outputs=outputs,
        versions=software_versions(),
        recipe=None if recipe is None else dict(recipe),
        metrics={**artifact.metrics, **artifact.facts},
        target_report=None if artifact.target_report is None else dict(artifact.target_report),
    )
    return dataclasses.replace(artifact, path=path)


# --- report ---------------------------------------------------------------------------


def run_report(recipe: Recipe, float_info: Mapping, compression: Mapping, artifacts: Sequence[Mapping], timings: Mapping) -> dict:
    """The report every flow writes: what was built, from what, on which machine."""
    return {
        "recipe": recipe.name,
        "float_model": dict(float_info),
        "compression": dict(compression),
        "artifacts": list(artifacts),
        "timings_s": dict(timings),
        "environment": {"machine": describe_machine(), "versions": software_versions()},
    }

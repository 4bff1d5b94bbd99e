"""The stages every flow is made of: load, train, compress, convert for a target, check and
package, measure, bundle, report.

``edgekit build``, ``convert``, ``sweep``, ``fit`` and ``analyze`` (``edgekit/flows/``) are
short sequences of these functions, so the same model, data and target give the same bytes and
the same figures whichever command made them. A stage takes the values and recipe sections it
uses, never the whole recipe (the flows unpack it, ``edgekit.flows.from_recipe``), and returns
frozen values: nothing is patched in place (``dataclasses.replace``), and an artifact carries
its ``Target`` itself, never a name to look up again. A target's converter options, fixed batch and I/O
dtypes, the sparse encoding and the flavour's dressing are applied in one place only,
:func:`convert_for_target`.

The work itself is done by the modules that know how (``edgekit.training.train``,
``edgekit.compression``, the converters, the targets, ``edgekit.measure.evaluate``,
``edgekit.bundle.write``); the stages decide what goes in and what comes out.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from edgekit import interrupts
from edgekit._compat import seed_everything
from edgekit.bundle.write import write_bundle
from edgekit.compression.run import Compressed, run_compression, uncompressed
from edgekit.data.load import Dataset, load_dataset
from edgekit.errors import DataError, ModelError
from edgekit.flavours import PROBE_INPUTS, DressInput, check_same_predictions, get_flavour
from edgekit.flows.checkpoints import CheckpointKey
from edgekit.measure.evaluate import io_description, measure_artifact
from edgekit.measure.tasks import Task, decide, float_metrics, warnings_for
from edgekit.models import keras_io, shapes
from edgekit.models.shapes import shape_fits
from edgekit.models.source import data_in_keras_layout, forget_source, layouts_of, source_of
from edgekit.recipe import DataSpec, ModelSpec, TrainSpec
from edgekit.registry import get_converter, load_object
from edgekit.runtime.environment import describe_machine, software_versions
from edgekit.target import PackageInput, Target
from edgekit.training import distribute
from edgekit.training.train import TrainData, fit

__all__ = [
    "Artifact",
    "ArtifactSettings",
    "bundle",
    "check_and_package",
    "compressed_models",
    "CompressionPlan",
    "convert_for_target",
    "convert_reference",
    "decide_task",
    "dress",
    "fixed_input_shape",
    "shape_source",
    "float_scores",
    "float_summary",
    "import_report",
    "Inputs",
    "load_inputs",
    "measure",
    "ModelData",
    "model_from_spec",
    "run_report",
    "sensitivity",
    "SensitivitySettings",
    "StageTimer",
    "task_report",
    "trained_float_model",
]

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
    input_layouts: tuple[tuple[str, str], ...] = ()  # an imported model's (Keras, source) layout per input

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
        interrupts.check()  # a Ctrl-C swallowed inside TensorFlow stops the run here
        started = time.perf_counter()
        log.info("%s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 2)


@dataclass(frozen=True, kw_only=True)
class SensitivitySettings:
    """How per-layer sensitivity is measured (``edgekit analyze``), and the accuracy drop
    (``threshold``, None: report only) above which compression leaves a layer out."""

    samples: int = 1000
    sparsity: float = 0.0
    m_by_n: tuple[int, int] | None = None
    calibration_samples: int = 200
    threshold: float | None = None


@dataclass(frozen=True, kw_only=True)
class CompressionPlan:
    """What compression runs and where its result is checkpointed, decided by the flow.

    ``steps`` makes the configured steps for the layers sensitivity analysis keeps out
    (``{"prune": [...], "quantize": [...]}``); ``sensitivity`` is None when no analysis picks
    layers; ``needs_qat`` False lets a checkpoint of the float side alone serve.
    """

    enabled: bool
    steps: Callable[[Mapping[str, Sequence[str]]], list]
    checkpoint: CheckpointKey | None = None  # None when nothing is compressed
    seed: int = 0
    strategy: str = "none"
    sensitivity: SensitivitySettings | None = None
    needs_qat: bool = False


# --- load -----------------------------------------------------------------------------


def load_inputs(model: ModelSpec, data: DataSpec, train: TrainSpec, *, base_dir: Path, compresses: bool, trust: bool = False) -> Inputs:
    """Seeds, data set and model, checked against each other. The model is created inside
    the training strategy (if any), as training needs; paths are relative to ``base_dir``."""
    changes = train.enabled or compresses
    with distribute.strategy_scope(train.strategy):
        seed_everything(train.seed)
        if colour_from_model(data, base_dir):  # an image folder is read in the colour the model takes
            keras_model = model_from_spec(model, base_dir=base_dir, changes=changes, trust=trust)
            dataset = load_dataset(data, base_dir=base_dir, channels=keras_io.input_shape(keras_model)[-1])
        else:  # data first: a missing data file is reported before TensorFlow loads
            dataset = load_dataset(data, base_dir=base_dir)
            keras_model = model_from_spec(model, base_dir=base_dir, changes=changes, trust=trust)
    dataset = dataclasses.replace(dataset, x_train=data_in_keras_layout(keras_model, dataset.x_train), x_test=data_in_keras_layout(keras_model, dataset.x_test))
    check_model_takes(keras_model, dataset, trains=train.enabled)
    model_data = dataclasses.replace(ModelData.from_dataset(dataset), input_layouts=layouts_of(keras_model))
    batches = TrainData(model_data.x_calibration, dataset.y_train, batch_size=train.batch_size, seed=train.seed, shift=train.augment_shift)
    return Inputs(model=keras_model, dataset=dataset, data=model_data, train=batches)


def colour_from_model(data: DataSpec, base_dir: Path) -> bool:
    """An image folder without ``data.color``: read in the colour of the model's input."""
    return data.color is None and data.source != "mnist" and _resolve(base_dir, data.source).is_dir()


def model_from_spec(spec: ModelSpec, *, base_dir: Path, changes: bool, trust: bool = False):
    """A fresh model from the factory or a saved file; ``changes``: it will be trained or
    compressed, which a SavedModel without Keras layers cannot be."""
    from edgekit.models.load import load_model_file, model_from_factory
    from edgekit.models.saved_model import is_signature_model

    if spec.factory:
        model = model_from_factory(spec.factory, spec.kwargs, base_dir=base_dir, input_shape=spec.input_shape)
    else:
        model = load_model_file(_resolve(base_dir, spec.file), trust=trust)
    if changes and (source := source_of(model)) is not None:
        source.check_trainable()
    if is_signature_model(model) and changes:
        raise ModelError(
            f"{spec.file}: a SavedModel without Keras layers can be converted and measured, not trained or compressed",
            hint="set train.enabled = false and leave [prune], [cluster], [distill] and quantize.mode = \"qat\" out",
        )
    return model


def _resolve(base_dir: Path, path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


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


def trained_float_model(inputs: Inputs, train: TrainSpec, checkpoints, checkpoint: CheckpointKey):
    """The trained float model: ``checkpoints``' when a run with the same ``checkpoint`` key
    trained it before; the model as loaded when ``train`` is off."""
    if not train.enabled:
        return inputs.model
    forget_source(inputs.model)  # trained here: the Keras model is its own reference now
    with distribute.strategy_scope(train.strategy):
        return checkpoints.float_model(checkpoint, inputs.model, lambda model: train_float(model, inputs.train, train))


def train_float(model, data: TrainData, spec: TrainSpec) -> None:
    fit(model, data, epochs=spec.epochs, learning_rate=spec.learning_rate, stage="train")


def float_summary(model, outputs: Mapping[str, np.ndarray] | None, data: ModelData) -> dict:
    """The float Keras model's task figures on the test split (accuracy of a classifier, AUC
    of an autoencoder) and its size, for reports."""
    figures = {} if outputs is None or data.task is None else float_metrics(data.task, outputs, data.x_test, data.y_test)
    return {**figures, "params": int(model.count_params())}


def float_scores(model, data: ModelData) -> dict[str, np.ndarray] | None:
    """The float model's outputs on the test inputs, by output name: what every artifact is
    compared with (None without test inputs). For a model imported from ONNX or PyTorch, as
    imported, the source's own outputs (ONNX Runtime, PyTorch), not its Keras translation's."""
    if data.x_test is None:
        return None
    source = source_of(model)
    return keras_io.predictions(model, data.x_test) if source is None else source.predict(data.x_test)


def import_report(model, data: ModelData, scores: Mapping[str, np.ndarray] | None) -> dict | None:
    """For an imported model: where it came from and how far its Keras translation is from the
    source on the test inputs, per output (None for a Keras model, or without test inputs)."""
    source = source_of(model)
    if source is None or scores is None:
        return None
    from edgekit.measure.fidelity import fidelity, worst

    translated = keras_io.predictions(model, data.x_test)
    per_output = fidelity(scores, translated)
    largest = max(float(np.max(np.abs(v))) for v in scores.values()) or 1.0
    relative = max(float(np.max(np.abs(translated[name] - scores[name]))) for name in scores) / largest  # unrounded
    return {
        "source": source.kind,
        "file": Path(source.path).name,
        "reference": "ONNX Runtime" if source.kind == "onnx" else "PyTorch",
        "input_layouts": list(source.input_layouts),
        "source_layouts": list(source.source_layouts),
        "outputs": per_output,
        "worst": worst(per_output),
        "max_error_relative": float(f"{relative:.3g}"),
        "tf_ops": dict(source.tf_ops),  # computed with TensorFlow functions: post-training quantisation only
    }


def decide_task(requested: str, model, data: ModelData, outputs: Mapping[str, np.ndarray] | None, *, trained: bool = False) -> ModelData:
    """``data`` with its task: the one asked for, or (``auto``) the one the outputs show (a
    model this run ``trained`` is a classifier); what was decided and why is logged, and kept
    for the report."""
    task = decide(requested, keras_io.output_infos(model), keras_io.input_shape(model), outputs, trained=trained)
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
    shape = shapes.fixed_input_shape(keras_io.input_shape(model), given=given, data_shape=data.sample_shape, name=name)
    if shape is not None:
        shapes.check_model_runs_at(model, shape, shape_source(shape, given))
    return shape


def shape_source(shape: Sequence[int], given: Sequence[int] | None) -> str:
    """How an error names the shape a model is fixed at: the option, or the data's samples."""
    return f"--input-shape {'x'.join(map(str, shape))}" if given is not None else f"the data's samples of shape {tuple(shape)}"


def compressed_models(model, plan: CompressionPlan, inputs: Inputs, *, checkpoints, timer: StageTimer) -> tuple[dict | None, Compressed]:
    """(sensitivity analysis or None, compressed models) as ``plan`` says, the checkpoint's
    when this compression ran before."""
    if not plan.enabled:
        return None, uncompressed(model)
    compute = lambda: analyze_and_compress(model, plan, inputs, timer)  # noqa: E731
    return checkpoints.compressed(plan.checkpoint, compute, needs_qat=plan.needs_qat)


def analyze_and_compress(model, plan: CompressionPlan, inputs: Inputs, timer: StageTimer) -> tuple[dict | None, Compressed]:
    """Sensitivity analysis (if asked for), then compression, from freshly reset seeds: what
    they compute must not depend on whether training ran in this process or was reused."""
    seed_everything(plan.seed)
    analysis, exclude = None, {}
    if plan.sensitivity is not None:
        with timer.stage("analyze"):
            analysis, exclude = sensitivity_exclusions(model, plan.sensitivity, inputs.data)
    steps = plan.steps(exclude)
    with timer.stage("compress"), distribute.strategy_scope(plan.strategy):
        return analysis, run_compression(model, steps, inputs.train) if steps else uncompressed(model)


def sensitivity(model, settings: SensitivitySettings, data: ModelData) -> dict:
    """Per-layer sensitivity: each layer pruned alone and quantised alone, through the interpreter."""
    from edgekit.compression.sensitivity import analyze_model

    samples = settings.samples
    return analyze_model(
        model,
        x_calibration=data.x_calibration,
        x_test=data.x_test[:samples],
        y_test=data.y_test[:samples],
        sparsity=settings.sparsity,
        m_by_n=settings.m_by_n,
        calibration_samples=settings.calibration_samples,
    )


def sensitivity_exclusions(model, settings: SensitivitySettings, data: ModelData) -> tuple[dict, dict]:
    """The sensitivity table, and the layers ``settings.threshold`` keeps from compression."""
    from edgekit.compression.sensitivity import sensitive_layers

    analysis = sensitivity(model, settings, data)
    exclude = sensitive_layers(analysis, settings.threshold)
    return {**analysis, "threshold": settings.threshold, "excluded": exclude}, exclude


# --- convert for a target -------------------------------------------------------------


def convert_reference(float_model, settings: ArtifactSettings) -> Artifact:
    """The uncompressed float32 model, what every artifact's size is compared with."""
    model_bytes = get_converter("keras_tflite")(float_model, input_shape=settings.input_shape)
    return Artifact(name=f"{settings.name}-{REFERENCE}", target=None, quantization=REFERENCE, model_bytes=model_bytes, facts={"skipped_layers": []})


def convert_for_target(target: Target, compressed: Compressed, data: ModelData, settings: ArtifactSettings, *, name: str | None = None) -> Artifact:
    """The artifact ``target`` ships: converted with its options, batch and I/O dtypes, the
    sparse encoding where asked for and measurably worth it, dressed by the flavour."""
    model_bytes, facts = target_conversion(target, compressed, data, settings), {"skipped_layers": compressed.skipped_layers}
    if target.rewrite is not None:
        model_bytes, fixes = target.rewrite(model_bytes)
        facts = {**facts, "graph_fixes": list(fixes)} if fixes else facts
    artifact = Artifact(name=name or f"{settings.name}-{target.label}", target=target, quantization=target.quantization, model_bytes=model_bytes, facts=facts)
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
    artifact: Artifact,
    root: Path,
    data: ModelData,
    *,
    recorded_recipe: Mapping | None = None,
    folder: str = "bundles",
    order: Sequence[str] | None = None,
) -> Artifact:
    """Write the artifact's bundle under ``root`` (in ``folder``) and say where it went.

    Outputs are listed in ``order`` (the Keras model's output names); ``labels.txt`` and the
    labels come with classifiers only; ``recorded_recipe`` (plain data) goes into the manifest."""
    path = f"{folder}/{artifact.name}" if folder else artifact.name
    inputs, outputs = io_description(artifact.model_bytes, order or data.outputs)
    for spec, layouts in zip(inputs, data.input_layouts or [None] * len(inputs)):
        if layouts is not None:  # an imported model: the layout it takes, and its source's
            spec["layout"], spec["source_layout"] = layouts
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
        recorded_recipe=None if recorded_recipe is None else dict(recorded_recipe),
        metrics={**artifact.metrics, **artifact.facts},
        target_report=None if artifact.target_report is None else dict(artifact.target_report),
    )
    return dataclasses.replace(artifact, path=path)


# --- report ---------------------------------------------------------------------------


def run_report(name: str, float_info: Mapping, compression: Mapping, artifacts: Sequence[Mapping], timings: Mapping) -> dict:
    """The report every flow writes: what was built, from what, on which machine."""
    return {
        "recipe": name,
        "float_model": dict(float_info),
        "compression": dict(compression),
        "artifacts": list(artifacts),
        "timings_s": dict(timings),
        "environment": {"machine": describe_machine(), "versions": software_versions()},
    }

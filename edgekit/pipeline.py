"""``edgekit build``: recipe -> train -> compress -> convert per target -> measure -> bundle -> report.

Every stage is a short function; the whole output folder is written into a staging folder
and renamed into place at the end, so an interrupted build leaves the previous output intact.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit import distribute
from edgekit._compat import seed_everything
from edgekit.atomic import staged_directory
from edgekit.bundle import write_bundle
from edgekit.checkpoints import BuildCheckpoints
from edgekit.compression.run import Compressed, run_compression, steps_from_recipe
from edgekit.data import Dataset, load_dataset
from edgekit.environment import describe_machine, software_versions
from edgekit.errors import DataError
from edgekit.evaluate import io_description, measure_artifact
from edgekit.flavours import apply_flavour
from edgekit.recipe import Recipe, load_recipe
from edgekit.registry import get_converter, get_target
from edgekit.packaging import check_and_package
from edgekit.report import write_reports
from edgekit.shapes import require_static_input, shape_fits
from edgekit.train import TrainData, fit, keras_predictions, top1_accuracy
from edgekit.ziputil import zip_folder

log = logging.getLogger("edgekit")
REFERENCE = "float32"


@dataclass
class Artifact:
    """One converted model, what it was made for, and what was measured on it."""

    name: str
    target: str
    quantization: str
    model_bytes: bytes
    metrics: dict = field(default_factory=dict)
    target_report: dict | None = None
    path: str = ""
    extra_files: dict = field(default_factory=dict)

    def to_report(self) -> dict:
        return {
            "name": self.name,
            "target": self.target,
            "quantization": self.quantization,
            "path": self.path,
            **self.metrics,
            "target_report": self.target_report,
        }


@dataclass
class BuildResult:
    """What ``build`` returns: the report data and where the output went."""

    out_dir: Path
    report: dict
    artifacts: list[Artifact]


class _Timer:
    """Seconds per stage, for the report."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        log.info("%s ...", name)
        yield
        self.seconds[name] = round(time.perf_counter() - started, 2)


def build(
    recipe: Recipe | str | Path,
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    trust_model: bool = False,
    cache: str | Path | bool | None = None,
    fresh: bool = False,
) -> BuildResult:
    """Run a recipe end to end and write bundles plus ``report.json``/``report.md``.

    ``trust_model`` lets ``model.file`` carry code (Lambda layers); off, such files are refused.
    The trained and the compressed models are checkpointed in ``cache`` (default: ``OUT.cache``
    beside the output; False: none) and reused by a re-run of the same recipe, unless ``fresh``.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides, trusted=("output.dir",) if out is not None else ())
    out_dir = distribute.output_dir(Path(out) if out is not None else recipe.resolve(recipe.output.dir), recipe.train.strategy)
    checkpoints = BuildCheckpoints(recipe, out_dir, cache=cache, fresh=fresh, trust=trust_model)
    with checkpoints.kept_on_interrupt():
        return _build(recipe, out_dir, checkpoints, trust_model=trust_model)


def _build(recipe: Recipe, out_dir: Path, checkpoints: BuildCheckpoints, *, trust_model: bool) -> BuildResult:
    targets = recipe_targets(recipe)
    timer = _Timer()
    # models are created and trained inside the recipe's tf.distribute strategy (if any)
    with timer.stage("load"), distribute.strategy_scope(recipe.train.strategy):
        seed_everything(recipe.train.seed)
        dataset = load_dataset(recipe.data, base_dir=recipe.base_dir)
        model = load_model(recipe, trust=trust_model)
        check_input_shape(model, dataset)
        require_static_input(model.input_shape[1:], targets, where=str(recipe.model.file or recipe.model.factory))
    x_train, x_test = dataset.normalize(dataset.x_train), dataset.normalize(dataset.x_test)
    data = train_data(recipe, x_train, dataset.y_train)
    with timer.stage("train"), distribute.strategy_scope(recipe.train.strategy):
        model = checkpoints.float_model(model, lambda fresh_model: train_float(fresh_model, data, recipe))
        float_scores = keras_predictions(model, x_test)
    sensitivity, compressed = checkpoints.compressed(
        lambda: analyze_and_compress(model, recipe, data, x_test, dataset.y_test, timer), needed=compresses(recipe)
    )
    with timer.stage("convert"):
        artifacts = convert_all(model, compressed, targets, recipe, x_train)
        sparse_reports = encode_sparse(artifacts, targets, compressed, recipe, x_train, x_test)
        apply_flavour(artifacts, recipe, dataset)
    with timer.stage("measure"):
        for artifact in artifacts:
            measure(artifact, targets, x_test, dataset.y_test, float_scores, recipe)
        add_compression_facts(artifacts, compressed, sparse_reports)
    float_info = {"accuracy": round(top1_accuracy(float_scores, dataset.y_test), 5), "params": int(model.count_params())}
    report = make_report(recipe, float_info, compressed, artifacts, timer.seconds)
    report["checkpoints"] = checkpoints.summary()
    if sensitivity is not None:
        report["sensitivity"] = sensitivity
    with staged_directory(out_dir) as staging:
        for artifact in artifacts:
            write_artifact_bundle(staging, artifact, dataset, recipe)
            if recipe.output.zip:
                zip_folder(staging / artifact.path, staging / f"{artifact.path}.zip")
        report["artifacts"] = [a.to_report() for a in artifacts]
        write_reports(staging, report)
    log.info("wrote %s", out_dir)
    return BuildResult(out_dir=out_dir, report=report, artifacts=artifacts)


def compresses(recipe: Recipe) -> bool:
    """Whether the recipe asks for any compression step or sensitivity analysis."""
    return bool(steps_from_recipe(recipe)) or recipe.analyze.threshold is not None


def analyze_and_compress(model, recipe: Recipe, data: TrainData, x_test, y_test, timer) -> tuple[dict | None, Compressed]:
    """Sensitivity analysis (if asked for), then compression, from freshly reset seeds: what
    they compute must not depend on whether training ran in this process or was reused."""
    seed_everything(recipe.train.seed)
    sensitivity, exclude = analyze_for_build(model, recipe, data.x, x_test, y_test, timer)
    with timer.stage("compress"), distribute.strategy_scope(recipe.train.strategy):
        compressed = run_compression(model, steps_from_recipe(recipe, exclude=exclude), data)
    return sensitivity, compressed


def analyze_for_build(model, recipe: Recipe, x_train, x_test, y_test, timer) -> tuple[dict | None, dict]:
    """With ``analyze.threshold``: the sensitivity table, and the layers it keeps from compression."""
    if recipe.analyze.threshold is None:
        return None, {}
    from edgekit.compression.sensitivity import analyze_recipe_model, sensitive_layers

    with timer.stage("analyze"):
        analysis = analyze_recipe_model(model, recipe, x_train, x_test, y_test)
    exclude = sensitive_layers(analysis, recipe.analyze.threshold)
    analysis["threshold"] = recipe.analyze.threshold
    analysis["excluded"] = exclude
    return analysis, exclude


def encode_sparse(artifacts, targets, compressed: Compressed, recipe: Recipe, x_train, x_test) -> dict:
    """With ``prune.sparse_encoding``: swap in the sparse-encoded model where it measurably works."""
    if not recipe.prune.sparse_encoding:
        return {}
    from edgekit.compression.sparse_encoding import sparse_optimizations, try_sparse

    reports = {}
    for artifact, target in zip(artifacts[1:], targets):
        options = {**target.converter_options, "optimizations": sparse_optimizations(target.quantization)}
        sparse_target = target.variant(converter_options=options)
        artifact.model_bytes, reports[artifact.name] = try_sparse(
            artifact.model_bytes,
            lambda: convert_for_target(sparse_target, compressed, recipe, x_train),
            quantization=target.quantization,
            x=x_test[: recipe.analyze.samples],
            latency_runs=recipe.output.latency_runs,
        )
    return reports


def add_compression_facts(artifacts, compressed: Compressed, sparse_reports: Mapping[str, dict]) -> None:
    """Per artifact: the layers compression left out and, if tried, what sparse encoding did."""
    for artifact in artifacts:
        artifact.metrics["skipped_layers"] = [] if artifact.target == "reference" else compressed.skipped_layers
        if artifact.name in sparse_reports:
            artifact.metrics["sparse_encoding"] = sparse_reports[artifact.name]


def recipe_targets(recipe: Recipe) -> list:
    """The recipe's targets with their ``[target.NAME]`` settings applied."""
    targets = []
    for spec in recipe.targets:
        target = get_target(spec)
        targets.append(target.variant(**recipe.target.get(target.name, {})))
    return targets


def load_model(recipe: Recipe, *, trust: bool = False):
    """The recipe's model: a fresh one from its factory or a saved file."""
    from edgekit.models import load_model_file, model_from_factory

    spec = recipe.model
    if spec.factory:
        return model_from_factory(spec.factory, spec.kwargs, base_dir=recipe.base_dir)
    return load_model_file(recipe.resolve(spec.file), trust=trust)


def check_input_shape(model, dataset: Dataset) -> None:
    """Data and model must agree on the per-sample input shape."""
    expected = tuple(model.input_shape[1:])
    actual = dataset.input_shape
    if not shape_fits(expected, actual):
        raise DataError(
            f"the model takes inputs of shape {expected} but the data has {actual}",
            hint="match the factory's input_shape to the data, or resize the data (data.image_size)",
        )
    outputs = model.output_shape[-1]
    if outputs != dataset.num_classes:
        raise DataError(f"the model has {outputs} outputs but the data has {dataset.num_classes} classes")


def train_data(recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray) -> TrainData:
    """Normalised training inputs with the recipe's batch size, seed and augmentation."""
    return TrainData(x_train, y_train, batch_size=recipe.train.batch_size, seed=recipe.train.seed, shift=recipe.train.augment_shift)


def train_float(model, data: TrainData, recipe: Recipe) -> None:
    if recipe.train.enabled:
        fit(model, data, epochs=recipe.train.epochs, learning_rate=recipe.train.learning_rate, stage="train")


def convert_all(float_model, compressed: Compressed, targets, recipe: Recipe, x_train: np.ndarray) -> list[Artifact]:
    """A float32 reference of the uncompressed model, then one artifact per target."""
    convert_keras = get_converter("keras_tflite")
    name = recipe.name
    artifacts = [Artifact(f"{name}-{REFERENCE}", "reference", REFERENCE, convert_keras(float_model))]
    for target in targets:
        model_bytes = convert_for_target(target, compressed, recipe, x_train)
        artifacts.append(Artifact(f"{name}-{target.label}", target.name, target.quantization, model_bytes))
    return artifacts


def convert_for_target(target, compressed: Compressed, recipe: Recipe, x_train: np.ndarray) -> bytes:
    """int8 from the QAT model when QAT ran, else by calibration; float modes from the float model."""
    convert_keras = get_converter("keras_tflite")
    batch_size = 1 if target.static_batch else None  # compilers that need static shapes
    options = dict(quantization=target.quantization, options=target.converter_options, batch_size=batch_size)
    if target.quantization != "int8":
        return convert_keras(compressed.float_model, **options)
    # A QAT model carries its own ranges; the converter still wants samples to set I/O types.
    model = compressed.qat_model if compressed.qat_model is not None else compressed.float_model
    return convert_keras(
        model,
        io_dtype=target.artifact_io_dtype,
        representative_data=x_train,
        calibration_samples=recipe.quantize.calibration_samples,
        **options,
    )


def measure(artifact: Artifact, targets, x_test, y_test, float_scores, recipe: Recipe) -> None:
    """Fill in the artifact's metrics and its target's check."""
    log.info("measuring %s", artifact.name)
    artifact.metrics = measure_artifact(
        artifact.model_bytes, x_test=x_test, y_test=y_test, float_scores=float_scores, latency_runs=recipe.output.latency_runs
    )
    target = next((t for t in targets if t.name == artifact.target and t.quantization == artifact.quantization), None)
    if target is None:
        return
    artifact.target_report, files = check_and_package(target, artifact.model_bytes, name=artifact.name, x_test=x_test)
    artifact.extra_files.update(files)


def write_artifact_bundle(out_dir: Path, artifact: Artifact, dataset: Dataset, recipe: Recipe) -> None:
    artifact.path = f"bundles/{artifact.name}"
    inputs, outputs = io_description(artifact.model_bytes)
    for spec in inputs:
        spec["normalization"] = dataset.normalization()
        spec["image"] = dataset.image_info()
    for spec in outputs:
        spec["kind"] = "probabilities"
    write_bundle(
        out_dir / artifact.path,
        model_bytes=artifact.model_bytes,
        labels=list(dataset.labels),
        extra_files=artifact.extra_files,
        name=artifact.name,
        target=artifact.target,
        quantization=artifact.quantization,
        inputs=inputs,
        outputs=outputs,
        versions=software_versions(),
        recipe=recipe.to_dict(),
        metrics=artifact.metrics,
        target_report=artifact.target_report,
    )


def make_report(recipe: Recipe, float_info: dict, compressed: Compressed, artifacts, timings: dict) -> dict:
    return {
        "recipe": recipe.name,
        "float_model": float_info,
        "compression": compressed.report,
        "artifacts": [a.to_report() for a in artifacts],
        "timings_s": timings,
        "environment": {"machine": describe_machine(), "versions": software_versions()},
    }

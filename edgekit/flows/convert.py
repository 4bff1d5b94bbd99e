"""``edgekit convert``: a trained Keras file -> one target's artifact, by post-training quantisation.

The common case of a user who already has a model: no recipe, no training, no compression.
The representative data (``--data``) calibrates int8 models and is what the artifact is
measured on (an ``.npz`` with ``x_train``/``x_test`` calibrates on the first, measures on the
second, like a build). Conversion, checks, measurement and the bundle are the build's own
stages, so a build of the same file with the same data ships the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit.compression.run import uncompressed
from edgekit.data.load import load_representative
from edgekit.errors import DataError, InputError, ModelError
from edgekit.flows import stages
from edgekit.flows.stages import ArtifactSettings, ModelData
from edgekit.measure.tasks import check_task
from edgekit.models import keras_io
from edgekit.models.shapes import check_model_runs_at, fixed_input_shape
from edgekit.registry import get_target

__all__ = ["convert_file", "ConvertResult"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class ConvertResult:
    """The artifact, where its bundle went, and what was measured on it."""

    bundle: Path
    model_bytes: bytes
    metrics: dict
    target_report: dict
    task: dict
    imported: dict | None = None  # an ONNX/PyTorch model: its Keras translation against the source


def convert_file(model_path: str | Path, *, target: str, out: str | Path, **options) -> ConvertResult:
    """Convert ``model_path`` for ``target`` and write its bundle under ``out`` (as
    ``out/MODEL``, which must be new, empty or an edgekit bundle: ``edgekit.output.folder``)."""
    from edgekit.output.folder import OutputFolder

    with OutputFolder(Path(out) / Path(model_path).stem, kind="convert", layout="bundle"):
        return _convert_file(model_path, target=target, out=out, **options)


def _convert_file(
    model_path: str | Path,
    *,
    target: str,
    out: str | Path,
    data: str | Path | None = None,
    mean: float = 0.0,
    std: float = 1.0,
    labels: list[str] | None = None,
    calibration_samples: int = 200,
    trust_model: bool = False,
    task: str = "auto",
    input_shape: tuple[int, ...] | None = None,
    budgets: Mapping[str, Any] | None = None,
) -> ConvertResult:
    """Convert ``model_path`` for ``target`` and write its bundle under ``out``.

    ``task`` says what the outputs mean (``auto``: decided from them); ``input_shape`` fixes
    dynamic input dimensions (else the data's sample shape does); ``budgets`` (``flash_kb``,
    ``ram_kb``, ``board``) are checked before any conversion is measured.
    """
    from edgekit.models.load import load_model_file

    check_task(task)
    chosen = with_budgets(get_target(target), budgets or {})
    model = load_model_file(model_path, trust=trust_model)
    model_input = single_input_shape(model, model_path)
    model_data = representative(model, data, tuple(input_shape) if input_shape else model_input, mean=mean, std=std, labels=labels)
    shape = fixed_input_shape(model_input, given=input_shape, data_shape=model_data.sample_shape, name=_input_name(model))
    if shape is not None:
        check_model_runs_at(model, shape, stages.shape_source(shape, input_shape))
    if shape and model_data.sample_shape not in (None, shape):
        raise DataError(f"--data {data}: samples have shape {model_data.sample_shape} but --input-shape is {'x'.join(map(str, shape))}", hint="give data of the shape to convert at")
    if model_data.x_calibration is None and chosen.quantization == "int8":
        raise InputError(
            f"target {chosen.label} is full-integer and needs representative data to calibrate",
            hint="pass --data with an .npz (array 'x') or a folder of images of the model's input",
        )
    settings = ArtifactSettings(name=Path(model_path).stem, calibration_samples=calibration_samples, input_shape=shape)
    scores = stages.float_scores(model, model_data)
    imported = stages.import_report(model, model_data, scores)
    model_data = stages.decide_task(task, model, model_data, scores)
    artifact = stages.convert_for_target(chosen, uncompressed(model), model_data, settings)
    artifact = stages.check_and_package(stages.measure(artifact, model_data, scores, settings), model_data)
    artifact = stages.bundle(artifact, Path(out), model_data, folder="")
    return ConvertResult(
        bundle=Path(out) / artifact.path,
        model_bytes=artifact.model_bytes,
        metrics={**artifact.metrics, **artifact.facts},  # as the manifest records them
        target_report=dict(artifact.target_report),
        task=stages.task_report(model_data, scores),
        imported=imported,
    )


def with_budgets(target, budgets: Mapping[str, Any]):
    """The target with ``--flash-kb``/``--ram-kb``/``--board`` set; checked before any work."""
    from edgekit.targets.boards import check_budget_kb, get_board

    given = {key: value for key, value in budgets.items() if value is not None}
    if not given:
        return target
    if not set(given) <= set(target.options):
        flags = ", ".join("--" + key.replace("_", "-") for key in sorted(given))
        raise InputError(f"{flags}: target {target.name} has no flash or RAM budget", hint="budgets apply to the mcu and ethos-u targets")
    for key in ("flash_kb", "ram_kb"):
        if given.get(key) is not None:
            check_budget_kb("--" + key.replace("_", "-"), given[key])
    if "board" in given:
        get_board(given["board"], target=target.name)
    return target.variant(**given)


def _input_name(model) -> str:
    names = getattr(model, "input_names", None) or []
    return f"input {names[0]!r}" if names else "the input"


def single_input_shape(model, path) -> tuple[int, ...]:
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) != 1:
        raise ModelError(f"{path}: models with {len(shapes)} inputs are not supported by convert yet")
    return tuple(shapes[0][1:])


def representative(model, path: str | Path | None, input_shape, *, mean: float, std: float, labels: list[str] | None) -> ModelData:
    """``--data`` as the stages' ModelData: normalised calibration and test inputs, labels
    (class names are bundled only if the model turns out to be a classifier)."""
    first = keras_io.output_infos(model)[0]
    names = tuple(labels) if labels else tuple(str(i) for i in range(first.size or 0))
    if path is None:
        return ModelData(x_calibration=None, x_test=None, y_test=None, labels=names, normalization={"mean": [mean], "std": [std], "raw_dtype": "float32"})
    from edgekit.models.source import data_in_keras_layout, layouts_of

    x_calibration, x_test, y_test = load_representative(path, input_shape, adapt=lambda x: data_in_keras_layout(model, x))

    def normalise(x):
        return (x.astype(np.float32) - np.float32(mean)) / np.float32(std)

    return ModelData(
        x_calibration=normalise(x_calibration),
        x_test=normalise(x_test),
        y_test=y_test,
        labels=names,
        normalization={"mean": [mean], "std": [std], "raw_dtype": x_test.dtype.name},
        input_layouts=layouts_of(model),
    )

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

import numpy as np

from edgekit import stages
from edgekit.compression.run import uncompressed
from edgekit.data import load_representative
from edgekit.errors import InputError, ModelError
from edgekit.registry import get_target
from edgekit.shapes import require_static_input
from edgekit.stages import ArtifactSettings, ModelData

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class ConvertResult:
    """The artifact, where its bundle went, and what was measured on it."""

    bundle: Path
    model_bytes: bytes
    metrics: dict
    target_report: dict


def convert_file(model_path: str | Path, *, target: str, out: str | Path, **options) -> ConvertResult:
    """Convert ``model_path`` for ``target`` and write its bundle under ``out`` (as
    ``out/MODEL``, which must be new, empty or an edgekit bundle: ``edgekit.outputs``)."""
    from edgekit.outputs import OutputFolder

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
) -> ConvertResult:
    """Convert ``model_path`` for ``target`` and write its bundle under ``out``."""
    from edgekit.models import load_model_file

    chosen = get_target(target)
    model = load_model_file(model_path, trust=trust_model)
    input_shape = single_input_shape(model, model_path)
    require_static_input(input_shape, [chosen], where=str(model_path))
    model_data = representative(model, data, input_shape, mean=mean, std=std, labels=labels)
    if model_data.x_calibration is None and chosen.quantization == "int8":
        raise InputError(
            f"target {chosen.label} is full-integer and needs representative data to calibrate",
            hint="pass --data with an .npz (array 'x') or a folder of images of the model's input",
        )
    settings = ArtifactSettings(name=Path(model_path).stem, calibration_samples=calibration_samples)
    scores = stages.float_scores(model, model_data) if model_data.x_test is not None else None
    artifact = stages.convert_for_target(chosen, uncompressed(model), model_data, settings)
    artifact = stages.check_and_package(stages.measure(artifact, model_data, scores, settings), model_data)
    artifact = stages.bundle(artifact, Path(out), model_data, folder="")
    return ConvertResult(bundle=Path(out) / artifact.path, model_bytes=artifact.model_bytes, metrics=dict(artifact.metrics), target_report=dict(artifact.target_report))


def single_input_shape(model, path) -> tuple[int, ...]:
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) != 1:
        raise ModelError(f"{path}: models with {len(shapes)} inputs are not supported by convert yet")
    return tuple(shapes[0][1:])


def representative(model, path: str | Path | None, input_shape, *, mean: float, std: float, labels: list[str] | None) -> ModelData:
    """``--data`` as the stages' ModelData: normalised calibration and test inputs, labels."""
    names = tuple(labels) if labels else tuple(str(i) for i in range(int(np.prod(model.output_shape[1:]))))
    if path is None:
        return ModelData(x_calibration=None, x_test=None, y_test=None, labels=names, normalization={"mean": [mean], "std": [std], "raw_dtype": "float32"})
    x_calibration, x_test, y_test = load_representative(path, input_shape)

    def normalise(x):
        return (x.astype(np.float32) - np.float32(mean)) / np.float32(std)

    return ModelData(
        x_calibration=normalise(x_calibration),
        x_test=normalise(x_test),
        y_test=y_test,
        labels=names,
        normalization={"mean": [mean], "std": [std], "raw_dtype": x_test.dtype.name},
    )

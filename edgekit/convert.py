"""``edgekit convert``: a trained Keras file -> one target's artifact, by post-training quantisation.

The common case of a user who already has a model: no recipe, no training. Representative
data (``--data``) calibrates int8 models and is also what the artifact is measured on:
top-1 agreement with the Keras model for classifiers, output error for everything else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.bundle import write_bundle
from edgekit.images import IMAGE_SUFFIXES, load_image
from edgekit.environment import software_versions
from edgekit.errors import DataError, InputError, ModelError
from edgekit.evaluate import gzip_size, io_description
from edgekit.packaging import check_and_package
from edgekit.registry import get_converter, get_target
from edgekit.runtime import open_model
from edgekit.runtime.latency import measure_latency
from edgekit.shapes import require_static_input, shape_fits

log = logging.getLogger("edgekit")


@dataclass
class ConvertResult:
    """The artifact, where its bundle went, and what was measured on it."""

    bundle: Path
    model_bytes: bytes
    metrics: dict
    target_report: dict


def convert_file(
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
    input_shape = _single_input_shape(model, model_path)
    require_static_input(input_shape, [chosen], where=str(model_path))
    x, y = load_representative(data, input_shape) if data else (None, None)
    if x is None and chosen.quantization == "int8":
        raise InputError(
            f"target {chosen.label} is full-integer and needs representative data to calibrate",
            hint="pass --data with an .npz (array 'x') or a folder of images of the model's input",
        )
    x_model = None if x is None else ((x.astype(np.float32) - np.float32(mean)) / np.float32(std))
    model_bytes = _convert(model, chosen, x_model, calibration_samples)
    metrics = measure_conversion(model, model_bytes, x_model, y)
    name = f"{Path(model_path).stem}-{chosen.label}"
    report, extra = check_and_package(chosen, model_bytes, name=name, x_test=x_model)
    bundle = Path(out) / name
    _write(bundle, name, chosen, model_bytes, metrics, report, extra, labels, mean, std, x)
    return ConvertResult(bundle=bundle, model_bytes=model_bytes, metrics=metrics, target_report=report)


def _single_input_shape(model, path) -> tuple[int, ...]:
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) != 1:
        raise ModelError(f"{path}: models with {len(shapes)} inputs are not supported by convert yet")
    return tuple(shapes[0][1:])


def _convert(model, target, x: np.ndarray | None, samples: int) -> bytes:
    convert_keras = get_converter("keras_tflite")
    kwargs = dict(quantization=target.quantization, options=target.converter_options)
    if target.quantization == "int8":
        kwargs.update(io_dtype=target.artifact_io_dtype, representative_data=x, calibration_samples=samples)
    return convert_keras(model, **kwargs)


def load_representative(path: str | Path, input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """Inputs (and labels when present) from an .npz (``x``, optional ``y``) or an image folder."""
    path = Path(path)
    if path.is_dir():
        x, y = _images(path, input_shape)
    elif path.suffix == ".npz" and path.is_file():
        x, y = _npz(path)
    else:
        raise DataError(f"--data {path}: not found or not an .npz file or a folder of images")
    if x.ndim == len(input_shape) and input_shape[-1] == 1:
        x = x[..., None]
    if not shape_fits(input_shape, x.shape[1:]):
        raise DataError(
            f"--data {path}: samples have shape {tuple(x.shape[1:])} but the model takes {tuple(input_shape)}",
            hint="give data shaped like the model's input (without the batch axis)",
        )
    return x, y


def _npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            key = next((k for k in ("x", "x_test", "specs", "x_train") if k in keys), None)
            if key is None:
                raise DataError(f"--data {path}: no array named 'x' (found {sorted(keys)})")
            label_key = {"x": "y", "x_test": "y_test", "x_train": "y_train"}.get(key)
            y = archive[label_key] if label_key in keys else None
            return archive[key], y
    except (OSError, ValueError) as exc:
        raise DataError(f"--data {path}: cannot read as .npz: {exc}") from exc


def _images(path: Path, input_shape):
    height, width, channels = input_shape
    color = "grayscale" if channels == 1 else "rgb"
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--data {path}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return np.stack([load_image(f, [height, width], color) for f in files]).astype(np.float32), None


def measure_conversion(model, model_bytes: bytes, x: np.ndarray | None, y: np.ndarray | None) -> dict:
    """Size, latency and, with data, agreement with the Keras model on the same inputs."""
    latency = measure_latency(model_bytes, threads=1, runs=30)
    metrics = {
        "bytes": len(model_bytes),
        "gzip_bytes": gzip_size(model_bytes),
        "latency_us": {"p50": latency.p50, "p90": latency.p90, "p99": latency.p99, "threads": 1, "runs": latency.runs},
    }
    if x is None:
        return metrics
    expected = np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)
    actual = open_model(model_bytes).predict(x)
    metrics.update(compare_outputs(expected, actual, y))
    return metrics


def compare_outputs(expected: np.ndarray, actual: np.ndarray, y: np.ndarray | None) -> dict:
    """Agreement for classifiers, error for regressors/autoencoders, accuracy when labelled."""
    expected, actual = expected.reshape(len(expected), -1), actual.reshape(len(actual), -1)
    result = {
        "samples": int(len(expected)),
        "mean_abs_error": round(float(np.mean(np.abs(expected - actual))), 6),
        "max_abs_error": round(float(np.max(np.abs(expected - actual))), 6),
    }
    if expected.shape[1] > 1:
        result["agreement"] = round(float(np.mean(expected.argmax(-1) == actual.argmax(-1))), 5)
        if y is not None and y.ndim == 1:
            result["accuracy"] = round(float(np.mean(actual.argmax(-1) == y)), 5)
    return result


def _write(bundle, name, target, model_bytes, metrics, report, extra, labels, mean, std, x) -> None:
    inputs, outputs = io_description(model_bytes)
    for spec in inputs:
        spec["normalization"] = {"mean": [mean], "std": [std], "raw_dtype": "float32" if x is None else x.dtype.name}
    labels = labels or [str(i) for i in range(int(np.prod(outputs[0]["shape"][1:])))]
    write_bundle(
        bundle,
        model_bytes=model_bytes,
        labels=labels,
        extra_files=extra,
        name=name,
        target=target.name,
        quantization=target.quantization,
        inputs=inputs,
        outputs=outputs,
        versions=software_versions(),
        recipe=None,
        metrics=metrics,
        target_report=report,
    )

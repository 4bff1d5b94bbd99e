"""A verified bundle on the device: raw inputs in, labelled scores out.

Nothing in a bundle is used before every file's sha256 matches the manifest. The manifest
then says everything the device must do around the interpreter: resize and convert images,
normalise ``(raw - mean) / std``, quantise to the input's dtype, dequantise the output and
name the classes. Training applied the same normalisation, so the device applies the
manifest's, never a guess; images are decoded and resized by the same function training used
(``edgekit.runtime.images.load_image``), so a photo on the Pi becomes the array the model learned from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgekit.bundle.manifest import DEVICE_POLICY, file_entry, unzipped_bundle, verify_bundle
from edgekit.errors import BundleError, DataError
from edgekit.runtime.images import IMAGE_SUFFIXES
from edgekit.runtime.interpreter import ModelRunner, TensorSpec, allocate, create_runner, read_model_bytes
from edgekit.runtime.limits import check_npy
from edgekit.vocabulary import COLOR_MODES

__all__ = ["as_batch", "DeviceBundle", "load_input", "open_bundle", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    """One input's top-k classes, best first."""

    source: str
    top: list[tuple[int, str, float]]

    def to_dict(self) -> dict:
        return {"input": self.source, "top": [{"index": i, "label": label, "score": round(score, 6)} for i, label, score in self.top]}


@dataclass
class DeviceBundle:
    """A bundle whose files passed verification, with its model loaded."""

    path: Path
    manifest: dict
    runner: ModelRunner
    engine: Callable[[np.ndarray], np.ndarray] | None = None  # normalised inputs -> first output; None: the runner

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.get("labels") or [])

    @property
    def input_spec(self) -> dict:
        return self.manifest["inputs"][0]

    def preprocess(self, raw: np.ndarray, *, normalized: bool = False) -> np.ndarray:
        """Raw inputs (one or a batch) to normalised float32 batches of the model's shape."""
        batch = as_batch(raw, self.runner.inputs[0])
        if normalized:
            return batch.astype(np.float32)
        norm = self.input_spec.get("normalization") or {"mean": [0.0], "std": [1.0]}
        mean = np.asarray(norm["mean"], dtype=np.float32)
        std = np.asarray(norm["std"], dtype=np.float32)
        return ((batch.astype(np.float32) - mean) / std).astype(np.float32)

    def scores(self, raw: np.ndarray, *, normalized: bool = False) -> np.ndarray:
        """Float class scores for raw inputs: normalise, quantise, invoke, dequantise."""
        x = self.preprocess(raw, normalized=normalized)
        if self.engine:
            scores = self.engine(x)
        else:
            first = self.manifest["outputs"][0].get("name")
            outputs = self.runner.predict_outputs(x, batch_size=32) if len(self.runner.outputs) > 1 else {}
            scores = outputs[first] if first in outputs else self.runner.predict(x, batch_size=32)
        if (self.manifest["outputs"][0].get("kind") or "probabilities") == "logits":
            scores = softmax(scores)
        return scores

    def predict(self, raw: np.ndarray, sources: Sequence[str], *, top_k: int = 3, normalized: bool = False) -> list[Prediction]:
        scores = self.scores(raw, normalized=normalized)
        return [Prediction(source, top_classes(row, self.labels, top_k)) for source, row in zip(sources, scores)]


def open_bundle(
    path: str | Path,
    *,
    threads: int | None = None,
    runtime: str | None = None,
    delegates: Sequence = (),
    default_delegates: bool = True,
    signers=DEVICE_POLICY,
) -> DeviceBundle:
    """Verify every file (and the publisher's signature, when ``signers`` or the device asks
    for one), load the model, and check the manifest agrees with the model.

    A zipped bundle is extracted to a temporary folder only while it is checked and read:
    the interpreter holds the model in memory, so nothing stays on disk.
    """
    path = Path(path)
    options = dict(threads=threads, runtime=runtime, delegates=delegates, default_delegates=default_delegates)
    if path.suffix == ".zip" and path.is_file():
        with unzipped_bundle(path) as root:
            return replace(open_bundle(root, **options, signers=signers), path=path)
    manifest = verify_bundle(path, signers=signers)
    model_name = manifest.get("model", "model.tflite")
    data = read_model_bytes(path / model_name)  # refuses a damaged model before native code sees it
    if file_entry(data) != {k: manifest["files"][model_name].get(k) for k in ("sha256", "bytes")}:
        raise BundleError(f"{path}: {model_name} changed while it was being loaded", hint="copy the bundle again")
    runner = create_runner(data, **options)
    runner.label = str(path)
    allocate(runner)
    check_io_agrees(path, manifest, runner)
    check_input_spec(path, manifest["inputs"][0], runner.inputs[0])
    return DeviceBundle(path, manifest, runner)


def check_io_agrees(path: Path, manifest: dict, runner: ModelRunner) -> None:
    """Refuse a manifest whose input/output description does not match its own model.

    Outputs are matched by name (the signature's, as the manifest lists them in the Keras
    model's order), not by position: the converter orders a model's outputs its own way."""
    for kind, described, actual in (("input", manifest.get("inputs"), runner.inputs), ("output", manifest.get("outputs"), runner.outputs)):
        if not isinstance(described, list) or not described:
            raise BundleError(f"{path}: manifest describes no model {kind}s", hint="rebuild the bundle with 'edgekit build'")
        spec = described[0]
        if not isinstance(spec, dict):
            raise BundleError(f"{path}: manifest {kind}s[0] is not an object", hint="rebuild the bundle with 'edgekit build'")
        if kind == "output":
            actual = [_named_output(runner, spec)]
        quant = spec.get("quantization")
        try:
            want = (spec.get("dtype"), quant and round(float(quant["scale"]), 9), quant and int(quant["zero_point"]))
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{path}: manifest {kind}s[0].quantization needs a numeric 'scale' and 'zero_point'", hint="rebuild the bundle with 'edgekit build'") from None
        have = (actual[0].dtype, round(actual[0].scale, 9) if actual[0].quantized else None, actual[0].zero_point if actual[0].quantized else None)
        if want != have:
            raise BundleError(
                f"{path}: manifest {kind} (dtype, scale, zero point) {want} does not match the model's {have}",
                hint="the manifest was edited or belongs to another model; rebuild the bundle",
            )


def _named_output(runner: ModelRunner, spec: dict) -> TensorSpec:
    """The model's output the manifest entry describes: by signature or tensor name, else the first."""
    named = runner.named_outputs()
    for key in (spec.get("name"), spec.get("tensor")):
        for name, tensor in named:
            if key is not None and key in (name, tensor.name):
                return tensor
    return runner.outputs[0]


def check_input_spec(path: Path, spec: dict, tensor: TensorSpec) -> None:
    """The normalisation and image size the device will apply must be usable as written.

    A hand-edited manifest (std 0, a text mean, a negative height) would otherwise give
    silent nonsense or a crash halfway through the inputs.
    """
    normalization = spec.get("normalization")
    if normalization is not None:
        channels = tensor.shape[-1] if len(tensor.shape) > 1 else 1
        try:
            values = [np.asarray(normalization[key], dtype=np.float32) for key in ("mean", "std")]
        except (KeyError, TypeError, ValueError):
            values = []
        usable = values and all(v.ndim <= 1 and v.size in (1, channels) and np.all(np.isfinite(v)) for v in values)
        if not usable or np.any(values[1] == 0):
            raise BundleError(
                f"{path}: manifest inputs[0].normalization needs finite numbers 'mean' and non-zero 'std' (one, or one per channel)",
                hint="rebuild the bundle with 'edgekit build'",
            )
    image = spec.get("image")
    if image is not None:
        sizes_ok = isinstance(image, dict) and all(type(image.get(k)) is int and image[k] > 0 for k in ("height", "width"))
        if not sizes_ok or image.get("color", "rgb") not in COLOR_MODES:
            raise BundleError(
                f"{path}: manifest inputs[0].image needs positive integers 'height' and 'width' and a 'color' of {' or '.join(COLOR_MODES)}",
                hint="rebuild the bundle with 'edgekit build'",
            )


def as_batch(raw: np.ndarray, spec: TensorSpec, *, source: str = "input") -> np.ndarray:
    """Accept one sample or a batch, with or without the channel axis, in the model's layout."""
    sample_shape = tuple(spec.shape[1:])
    raw = np.asarray(raw)
    if raw.shape == sample_shape:
        return raw[None]
    if raw.shape[1:] == sample_shape:
        if len(raw) == 0:
            raise DataError(f"{source}: holds no samples (shape {raw.shape})", hint="give at least one input")
        return raw
    if sample_shape[-1:] == (1,) and raw.shape[-len(sample_shape) + 1 :] == sample_shape[:-1]:
        return as_batch(raw[..., None], spec, source=source)
    raise DataError(
        f"{source}: shape {raw.shape} does not fit the model's input {sample_shape}",
        hint=f"give arrays of shape {sample_shape} or (N, {', '.join(map(str, sample_shape))})",
    )


def load_input(path: str | Path, image: dict | None) -> np.ndarray:
    """A raw input from an image file (converted and resized as the manifest says) or .npy."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder", hint="pass image or .npy files, e.g. folder/*.png")
    if not path.is_file():
        raise DataError(f"{path}: no such input file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path)
    if suffix in IMAGE_SUFFIXES:
        if not image:
            raise DataError(f"{path}: this model does not take images", hint="pass a .npy array of the model's input shape")
        from edgekit.runtime.images import load_image  # the very function training read images with

        return load_image(path, [int(image["height"]), int(image["width"])], image.get("color", "rgb"))
    raise DataError(f"{path}: unsupported input type {suffix!r}", hint=f"use .npy or an image ({', '.join(IMAGE_SUFFIXES)})")


def _load_npy(path: Path) -> np.ndarray:
    """A raw numeric array; text, objects, NaN or infinity would give meaningless scores."""
    if path.read_bytes()[:6] == b"\x93NUMPY":  # sizes from the header first (an .npz is refused below)
        check_npy(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):  # np.load opens an .npz whatever its name
        array.close()
        raise DataError(f"{path}: an .npz archive, not a .npy array", hint="save one array with numpy.save")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: array of dtype {array.dtype} is not numeric", hint="save raw pixel or feature values")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise DataError(f"{path}: contains NaN or infinite values")
    return array


def top_classes(scores: np.ndarray, labels: Sequence[str], k: int) -> list[tuple[int, str, float]]:
    """The k best (index, label, score), best first; unnamed classes are called by index."""
    order = np.argsort(-scores, kind="stable")[: max(1, k)]
    return [(int(i), labels[i] if i < len(labels) else str(int(i)), float(scores[i])) for i in order]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)

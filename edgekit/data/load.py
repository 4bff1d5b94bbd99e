"""Data sets: the built-in MNIST digits, an ``.npz`` file, or a folder of images.

Raw inputs stay raw (uint8 pixels) in the :class:`Dataset`; normalisation is a property of
the data set that travels into every bundle's manifest, so the device applies exactly what
training applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit.errors import DataError
from edgekit.models.shapes import shape_fits
from edgekit.recipe import DataSpec
from edgekit.runtime.images import IMAGE_SUFFIXES, load_image

__all__ = ["Dataset", "load_dataset", "load_representative"]

MNIST_TRAIN = 8000  # the split every sample and benchmark uses: first 8,000 train, last 2,000 test


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of raw inputs, integer labels, label names and normalisation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    color: str = "grayscale"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs to the float values the model was trained on."""
        return ((np.asarray(x, dtype=np.float32) - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def normalization(self) -> dict:
        """What the device must apply to raw inputs, for the manifest."""
        return {"mean": list(self.mean), "std": list(self.std), "raw_dtype": self.x_train.dtype.name}

    def image_info(self) -> dict | None:
        """Height, width, channels and colour space when inputs are images."""
        if len(self.input_shape) != 3:
            return None
        height, width, channels = self.input_shape
        return {"height": height, "width": width, "channels": channels, "color": self.color}


def load_dataset(spec: DataSpec, *, base_dir: Path = Path("."), channels: int | None = None) -> Dataset:
    """Load the data a recipe names and check shapes, dtypes and labels.

    An image folder is read in ``data.color``, else in the colour of the model's input
    (``channels``: 1 grayscale, 3 RGB), else RGB.
    """
    color = spec.color or ("grayscale" if channels == 1 else "rgb")
    source = spec.source
    if source == "mnist":
        x_train, y_train, x_test, y_test = _mnist()
        labels = [str(i) for i in range(10)]
    else:
        path = Path(source).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            raise DataError(
                f"data source {source!r} not found or not supported: {path} does not exist",
                hint="use 'mnist', an .npz file with x/y arrays, or a folder of images in class subfolders",
            )
        if path.is_dir():
            x, y, labels = _image_folder(path, spec.image_size, color)
            x_train, y_train, x_test, y_test = _split(x, y, spec.test_fraction)
        elif path.suffix == ".npz":
            x_train, y_train, x_test, y_test, labels = _npz(path, spec)
        else:
            raise DataError(
                f"data source {source!r} not found or not supported",
                hint="use 'mnist', an .npz file with x/y arrays, or a folder of images in class subfolders",
            )
    labels = list(spec.labels) if spec.labels else labels
    dataset = Dataset(
        x_train=_channels_last(x_train)[: spec.limit_train],
        y_train=np.asarray(y_train, dtype=np.int64)[: spec.limit_train],
        x_test=_channels_last(x_test)[: spec.limit_test],
        y_test=np.asarray(y_test, dtype=np.int64)[: spec.limit_test],
        labels=tuple(labels),
        mean=_per_channel(spec.mean),
        std=_per_channel(spec.std),
        color=spec.color or ("grayscale" if _channels_last(x_train).shape[-1] == 1 else "rgb"),
    )
    validate_dataset(dataset, name=source)
    return dataset


def validate_dataset(dataset: Dataset, *, name: str) -> None:
    """Refuse data that would train or evaluate nonsense."""
    for split in ("train", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if len(x) == 0:
            raise DataError(f"{name}: the {split} split is empty")
        if len(x) != len(y):
            raise DataError(f"{name}: {len(x)} {split} inputs but {len(y)} labels")
        if x.dtype.kind not in "uif":
            raise DataError(f"{name}: inputs must be numeric, got dtype {x.dtype}")
        if y.min() < 0 or y.max() >= dataset.num_classes:
            raise DataError(
                f"{name}: {split} labels must be integers in 0..{dataset.num_classes - 1}, found {y.min()}..{y.max()}",
                hint="give one label name per class in data.labels, or fix the labels",
            )
    if dataset.x_train.shape[1:] != dataset.x_test.shape[1:]:
        raise DataError(f"{name}: train inputs {dataset.x_train.shape[1:]} and test inputs {dataset.x_test.shape[1:]} differ in shape")
    channels = dataset.input_shape[-1]
    if len(dataset.mean) not in (1, channels) or len(dataset.std) not in (1, channels):
        raise DataError(f"{name}: data.mean/std need 1 or {channels} values (one per channel)")


def _mnist():
    with resources.as_file(resources.files("edgekit.data") / "mnist10k.npz") as path:
        with np.load(path, allow_pickle=False) as archive:
            x, y = archive["x"], archive["y"]
    return x[:MNIST_TRAIN], y[:MNIST_TRAIN], x[MNIST_TRAIN:], y[MNIST_TRAIN:]


def _npz(path: Path, spec: DataSpec):
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                parts = [archive[k] for k in ("x_train", "y_train", "x_test", "y_test")]
            elif {"x", "y"} <= keys:
                parts = list(_split(archive["x"], archive["y"], spec.test_fraction))
            else:
                raise DataError(
                    f"{path}: expected arrays 'x' and 'y' (or x_train/y_train/x_test/y_test), found {sorted(keys)}"
                )
    except (OSError, ValueError, EOFError) as exc:  # also object arrays, which would need pickle
        raise DataError(f"{path}: cannot read as .npz: {exc}", hint="save plain numeric arrays with np.savez") from exc
    num_classes = int(max(parts[1].max(), parts[3].max())) + 1
    return (*parts, [str(i) for i in range(num_classes)])


def _image_folder(path: Path, size: list[int] | None, color: str):
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{path}: no class subfolders", hint="put images in one subfolder per class, e.g. cats/ and dogs/")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(load_image(file, size, color))
                labels.append(label)
    if not images:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class subfolders")
    return np.stack(images), np.asarray(labels), classes


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float):
    """A seeded shuffle, then the last ``test_fraction`` as the test split."""
    if len(x) != len(y):
        raise DataError(f"{len(x)} inputs but {len(y)} labels")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    cut = len(x) - max(1, int(round(len(x) * test_fraction)))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _channels_last(x: np.ndarray) -> np.ndarray:
    """Grayscale images (N, H, W) gain a channel axis; other ranks are kept."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def _per_channel(value) -> tuple[float, ...]:
    return tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else (float(value),)


def load_representative(path: str | Path, input_shape: tuple[int, ...], *, adapt=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Raw (calibration inputs, test inputs, test labels or None) for ``edgekit convert --data``;
    ``adapt`` turns arrays in the model's source layout (NCHW) into the model's own.

    An ``.npz`` with ``x_train`` and ``x_test`` calibrates on the first and is measured on the
    second, like a recipe's data set; one array (``x``, ``x_test``, ``specs`` or ``x_train``,
    with ``y`` labels when present) serves both; a folder of images serves both, unlabelled.
    """
    path = Path(path)
    if path.is_dir():
        x = _images_of_shape(path, input_shape)
        parts = (x, x, None)
    elif path.suffix == ".npz" and path.is_file():
        parts = _representative_npz(path)
    else:
        raise DataError(f"--data {path}: not found or not an .npz file or a folder of images")
    adapt = adapt or (lambda x: x)
    x_calibration, x_test = (_fitted(path, adapt(x), input_shape) for x in parts[:2])
    return x_calibration, x_test, parts[2]


def _representative_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if {"x_train", "x_test"} <= keys:
                return archive["x_train"], archive["x_test"], archive["y_test"] if "y_test" in keys else None
            key = next((k for k in ("x", "x_test", "specs", "x_train") if k in keys), None)
            if key is None:
                raise DataError(f"--data {path}: no array named 'x' (found {sorted(keys)})")
            label_key = {"x": "y", "x_test": "y_test", "x_train": "y_train"}.get(key)
            x = archive[key]
            return x, x, archive[label_key] if label_key in keys else None
    except (OSError, ValueError) as exc:
        raise DataError(f"--data {path}: cannot read as .npz: {exc}") from exc


def _fitted(path: Path, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` with a channel axis where the model wants one, checked against the model's input."""
    if x.ndim == len(input_shape) and input_shape[-1] == 1:
        x = x[..., None]
    if not shape_fits(input_shape, x.shape[1:]):
        raise DataError(
            f"--data {path}: samples have shape {tuple(x.shape[1:])} but the model takes {tuple(input_shape)}",
            hint="give data shaped like the model's input (without the batch axis)",
        )
    if x.dtype.kind not in "uif":
        raise DataError(f"--data {path}: inputs must be numeric, got dtype {x.dtype}")
    return x


def _images_of_shape(path: Path, input_shape) -> np.ndarray:
    height, width, channels = input_shape
    color = "grayscale" if channels == 1 else "rgb"
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--data {path}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return np.stack([load_image(f, [height, width], color) for f in files]).astype(np.float32)

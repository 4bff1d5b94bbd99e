"""Data sources: built-in MNIST, .npz files, image folders, and their errors."""

import numpy as np
import pytest

from edgekit.data.load import load_dataset
from edgekit.errors import DataError
from edgekit.recipe import DataSpec


def test_builtin_mnist_split():
    ds = load_dataset(DataSpec(source="mnist"))
    assert ds.x_train.shape == (8000, 28, 28, 1) and ds.x_test.shape == (2000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8 and ds.labels == tuple(str(i) for i in range(10))
    normalised = ds.normalize(ds.x_test[:5])
    assert normalised.dtype == np.float32 and 0.0 <= normalised.min() and normalised.max() <= 1.0


def test_npz_with_x_and_y_is_split(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 255, (50, 8, 8), dtype=np.uint8), y=rng.integers(0, 3, 50))
    ds = load_dataset(DataSpec(source="d.npz", test_fraction=0.2), base_dir=tmp_path)
    assert len(ds.x_train) == 40 and len(ds.x_test) == 10 and ds.input_shape == (8, 8, 1)


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((3, 2, 2)))
    with pytest.raises(DataError, match="expected arrays 'x' and 'y'.*images"):
        load_dataset(DataSpec(source="d.npz"), base_dir=tmp_path)


def test_labels_out_of_range(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 2, 2, 1)), y_train=np.array([0, 1, 2, 3]), x_test=np.zeros((2, 2, 2, 1)), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match="labels must be integers in 0..1"):
        load_dataset(DataSpec(source="d.npz", labels=["a", "b"]), base_dir=tmp_path)


def test_mismatched_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 2, 2, 1)), y_train=np.array([0, 1]), x_test=np.zeros((2, 2, 2, 1)), y_test=np.array([0, 1]))
    with pytest.raises(DataError, match="4 train inputs but 2 labels"):
        load_dataset(DataSpec(source="d.npz"), base_dir=tmp_path)


def test_corrupt_npz(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read as .npz"):
        load_dataset(DataSpec(source="d.npz"), base_dir=tmp_path)


def test_image_folder(tmp_path):
    from PIL import Image

    for label, value in (("cat", 30), ("dog", 220)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 16), (value, value, value)).save(tmp_path / "imgs" / label / f"{i}.png")
    ds = load_dataset(DataSpec(source="imgs", image_size=[8, 8], color="rgb", mean=127.5, std=127.5, test_fraction=0.2), base_dir=tmp_path)
    assert ds.labels == ("cat", "dog") and ds.input_shape == (8, 8, 3)
    assert len(ds.x_train) == 8 and len(ds.x_test) == 2


def test_empty_image_folder(tmp_path):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset(DataSpec(source="imgs"), base_dir=tmp_path)


def test_unknown_source():
    with pytest.raises(DataError, match="not found or not supported"):
        load_dataset(DataSpec(source="cifar10"))

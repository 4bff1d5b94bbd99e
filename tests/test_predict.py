"""``edgekit predict`` and the verified-bundle loader, on bundles built by ``edgekit build``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from edgekit.errors import BundleError, DataError
from edgekit.runtime.bundle import open_bundle
from tests.conftest import REPO, TINY_TEST, edgekit_command
from tests.device_bundles import tiny_bundles


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return tiny_bundles(tmp_path_factory)


@pytest.fixture(scope="module")
def raw_test_digits():
    """The raw uint8 test digits the build measured accuracy on, and their labels."""
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec

    ds = load_dataset(DataSpec(source="mnist", limit_test=TINY_TEST))
    return ds.x_test, ds.y_test


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_device_path_reproduces_the_build_time_accuracy(bundles, raw_test_digits, kind):
    """Raw pixels -> manifest normalisation -> quantise -> invoke -> dequantise gives exactly the
    accuracy the build measured on the same digits: the device applies what training applied."""
    loaded = open_bundle(bundles[kind])
    x, y = raw_test_digits
    accuracy = float(np.mean(loaded.scores(x).argmax(-1) == y))
    assert accuracy == pytest.approx(loaded.manifest["metrics"]["accuracy"], abs=1e-5)


def test_png_and_jpeg_are_converted_and_resized_as_the_manifest_says(bundles, raw_test_digits, tmp_path):
    from PIL import Image

    x, _ = raw_test_digits
    Image.fromarray(x[0, ..., 0]).save(tmp_path / "digit.png")
    Image.fromarray(x[1, ..., 0]).convert("RGB").resize((84, 84), Image.BILINEAR).save(tmp_path / "big.jpg", quality=95)
    loaded = open_bundle(bundles["int8"])
    expected = loaded.scores(x[:2]).argmax(-1)
    result = cli("predict", str(bundles["int8"]), str(tmp_path / "digit.png"), str(tmp_path / "big.jpg"), "--json", "-k", "2")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["runtime"]["name"] == "ai_edge_litert" and document["runtime"]["version"]
    tops = [p["top"] for p in document["predictions"]]
    assert [len(t) for t in tops] == [2, 2]
    assert tops[0][0]["index"] == expected[0]  # the PNG is the very array: same answer
    assert tops[1][0]["index"] == expected[1]  # 84x84 RGB JPEG -> 28x28 grayscale: still the digit
    assert all(t[0]["score"] >= t[1]["score"] and t[0]["label"] == str(t[0]["index"]) for t in tops)


def test_npy_batch_prints_one_line_per_sample(bundles, raw_test_digits, tmp_path):
    x, _ = raw_test_digits
    np.save(tmp_path / "batch.npy", x[:4, ..., 0])  # (N, H, W): the channel axis is implied
    result = cli("predict", str(bundles["float32"]), str(tmp_path / "batch.npy"), "-k", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{tmp_path / 'batch.npy'}[{i}]" for i in range(4)]
    assert "ai_edge_litert" in result.stderr  # the backend and its version are reported


def test_normalized_flag_skips_the_manifest_normalisation(bundles, raw_test_digits, tmp_path):
    x, _ = raw_test_digits
    loaded = open_bundle(bundles["float32"])
    normalized = x[:3].astype(np.float32) / 255.0
    assert np.allclose(loaded.scores(normalized, normalized=True), loaded.scores(x[:3]), atol=1e-6)


def test_tampered_bundle_is_refused_with_one_line(bundles, raw_test_digits, tmp_path):
    bundle = shutil.copytree(bundles["int8"], tmp_path / "bundle")
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "model.tflite").write_bytes(bytes(data))
    np.save(tmp_path / "x.npy", raw_test_digits[0][0])
    result = cli("predict", str(bundle), str(tmp_path / "x.npy"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bundle}: model.tflite does not match its sha256 in the manifest (tampered or corrupted) (rebuild or re-copy the bundle)"
    ]
    verified = cli("verify", str(bundle))
    assert verified.returncode == 2 and "does not match its sha256" in verified.stderr


def test_verify_accepts_intact_bundles(bundles):
    result = cli("verify", str(bundles["float32"]), str(bundles["int8"]))
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ok:", "ok:"]


def test_manifest_quantisation_must_match_the_model(bundles, tmp_path):
    bundle = shutil.copytree(bundles["int8"], tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["inputs"][0]["quantization"]["scale"] *= 2
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="does not match the model's"):
        open_bundle(bundle)


def test_extra_file_in_bundle_is_refused(bundles, tmp_path):
    bundle = shutil.copytree(bundles["int8"], tmp_path / "bundle")
    (bundle / "payload.sh").write_text("echo hi\n")
    with pytest.raises(BundleError, match="files not in the manifest: payload.sh"):
        open_bundle(bundle)


def test_bad_inputs_get_clear_errors(bundles, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((5, 5), np.uint8))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cases = {
        "wrong.npy": "wrong.npy: shape (5, 5) does not fit the model's input (28, 28, 1)",
        "notes.txt": "unsupported input type '.txt'",
        "broken.png": "broken.png: cannot read image",
        "missing.npy": "missing.npy: no such input file",
    }
    for name, message in cases.items():
        result = cli("predict", str(bundles["int8"]), str(tmp_path / name))
        assert result.returncode == 2, name
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_zipped_bundle_predicts_like_its_folder_and_leaves_nothing(bundles, raw_test_digits, tmp_path, monkeypatch):
    import tempfile

    from edgekit.bundle.archive import zip_folder

    archive = zip_folder(bundles["int8"], tmp_path / "bundle.zip")
    monkeypatch.setattr(tempfile, "tempdir", str((tmp_path / "tmp").resolve()))
    (tmp_path / "tmp").mkdir()
    zipped = open_bundle(archive)
    x = raw_test_digits[0][:20]
    assert zipped.path == archive
    assert np.array_equal(zipped.scores(x), open_bundle(bundles["int8"]).scores(x))
    assert list((tmp_path / "tmp").iterdir()) == []  # extracted only while verified and read


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="not a bundle"):
        open_bundle(tmp_path)


def test_runtime_flag_forces_a_backend(bundles, raw_test_digits):
    """--runtime tensorflow uses tf.lite (same kernels, same answers); an absent one says so."""
    from edgekit.errors import ToolError

    x = raw_test_digits[0][:20]
    litert = open_bundle(bundles["int8"], runtime="ai_edge_litert")
    tf_lite = open_bundle(bundles["int8"], runtime="tensorflow")
    assert (litert.runner.backend.name, tf_lite.runner.backend.name) == ("ai_edge_litert", "tensorflow")
    assert np.array_equal(litert.scores(x).argmax(-1), tf_lite.scores(x).argmax(-1))
    try:
        import tflite_runtime  # noqa: F401
    except ImportError:
        with pytest.raises(ToolError, match="tflite_runtime: ModuleNotFoundError"):
            open_bundle(bundles["int8"], runtime="tflite_runtime")


def test_data_error_for_image_into_non_image_model(bundles, tmp_path):
    from edgekit.runtime.bundle import load_input

    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="does not take images"):
        load_input(tmp_path / "a.png", None)

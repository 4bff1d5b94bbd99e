"""Resource budgets: inputs built to exhaust memory are refused from what they declare.

The bad-input table runs the issue's probes (a TILE model to 2^31 floats, declared and hidden,
20000 x 20000 and 12000 x 12000 PNGs, a .npy header claiming 713 TiB, zips writing more than
they list); here the budgets themselves, and a real MemoryError as one line and exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import BundleError, DataError, InputError
from tests.conftest import REPO


def test_the_memory_budget_reads_its_variable(monkeypatch):
    from edgekit.runtime.limits import memory_cap, parse_size

    assert parse_size("512M", "X") == 512 * 1024**2 and parse_size("2GiB", "X") == 2 * 1024**3 and parse_size("4096", "X") == 4096
    monkeypatch.setenv("EDGEKIT_MAX_MEMORY", "0")
    assert memory_cap() is None
    monkeypatch.delenv("EDGEKIT_MAX_MEMORY")
    assert 0 < memory_cap() <= 4 * 1024**3
    with pytest.raises(InputError, match="not a size"):
        parse_size("lots", "EDGEKIT_MAX_MEMORY")


def test_declared_tensors_are_counted(tiny_tflite, monkeypatch):
    from edgekit.errors import ModelError
    from edgekit.runtime.limits import check_tensor_memory, tensor_bytes
    from edgekit.tflite.graph import read_tflite

    graph = read_tflite(tiny_tflite["float32"])
    needed = tensor_bytes(graph)
    assert 0 < needed < 1024**2  # activations of a 28x28 CNN, weights are in the file
    monkeypatch.setenv("EDGEKIT_MAX_MEMORY", str(needed - 1))
    with pytest.raises(ModelError, match="more than the memory budget"):
        check_tensor_memory(graph, "tiny.tflite")
    monkeypatch.setenv("EDGEKIT_MAX_MEMORY", str(needed))
    check_tensor_memory(graph, "tiny.tflite")


def test_npy_headers_are_checked_against_file_and_budget(tmp_path, monkeypatch):
    from edgekit.runtime.limits import check_npy

    np.save(tmp_path / "ok.npy", np.zeros((64, 64), np.float32))
    check_npy(tmp_path / "ok.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:-10])
    with pytest.raises(DataError, match="its header declares 16.0 KiB of data but the file holds"):
        check_npy(tmp_path / "short.npy")
    monkeypatch.setenv("EDGEKIT_MAX_MEMORY", "1K")
    with pytest.raises(DataError, match="more than the memory budget of 1.0 KiB"):
        check_npy(tmp_path / "ok.npy")


def test_image_pixels_are_checked_from_the_header(tmp_path, monkeypatch):
    from PIL import Image

    from edgekit.runtime.images import load_image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    monkeypatch.setenv("EDGEKIT_MAX_IMAGE_PIXELS", "783")
    with pytest.raises(DataError, match=r"28 x 28 pixels \(784\) is more than the limit of 783"):
        load_image(tmp_path / "digit.png", [28, 28], "grayscale")
    monkeypatch.setenv("EDGEKIT_MAX_IMAGE_PIXELS", "784")
    assert load_image(tmp_path / "digit.png", [28, 28], "grayscale").shape == (28, 28, 1)


def test_a_zipped_bundle_extracts_only_what_its_manifest_lists(tmp_path, tiny_tflite):
    from edgekit.bundle.archive import extract_bundle, zip_folder
    from edgekit.bundle.manifest import parse_manifest
    from edgekit.bundle.write import write_bundle

    write_bundle(tmp_path / "b", model_bytes=tiny_tflite["int8"], labels=["a"], name="b", target="cpu", quantization="int8",
                 inputs=[], outputs=[], versions={}, recorded_recipe=None, metrics={})  # fmt: skip
    archive = zip_folder(tmp_path / "b", tmp_path / "b.zip")
    root = extract_bundle(archive, tmp_path / "out", parse=parse_manifest)
    assert sorted(p.name for p in root.iterdir()) == ["labels.txt", "manifest.json", "model.tflite"]
    with zipfile.ZipFile(archive, "a") as extra:
        extra.writestr("b/payload.sh", "echo\n")
    with pytest.raises(BundleError, match="files not in the manifest: payload.sh"):
        extract_bundle(archive, tmp_path / "out2", parse=parse_manifest)
    assert not (tmp_path / "out2").exists()


MEMORY_HUNGRY = """
import resource, sys
import numpy as np
import edgekit.cli, edgekit.commands.predict, edgekit.runtime.bundle, ai_edge_litert.interpreter
used = int(open("/proc/self/status").read().split("VmData:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_DATA, (used + 64 * 1024**2, resource.RLIM_INFINITY))
sys.argv = ["edgekit", "predict", sys.argv[1], sys.argv[2]]
from edgekit.cli import main
main(sys.argv[1:])
"""


def test_a_memory_error_is_one_line_and_exit_2(tmp_path, tiny_tflite):
    """A real MemoryError (the process's memory capped below what a valid 128 MB array needs)."""
    from edgekit.bundle.write import write_bundle
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(tiny_tflite["int8"])
    write_bundle(tmp_path / "b", model_bytes=tiny_tflite["int8"], labels=[str(i) for i in range(10)], name="b", target="cpu",
                 quantization="int8", inputs=inputs, outputs=outputs, versions={}, recorded_recipe=None, metrics={})  # fmt: skip
    big = tmp_path / "big.npy"
    np.lib.format.open_memmap(big, mode="w+", dtype=np.uint8, shape=(160_000, 28, 28, 1)).flush()  # 125 MB, sparse on disk
    env = dict(os.environ, PYTHONPATH=str(REPO), EDGEKIT_MAX_MEMORY="0")
    result = subprocess.run([sys.executable, "-c", MEMORY_HUNGRY, str(tmp_path / "b"), str(big)], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: out of memory")
    assert Path(big).stat().st_size > 100 * 1024**2

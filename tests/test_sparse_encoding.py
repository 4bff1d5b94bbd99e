"""Sparse encoding is measured: what ships always runs under XNNPACK, and the report says why."""

import pytest

from edgekit.compression import Prune
from edgekit.compression.run import run_compression
from edgekit.compression.sparse_encoding import sparse_optimizations, try_sparse
from edgekit.converters.keras_tflite import convert_keras
from edgekit.runtime import open_model
from edgekit.runtime.inspect import weight_sparsity
from edgekit.training.train import TrainData


@pytest.fixture(scope="module")
def pruned(tiny_model, mnist_small):
    x, y, _, _ = mnist_small
    return run_compression(tiny_model, [Prune(sparsity=0.8, epochs=2, learning_rate=1e-3)], TrainData(x, y, batch_size=32)).float_model


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_shipped_bytes_always_run_and_the_report_says_what_happened(pruned, mnist_small, quantization):
    x, _, x_test, _ = mnist_small
    options = {"io_dtype": "int8", "representative_data": x, "calibration_samples": 50} if quantization == "int8" else {}
    dense = convert_keras(pruned, quantization=quantization, **options)
    convert = lambda: convert_keras(pruned, quantization=quantization, options={"optimizations": sparse_optimizations(quantization)}, **options)  # noqa: E731
    shipped, report = try_sparse(dense, convert, quantization=quantization, x=x_test[:50], latency_runs=5)
    open_model(shipped).predict(x_test[:5])  # whatever ships loads and runs with the default delegates
    assert report["tried"] and report["note"]
    assert report["bytes_sparse"] < report["bytes_dense"]  # the encoding itself does shrink the file
    if not report["runs"]:
        assert shipped is dense and "fails under XNNPACK" in report["note"]
    else:
        assert report["agreement"] == 1.0
        assert report["shipped"] == (shipped is not dense)
        assert ("runs faster" in report["note"]) == report["faster"]
    # sparsity is measured on the shipped file, encoded or not
    assert weight_sparsity(open_model(shipped, default_delegates=False)) == pytest.approx(0.8, abs=0.01)


def test_on_this_build_sparse_int8_fails_under_xnnpack(pruned, mnist_small):
    """The finding the issue describes; if a TF upgrade fixes it, this test says so."""
    x, _, x_test, _ = mnist_small
    options = {"io_dtype": "int8", "representative_data": x, "calibration_samples": 50}
    dense = convert_keras(pruned, quantization="int8", **options)
    convert = lambda: convert_keras(pruned, quantization="int8", options={"optimizations": sparse_optimizations("int8")}, **options)  # noqa: E731
    _, report = try_sparse(dense, convert, quantization="int8", x=x_test[:20], latency_runs=5)
    assert report["runs"] is False and report["shipped"] is False

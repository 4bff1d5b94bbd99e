"""LUT compression of mcu artifacts, in the real tflite_micro interpreter (DECODE kernels).

The model is tiny and clustered by hand so the tests know what must compress: a conv kernel
with 8 values per output channel (per-channel quantised) and a dense kernel with 16 values in
all whose rows each use a different 6 of them (per-tensor quantised, as the mcu converter
options make every dense kernel).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from edgekit.errors import BudgetError
from edgekit.target import PackageInput
from edgekit.targets import _lut, _tflm
from edgekit.targets.mcu import MCU
from edgekit.tflite.graph import read_tflite
from edgekit.tflite.verify import verify_tflite

DENSE_SHAPE = (32, 392)
CONV_SHAPE = (8, 3, 3, 1)


@pytest.fixture(scope="module")
def clustered():
    """(int8 model bytes, float test inputs) of a hand-clustered conv + dense model."""
    from edgekit._compat import keras
    from edgekit.converters.keras_tflite import convert_keras

    layers, rng = keras().layers, np.random.default_rng(0)
    model = keras().Sequential(
        [layers.Input((14, 14, 1)), layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(10)]
    )
    conv, dense = model.layers[0], model.layers[3]
    kernel, bias = conv.get_weights()
    for c in range(kernel.shape[-1]):
        kernel[..., c] = rng.normal(size=8)[rng.integers(0, 8, size=kernel[..., c].shape)]
    conv.set_weights([kernel, bias])
    kernel, bias = dense.get_weights()
    values = np.linspace(-0.2, 0.2, 16)
    for unit in range(kernel.shape[1]):
        subset = rng.choice(16, size=6, replace=False)
        kernel[:, unit] = values[subset[rng.integers(0, 6, size=kernel.shape[0])]]
    dense.set_weights([kernel, bias])
    x = rng.uniform(0, 1, size=(120, 14, 14, 1)).astype(np.float32)
    int8 = convert_keras(model, quantization="int8", io_dtype="int8", representative_data=x[:60], calibration_samples=60, options=MCU.converter_options)
    return int8, x[60:]


@pytest.fixture(scope="module")
def built(clustered):
    model, x = clustered
    return MCU.package(model, PackageInput(name="clustered", x_test=x, options=MCU.options))


def _tensor(graph, shape):
    return next(t for t in graph.main.tensors if t.shape == shape and graph.is_constant(t))


def _tflm_outputs(model: bytes, x: np.ndarray, arena: int, *, like: bytes) -> np.ndarray:
    """TFLM's raw outputs for float inputs quantised as the plain model ``like`` takes them."""
    from edgekit.runtime import open_model
    from edgekit.runtime.interpreter import quantize

    q = quantize(x, open_model(like, default_delegates=False).inputs[0])
    return _tflm.run(_tflm.load(model, arena), q)


def test_tables_follow_the_values_and_the_quantization(clustered):
    graph = read_tflite(clustered[0])
    choices = {c.shape: c for c in _lut.choose(graph)}
    dense, conv = choices[DENSE_SHAPE], choices[CONV_SHAPE]
    assert (dense.axis, dense.values, dense.bits) == (None, 16, 4)  # one scale: one table, 16 values -> 4 bits
    assert (conv.axis, conv.bits) == (0, 3)  # per-channel scales along axis 0: a table per channel, 8 values
    assert dense.candidate and not conv.candidate and "no flash saved" in conv.reason  # 72 bytes are not worth a table


def test_the_shipped_model_is_smaller_and_bit_identical_in_tflm(built, clustered):
    model, x = clustered
    details = built.details
    shipped = built.files["mcu/clustered_mcu.tflite"]
    assert details["flash_bytes"] == len(shipped) < details["flash_bytes_uncompressed"] == len(model)
    assert details["lut_compressed_tensors"] == 1 and details["lut_flash_saved_bytes"] == len(model) - len(shipped)
    expected = _tflm_outputs(model, x, _tflm.measure_arena(model).total, like=model)
    np.testing.assert_array_equal(_tflm_outputs(shipped, x, details["arena_bytes"], like=model), expected)  # within its reported arena
    assert not _tflm.works(shipped, details["arena_bytes"] - 16)
    assert details["tflm_shipped_identical_samples"] == len(x)


def test_flash_before_and_after_per_tensor(built):
    (dense,) = [t for t in built.details["lut_tensors"] if "bytes_after" in t]
    assert dense["shape"] == list(DENSE_SHAPE) and dense["bits"] == 4 and dense["tables"] == "per tensor"
    count = DENSE_SHAPE[0] * DENSE_SHAPE[1]
    assert dense["bytes_before"] == count
    assert dense["bytes_after"] == count // 2 + _lut.DCM_BYTES + 16  # 4-bit indices, header, 16 int8 values
    left = [t for t in built.details["lut_tensors"] if "bytes_after" not in t]
    assert left and all(t["reason"] for t in left)
    assert built.details["lut_arena_added_bytes"] > 0  # the decoded kernel lives in the arena while FC runs


def test_c_array_resolver_and_note_describe_the_compressed_model(built):
    shipped = built.files["mcu/clustered_mcu.tflite"]
    source = built.files["mcu/model_data.cc"].decode()
    assert f"g_model_data_len = {len(shipped)};" in source
    header = built.files["mcu/op_resolver.h"].decode()
    assert "resolver.AddDecode()" in header and "TFLM_DECODE" in header
    note = built.files["mcu/README.md"].decode()
    assert f"kTensorArenaSize = {built.details['arena_bytes']};" in note and "AddDecode()" in note and "SetDecompressionMemory" in note
    report = MCU.check(verify_tflite(shipped).data)  # what `edgekit inspect mcu/clustered_mcu.tflite -t mcu` does
    assert report.runnable and {p.op: p.placement for p in report.ops}["TFLM_DECODE"] == "tflm"


def test_decode_kernel_reads_channels_from_the_quantization(clustered):
    """Why tables follow the quantization: this tflite-micro's DECODE kernel takes the channel
    count from the tensor's scales, not from the axis the compressor writes. Per-channel
    tables on a per-tensor kernel whose rows hold different values come out wrong, and so does
    one table for a per-channel conv kernel; the layout :func:`_lut.choose` picks is exact."""
    model, x = clustered
    graph = read_tflite(model)
    expected = _tflm_outputs(model, x, 1 << 20, like=model)
    dense = next(c for c in _lut.choose(graph) if c.shape == DENSE_SHAPE)
    conv = next(c for c in _lut.choose(graph) if c.shape == CONV_SHAPE)
    cases = {
        "dense per tensor": (dense, True),
        "dense per channel": (replace(dense, axis=0, values=6, bits=3), False),
        "conv per channel": (replace(conv, reason=""), True),
        "conv per tensor": (replace(conv, axis=None, values=len(np.unique(graph.constant(_tensor(graph, CONV_SHAPE)))), bits=7, reason=""), False),
    }
    for label, (choice, exact) in cases.items():
        compressed = _lut.compress(model, [choice])
        same = np.array_equal(_tflm_outputs(compressed, x, 1 << 20, like=model), expected)
        mismatch = _lut.decoded_values_match(compressed, graph, [choice.name])
        assert same == exact and (not mismatch) == exact, label


def test_a_ram_budget_keeps_the_arena_small(clustered, built):
    model, x = clustered
    budget_kb = (built.details["arena_bytes_uncompressed"] + 1024) / 1024  # room for the plain model, not the decoded kernel
    target = MCU.variant(ram_kb=budget_kb)
    result = target.package(model, PackageInput(name="clustered", x_test=x, options=target.options))
    assert result.details["lut_compressed_tensors"] == 0 and result.details["flash_bytes"] == len(model)
    (dense,) = [t for t in result.details["lut_tensors"] if t["shape"] == list(DENSE_SHAPE)]
    assert "ram_kb" in dense["reason"]
    assert "mcu/clustered_mcu.tflite" not in result.files


def test_compression_can_bring_a_model_within_its_flash_budget(clustered, built):
    model, x = clustered
    target = MCU.variant(flash_kb=(built.details["flash_bytes"] + 100) / 1024)
    assert len(model) > target.options["flash_kb"] * 1024
    assert target.package(model, PackageInput(name="clustered", x_test=x, options=target.options)).details["flash_bytes"] == built.details["flash_bytes"]
    # Above what the model needs at the least (checked before TFLM), below what ships:
    tight = MCU.variant(flash_kb=(built.details["flash_bytes"] - 100) / 1024)
    assert built.details["flash_bytes_at_least"] < tight.options["flash_kb"] * 1024
    with pytest.raises(BudgetError, match=re.escape(f"{built.details['flash_bytes']:,} bytes")):
        tight.package(model, PackageInput(name="clustered", x_test=x, options=tight.options))


def test_encoded_tensors_carry_no_stale_quantization(clustered):
    """tflite-micro's editor leaves a per-channel kernel's 8 scales on its flat uint8 indices;
    edgekit drops them, so `edgekit inspect` reads the shipped file as sound."""
    model, _ = clustered
    conv = next(c for c in _lut.choose(read_tflite(model)) if c.shape == CONV_SHAPE)
    compressed = read_tflite(verify_tflite(_lut.compress(model, [replace(conv, reason="")])).data)
    (decode,) = [op for _, op in compressed.operators() if op.name == _lut.DECODE_OP]
    encoded = compressed.main.tensors[decode.inputs[0]]
    assert encoded.dtype == "uint8" and encoded.quantization is None
    assert compressed.main.tensors[decode.outputs[0]].quantization.per_channel


def test_labels_give_the_accuracy_of_the_shipped_model_in_tflm(tiny_tflite, mnist_small):
    _, _, x, y = mnist_small
    model = tiny_tflite["int8"]
    result = MCU.package(model, PackageInput(name="tiny", x_test=x, y_test=y, options=MCU.options))
    outputs = _tflm_outputs(model, x, result.details["arena_bytes"], like=model)
    assert result.details["tflm_accuracy"] == round(float(np.mean(outputs.argmax(-1) == y)), 5) > 0.5
    assert "tflm_accuracy" not in MCU.package(model, PackageInput(name="tiny", x_test=x, options=MCU.options)).details

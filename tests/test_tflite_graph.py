"""The flatbuffer reader agrees with the LiteRT interpreter, and refuses damaged files cleanly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.errors import ModelError
from edgekit.runtime import open_model
from edgekit.tflite.graph import read_tflite
from tests.conftest import mlperf_path

REPO = Path(__file__).resolve().parents[1]


def test_schema_tables_match_the_installed_litert_schema():
    if importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("ai_edge_litert is not installed")
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import gen_tflite_schema
    finally:
        sys.path.remove(str(Path(__file__).parent))
    generated = gen_tflite_schema.generate(gen_tflite_schema.load_schema_module())
    assert generated == (REPO / "edgekit" / "tflite" / "_schema.py").read_text(), (
        "edgekit/tflite/_schema.py is stale: python tests/gen_tflite_schema.py > edgekit/tflite/_schema.py"
    )


def _agrees_with_interpreter(model_bytes: bytes) -> None:
    graph = read_tflite(model_bytes)
    runner = open_model(model_bytes, default_delegates=False)
    assert [op.name for op in graph.main.operators] == runner.op_names()
    details = {d["index"]: d for d in runner.interpreter.get_tensor_details()}
    for tensor in graph.main.tensors:
        detail = details[tensor.index]
        assert tensor.name == detail["name"]
        assert list(tensor.shape_signature) == list(detail["shape_signature"])
        assert tensor.dtype == np.dtype(detail["dtype"]).name
        if tensor.quantization and not tensor.quantization.per_channel:
            assert tensor.quantization.scale[0] == pytest.approx(detail["quantization"][0])
            assert tensor.quantization.zero_point[0] == detail["quantization"][1]
    for spec, index in zip(runner.inputs, graph.main.inputs):
        assert spec.index == index


@pytest.mark.parametrize("mode", ["float32", "float16", "dynamic", "int8"])
def test_reader_agrees_with_interpreter_on_tiny_models(tiny_tflite, mode):
    _agrees_with_interpreter(tiny_tflite[mode])


@pytest.mark.parametrize("name", ["ic/pretrainedResnet_quant.tflite", "kws/kws_ref_model.tflite", "sww/str_ww_ref_model.tflite"])
def test_reader_agrees_with_interpreter_on_third_party_models(name):
    _agrees_with_interpreter(mlperf_path(*name.split("/")).read_bytes())


def test_options_and_constants(tiny_tflite):
    model = tiny_tflite["int8"]
    graph = read_tflite(model)
    conv = next(op for op in graph.main.operators if op.name == "CONV_2D")
    assert conv.options_type == "Conv2DOptions"
    assert conv.fused_activation == "RELU" and conv.options["padding"] in ("SAME", "VALID")
    assert conv.options["stride_w"] >= 1
    weights = graph.main.tensors[conv.inputs[1]]
    assert graph.is_constant(weights) and weights.quantization.per_channel
    runner = open_model(model, default_delegates=False)
    np.testing.assert_array_equal(graph.constant(weights), runner.interpreter.get_tensor(weights.index))
    assert graph.constant(graph.main.tensors[graph.main.inputs[0]]) is None
    assert graph.op_counts()["CONV_2D"] == 2
    assert graph.signatures == ("serving_default",)


def test_path_and_missing_file(tmp_path, tiny_tflite):
    path = tmp_path / "m.tflite"
    path.write_bytes(tiny_tflite["float32"])
    assert read_tflite(path).size == len(tiny_tflite["float32"])
    with pytest.raises(ModelError, match="no such model file"):
        read_tflite(tmp_path / "missing.tflite")


def test_not_a_tflite_file():
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_tflite(b"PK\x03\x04 a zip file, not a model")


def test_truncated_file_is_a_model_error(tiny_tflite):
    data = tiny_tflite["float32"]
    for cut in (9, 64, len(data) // 2, len(data) - 1):
        with pytest.raises(ModelError, match="malformed TFLite flatbuffer"):
            read_tflite(data[:cut])


def test_out_of_range_root_offset():
    with pytest.raises(ModelError, match="outside the file"):
        read_tflite(b"\xff\xff\xff\x7fTFL3" + bytes(8))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_damaged_bytes_parse_or_raise_model_error(tiny_tflite, position, value):
    """A flipped byte anywhere either still parses or raises ModelError, never anything else."""
    data = bytearray(tiny_tflite["int8"])
    spans = read_tflite(bytes(data)).buffers
    structure = [i for i in range(len(data)) if not any(start <= i < end for start, end in spans)]
    data[structure[position % len(structure)]] = value  # tables, vtables, offsets: not weights
    try:
        read_tflite(bytes(data))
    except ModelError:
        pass

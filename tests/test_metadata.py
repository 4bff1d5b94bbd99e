"""TFLite metadata packing: read back by readers edgekit did not write, predictions untouched.

The independent readers come from mediapipe's and tflite-support's wheels (see
tests/independent_readers.py); tflite-support also provides the official MetadataPopulator the
packing is compared with.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import struct
import zipfile

import numpy as np
import pytest

from edgekit.converters import metadata as md
from edgekit.converters._generated import tflite_model_root_py_generated as excerpt
from edgekit.converters.metadata import ImageClassifierMetadata, associated_files, attach_metadata, read_metadata
from edgekit.errors import InputError, ModelError
from edgekit.runtime import open_model
from tests.independent_readers import independent_read, mediapipe_readers, tflite_support_metadata

LABELS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MODES = ("float32", "int8")


def describe(mode: str, **changes) -> ImageClassifierMetadata:
    fields = dict(
        name="Tiny digits",
        description="Classifies a 28x28 grayscale digit.",
        version="1.2.0",
        author="edgekit tests",
        license="Apache-2.0",
        labels=LABELS,
        mean=(0.0,),
        std=(255.0,),
        color_space="grayscale",
        input_dtype="int8" if mode == "int8" else "float32",
        output_dtype="int8" if mode == "int8" else "float32",
        input_description="A 28x28 grayscale image, raw pixels 0..255 normalised as (pixel - mean) / std.",
        output_description="Probabilities of the 10 labels.",
    )
    fields.update(changes)
    return ImageClassifierMetadata(**fields)


@pytest.fixture(scope="module")
def packed(tiny_tflite):
    return {mode: attach_metadata(tiny_tflite[mode], describe(mode)) for mode in MODES}


@pytest.fixture(scope="module")
def mediapipe():
    return mediapipe_readers()


@pytest.fixture(scope="module")
def tflite_support():
    return tflite_support_metadata()


@pytest.mark.parametrize("mode", MODES)
def test_independent_reader_returns_every_field(packed, mediapipe, mode):
    meta_schema, model_schema = mediapipe
    expected = describe(mode)
    found = independent_read(packed[mode], meta_schema, model_schema)
    assert found == {
        "name": expected.name,
        "description": expected.description,
        "version": expected.version,
        "author": expected.author,
        "license": expected.license,
        "min_parser_version": "1.0.0",
        "input_name": "image",
        "input_description": expected.input_description,
        "color_space": meta_schema.ColorSpaceType.GRAYSCALE,
        "mean": [0.0],
        "std": [255.0],
        # tflite-support's writer records ranges for float32 and uint8 tensors only.
        "input_stats": ([0.0], [1.0]) if mode == "float32" else None,
        "output_name": "probabilities",
        "output_description": expected.output_description,
        "output_stats": ([0.0], [1.0]) if mode == "float32" else None,
        "labels_file": "labels.txt",
        "labels_file_type": meta_schema.AssociatedFileType.TENSOR_AXIS_LABELS,
    }
    assert associated_files(packed[mode]) == {"labels.txt": ("\n".join(LABELS) + "\n").encode()}


@pytest.mark.parametrize("mode", MODES)
def test_predictions_are_unchanged(tiny_tflite, packed, mnist_small, mode):
    x = mnist_small[2][:64]
    for delegates in (True, False):
        before = open_model(tiny_tflite[mode], default_delegates=delegates).predict(x)
        after = open_model(packed[mode], default_delegates=delegates).predict(x)
        assert np.array_equal(before, after)
    assert open_model(packed[mode]).interpreter.get_signature_list() == open_model(tiny_tflite[mode]).interpreter.get_signature_list()


@pytest.mark.parametrize("mode", MODES)
def test_model_part_keeps_every_buffer_and_alignment(tiny_tflite, packed, mediapipe, mode):
    _, schema = mediapipe
    before, after = schema.Model.GetRootAs(tiny_tflite[mode], 0), schema.Model.GetRootAs(packed[mode], 0)
    assert after.Version() == before.Version() == 3
    assert after.BuffersLength() == before.BuffersLength() + 1
    assert after.SubgraphsLength() == before.SubgraphsLength()
    assert after.OperatorCodesLength() == before.OperatorCodesLength()
    assert after.SignatureDefsLength() == before.SignatureDefsLength()
    assert [after.Metadata(i).Name() for i in range(before.MetadataLength())] == [
        before.Metadata(i).Name() for i in range(before.MetadataLength())
    ]
    for i in range(before.BuffersLength()):
        old, new = before.Buffers(i), after.Buffers(i)
        assert new.DataAsNumpy().tobytes() == old.DataAsNumpy().tobytes() if old.DataLength() else not new.DataLength()
        if old.DataLength():  # the weights keep their alignment (the old bytes moved by a multiple of 16)
            assert _data_start(new) % 16 == _data_start(old) % 16
    assert _data_start(after.Buffers(after.BuffersLength() - 1)) % 16 == 0  # schema.fbs: force_align 16


def _data_start(buffer) -> int:
    return buffer._tab.Vector(buffer._tab.Offset(4))


@pytest.mark.parametrize("mode", MODES)
def test_labels_are_a_stored_zip_with_file_offsets(packed, mode):
    data = packed[mode]
    flatbuffer = md.strip_associated_files(data)
    assert data.startswith(flatbuffer) and len(flatbuffer) < len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        assert info.filename == "labels.txt"
        assert info.compress_type == zipfile.ZIP_STORED  # Android's MetadataExtractor reads stored entries
    # Offsets in the central directory count from the start of the model file, as the populator writes them.
    end = data.rindex(b"PK\x05\x06")
    _, _, _, _, _, cd_offset, _ = struct.unpack("<HHHHIIH", data[end + 4 : end + 22])
    assert data[cd_offset : cd_offset + 4] == b"PK\x01\x02"
    (local,) = struct.unpack("<I", data[cd_offset + 42 : cd_offset + 46])
    assert local == len(flatbuffer) and data[local : local + 4] == b"PK\x03\x04"


def test_packing_is_deterministic(tiny_tflite):
    assert attach_metadata(tiny_tflite["int8"], describe("int8")) == attach_metadata(tiny_tflite["int8"], describe("int8"))


def test_our_reader_round_trips(packed):
    found = read_metadata(packed["float32"])
    assert found["name"] == "Tiny digits" and found["min_parser_version"] == md.MIN_PARSER_VERSION
    (image,) = found["inputs"]
    assert (image["name"], image["color_space"], image["mean"], image["std"]) == ("image", "grayscale", [0.0], [255.0])
    (scores,) = found["outputs"]
    assert scores["associated_files"][0]["name"] == "labels.txt" and scores["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"


def test_attaching_again_replaces_metadata_and_files(tiny_tflite, packed, mnist_small):
    again = attach_metadata(packed["int8"], describe("int8", name="Renamed", labels=tuple("abcdefghij")))
    assert read_metadata(again)["name"] == "Renamed"
    assert associated_files(again) == {"labels.txt": b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"}
    x = mnist_small[2][:32]
    assert np.array_equal(open_model(again).predict(x), open_model(tiny_tflite["int8"]).predict(x))
    assert md.metadata_buffer(again) == md.metadata_flatbuffer(describe("int8", name="Renamed", labels=tuple("abcdefghij")))


def test_model_without_metadata(tiny_tflite):
    assert read_metadata(tiny_tflite["float32"]) is None
    assert associated_files(tiny_tflite["float32"]) == {}


def test_official_displayer_reads_it(packed, tflite_support):
    metadata, version = tflite_support
    for mode in MODES:
        displayer = metadata.MetadataDisplayer.with_model_buffer(packed[mode])
        shown = json.loads(displayer.get_metadata_json())
        assert shown["name"] == "Tiny digits" and shown["author"] == "edgekit tests" and shown["license"] == "Apache-2.0"
        (subgraph,) = shown["subgraph_metadata"]
        image = subgraph["input_tensor_metadata"][0]
        assert image["content"]["content_properties"]["color_space"] == "GRAYSCALE"
        assert image["process_units"][0]["options"] == {"mean": [0.0], "std": [255.0]}
        assert subgraph["output_tensor_metadata"][0]["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
        assert displayer.get_packed_associated_file_list() == ["labels.txt"]
        assert displayer.get_associated_file_buffer("labels.txt") == describe(mode).labels_bytes()
        # The C++ rule Android's MetadataExtractor applies: min_parser_version is exact.
        assert version.GetMinimumMetadataParserVersion(md.metadata_buffer(packed[mode])) == md.MIN_PARSER_VERSION


def test_matches_the_official_populator(tiny_tflite, packed, tflite_support, mnist_small):
    metadata, _ = tflite_support
    populator = metadata.MetadataPopulator.with_model_buffer(tiny_tflite["int8"])
    populator.load_metadata_buffer(md.metadata_flatbuffer(describe("int8")))
    populator.load_associated_file_buffers({"labels.txt": describe("int8").labels_bytes()})
    populator.populate()
    official = bytes(populator.get_model_buffer())
    ours = packed["int8"]

    def shown(model):
        return json.loads(metadata.MetadataDisplayer.with_model_buffer(model).get_metadata_json())

    assert shown(ours) == shown(official)
    assert associated_files(ours) == associated_files(official)
    for model in (ours, official):
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            assert [i.compress_type for i in archive.infolist()] == [zipfile.ZIP_STORED]
            assert archive.infolist()[0].header_offset == len(md.strip_associated_files(model))
    x = mnist_small[2][:32]
    assert np.array_equal(open_model(ours).predict(x), open_model(official).predict(x))


def _slots(cls) -> dict[str, int]:
    """Accessor name -> vtable offset, read from flatc's generated code."""
    found = {}
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        match = re.search(r"self\._tab\.Offset\((\d+)\)", inspect.getsource(method))
        if match:
            found[name] = int(match.group(1))
    return found


@pytest.mark.parametrize("source", ["ai_edge_litert", "mediapipe"])
def test_model_schema_excerpt_matches_the_full_schema(source, mediapipe):
    """The excerpt's field slots equal the full schema's, and Model has no fields it lacks."""
    if source == "ai_edge_litert":
        full = pytest.importorskip("ai_edge_litert.schema_py_generated")
    else:
        full = mediapipe[1]
    for table in ("Model", "SubGraph", "Buffer", "Metadata"):
        ours, theirs = _slots(getattr(excerpt, table)), _slots(getattr(full, table))
        assert ours and all(theirs[name] == slot for name, slot in ours.items()), table
    assert max(_slots(full.Model).values()) == 4 + 2 * (md._MODEL_FIELDS - 1)


def test_bad_descriptions_are_refused(tiny_tflite):
    model = tiny_tflite["float32"]
    cases = [
        (dict(labels=()), "label"),
        (dict(labels=("a\nb",)), "label"),
        (dict(mean=(0.0, 1.0)), "same"),
        (dict(std=(0.0,)), "non-zero"),
        (dict(color_space="cmyk"), "colour space"),
        (dict(labels_file="../labels.txt"), "plain file name"),
        (dict(name=" "), "name"),
    ]
    for changes, words in cases:
        with pytest.raises(InputError, match=words):
            attach_metadata(model, describe("float32", **changes))


def test_not_a_model_is_refused():
    with pytest.raises(ModelError, match="TFL3"):
        attach_metadata(b"\0" * 64, describe("float32"))
    with pytest.raises(ModelError, match="TFL3"):
        read_metadata(b"not a model at all")


def test_two_input_model_is_refused():
    from edgekit.converters.keras_tflite import convert_keras
    from edgekit._compat import keras

    layers = keras().layers
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    model = keras().Model([a, b], layers.Dense(2, activation="softmax", name="probabilities")(layers.Add()([a, b])))
    with pytest.raises(ModelError, match="2 inputs"):
        attach_metadata(convert_keras(model), describe("float32", labels=("x", "y")))

"""TFLite model metadata: ``.tflite`` bytes + a description -> ``.tflite`` bytes that apps can read.

The Android LiteRT Support/Task libraries, Android Studio's ML binding and MediaPipe read
labels, normalisation and tensor descriptions from the model itself, in the format of the
TFLite metadata schema (``metadata_schema.fbs``):

1. ``Model.metadata`` gets an entry ``TFLITE_METADATA`` whose buffer holds a ``ModelMetadata``
   flatbuffer (file identifier ``M001``);
2. the files that metadata names (``labels.txt``) follow the model flatbuffer as a zip archive
   of uncompressed (stored) entries whose offsets count from the start of the file. That is
   what tflite-support's ``MetadataPopulator`` writes (``zipfile`` in append mode, default
   ``ZIP_STORED``) and what Android's ``MetadataExtractor`` reads; here the entries carry a
   fixed timestamp so the same inputs give the same bytes.

Why this is written here on vendored ``flatc`` output (``converters/_generated``) and the
``flatbuffers`` package, and not with a library: tflite-support 0.4.4, which holds the official
populator, has no wheels for Python >= 3.12 and is unmaintained; mediapipe 1.2.3 installs (a
650 MB environment) but its metadata module fails to import (``No module named
'mediapipe.tasks.cc'``). The schema's own generated code stays installable and light.

How the model is edited: the populator unpacks the whole model into Python objects and packs
it again, so any field its copy of the model schema does not know is silently dropped. Here the
old model bytes are kept whole, 16-byte aligned, and a new root ``Model`` table is written in
front of them that points at the old subgraphs, operator codes and buffers, plus the new
metadata buffer. Nothing inside the graph is decoded, so nothing in it can be lost; the old
root table stays behind as a few unreferenced bytes. A root table with fields newer than the
schema edgekit knows is refused rather than guessed at, and so is a model over 2 GB whose
buffers point at file offsets.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, fields
from typing import Any, Mapping

import flatbuffers
from flatbuffers import number_types
from flatbuffers.table import Table

from edgekit.converters._generated import metadata_schema_py_generated as meta_fb
from edgekit.converters._generated import tflite_model_root_py_generated as model_fb
from edgekit.errors import InputError, ModelError

__all__ = [
    "associated_files",
    "attach_metadata",
    "ImageClassifierMetadata",
    "metadata_buffer",
    "metadata_flatbuffer",
    "MIN_PARSER_VERSION",
    "read_metadata",
    "strip_associated_files",
    "with_metadata_entry",
]

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
# Every field written here dates from metadata schema 1.0.0 (see the History in
# metadata_schema.fbs); tests/test_metadata.py checks this against tflite-support's own
# C++ computation of the minimum parser version.
MIN_PARSER_VERSION = "1.0.0"
COLOR_SPACES = {
    "rgb": meta_fb.ColorSpaceType.RGB,
    "grayscale": meta_fb.ColorSpaceType.GRAYSCALE,
    "unknown": meta_fb.ColorSpaceType.UNKNOWN,
}
_COLOR_NAMES = {value: name for name, value in COLOR_SPACES.items()}
_FILE_TYPES = {value: name for name, value in vars(meta_fb.AssociatedFileType).items() if not name.startswith("_")}
# schema.fbs Model table: version, operator_codes, subgraphs, description, buffers,
# metadata_buffer, metadata, signature_defs, external_buffer_groups, external_buffers.
_MODEL_FIELDS = 10
_BUFFERS, _METADATA = 4, 6
_KEPT = (1, 2, 3, 5, 7, 8, 9)  # offset fields the new root table points at unchanged
_ALIGN = 16
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_PIXEL_RANGE = (0.0, 255.0)


@dataclass(frozen=True, kw_only=True)
class ImageClassifierMetadata:
    """What an app needs to run an image classifier without reading anyone's docs.

    ``mean``/``std`` describe the float input the model was trained on, ``(pixel - mean) /
    std`` per channel, exactly as TFLite metadata defines normalisation (quantised models share
    them; the input tensor's own scale/zero point then map those floats to integers).
    ``input_dtype``/``output_dtype`` are the tensors' types; they decide the value ranges
    recorded in ``stats``, following tflite-support's image classifier writer.
    """

    name: str
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    color_space: str = "rgb"
    input_dtype: str = "float32"
    output_dtype: str = "float32"
    input_name: str = "image"
    input_description: str = ""
    output_name: str = "probabilities"
    output_description: str = ""
    labels_file: str = "labels.txt"

    def labels_bytes(self) -> bytes:
        """The label file: one label a line, the form the Task library and MediaPipe read."""
        return ("\n".join(self.labels) + "\n").encode("utf-8")


def attach_metadata(model_bytes: bytes, metadata: ImageClassifierMetadata | Mapping[str, Any]) -> bytes:
    """The model with ``metadata`` in its ``TFLITE_METADATA`` entry and its label file packed.

    ``metadata`` is an :class:`ImageClassifierMetadata` or a dict of its fields. Metadata and
    associated files the model already carries are replaced.
    """
    metadata = as_metadata(metadata)
    _validate(metadata)
    model = strip_associated_files(bytes(model_bytes))
    root = _root_table(model)
    _check_model(model, root)
    flatbuffer = _with_metadata_buffer(model, root, metadata_flatbuffer(metadata))
    return flatbuffer + _stored_zip(flatbuffer, {metadata.labels_file: metadata.labels_bytes()})


def with_metadata_entry(model_bytes: bytes, name: str, blob: bytes) -> bytes:
    """The model with ``Model.metadata[name]`` holding ``blob`` (replaced if present), graph untouched.

    For entries other than TFLite's own metadata, such as TFLM's ``OfflineMemoryAllocation``
    memory plan: tensor indices, buffers and weights keep their positions and alignment.
    """
    model = bytes(model_bytes)
    root = _root_table(model)
    _check_inline_buffers(model, root)
    return _with_metadata_buffer(model, root, bytes(blob), name=name)


def as_metadata(spec: ImageClassifierMetadata | Mapping[str, Any]) -> ImageClassifierMetadata:
    """An :class:`ImageClassifierMetadata` from itself or a dict of its fields."""
    if isinstance(spec, ImageClassifierMetadata):
        return spec
    if not isinstance(spec, Mapping):
        raise InputError(f"metadata must be an ImageClassifierMetadata or a dict, not {type(spec).__name__}")
    known = [f.name for f in fields(ImageClassifierMetadata)]
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise InputError(f"unknown metadata field {unknown[0]!r}", hint=f"valid fields: {', '.join(known)}")
    values = {k: tuple(v) if k in ("labels", "mean", "std") else v for k, v in spec.items()}
    try:
        return ImageClassifierMetadata(**values)
    except TypeError as exc:
        raise InputError(f"incomplete metadata: {exc}", hint="give at least name, labels, mean and std") from exc


def metadata_flatbuffer(metadata: ImageClassifierMetadata) -> bytes:
    """The ``ModelMetadata`` flatbuffer (identifier ``M001``) that goes into the model."""
    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_image_tensor(metadata)]
    subgraph.outputTensorMetadata = [_scores_tensor(metadata)]
    model = meta_fb.ModelMetadataT()
    model.name = metadata.name
    model.description = metadata.description or None
    model.version = metadata.version or None
    model.author = metadata.author or None
    model.license = metadata.license or None
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def read_metadata(model_bytes: bytes) -> dict[str, Any] | None:
    """The model's ``TFLITE_METADATA`` as plain data, or None when it has none."""
    data = bytes(model_bytes)
    blob = metadata_buffer(data)
    if blob is None:
        return None
    if not meta_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(blob, 0):
        raise ModelError("the model's TFLITE_METADATA buffer is not a TFLite metadata flatbuffer (no 'M001' identifier)")
    model = meta_fb.ModelMetadataT.InitFromObj(meta_fb.ModelMetadata.GetRootAs(blob, 0))
    subgraphs = model.subgraphMetadata or []
    return {
        "name": _text(model.name),
        "description": _text(model.description),
        "version": _text(model.version),
        "author": _text(model.author),
        "license": _text(model.license),
        "min_parser_version": _text(model.minParserVersion),
        "inputs": [_tensor_dict(t) for s in subgraphs for t in s.inputTensorMetadata or []],
        "outputs": [_tensor_dict(t) for s in subgraphs for t in s.outputTensorMetadata or []],
    }


def metadata_buffer(model_bytes: bytes) -> bytes | None:
    """The raw bytes of the model's ``TFLITE_METADATA`` buffer, or None."""
    data = bytes(model_bytes)
    root = _root_table(data)
    _, index = _existing_entry(data, root)
    if index is None:
        return None
    buffers = _tables(root, _BUFFERS)
    if index >= len(buffers):
        raise ModelError(f"the model's TFLITE_METADATA names buffer {index} of {len(buffers)}")
    return _buffer_data(data, buffers[index])


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files packed after the model flatbuffer (the zip part), by name."""
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(model_bytes))) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except zipfile.BadZipFile:
        return {}


def strip_associated_files(model_bytes: bytes) -> bytes:
    """The model flatbuffer alone: anything from the start of a trailing zip archive is cut."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            starts = [info.header_offset for info in archive.infolist()]
    except zipfile.BadZipFile:
        return model_bytes
    return model_bytes[: min(starts)] if starts else model_bytes


def _validate(metadata: ImageClassifierMetadata) -> None:
    if not metadata.name.strip():
        raise InputError("model metadata needs a name", hint="set [metadata] name in the recipe")
    if not metadata.labels or any(not label or "\n" in label for label in metadata.labels):
        raise InputError("model metadata needs one non-empty, single-line label per class")
    if not metadata.mean or len(metadata.mean) != len(metadata.std):
        raise InputError(f"metadata mean {list(metadata.mean)} and std {list(metadata.std)} need the same, non-zero length")
    if any(s == 0 for s in metadata.std):
        raise InputError("metadata std must be non-zero (inputs are divided by it)")
    if metadata.color_space not in COLOR_SPACES:
        raise InputError(f"unknown colour space {metadata.color_space!r}", hint=f"choose one of: {', '.join(COLOR_SPACES)}")
    if not metadata.labels_file or "/" in metadata.labels_file or "\\" in metadata.labels_file:
        raise InputError(f"label file name {metadata.labels_file!r} must be a plain file name, e.g. labels.txt")


def _image_tensor(metadata: ImageClassifierMetadata):
    tensor = meta_fb.TensorMetadataT()
    tensor.name = metadata.input_name
    tensor.description = metadata.input_description or None
    image = meta_fb.ImagePropertiesT()
    image.colorSpace = COLOR_SPACES[metadata.color_space]
    tensor.content = _content(meta_fb.ContentProperties.ImageProperties, image)
    normalization = meta_fb.NormalizationOptionsT()
    normalization.mean = [float(m) for m in metadata.mean]
    normalization.std = [float(s) for s in metadata.std]
    unit = meta_fb.ProcessUnitT()
    unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    tensor.processUnits = [unit]
    tensor.stats = _stats(_input_range(metadata))
    return tensor


def _scores_tensor(metadata: ImageClassifierMetadata):
    tensor = meta_fb.TensorMetadataT()
    tensor.name = metadata.output_name
    tensor.description = metadata.output_description or None
    tensor.content = _content(meta_fb.ContentProperties.FeatureProperties, meta_fb.FeaturePropertiesT())
    ranges = {"uint8": ([0.0], [255.0]), "float32": ([0.0], [1.0])}
    tensor.stats = _stats(ranges.get(metadata.output_dtype))
    labels = meta_fb.AssociatedFileT()
    labels.name = metadata.labels_file
    labels.description = "Labels for the categories the model can recognise, one per line, in output order."
    labels.type = meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor.associatedFiles = [labels]
    return tensor


def _input_range(metadata: ImageClassifierMetadata):
    """Value range of the input tensor, as tflite-support's writer records it (uint8 or float32 only)."""
    if metadata.input_dtype == "uint8":
        return [0.0], [255.0]
    if metadata.input_dtype == "float32":
        low, high = _PIXEL_RANGE
        return [(low - m) / s for m, s in zip(metadata.mean, metadata.std)], [(high - m) / s for m, s in zip(metadata.mean, metadata.std)]
    return None


def _content(kind: int, properties):
    content = meta_fb.ContentT()
    content.contentPropertiesType = kind
    content.contentProperties = properties
    return content


def _stats(value_range):
    if value_range is None:
        return None
    stats = meta_fb.StatsT()
    stats.min, stats.max = value_range
    return stats


def _tensor_dict(tensor) -> dict[str, Any]:
    content = tensor.content
    color = None
    if content is not None and content.contentPropertiesType == meta_fb.ContentProperties.ImageProperties:
        color = _COLOR_NAMES.get(content.contentProperties.colorSpace, "unknown")
    normalization = next(
        (u.options for u in tensor.processUnits or [] if u.optionsType == meta_fb.ProcessUnitOptions.NormalizationOptions),
        None,
    )
    return {
        "name": _text(tensor.name),
        "description": _text(tensor.description),
        "color_space": color,
        "mean": _floats(normalization.mean) if normalization is not None else None,
        "std": _floats(normalization.std) if normalization is not None else None,
        "stats": {"min": _floats(tensor.stats.min), "max": _floats(tensor.stats.max)} if tensor.stats else None,
        "associated_files": [
            {"name": _text(f.name), "type": _FILE_TYPES.get(f.type, str(f.type)), "description": _text(f.description)}
            for f in tensor.associatedFiles or []
        ],
    }


def _floats(values) -> list[float]:
    """A float vector from the generated reader (a numpy array or a list) as plain floats."""
    return [] if values is None else [float(v) for v in values]


def _text(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


# -- the model side: the root table only -------------------------------------------------


def _root_table(data: bytes) -> Table:
    if len(data) < 8 or not model_fb.Model.ModelBufferHasIdentifier(data, 0):
        raise ModelError(
            "not a TFLite model (no 'TFL3' identifier)", hint="pass the bytes of a .tflite file produced by a TFLite/LiteRT converter"
        )
    root = Table(data, flatbuffers.encode.Get(number_types.UOffsetTFlags.packer_type, data, 0))
    newer = [slot for slot in range(_MODEL_FIELDS, _field_count(root)) if root.Offset(4 + 2 * slot)]
    if newer:
        raise ModelError(
            f"the model's root table has fields {newer} that the TFLite schema edgekit knows does not define",
            hint="the model comes from a newer converter than edgekit knows; upgrade edgekit",
        )
    return root


def _field_count(table: Table) -> int:
    vtable = table.Pos - table.Get(number_types.SOffsetTFlags, table.Pos)
    return (table.Get(number_types.VOffsetTFlags, vtable) - 4) // 2


def _target(table: Table, slot: int) -> int | None:
    """Absolute position of the object a table's offset field points at (None if absent)."""
    offset = table.Offset(4 + 2 * slot)
    return table.Indirect(table.Pos + offset) if offset else None


def _tables(table: Table, slot: int) -> list[int]:
    """Absolute positions of the tables in a vector-of-tables field."""
    offset = table.Offset(4 + 2 * slot)
    if not offset:
        return []
    start = table.Vector(offset)
    return [table.Indirect(start + 4 * i) for i in range(table.VectorLen(offset))]


def _buffer_data(data: bytes, position: int) -> bytes:
    buffer = Table(data, position)
    offset = buffer.Offset(4)
    if not offset:
        return b""
    start = buffer.Vector(offset)
    return data[start : start + buffer.VectorLen(offset)]


def _check_model(data: bytes, root: Table) -> None:
    """One input and one output (what the metadata describes), and weights inside the file."""
    subgraphs = _tables(root, 2)
    if not subgraphs:
        raise ModelError("the model has no subgraph")
    main = model_fb.SubGraph()
    main.Init(data, subgraphs[0])
    if main.InputsLength() != 1 or main.OutputsLength() != 1:
        raise ModelError(
            f"image classifier metadata describes one input and one output; the model has "
            f"{main.InputsLength()} inputs and {main.OutputsLength()} outputs"
        )
    _check_inline_buffers(data, root)


def _check_inline_buffers(data: bytes, root: Table) -> None:
    for position in _tables(root, _BUFFERS):
        buffer = model_fb.Buffer()
        buffer.Init(data, position)
        if buffer.Offset() > 1:
            raise ModelError("the model keeps its weights outside the flatbuffer (a model over 2 GB); metadata cannot be attached")


def _with_metadata_buffer(model: bytes, root: Table, blob: bytes, *, name: str = METADATA_NAME) -> bytes:
    """A new root table in front of ``model`` whose buffers/metadata also hold ``blob``."""
    builder, old = _builder_over(model, room=len(blob))
    buffers = [old(p) for p in _tables(root, _BUFFERS)]
    entries = [old(p) for p in _tables(root, _METADATA)]
    _put_metadata_entry(builder, _existing_entry(model, root, name), blob, buffers, entries, name)
    fields = {slot: old(p) for slot in _KEPT if (p := _target(root, slot)) is not None}
    fields[_BUFFERS] = _offset_vector(builder, buffers)
    fields[_METADATA] = _offset_vector(builder, entries)
    version = model_fb.Model()
    version.Init(model, root.Pos)
    model_fb.ModelStart(builder)
    model_fb.ModelAddVersion(builder, version.Version())
    for slot, offset in sorted(fields.items()):
        builder.PrependUOffsetTRelativeSlot(slot, offset, 0)
    builder.Finish(model_fb.ModelEnd(builder), file_identifier=MODEL_IDENTIFIER)
    return bytes(builder.Output())


def _builder_over(model: bytes, *, room: int):
    """A builder whose buffer ends with ``model``, 16-byte aligned, and a map from positions in
    ``model`` to builder offsets (flatbuffers count offsets from the end of the buffer)."""
    padded = model + b"\0" * (-len(model) % _ALIGN)
    builder = flatbuffers.Builder(len(padded) + room + 1024)
    builder.Prep(_ALIGN, len(padded))  # the old bytes keep their alignment
    start = builder.CreateByteVector(padded) - 4  # builder offset of the old bytes' first byte
    return builder, lambda position: start - position


def _put_metadata_entry(builder, existing, blob: bytes, buffers: list, entries: list, name: str) -> None:
    """Point (or add) the metadata entry ``name`` and its buffer at ``blob``, in place."""
    index, buffer_index = existing
    if index is None:
        index, buffer_index = len(entries), len(buffers)
        entries.append(None)
        buffers.append(None)
    if buffer_index >= len(buffers):
        raise ModelError(f"the model's {name} names buffer {buffer_index} of {len(buffers)}")
    buffers[buffer_index] = _metadata_buffer_table(builder, blob)
    text = builder.CreateString(name)
    model_fb.MetadataStart(builder)
    model_fb.MetadataAddName(builder, text)
    model_fb.MetadataAddBuffer(builder, buffer_index)
    entries[index] = model_fb.MetadataEnd(builder)


def _existing_entry(data: bytes, root: Table, name: str = METADATA_NAME) -> tuple[int | None, int | None]:
    """(index in Model.metadata, buffer index) of an existing entry called ``name``."""
    for index, position in enumerate(_tables(root, _METADATA)):
        meta = model_fb.Metadata()
        meta.Init(data, position)
        if (meta.Name() or b"").decode("utf-8") == name:
            return index, meta.Buffer()
    return None, None


def _metadata_buffer_table(builder: flatbuffers.Builder, blob: bytes) -> int:
    """A Buffer table whose data is 16-byte aligned, as ``force_align: 16`` in schema.fbs asks."""
    builder.Prep(_ALIGN, len(blob))
    data = builder.CreateByteVector(blob)
    model_fb.BufferStart(builder)
    model_fb.BufferAddData(builder, data)
    return model_fb.BufferEnd(builder)


def _offset_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector(len(offsets))


def _stored_zip(prefix: bytes, files: dict[str, bytes]) -> bytes:
    """Uncompressed zip entries whose offsets count from the start of ``prefix`` (as the populator's)."""
    out = io.BytesIO()
    out.write(prefix)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()[len(prefix) :]

"""Edit a .tflite flatbuffer through tflite-micro's schema object API: unpack, change, pack,
then align the buffers with tflite-micro's own aligner (Python flatbuffers ignores
``force_align``), as tflite-micro's compressor does."""

from __future__ import annotations

from typing import Callable


def edit_model(model_bytes: bytes, change: Callable[[object], None]) -> bytes:
    """``model_bytes`` after ``change(model)`` on its unpacked ``ModelT``."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    change(model)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return aligned(bytes(builder.Output()))


def aligned(model_bytes: bytes) -> bytes:
    """The flatbuffer with its buffers 16-byte aligned."""
    import tempfile
    from pathlib import Path

    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

    with tempfile.TemporaryDirectory(prefix="edgekit-align-") as temp:
        source, target = Path(temp, "in.tflite"), Path(temp, "out.tflite")
        source.write_bytes(model_bytes)
        tflite_flatbuffer_align_wrapper.align_tflite_model(str(source), str(target))
        return target.read_bytes()

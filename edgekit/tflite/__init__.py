"""Reading ``.tflite`` flatbuffers in pure Python: ``graph`` (tensors, operators, buffers,
signatures), ``verify`` (structural checks before any interpreter sees the bytes)."""

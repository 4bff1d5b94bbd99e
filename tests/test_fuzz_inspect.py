"""Property-based fuzzing of ``edgekit inspect``: mutated real models through the reader and the
pure-Python target checks (gpu, edgetpu), in this process.

Only paths that never reach a native interpreter run in-process; the cpu target (LiteRT) is
fuzzed in a child process by ``tests/test_tflite_verify.py``, behind the same verification.
Nothing but an EdgekitError may escape, and whatever is accepted must format as text and JSON.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.commands.inspect import describe, format_summary
from edgekit.errors import EdgekitError
from tests._mutate import structure_positions
from tests.conftest import MLPERF

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
THIRD_PARTY = sorted(MLPERF.glob("*/*.tflite"))
WORDS = (0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@pytest.fixture(scope="module")
def models(tiny_tflite):
    """Real models and the positions of their structure (not weight) bytes."""
    corpus = [tiny_tflite[mode] for mode in ("float32", "float16", "int8")]
    corpus += [path.read_bytes() for path in THIRD_PARTY]
    return [(data, structure_positions(data)) for data in corpus]


def damage(data: bytes, positions: list[int], draw) -> bytes:
    out = bytearray(data)
    kind = draw(st.sampled_from(["bytes", "word", "truncate"]))
    if kind == "truncate":
        return bytes(out[: draw(st.integers(8, len(out) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        at = positions[draw(st.integers(0, len(positions) - 1))]
        if kind == "bytes":
            out[at] = draw(st.integers(0, 255))
        else:
            struct.pack_into("<I", out, min(at & ~3, len(out) - 4), draw(st.sampled_from(WORDS)))
    return bytes(out)


@FUZZ
@given(data=st.data())
def test_mutated_models_through_inspect(models, tmp_path, data):
    model, positions = models[data.draw(st.integers(0, len(models) - 1))]
    path = tmp_path / "m.tflite"
    path.write_bytes(damage(model, positions, data.draw))
    targets = data.draw(st.sampled_from([(), ("gpu",), ("edgetpu",), ("gpu", "edgetpu")]))
    try:
        summary = describe(path, targets)
    except EdgekitError:
        return
    format_summary(summary)
    json.dumps(summary)


@FUZZ
@given(body=st.binary(max_size=600))
def test_random_bodies_behind_a_valid_header(tmp_path, body):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + body)
    try:
        format_summary(describe(path, ("gpu", "edgetpu")))
    except EdgekitError:
        pass

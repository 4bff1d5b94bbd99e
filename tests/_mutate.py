"""Damaged copies of real .tflite models, for fuzzing the reader, the verifier and the runtime.

Mutations aim at the flatbuffer's structure (tables, vtables, offsets, indices, quantisation)
rather than at weight bytes, which any value is valid for.
"""

from __future__ import annotations

import os
import random
import resource
import struct

KINDS = ("truncate", "bytes", "bitflip", "word", "header-only")
_WORDS = (0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE)


def structure_positions(data: bytes) -> list[int]:
    """Byte positions outside the constant buffers (weights)."""
    from edgekit.tflite.graph import read_tflite

    spans = sorted(read_tflite(data).buffers)
    inside = bytearray(len(data))
    for start, end in spans:
        inside[start:end] = b"\x01" * (end - start)
    return [i for i in range(len(data)) if not inside[i]]


def mutate(data: bytes, positions: list[int], rng: random.Random, kind: str) -> bytes:
    """One damaged copy of ``data`` of the given kind."""
    out = bytearray(data)
    if kind == "truncate":
        return bytes(out[: rng.randrange(8, len(out))])
    if kind == "bytes":
        for _ in range(rng.randint(1, 4)):
            out[rng.choice(positions)] = rng.randrange(256)
    elif kind == "bitflip":
        out[rng.choice(positions)] ^= 1 << rng.randrange(8)
    elif kind == "word":
        at = rng.choice(positions) & ~3
        struct.pack_into("<I", out, min(at, len(out) - 4), rng.choice(_WORDS))
    elif kind == "header-only":
        return bytes(out[:8]) + rng.randbytes(rng.randrange(0, 2048))
    return bytes(out)


def mutations(data: bytes, count: int, seed: int = 0):
    """``count`` (kind, damaged bytes) pairs, the same ones for the same seed."""
    rng = random.Random(seed)
    positions = structure_positions(data)
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        yield kind, mutate(data, positions, rng, kind)


def run_in_child(data: bytes, *, xnnpack: bool = False) -> int:
    """Load, allocate and invoke ``data`` with LiteRT in a forked child (reference kernels,
    or with LiteRT's default XNNPACK delegate).

    Returns the child's exit status: 0 ran, 3 a Python exception, negative the signal that
    killed it (a native crash), so a crash is counted instead of killing the caller. Call it
    only from a process that has not loaded TensorFlow (forking TF's threads is unsafe).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash here is expected: no core dump
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            import numpy as np
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            interpreter = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
            interpreter.allocate_tensors()
            for detail in interpreter.get_input_details():
                interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            interpreter.invoke()
        except Exception:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

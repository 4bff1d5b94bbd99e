"""Child process that searches TFLM's smallest working tensor arena: ``python -m edgekit.targets._arena_probe``.

Some TFLM kernels crash (SIGSEGV) instead of failing cleanly when the arena is too small
(per-channel FULLY_CONNECTED in tflite-micro 0.dev20261023 does), which would take the whole
build down. So the search runs here, in its own process, printing every probe before it runs
it; the parent (:func:`edgekit.targets._tflm.measure_arena`) treats a probe that never reported as
failed and restarts the search from what it learned.

Protocol, one line each: ``try N``, then ``ok N`` or ``fail N``; ``recorded TOTAL HEAD TAIL``;
finally ``smallest N``.
"""

from __future__ import annotations

import argparse
import sys

from edgekit.targets import _tflm


def _probe(model: bytes, size: int) -> bool:
    print(f"try {size}", flush=True)
    works = _tflm.works(model, size)
    print(f"{'ok' if works else 'fail'} {size}", flush=True)
    return works


def _grow(model: bytes, lower: int) -> int:
    """A size that works, growing 4x from the first guess; every size below it failed."""
    size = max(1 << 20, 16 * len(model), 4 * lower)
    while not _probe(model, size):
        if size >= _tflm.ARENA_LIMIT:
            raise SystemExit(f"no arena up to {_tflm.ARENA_LIMIT} bytes works")
        size *= 4
    return size


def _record(model: bytes, size: int) -> _tflm.Arena:
    interpreter = _tflm.load(model, size)
    _tflm.invoke_zeros(interpreter)
    with _tflm.captured_native_stderr() as log:
        interpreter.print_allocations()
    arena = _tflm.parse_allocations("".join(log))
    print(f"recorded {arena.recorded} {arena.head} {arena.tail}", flush=True)
    return arena


def search(model: bytes, lower: int, upper: int) -> int:
    """Smallest working size, given a failing ``lower`` and a working ``upper`` (0: unknown)."""
    upper = upper or _grow(model, lower)
    recorded = _record(model, upper).recorded
    if lower < recorded <= upper:
        if _probe(model, recorded):
            return recorded
        lower = recorded
    while upper - lower > 1:  # lower fails, upper works
        middle = (lower + upper) // 2
        lower, upper = (lower, middle) if _probe(model, middle) else (middle, upper)
    return upper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.targets._arena_probe")
    parser.add_argument("model")
    parser.add_argument("--lower", type=int, default=0, help="a size known to fail")
    parser.add_argument("--upper", type=int, default=0, help="a size known to work (0: unknown)")
    args = parser.parse_args(argv)
    with open(args.model, "rb") as handle:
        model = handle.read()
    print(f"smallest {search(model, args.lower, args.upper)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

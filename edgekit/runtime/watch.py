"""The child's side of the invoke watchdog: a few shared bytes saying "busy since T, on MODEL".

A model can loop forever inside one native ``invoke()`` (a WHILE whose condition never becomes
false), and no Python signal handler runs until it returns. So the device commands run in a
child process (:mod:`edgekit.runtime.supervisor`), and the child marks here, in a small file
both processes map, when each interpreter call starts and ends; the parent, which stays in
Python, reads it and kills the child when one call outlasts the limit.

Marking is two stores into shared memory, made outside the timed region of ``bench``, so the
latency measured is the model's as before. Outside a supervised child (the Python API, the
build measuring what edgekit itself converted) :func:`slot` is None and marking does nothing.

Layout (little-endian): started (int64 CLOCK_MONOTONIC ns, 0 = idle) at 0, limit (int64 ns,
0 = none) at 8, phase code (int64) at 16, label length (uint16) at 24 and UTF-8 label at 26.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import struct
import time
from typing import Callable, Iterator

__all__ = ["DEFAULT_TIMEOUT_S", "ENV_SLOT", "ENV_TIMEOUT", "PHASES", "read_slot", "set_limit", "slot", "SLOT_SIZE", "SlotState", "Slot", "watching"]

ENV_SLOT = "EDGEKIT_WATCH_SLOT"
ENV_TIMEOUT = "EDGEKIT_INVOKE_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
SLOT_SIZE = 512
_LABEL_MAX = SLOT_SIZE - 26
PHASES = {1: "running one inference", 2: "preparing the model (allocating its tensors)", 3: "loading the model"}
_PHASE_CODE = {"invoke": 1, "allocate": 2, "load": 3}


class Slot:
    """The shared bytes, mapped in this (child) process."""

    def __init__(self, path: str):
        if not os.path.basename(path).startswith("edgekit-watch-"):
            raise ValueError(f"{path}: not a slot the supervisor made")
        fd = os.open(path, os.O_RDWR)
        try:
            if os.fstat(fd).st_size != SLOT_SIZE:  # never write into a file that is not one
                raise ValueError(f"{path}: not a slot the supervisor made")
            self._map = mmap.mmap(fd, SLOT_SIZE)
        finally:
            os.close(fd)
        self._started = ctypes.c_int64.from_buffer(self._map, 0)
        self._limit = ctypes.c_int64.from_buffer(self._map, 8)
        self._phase = ctypes.c_int64.from_buffer(self._map, 16)
        self.start: Callable[[], None] = self._start_invoke  # bound once: the bench loop calls it per run

    def _start_invoke(self) -> None:
        self._phase.value = 1
        self._started.value = time.monotonic_ns()

    def stop(self) -> None:
        self._started.value = 0

    @contextlib.contextmanager
    def busy(self, phase: str) -> Iterator[None]:
        self._phase.value = _PHASE_CODE[phase]
        self._started.value = time.monotonic_ns()
        try:
            yield
        finally:
            self._started.value = 0

    def set_limit(self, seconds: float | None) -> None:
        self._limit.value = int(seconds * 1e9) if seconds else 0

    def name(self, label: str) -> None:
        """What the parent's message calls the model (its path)."""
        data = label.encode("utf-8", errors="replace")[:_LABEL_MAX]
        self._map[26 : 26 + len(data)] = data
        struct.pack_into("<H", self._map, 24, len(data))


_slot: list[Slot | None] = []


def slot() -> Slot | None:
    """This process's slot when it is a supervised child, else None (mapped once)."""
    if not _slot:
        path = os.environ.get(ENV_SLOT)
        try:
            _slot.append(Slot(path) if path else None)
        except (OSError, ValueError):
            _slot.append(None)
    return _slot[0]


def watching() -> bool:
    return slot() is not None


def set_limit(seconds: float | None) -> None:
    """The longest one interpreter call may take (None or 0: no limit), as the command's option says."""
    current = slot()
    if current is not None:
        current.set_limit(seconds)


@contextlib.contextmanager
def busy(phase: str) -> Iterator[None]:
    """Mark an interpreter call (``invoke``, ``allocate``, ``load``) for the parent's watchdog."""
    current = slot()
    if current is None:
        yield
        return
    with current.busy(phase):
        yield


def name_model(label: str) -> None:
    current = slot()
    if current is not None:
        current.name(label)


class SlotState:
    """What the parent reads: since when the child is busy, on what, and its limit."""

    def __init__(self, started_ns: int, limit_ns: int, phase: int, label: str):
        self.started_ns, self.limit_ns, self.phase, self.label = started_ns, limit_ns, phase, label

    def overdue(self, now_ns: int, default_limit_ns: int) -> bool:
        limit = self.limit_ns or default_limit_ns
        return bool(self.started_ns and limit and now_ns - self.started_ns > limit)

    @property
    def what(self) -> str:
        return PHASES.get(self.phase, "running the model")


def read_slot(data) -> SlotState:
    """Decode the shared bytes (the parent's mapping, or any buffer of ``SLOT_SIZE``)."""
    started, limit, phase, length = struct.unpack_from("<qqqH", data, 0)
    label = bytes(data[26 : 26 + min(length, _LABEL_MAX)]).decode("utf-8", errors="replace")
    return SlotState(started, limit, phase, label)

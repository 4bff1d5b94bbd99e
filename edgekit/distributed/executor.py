"""Running a flow's tasks: here, one after another, or on Dask workers; results come back to the driver.

A task is a module-level function ``work(shared, item)``: ``shared`` is what every task of the
run needs (the trained model's bytes, the data), sent to each worker once; ``item`` is the
task's own part. The same function runs in both places, under the same TensorFlow thread
count, so a task's result does not depend on where it ran. Each result comes back as an
:class:`Outcome` naming the worker, the seconds it took and the worker's peak memory.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from edgekit.distributed.threads import pin_threads, pinned_threads

__all__ = ["InProcess", "Outcome", "Task", "WorkerStats", "lost_line", "run_task", "warm_worker"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class Task:
    """One unit of work: ``work(shared, item)``, known by ``name`` (what it makes)."""

    name: str
    work: Callable[[Any, Any], Any]
    item: Any


@dataclass(frozen=True)
class Outcome:
    """A finished task: its result, where it ran, how long it took and the worker's peak RSS."""

    name: str
    result: Any
    worker: str
    seconds: float
    peak_rss_mb: float
    threads: int | None
    malloc_trim: str | None = None  # the worker's MALLOC_TRIM_THRESHOLD_, which slows TensorFlow there


def run_task(task: Task, shared: Any, threads: int) -> Outcome:
    """Run ``task`` in this process (a Dask worker's, or the driver's) under ``threads`` TF threads."""
    pin_threads(threads)
    started = time.perf_counter()
    result = task.work(shared, task.item)
    seconds = round(time.perf_counter() - started, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    worker = _dask_worker()
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_") if worker is not None else None
    return Outcome(task.name, result, worker or f"driver (pid {os.getpid()})", seconds, round(peak, 1), pinned_threads(), trim)


def warm_worker(threads: int, modules: Sequence[str]) -> str | None:
    """Load TensorFlow (under ``threads`` threads) and ``modules`` in this worker before its
    first task. A fresh worker spends about 5 s of CPU on these imports, which the driver's
    float training hides when the workers start beside it. An import that fails is returned
    as text, not raised: the first real task meets the same error and reports it by name."""
    import importlib

    pin_threads(threads)
    try:
        from edgekit._compat import keras, tfmot

        keras(), tfmot()
        for module in modules:
            importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a warm-up only saves time; the task says what is wrong
        return f"{type(exc).__name__}: {exc}"
    return None


def _dask_worker() -> str | None:
    """The Dask worker running this task, by name; None in the driver."""
    try:
        from distributed import get_worker

        worker = get_worker()
        return str(worker.name if worker.name is not None else worker.address)
    except (ImportError, ValueError):
        return None


class InProcess:
    """The sequential path: every task here, in order."""

    name = "this process"

    def __init__(self, threads: int, progress=None):
        self.threads, self.progress = threads, progress

    def warm(self, modules: Sequence[str]) -> list:
        """Nothing to do: this process loads what it needs as it goes."""
        return []

    def run(self, tasks: Iterable[Task], shared: Any) -> Iterator[Outcome]:
        for task in tasks:
            if self.progress is not None:
                self.progress.running({task.name: "driver"})
            yield run_task(task, shared, self.threads)

    def close(self) -> None:
        pass


class WorkerStats:
    """Per worker: the tasks it ran, their seconds and its peak RSS (for the timings and the report)."""

    def __init__(self, placement_text: str, threads: int):
        self.placement_text, self.threads = placement_text, threads
        self.tasks: dict[str, dict] = {}
        self.peaks: dict[str, float] = {}
        self._warned: set[tuple[str, str]] = set()

    def add(self, outcome: Outcome) -> None:
        self.tasks[outcome.name] = {"worker": outcome.worker, "seconds": outcome.seconds}
        self.peaks[outcome.worker] = max(self.peaks.get(outcome.worker, 0.0), outcome.peak_rss_mb)
        if outcome.threads not in (None, self.threads):
            self._warn_once(outcome.worker, "threads", "%s runs TensorFlow on %s threads, not %d: its results may differ from a sequential run's (restart the worker)", outcome.threads, self.threads)
        if outcome.malloc_trim is not None:  # the worker's own text: shown as a short repr
            self._warn_once(
                outcome.worker, "malloc",
                "%s runs with MALLOC_TRIM_THRESHOLD_=%.40r (Dask's nanny sets it): TensorFlow's training there takes about 1.5x as long; "
                "start its workers with MALLOC_TRIM_THRESHOLD_: null under distributed.nanny.pre-spawn-environ in their Dask config (docs/distributed.md)",
                outcome.malloc_trim,
            )  # fmt: skip

    def _warn_once(self, worker: str, kind: str, message: str, *args) -> None:
        """One warning line per worker and kind, however many of its tasks show it."""
        if (worker, kind) not in self._warned:
            self._warned.add((worker, kind))
            log.warning(message, worker, *args)

    def to_report(self) -> dict:
        return {"placement": self.placement_text, "tf_threads": self.threads, "worker_peak_rss_mb": dict(sorted(self.peaks.items())), "tasks": self.tasks}


def lost_line(lost: Sequence[Any], noun: str, kept: Any) -> str:
    """One line naming what no worker could finish; the finished ones are kept in ``kept``."""
    names = [item.name for item in lost]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return f"{len(names)} {noun}(s) lost on the cluster ({lost[0].why}): {shown}; the finished ones are kept in {kept}"

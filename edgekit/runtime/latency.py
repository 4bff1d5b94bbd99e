"""Latency of one model on this machine: warm-up, then timed ``invoke()`` calls.

Only the interpreter call is timed (inputs are set once), so the figure is the model's cost,
not Python's. Enough runs are made to reach both ``runs`` and ``min_time``. Percentiles, min and
max use every sample; the mean and standard deviation leave out far outliers (slower than
Q3 + 3 x max(IQR, 10 % of the median): a context switch or a page fault, not the model) and
say how many they left out. The 10 % floor keeps a very tight distribution (IQR well under a
microsecond) from calling ordinary jitter an outlier.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgekit.runtime.interpreter import ModelRunner, TensorSpec

__all__ = ["LatencyStats", "measure_latency", "random_input", "set_sample_inputs", "summarize", "time_invocations"]


@dataclass(frozen=True)
class LatencyStats:
    """Per-inference latency in microseconds over ``runs`` timed invocations."""

    runs: int
    threads: int | None
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    outliers: int = 0

    @property
    def throughput(self) -> float:
        """Inferences per second at the mean latency (far outliers excluded)."""
        return 1e6 / self.mean if self.mean else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "throughput_per_s": round(self.throughput, 2)}


def sample_input(runner: ModelRunner, seed: int = 0) -> np.ndarray:
    """A deterministic random input of the model's first input shape and dtype."""
    return random_input(runner.inputs[0], seed)


def set_sample_inputs(runner: ModelRunner) -> None:
    """Fill every input (not just the first) with deterministic random values."""
    for position, spec in enumerate(runner.inputs):
        runner.set_raw_input(random_input(spec, seed=position), position)


def random_input(spec: TensorSpec, seed: int = 0) -> np.ndarray:
    """Random values spanning the tensor's dtype (normal for floats, full range for integers)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=spec.shape, endpoint=True).astype(dtype)
    return rng.standard_normal(spec.shape).astype(dtype)


def time_invocations(runner: ModelRunner, *, runs: int, warmup: int = 5, min_time: float = 0.0) -> np.ndarray:
    """Invoke ``warmup`` times untimed, then until both ``runs`` and ``min_time`` are reached."""
    set_sample_inputs(runner)
    invoke = runner.interpreter.invoke  # bound once: the loop should cost what a bare loop costs
    start, stop = _watchdog_marks()
    for _ in range(warmup):
        start()
        invoke()
        stop()
    clock = time.perf_counter_ns
    deadline = clock() + int(min_time * 1e9)
    samples: list[int] = []
    while len(samples) < runs or clock() < deadline:
        start()  # the watchdog's marks sit outside the timed region: the figure is the model's alone
        begin = clock()
        invoke()
        samples.append(clock() - begin)
        stop()
    return np.asarray(samples, dtype=np.float64) / 1000.0


def _watchdog_marks():
    """(start, stop) marks for the supervisor's per-invoke time limit, or no-ops outside a
    supervised child (:mod:`edgekit.runtime.watch`)."""
    from edgekit.runtime import watch

    current = watch.slot()
    if current is None:
        return _nothing, _nothing
    return current.start, current.stop


def _nothing() -> None:
    return None


def summarize(samples_us: np.ndarray, *, threads: int | None) -> LatencyStats:
    """Percentiles of every sample; mean and std without far outliers."""
    q1, p50, q3, p90, p99 = np.percentile(samples_us, [25, 50, 75, 90, 99])
    kept = samples_us[samples_us <= q3 + 3.0 * max(q3 - q1, 0.1 * p50)]
    return LatencyStats(
        runs=int(samples_us.size),
        threads=threads,
        mean=round(float(kept.mean()), 2),
        std=round(float(kept.std()), 2),
        min=round(float(samples_us.min()), 2),
        p50=round(float(p50), 2),
        p90=round(float(p90), 2),
        p99=round(float(p99), 2),
        max=round(float(samples_us.max()), 2),
        outliers=int(samples_us.size - kept.size),
    )


def measure_latency(model, *, threads: int = 1, runs: int = 50, warmup: int = 5, min_time: float = 0.0, runtime: str | None = None) -> LatencyStats:
    """Load ``model`` (bytes or path) with ``threads`` and time it at batch size 1."""
    from edgekit.runtime.interpreter import open_model

    runner = open_model(model, threads=threads, runtime=runtime)
    return summarize(time_invocations(runner, runs=runs, warmup=warmup, min_time=min_time), threads=threads)

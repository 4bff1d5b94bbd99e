"""Latency of one model on this machine: warm-up, then timed ``invoke()`` calls.

Only the interpreter call is timed (inputs are set once), so the figure is the model's cost,
not Python's. Enough runs are made to reach both ``runs`` and ``min_time``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgekit.runtime.interpreter import ModelRunner


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

    @property
    def throughput(self) -> float:
        """Inferences per second at the mean latency."""
        return 1e6 / self.mean if self.mean else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "throughput_per_s": round(self.throughput, 2)}


def sample_input(runner: ModelRunner, seed: int = 0) -> np.ndarray:
    """A deterministic random input of the model's first input shape and dtype."""
    spec = runner.inputs[0]
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=spec.shape, endpoint=True).astype(dtype)
    return rng.standard_normal(spec.shape).astype(dtype)


def time_invocations(runner: ModelRunner, *, runs: int, warmup: int = 5, min_time: float = 0.0) -> np.ndarray:
    """Invoke ``warmup`` times untimed, then until both ``runs`` and ``min_time`` are reached."""
    runner.set_raw_input(sample_input(runner))
    for _ in range(warmup):
        runner.invoke()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < runs or time.perf_counter() - started < min_time:
        begin = time.perf_counter_ns()
        runner.invoke()
        samples.append((time.perf_counter_ns() - begin) / 1000.0)
    return np.asarray(samples)


def summarize(samples_us: np.ndarray, *, threads: int | None) -> LatencyStats:
    """Percentiles and moments of a latency sample."""
    p50, p90, p99 = np.percentile(samples_us, [50, 90, 99])
    return LatencyStats(
        runs=int(samples_us.size),
        threads=threads,
        mean=round(float(samples_us.mean()), 2),
        std=round(float(samples_us.std()), 2),
        min=round(float(samples_us.min()), 2),
        p50=round(float(p50), 2),
        p90=round(float(p90), 2),
        p99=round(float(p99), 2),
        max=round(float(samples_us.max()), 2),
    )


def measure_latency(model, *, threads: int = 1, runs: int = 50, warmup: int = 5, min_time: float = 0.0, runtime: str | None = None) -> LatencyStats:
    """Load ``model`` (bytes or path) with ``threads`` and time it at batch size 1."""
    from edgekit.runtime.interpreter import open_model

    runner = open_model(model, threads=threads, runtime=runtime)
    return summarize(time_invocations(runner, runs=runs, warmup=warmup, min_time=min_time), threads=threads)

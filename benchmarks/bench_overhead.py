"""How much does ``edgekit bench`` add to what it measures?

Compares the median latency ``edgekit bench`` reports (``edgekit.runtime.bench.bench_model``)
with a bare ``interpreter.invoke()`` loop on the same model, the same backend and thread
count, in the same process. The two alternate for several rounds so drift in the machine's
load hits both alike; the medians over rounds are compared. A ratio near 1.00 means the
benchmark's figures are the model's cost, not the harness's.

    python benchmarks/bench_overhead.py BUNDLE_OR_TFLITE [--rounds 7] [--runs 2000] [--max-ratio 1.05]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit._quiet import quiet_native_output  # noqa: E402
from edgekit.runtime.backends import resolve_backend  # noqa: E402
from edgekit.runtime.bench import BenchSettings, bench_model, read_source  # noqa: E402
from edgekit.runtime.interpreter import tensor_spec  # noqa: E402
from edgekit.runtime.latency import random_input  # noqa: E402


def bare_median_us(model_bytes: bytes, *, threads: int, runs: int, warmup: int, runtime: str | None) -> float:
    """The plainest loop there is: the backend's Interpreter, one input, invoke() timed per call."""
    with quiet_native_output():  # the "Created XNNPACK delegate" line, as edgekit silences it
        interpreter = resolve_backend(runtime).Interpreter(model_content=model_bytes, num_threads=threads)
        interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], random_input(tensor_spec(detail)))
    for _ in range(warmup):
        interpreter.invoke()
    samples = []
    for _ in range(runs):
        begin = time.perf_counter_ns()
        interpreter.invoke()
        samples.append(time.perf_counter_ns() - begin)
    return float(np.median(samples)) / 1000.0


def measure(path: Path, *, rounds: int, runs: int, warmup: int, threads: int, runtime: str | None) -> dict:
    data = read_source(path).data
    settings = BenchSettings(threads=(threads,), runs=runs, warmup=warmup, min_time=0.0, runtime=runtime)
    bare, edgekit = [], []
    for index in range(rounds):
        order = ("bare", "edgekit") if index % 2 == 0 else ("edgekit", "bare")
        for which in order:
            if which == "bare":
                bare.append(bare_median_us(data, threads=threads, runs=runs, warmup=warmup, runtime=runtime))
            else:
                edgekit.append(bench_model(path, threads=threads, settings=settings).latency.p50)
    bare_us, edgekit_us = statistics.median(bare), statistics.median(edgekit)
    return {"bare_p50_us": round(bare_us, 2), "edgekit_p50_us": round(edgekit_us, 2), "ratio": round(edgekit_us / bare_us, 4), "rounds": rounds, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="bundle folder or .tflite file")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime", default=None)
    parser.add_argument("--max-ratio", type=float, default=None, help="exit 1 when the ratio is above this")
    args = parser.parse_args(argv)
    result = measure(args.model, rounds=args.rounds, runs=args.runs, warmup=args.warmup, threads=args.threads, runtime=args.runtime)
    backend = resolve_backend(args.runtime)
    print(f"model: {args.model}  runtime: {backend.name} {backend.version}  threads: {args.threads}")
    print(f"bare invoke() loop p50: {result['bare_p50_us']:.2f} us")
    print(f"edgekit bench p50:      {result['edgekit_p50_us']:.2f} us")
    print(f"ratio (edgekit / bare): {result['ratio']:.3f}  over {result['rounds']} alternating rounds of {result['runs']} runs")
    if args.max_ratio is not None and result["ratio"] > args.max_ratio:
        print(f"FAIL: ratio above {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

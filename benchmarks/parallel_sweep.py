"""The sample's sweep in this process vs on ``--workers 2``, side by side in one run.

Both arms run ``edgekit sweep samples/mnist_cnn.toml`` (the default grid: 4 sparsities x the
quantisation modes each of the recipe's 5 targets has; 56 variants today) as their own processes into their own empty
folders (each trains its own float model and keeps its own cache). Printed: each arm's wall
seconds, the ratio (goal: at most 0.75), whether every variant's ``model.tflite`` is the same
bytes in both, the figures that differ (latency aside), and, from the per-task seconds the
sequential arm measured, the projected wall time on 4, 8 and 16 workers: the part that runs
in the driver (data, the float model, bundling, the report) plus the makespan of the tasks
under longest-processing-time-first list scheduling.

Run: ``python benchmarks/parallel_sweep.py`` (about 20 minutes on 2 cores) on an otherwise
idle machine: other load lands on the workers' tasks and shows as a worse ratio. The figures go
to ``benchmarks/results/parallel_sweep.json`` (``--json`` elsewhere).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from _measure import REPO, run_measured  # benchmarks/_measure.py

RECIPE = REPO / "samples" / "mnist_cnn.toml"
LATENCY_KEYS = ("latency_us", "seconds", "target_report")


def arm(name: str, out: Path, *extra: str) -> dict:
    argv = [sys.executable, "-m", "edgekit", "sweep", str(RECIPE), "--out", str(out / name), *extra]
    code, seconds, rss, _, stderr = run_measured(argv, out / f"{name}-log", timeout=4 * 3600)
    if code != 0:
        raise SystemExit(f"{name} failed ({code}): {stderr.strip().splitlines()[-1] if stderr.strip() else ''}")
    report = json.loads((out / name / "report.json").read_text())
    models = {a["name"]: (out / name / a["path"] / "model.tflite").read_bytes() for a in report["artifacts"]}
    return {"seconds": seconds, "driver_peak_rss_mb": rss, "report": report, "models": models}


def makespan(durations: list[float], workers: int) -> float:
    """Longest-processing-time-first list scheduling: each task to the worker free first."""
    loads = [0.0] * workers
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + duration)
    return max(loads)


def differences(seq: dict, par: dict) -> list[str]:
    """Variant figures (latency and timings aside) that differ between the arms."""
    rows = {a["name"]: a for a in par["report"]["artifacts"]}
    found = []
    for row in seq["report"]["artifacts"]:
        other = rows.get(row["name"], {})
        found += [f"{row['name']}: {key}" for key in row if key not in LATENCY_KEYS and key != "pareto" and row[key] != other.get(key)]
    return found


def projection(seq: dict) -> dict:
    tasks = [t["seconds"] for t in seq["report"]["distributed"]["tasks"].values()]
    driver = max(0.0, seq["seconds"] - sum(tasks))
    return {
        "driver_seconds": round(driver, 1),
        "task_seconds": tasks,
        **{f"{n}_workers": round(driver + makespan(tasks, n), 1) for n in (1, 2, 4, 8, 16)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "parallel_sweep.json")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write both arms' output folders here (default: a temporary folder, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-parallel-") as folder:
        out = args.keep or Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        seq = arm("sequential", out)
        par = arm("parallel", out, "--workers", str(args.workers))
    same = sorted(seq["models"]) == sorted(par["models"]) and all(seq["models"][n] == par["models"][n] for n in seq["models"])
    differing = [n for n in seq["models"] if par["models"].get(n) != seq["models"][n]]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "variants": len(seq["models"]),
        "tf_threads_per_task": seq["report"]["distributed"]["tf_threads"],
        "sequential_seconds": seq["seconds"],
        f"workers_{args.workers}_seconds": par["seconds"],
        "ratio": round(par["seconds"] / seq["seconds"], 3),
        "same_bytes": same,
        "differing_models": differing,
        "differing_figures": differences(seq, par),
        "worker_peak_rss_mb": par["report"]["distributed"]["worker_peak_rss_mb"],
        "parallel_tasks": par["report"]["distributed"]["tasks"],
        "projected_seconds": projection(seq),
    }
    print(f"{result['variants']} variants: sequential {seq['seconds']:.1f} s, --workers {args.workers} {par['seconds']:.1f} s, ratio {result['ratio']:.2f} (goal <= 0.75)")
    print(f"same .tflite bytes: {same}" + (f" (differ: {', '.join(differing)})" if differing else ""))
    print(f"figures that differ (latency aside): {result['differing_figures'] or 'none'}")
    print(f"worker peak RSS (MB): {result['worker_peak_rss_mb']}")
    p = result["projected_seconds"]
    print(f"projected wall time: driver part {p['driver_seconds']} s + task makespan -> " + ", ".join(f"{n} workers {p[f'{n}_workers']} s" for n in (1, 2, 4, 8, 16)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

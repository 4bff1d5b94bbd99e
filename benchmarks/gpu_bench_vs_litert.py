"""``edgekit bench --delegate gpu`` against LiteRT's own benchmark (``benchmark_litert_model.py --use_gpu``).

Both run the same model on the same GPU accelerator (``CompiledModel`` with GPU|CPU) on the
same Vulkan device, alternating for several rounds so machine load hits both alike. LiteRT's
tool times ``run_by_name`` alone; on WebGPU that call returns once the work is queued, so its
figure is the enqueue cost, not the inference. edgekit times the run plus reading the outputs
(which waits for the GPU), the way an app gets its answer. The script prints both medians, and
LiteRT's loop with a read of the outputs added (``litert + read``), the like-for-like figure.

    python benchmarks/gpu_bench_vs_litert.py MODEL.tflite... [--rounds 3] [--runs 30]

SwiftShader timings are Vulkan on this machine's CPU, not a phone GPU's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.runtime.bench import BenchSettings, bench_model  # noqa: E402
from edgekit.runtime.gpu_driver import vulkan_drivers  # noqa: E402

LITERT_WITH_READ = """
import os, sys, time, statistics, numpy as np
from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator as H
model = CompiledModel.from_file(sys.argv[1], hardware_accel=H.GPU | H.CPU)
inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
key = next(iter(model.get_signature_list()))
for buffer, detail in zip(inputs, model.get_input_tensor_details(key).values()):
    buffer.write(np.random.default_rng(0).random(detail["shape"]).astype(detail["dtype"]))
sizes = [(int(np.prod(d["shape"])), np.dtype(d["dtype"])) for d in model.get_output_tensor_details(key).values()]
times = []
for i in range(int(sys.argv[2]) + 5):
    start = time.perf_counter()
    model.run_by_index(0, inputs, outputs)
    for buffer, (count, dtype) in zip(outputs, sizes):
        buffer.read(count, dtype)
    if i >= 5:
        times.append((time.perf_counter() - start) * 1e6)
print(statistics.median(times), flush=True)
os._exit(0)
"""


def driver_env(folder: str) -> dict:
    driver = vulkan_drivers()[0]
    runtime_dir = Path(folder) / "xdg"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    return driver.child_env(dict(os.environ, PYTHONPATH=str(ROOT)), str(runtime_dir))


def litert_median_us(model: Path, runs: int, env: dict, folder: str) -> float:
    """LiteRT's own tool: ``run_by_name`` timed alone."""
    result = Path(folder) / "litert.json"
    tool = [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={model}", "--use_gpu", f"--num_runs={runs}", f"--result_json={result}"]
    subprocess.run(tool, capture_output=True, text=True, env=env, timeout=900, check=True)
    return json.loads(result.read_text())["latency"]["median_ms"] * 1000.0  # rounded by the tool to 0.01 ms


def litert_with_read_us(model: Path, runs: int, env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", LITERT_WITH_READ, str(model), str(runs)], capture_output=True, text=True, env=env, timeout=900, check=True)
    return float(done.stdout.split()[-1])


def edgekit_p50_us(model: Path, runs: int) -> tuple[float, str]:
    result = bench_model(model, threads=1, settings=BenchSettings(runs=runs, warmup=5, min_time=0.0, delegate="gpu"))
    return result.latency.p50, result.accelerator["adapter"]["name"]


def compare(model: Path, rounds: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = driver_env(folder)
        ours, litert, litert_read, adapter = [], [], [], ""
        for index in range(rounds):
            order = ("edgekit", "litert", "read") if index % 2 == 0 else ("read", "litert", "edgekit")
            for which in order:
                if which == "edgekit":
                    p50, adapter = edgekit_p50_us(model, runs)
                    ours.append(p50)
                elif which == "litert":
                    litert.append(litert_median_us(model, runs, env, folder))
                else:
                    litert_read.append(litert_with_read_us(model, runs, env))
    med = statistics.median
    return {
        "model": model.name,
        "adapter": adapter,
        "edgekit_p50_us": round(med(ours), 1),
        "litert_run_only_us": round(med(litert), 1),
        "litert_plus_read_us": round(med(litert_read), 1),
        "edgekit_vs_litert_plus_read": round(med(ours) / med(litert_read), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rows = [compare(model, args.rounds, args.runs) for model in args.models]
    print("| model | adapter | edgekit bench p50 µs | LiteRT tool median µs (run only) | LiteRT + read outputs µs | edgekit / (LiteRT + read) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['adapter']} | {r['edgekit_p50_us']:,.1f} | {r['litert_run_only_us']:,.1f} | {r['litert_plus_read_us']:,.1f} | {r['edgekit_vs_litert_plus_read']:.3f} |")
    print(f"\n{args.rounds} rounds x {args.runs} runs, medians over rounds; SwiftShader timings are not phone GPU timings")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the gpu target's static prediction match the real LiteRT GPU accelerator?

For every model of ``tests/_gpu_conformance.py`` (MLPerf Tiny, Keras applications, several
outputs, dynamic shapes, regression, embedding, op probes), converted as the gpu target ships
it (float16, batch 1) and with a dynamic batch, this prints one row: the prediction of the
predictor before this change (``--baseline``, read from git) and now, what the accelerator did
(``edgekit.runtime.gpu_accelerator``: ops on the GPU, the ops LiteRT left to the CPU), and
``CompiledModel(GPU|CPU).is_fully_accelerated()`` asked directly in a fresh process. "all"
means every op on the GPU; LiteRT's own ``fully_accelerated`` also counts ops XNNPACK took.

    python benchmarks/gpu_predicted_vs_measured.py [--cache DIR] [--baseline COMMIT] [--json FILE] [--only TEXT]

Needs a GPU accelerator here (a GPU's Vulkan driver, or SwiftShader from Debian's chromium).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.runtime.gpu_accelerator import run_on_gpu  # noqa: E402
from edgekit.targets._gpu_predict import predict  # noqa: E402
from edgekit.tflite.graph import read_tflite  # noqa: E402
from tests._gpu_conformance import ask_directly, models  # noqa: E402

BASELINE = "f6f7772"  # main before the predictor was cross-checked


def load_baseline(commit: str):
    """The gpu check as it was at ``commit`` (targets/gpu.py + targets/_gpu_ops.py), or None."""
    def source(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True, text=True, check=True).stdout

    try:
        ops_module = sys.modules["baseline_gpu_ops"] = types.ModuleType("baseline_gpu_ops")
        exec(compile(source("targets/_gpu_ops.py"), "baseline_gpu_ops", "exec"), ops_module.__dict__)
        code = source("targets/gpu.py").replace("from edgekit.targets import _gpu_ops as spec", "import baseline_gpu_ops as spec")
        gpu_module = sys.modules["baseline_gpu"] = types.ModuleType("baseline_gpu")
        exec(compile(code, "baseline_gpu", "exec"), gpu_module.__dict__)
        return gpu_module.check
    except (subprocess.CalledProcessError, OSError, SyntaxError, ImportError) as exc:
        print(f"(no baseline column: {exc})", file=sys.stderr)
        return None


def predicted(model_bytes: bytes) -> str:
    graph = read_tflite(model_bytes)
    p = predict(graph)
    if p.refusal:
        return "refused"
    return "all" if p.gpu_ops == len(p.placed) else f"{p.gpu_ops}/{len(p.placed)}" if p.gpu_ops else "none"


def baseline_verdict(check, model_bytes: bytes) -> str:
    report = check(model_bytes)
    d = report.details
    if not report.runnable:
        return "none"
    return "all" if d["gpu_ops"] == d["op_count"] else f"{d['gpu_ops']}/{d['op_count']}"


def measured(run) -> str:
    if run.status != "ok":
        return run.status
    if run.on_gpu == "all":
        return "all"
    if run.on_gpu == "none":
        return "none"
    return f"{run.log.gpu_ops}/{run.log.gpu_ops + run.log.cpu_ops}" if run.log.cpu_ops is not None else "partial"


def agrees(prediction: str, measurement: str) -> bool:
    return prediction == measurement or (prediction not in ("all", "none", "refused") and measurement == prediction)


def row(model, variant: str, data: bytes, baseline) -> dict:
    started = time.perf_counter()
    run = run_on_gpu(data, timeout=600)
    direct = ask_directly(data, run.driver) if run.status in ("ok", "refused") else "-"
    fallback = sorted({op for op, _ in run.log.fallback if op != "DEQUANTIZE"})
    result = {
        "model": model.name,
        "source": model.source,
        "variant": variant,
        "ops": len(read_tflite(data).main.operators),
        "before": baseline_verdict(baseline, data) if baseline else "-",
        "predicted": predicted(data),
        "measured": measured(run),
        "fully_accelerated": run.fully_accelerated if run.status == "ok" else None,
        "asked_directly": direct,
        "cpu_fallback": fallback,
        "reason": run.reason,
        "adapter": run.adapter.name if run.adapter else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    result["agrees"] = agrees(result["predicted"], result["measured"])
    result["direct_agrees"] = run.status != "ok" or direct == str(run.fully_accelerated)
    return result


def cached_artifact(model, variant: str, cache: Path | None) -> bytes:
    if cache is None:
        return model.artifact(variant)
    path = cache / f"{model.name}-{variant}.tflite".replace(" ", "_").replace("/", "_").replace(":", "")
    if not path.is_file():
        path.write_bytes(model.artifact(variant))
    return path.read_bytes()


def markdown(rows: list[dict]) -> str:
    """One line per model; where it has both, "batch 1 · dynamic batch" in each cell."""
    lines = [
        "| model | variant(s) | ops | predicted before | predicted now | measured on the GPU | `is_fully_accelerated()`: recorded / asked directly | on the CPU (LiteRT's list) |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    for name, group in by_model.items():
        cell = lambda key: " · ".join(str(r[key]) for r in group)  # noqa: E731
        now = " · ".join(r["predicted"] + ("" if r["agrees"] else " ✗") for r in group)
        direct = " · ".join(f"{_answer(r['fully_accelerated'])} / {r['asked_directly']}" for r in group)
        fallback = ", ".join(sorted({op for r in group for op in r["cpu_fallback"]})) or "-"
        lines.append(f"| {name} | {cell('variant')} | {cell('ops')} | {cell('before')} | {now} | {cell('measured')} | {direct} | {fallback} |")
    return "\n".join(lines)


def _answer(value) -> str:
    return "-" if value is None else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the converted models here (reruns skip converting)")
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the predictor to compare with ('' for none)")
    parser.add_argument("--json", type=Path, help="also write every row as JSON")
    parser.add_argument("--only", default="", help="only models whose name contains this")
    args = parser.parse_args()
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    baseline = load_baseline(args.baseline) if args.baseline else None
    rows = []
    for model in models():
        if args.only.lower() not in model.name.lower():
            continue
        for variant in model.variants:
            rows.append(row(model, variant, cached_artifact(model, variant, args.cache), baseline))
            r = rows[-1]
            print(f"{r['model']} [{r['variant']}]: predicted {r['predicted']}, measured {r['measured']}, fully_accelerated {r['fully_accelerated']} (direct {r['asked_directly']}) {r['seconds']} s", file=sys.stderr, flush=True)
    adapters = sorted({r["adapter"] for r in rows if r["adapter"]})
    print(markdown(rows))
    print(f"\nadapter: {', '.join(adapters) or 'none'}; rows {len(rows)}; prediction agrees {sum(r['agrees'] for r in rows)}/{len(rows)}; "
          f"recorded fully_accelerated equals the direct answer {sum(r['direct_agrees'] for r in rows)}/{len(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["agrees"] and r["direct_agrees"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

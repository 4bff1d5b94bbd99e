"""The gpu target's measured verdict: one artifact run on the real LiteRT GPU accelerator.

``measure`` runs the evaluation inputs (or one random sample) on the accelerator in a child
process, compares every output with the CPU (XNNPACK) path, and writes it all under
``target_report.details.gpu_accelerator``: the adapter as LiteRT names it, ``fully_accelerated``
as ``CompiledModel.is_fully_accelerated()`` answers, what the GPU delegate left to the CPU,
the per-output error, accuracy on both paths where labels exist, and latency with the
adapter's name beside it. Where no accelerator can be created the verdict stays the static
prediction, and says so.
"""

from __future__ import annotations

from typing import Any, Mapping

from edgekit.errors import InputError
from edgekit.runtime.gpu_accelerator import DEFAULT_TIMEOUT_S, GpuRun, run_on_gpu
from edgekit.target import PackageInput, TargetBuild
from edgekit.targets import _gpu_compare
from edgekit.targets import _gpu_ops as spec

OPTIONS = {"accelerator": "auto", "accelerator_samples": 1000, "accelerator_timeout_s": DEFAULT_TIMEOUT_S}
ACCELERATOR_MODES = ("auto", "off")
LATENCY = {"runs": 20, "warmup": 3, "min_time": 0.5, "max_time": 20.0}
EVALUATION_SECONDS = 120.0  # the accelerator runs at most this long on the evaluation inputs


def measure(model_bytes: bytes, given: PackageInput, *, predicted_all_on_gpu: bool) -> TargetBuild:
    """The accelerator's verdict on ``model_bytes``, as the gpu target's package step."""
    options = read_options(given.options)
    if options["accelerator"] == "off":
        return _predicted_only("the GPU accelerator is turned off ([target.gpu] accelerator = \"off\")")
    from edgekit.runtime import open_model

    cpu = open_model(model_bytes)  # the CPU (XNNPACK) path every other figure is measured on
    raw = _gpu_compare.raw_inputs(cpu, given.x_test, options["accelerator_samples"]) if _has_data(given.x_test) else None
    run = run_on_gpu(model_bytes, inputs=raw, latency=LATENCY, timeout=options["accelerator_timeout_s"], max_seconds=EVALUATION_SECONDS)
    if run.status == "unavailable":
        return _predicted_only(run.reason)
    details = describe(run, predicted_all_on_gpu=predicted_all_on_gpu)
    if run.ran:
        details.update(_against_cpu(run, cpu, raw, given))
    return TargetBuild(details={"gpu_accelerator": details, "verdict": "measured"}, notes=notes(run, details), runnable=runnable(run))


def _against_cpu(run: GpuRun, cpu, raw, given: PackageInput) -> dict[str, Any]:
    """Per-output error of the GPU path against the CPU path, on the samples the GPU ran."""
    if raw is None:
        return {"inputs": "one random input (no evaluation data)"}
    count = min(len(v) for v in run.outputs.values()) if run.outputs else 0
    gpu = {index: values[:count] for index, values in run.outputs.items()}
    rows = _gpu_compare.compare(cpu, gpu, _gpu_compare.cpu_outputs(cpu, raw, count), y_test=given.y_test, task=given.task)
    return {"inputs": f"{count} evaluation inputs", "outputs": rows}


def read_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The accelerator settings of ``[target.gpu]``, validated."""
    merged = {**OPTIONS, **{k: v for k, v in options.items() if k in OPTIONS}}
    if merged["accelerator"] not in ACCELERATOR_MODES:
        raise InputError(f"[target.gpu] accelerator must be one of {', '.join(ACCELERATOR_MODES)}, not {merged['accelerator']!r}")
    for key in ("accelerator_samples", "accelerator_timeout_s"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise InputError(f"[target.gpu] {key} must be a positive number, not {value!r}", hint=f"e.g. {key} = {OPTIONS[key]:g}")
    merged["accelerator_samples"] = int(merged["accelerator_samples"])
    return merged


def describe(run: GpuRun, *, predicted_all_on_gpu: bool) -> dict[str, Any]:
    """Everything the run found, JSON-ready."""
    details: dict[str, Any] = {
        "measured": True,
        "status": run.status,
        "verdict": run.verdict(),
        "runtime": f"ai-edge-litert {run.litert_version}, CompiledModel(GPU|CPU)",
        "driver": run.driver,
        "adapter": run.adapter.to_dict() if run.adapter else None,
        "fully_accelerated": run.fully_accelerated,
        "on_gpu": run.on_gpu,
        "predicted_all_on_gpu": predicted_all_on_gpu,
        "prediction_agrees": predicted_all_on_gpu == (run.on_gpu == "all"),
    }
    if run.ran:
        details.update(_placement(run), **_timings(run))
    else:
        details["reason"] = run.reason
    return details


def _placement(run: GpuRun) -> dict[str, Any]:
    return {
        "gpu_ops": run.log.gpu_ops,  # None: LiteRT printed no counts (the GPU took every op)
        "cpu_ops": run.log.cpu_ops,
        "gpu_partitions": run.log.gpu_partitions,
        "cpu_fallback": [{"op": op, "reason": _fallback_reason(op, reason)} for op, reason in run.log.fallback],
    }


def _fallback_reason(op: str, reason: str) -> str:
    if reason:
        return reason
    return spec.FP16_DEQUANTIZE_ON_CPU if op == "DEQUANTIZE" else "LiteRT gives no reason"


def _timings(run: GpuRun) -> dict[str, Any]:
    adapter = run.adapter.name if run.adapter else "unknown adapter"
    latency = dict(run.latency_us or {})
    timing = {"compile_ms": run.compile_ms, "first_inference_ms": run.first_inference_ms, "latency_us": {**latency, "adapter": adapter}}
    if run.timing_note():
        timing["timing_note"] = run.timing_note()
    return timing


def runnable(run: GpuRun) -> bool | None:
    """The measured answer to "does it run on the GPU"; None where nothing was measured."""
    if run.status == "unavailable":
        return None
    return run.ran and run.on_gpu in ("all", "partial")


def notes(run: GpuRun, details: Mapping[str, Any]) -> tuple[str, ...]:
    """One line for the verdict and its error against the CPU, one for timing, one if the prediction differs."""
    lines = [f"GPU accelerator ({details['runtime'].split(',')[0]}{_backend(run)}): {run.verdict()}{_error_text(details)}"]
    if run.ran and run.latency_us:
        note = f" ({run.timing_note()})" if run.timing_note() else ""
        lines.append(f"GPU p50 {run.latency_us['p50']:,.0f} µs on {run.adapter.name if run.adapter else 'the GPU'}{note}")
    if not details["prediction_agrees"]:
        said = "all ops on the GPU" if details["predicted_all_on_gpu"] else "not all ops on the GPU"
        lines.append(f"the static prediction said {said}; the accelerator's verdict above is what counts")
    return tuple(lines)


def _backend(run: GpuRun) -> str:
    return f", {run.adapter.backend}" if run.adapter else ""


def _error_text(details: Mapping[str, Any]) -> str:
    outputs = [o for o in details.get("outputs", ()) if o.get("samples")]
    if not outputs:
        return ""
    worst = min(outputs, key=lambda o: o["snr_db"] if o["snr_db"] is not None else float("inf"))
    snr = "identical" if worst["snr_db"] is None else f"SNR {worst['snr_db']:.1f} dB"
    text = f"; vs the CPU on {details['inputs']}: {snr}, max abs error {max(o['max_abs_error'] for o in outputs):.3g}"
    agreement = [o["top1_agreement"] for o in outputs if "top1_agreement" in o]
    if agreement:
        text += f", top-1 agreement {min(agreement) * 100:.2f} %"
    return text


def _predicted_only(reason: str) -> TargetBuild:
    details = {"gpu_accelerator": {"measured": False, "reason": reason}, "verdict": "predicted"}
    return TargetBuild(details=details, notes=(f"GPU accelerator not run ({reason}): the placement above is the static prediction",))


def _has_data(x_test: Any) -> bool:
    if x_test is None:
        return False
    if isinstance(x_test, Mapping):
        return bool(x_test)
    return len(x_test) > 0

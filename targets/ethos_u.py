"""Arm Ethos-U55/U65 NPUs with a Cortex-M host, compiled by the real Vela (``ethos-u-vela``).

Op placement is Vela's own decision, not a lookup table: ``check`` compiles the model with
the default accelerator and compares the ops going in with the ops left beside the
``ethos-u`` custom op coming out; whatever is left runs on the Cortex-M through TFLM and must
have a TFLM kernel. ``package`` compiles with the recipe's accelerator settings and ships the
``_vela.tflite``, its C array, an op resolver and Vela's figures (NPU share, SRAM, flash,
cycles, inference time). The NPU is not simulated here: those figures are Vela's estimates.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any, Mapping

from edgekit.converters.vela import VelaResult, compile_vela
from edgekit.errors import InputError, ModelError
from edgekit.target import OpPlacement, PackageInput, Target, TargetBuild, TargetReport
from edgekit.targets import _budgets as budgets
from edgekit.targets import _tflm
from edgekit.targets._micro_sources import TensorInfo, micro_files
from edgekit.targets._tflm_fixes import tflm_loadable
from edgekit.targets.mcu import CONVERTER_OPTIONS
from edgekit.tflite.graph import read_tflite

__all__ = ["ETHOS_U"]

FOLDER = "ethos-u"
NPU_OP = "ethos-u"
OPTIONS: dict[str, Any] = {
    "accelerator": "ethos-u55-128",
    "system_config": None,
    "memory_mode": None,
    "config": None,
    "optimise": "Performance",
    "timeout_s": 300,
    "flash_kb": None,  # budgets on Vela's own figures (or a board's: edgekit.targets.boards)
    "ram_kb": None,
    "board": None,
}


def check(tflite_bytes: bytes) -> TargetReport:
    """Compile with the default accelerator and report what Vela put on the NPU and why not."""
    return placement_report(tflite_bytes, compile_cached(tflite_bytes, **vela_settings(OPTIONS)))


def vela_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """compile_vela keyword arguments from the target's options (recipe ``[target.ethos-u]``)."""
    merged = {**OPTIONS, **options}
    timeout = merged["timeout_s"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InputError(f"[target.ethos-u] timeout_s must be a positive number of seconds, not {timeout!r}")
    keys = ("accelerator", "system_config", "memory_mode", "config", "optimise")
    return {**{k: merged[k] for k in keys}, "timeout": float(timeout)}


@functools.lru_cache(maxsize=8)
def _compile(model_bytes: bytes, settings: tuple) -> VelaResult:
    return compile_vela(model_bytes, **dict(settings))


def compile_cached(model_bytes: bytes, **settings: Any) -> VelaResult:
    """Vela once per model and settings: check and package ask for the same compile."""
    return _compile(bytes(model_bytes), tuple(sorted(settings.items())))


def placement_report(model_bytes: bytes, result: VelaResult) -> TargetReport:
    """NPU/CPU placement per TFLite op kind, from the ops before and after Vela."""
    before = Counter(op.name for op in read_tflite(model_bytes).all_ops)
    after_graph = read_tflite(result.model)
    on_cpu = Counter(op.name for op in after_graph.all_ops if op.name != NPU_OP)
    reasons = {}
    for fallback in result.fallbacks:
        reasons.setdefault(fallback.op, fallback.reason)
    placements = []
    for op in sorted(set(before) | set(on_cpu)):
        cpu = on_cpu.get(op, 0)
        npu = max(before.get(op, 0) - cpu, 0)
        if npu:
            placements.append(OpPlacement(op=op, count=npu, placement="npu"))
        if cpu:
            reason = reasons.get(op, "left on the Cortex-M by Vela")
            placements.append(OpPlacement(op=op, count=cpu, placement="cpu", reason=reason))
    npu_total = sum(p.count for p in placements if p.placement == "npu")
    total = sum(before.values())
    refused = _tflm.refusals(after_graph)
    notes = [f"CPU op {op} has no TFLM kernel: {reason}" for op, reason in refused]
    if not npu_total:
        notes.append("nothing maps to the Ethos-U NPU (it needs int8 or int16 activations): quantize to full int8")
    details = {
        "npu_op_share": round(npu_total / total, 4) if total else 0.0,
        "npu_ops": npu_total,
        "cpu_ops": total - npu_total,
        "vela_npu_op_share": round(result.npu_op_share, 4),
        **result.figures(),
    }
    return TargetReport(
        target="ethos-u",
        runnable=bool(npu_total) and not refused,
        ops=tuple(placements),
        notes=tuple(notes),
        details=details,
    )


def package(model_bytes: bytes, given: PackageInput) -> TargetBuild:
    """Compile with the recipe's accelerator settings; ship the Vela model, its C array and
    figures; Vela's SRAM and flash must fit the budgets (``flash_kb``/``ram_kb`` or a board)."""
    limits = budgets.read_budgets(given.options, target="ethos-u")
    result = compile_cached(model_bytes, **vela_settings(given.options))
    report = placement_report(model_bytes, result)
    if not report.runnable:
        raise ModelError(f"the ethos-u target cannot use this model: {'; '.join(report.notes)}")
    budgets.check_budget("ethos-u", "flash_kb", result.flash_bytes, limits["flash_kb"], what="Vela model (flash)")
    budgets.check_budget("ethos-u", "ram_kb", arena_bytes(result), limits["ram_kb"], what=f"tensor arena in {result.memory_mode} mode (Vela's SRAM figure)")
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", given.name) or "model"
    files = {
        f"{stem}_vela.tflite": result.model,
        "vela_summary.csv": _summary_csv(result),
        **_sources(model_bytes, result, given.name),
    }
    details = {**report.details, "vela_model_bytes": len(result.model), "arena_bytes": arena_bytes(result), **{k: v for k, v in limits.items() if v is not None}}
    details["fits_boards"] = budgets.boards_that_fit("ethos-u", flash=result.flash_bytes, ram=arena_bytes(result))
    notes = (_note(details), *(() if any(limits.values()) else (budgets.boards_note("ethos-u", details["fits_boards"]),)))
    return TargetBuild(files={f"{FOLDER}/{k}": v for k, v in files.items()}, details=details, notes=notes)


def _sources(model_bytes: bytes, result: VelaResult, name: str) -> dict[str, bytes]:
    from edgekit.runtime import open_model

    runner = open_model(model_bytes, default_delegates=False)  # Vela keeps the model's I/O tensors
    extra = (
        "Ethos-U: build TFLM with the Ethos-U kernel (OPTIMIZED_KERNEL_DIR=ethos_u) and link Arm's "
        "ethos-u-core-driver; `AddEthosU()` registers the NPU op.",
        f"Vela ({result.accelerator}, {result.system_config}, {result.memory_mode}): {result.sram_bytes:,} bytes SRAM, "
        f"{result.flash_bytes:,} bytes flash, {result.cycles_total:,} cycles, about "
        f"{result.inference_time_s * 1000:.3f} ms per inference (estimate, not measured).",
    )
    return micro_files(
        result.model,
        read_tflite(result.model),
        name=name,
        title=f"on Arm {result.accelerator} (Vela + TensorFlow Lite Micro)",
        arena_bytes=arena_bytes(result),
        arena_origin=f"Vela's {result.summary.get('feature_map_storage_area', 'SRAM')} figure in {result.memory_mode} "
        "mode: the NPU's activations and scratch; add TFLM's own bookkeeping for the CPU ops on top",
        inputs=[TensorInfo.from_spec(s) for s in runner.inputs[:1]],
        outputs=[TensorInfo.from_spec(s) for s in runner.outputs[:1]],
        extra=extra,
    )


def arena_bytes(result: VelaResult) -> int:
    """The tensor arena Vela plans: in SRAM (Shared_Sram, Sram_Only) or in DRAM (Dedicated_Sram)."""
    in_dram = result.summary.get("feature_map_storage_area", "SRAM").upper() == "DRAM"
    return result.dram_bytes if in_dram else result.sram_bytes


def _summary_csv(result: VelaResult) -> bytes:
    keys = list(result.summary)
    return (",".join(keys) + "\n" + ",".join(str(result.summary[k]) for k in keys) + "\n").encode("utf-8")


def _note(details: Mapping[str, Any]) -> str:
    return (
        f"Vela {details['accelerator']}: {details['npu_op_share'] * 100:.1f} % of ops on the NPU, "
        f"SRAM {details['sram_bytes']:,} B, flash {details['flash_bytes']:,} B, "
        f"{details['cycles_total']:,} cycles = {details['inference_time_ms']:.3f} ms (Vela estimate)"
    )


ETHOS_U = Target(
    name="ethos-u",
    description="Arm Ethos-U55/U65 NPUs with a Cortex-M host, compiled by Vela (full int8; default ethos-u55-128)",
    quantization="int8",
    quantizations=("int8",),
    io_dtype="int8",
    check=check,
    converter_options=CONVERTER_OPTIONS,
    options=OPTIONS,
    package=package,
    rewrite=tflm_loadable,  # the ops Vela leaves to the Cortex-M run in TFLM
    static_batch=True,  # every artifact at batch 1: TFLM and Vela plan static shapes
    budget_figures=("flash", "ram", "latency"),  # Vela's flash, SRAM and inference-time estimate
)

"""Microcontroller target: TensorFlow Lite Micro on Cortex-M class chips (full int8, int8 I/O).

``check`` reads the flatbuffer and refuses what TFLM cannot run (float16, hybrid
dynamic-range ops, sparse DENSIFY, ops without a TFLM kernel). ``package`` then does the work
an embedded engineer would: checks the flash budget, measures the tensor arena in the real
``tflite_micro`` interpreter and checks the RAM budget, runs the test inputs through TFLM and
compares every raw output with LiteRT's (:mod:`edgekit.targets._litert_compare`), and emits the C
array, an op resolver registering exactly the model's ops, and a short integration note.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

import numpy as np

from edgekit.errors import BudgetError, InputError, ModelError
from edgekit.target import OpPlacement, PackageInput, Target, TargetBuild, TargetReport
from edgekit.targets import _tflm
from edgekit.targets._litert_compare import agreement_note, compare_with_litert
from edgekit.targets._micro_sources import TensorInfo, micro_files, resolver_methods
from edgekit.tflite_graph import TFLiteGraph, read_tflite

FOLDER = "mcu"
KIB = 1024
# Per-tensor dense weights: TFLM keeps a multiplier and shift per output channel in the arena,
# so per-channel FULLY_CONNECTED costs RAM and flash a microcontroller rarely has to spare.
CONVERTER_OPTIONS = {"_experimental_disable_per_channel_quantization_for_dense_layers": True}


def check(tflite_bytes: bytes) -> TargetReport:
    """Which ops TFLM has kernels for, and what makes a model unrunnable there."""
    graph = read_tflite(tflite_bytes)
    refused = dict(_tflm.refusals(graph))
    op_names = [op.name for op in graph.all_ops]
    placements = []
    for op, count in sorted(Counter(op_names).items()):
        if op in refused:
            placements.append(OpPlacement(op=op, count=count, placement="refused", reason=refused[op]))
        else:
            placements.append(OpPlacement(op=op, count=count, placement="tflm"))
    if "DENSIFY" in refused and "DENSIFY" not in op_names:
        placements.append(OpPlacement(op="DENSIFY", count=graph.sparse_tensor_count, placement="refused", reason=refused["DENSIFY"]))
    notes = [f"{op}: {reason}" for op, reason in refused.items()]
    if not refused and _float_model(graph):
        notes.append("float32 model: runs on TFLM's float kernels; full int8 is 4x smaller and uses CMSIS-NN")
    return TargetReport(
        target="mcu",
        runnable=not refused,
        ops=tuple(placements),
        notes=tuple(notes),
        details={"op_count": len(op_names), "resolver_ops": len(resolver_methods(graph)), "flash_bytes": len(tflite_bytes)},
    )


def _float_model(graph: TFLiteGraph) -> bool:
    return any(t in _tflm.FLOAT_TYPES for op in graph.all_ops for t in op.output_types)


def package(model_bytes: bytes, given: PackageInput) -> TargetBuild:
    """Budgets, arena, TFLM-vs-LiteRT verification and the C sources, for one model."""
    graph = _runnable_graph(model_bytes)
    budgets = read_budgets(given.options)
    check_budget("flash_kb", len(model_bytes), budgets["flash_kb"], what="model (flash)")
    arena = _tflm.measure_arena(model_bytes)
    check_budget("ram_kb", arena.total, budgets["ram_kb"], what="tensor arena (RAM)")
    interpreter = _tflm.load(model_bytes, arena.total)
    details: dict[str, Any] = {
        "flash_bytes": len(model_bytes),
        **arena.to_dict(),
        "tflm_version": _tflm.version(),
        **{k: v for k, v in budgets.items() if v is not None},
    }
    notes = [f"TFLM tensor arena {arena.total:,} bytes, model {len(model_bytes):,} bytes of flash"]
    if given.x_test is not None and len(given.x_test):
        details.update(compare_with_litert(interpreter, model_bytes, np.asarray(given.x_test)))
    if details.get("tflm_samples"):
        notes.append(agreement_note(details))
    files = _mcu_files(model_bytes, graph, interpreter, name=given.name, arena_bytes=arena.total)
    return TargetBuild(files={f"{FOLDER}/{k}": v for k, v in files.items()}, details=details, notes=tuple(notes))


def _runnable_graph(model_bytes: bytes) -> TFLiteGraph:
    graph = read_tflite(model_bytes)
    refused = _tflm.refusals(graph)
    if refused:
        reasons = "; ".join(f"{op}: {reason}" for op, reason in refused)
        raise ModelError(f"TFLite Micro cannot run this model ({reasons})", hint="convert with full int8 quantization")
    return graph


def read_budgets(options: Mapping[str, Any]) -> dict[str, float | None]:
    """``flash_kb``/``ram_kb`` from the target options: None (no budget) or a positive number."""
    budgets = {}
    for key in ("flash_kb", "ram_kb"):
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise InputError(f"[target.mcu] {key} must be a positive number of KiB, not {value!r}", hint=f"e.g. {key} = 256")
        budgets[key] = value
    return budgets


def check_budget(key: str, measured: int, budget_kb: float | None, *, what: str) -> None:
    """Raise BudgetError when ``measured`` bytes exceed ``budget_kb`` KiB."""
    if budget_kb is None or measured <= budget_kb * KIB:
        return
    raise BudgetError(
        f"mcu budget {key} = {budget_kb:g} exceeded: the {what} needs {measured:,} bytes "
        f"({measured / KIB:.1f} KiB), {measured - budget_kb * KIB:,.0f} bytes over",
        hint=f"raise [target.mcu] {key}, or shrink the model (prune, cluster, fewer channels)",
    )


def _mcu_files(model_bytes: bytes, graph: TFLiteGraph, interpreter, *, name: str, arena_bytes: int) -> dict[str, bytes]:
    return micro_files(
        model_bytes,
        graph,
        name=name,
        title="on a microcontroller (TensorFlow Lite Micro)",
        arena_bytes=arena_bytes,
        arena_origin=f"measured by tflite-micro {_tflm.version()}'s recording allocator on x86-64 and verified "
        "by loading with exactly this arena; 32-bit MCUs need the same or slightly less",
        inputs=[TensorInfo.from_detail(interpreter.get_input_details(0))],
        outputs=[TensorInfo.from_detail(interpreter.get_output_details(0))],
    )


MCU = Target(
    name="mcu",
    description="Microcontrollers via TensorFlow Lite Micro (full int8, int8 I/O; C array, op resolver, measured arena)",
    quantization="int8",
    quantizations=("int8", "float32"),
    io_dtype="int8",
    check=check,
    converter_options=CONVERTER_OPTIONS,
    options={"flash_kb": None, "ram_kb": None},
    package=package,
)

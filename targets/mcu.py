"""Microcontroller target: TensorFlow Lite Micro on Cortex-M class chips (full int8, int8 I/O).

``check`` reads the flatbuffer and refuses what TFLM cannot run (float16, hybrid
dynamic-range ops, sparse DENSIFY, ops without a TFLM kernel); it needs no tflite-micro.
``package`` then does the work an embedded engineer would, in the real ``tflite_micro``
interpreter: measures the tensor arena, compares every raw output with LiteRT's
(:mod:`edgekit.targets._litert_compare`), LUT-compresses the constant tensors whose values fit a
small table and plans the arena offline where TFLM's planner leaves room
(:mod:`edgekit.targets._mcu_fit`; each kept only when TFLM reproduces every output), checks the
flash and RAM budgets on what ships, and emits the C array, an op resolver registering exactly
the model's ops (DECODE included) and a short integration note.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Mapping

import numpy as np

from edgekit.errors import ModelError
from edgekit.target import OpPlacement, PackageInput, Target, TargetBuild, TargetReport
from edgekit.targets import _arena_plan, _mcu_fit, _tflm
from edgekit.targets import _budgets as budgets
from edgekit.targets._litert_compare import agreement_note, compare_with_litert
from edgekit.targets._micro_sources import TensorInfo, micro_files, resolver_methods
from edgekit.targets._tflm_fixes import tflm_loadable
from edgekit.tflite.graph import TFLiteGraph, read_tflite

__all__ = ["CONVERTER_OPTIONS", "MCU"]

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
        details={"op_count": len(op_names), "resolver_ops": len(resolver_methods(graph)), "flash_bytes": len(tflite_bytes), **static_needs(tflite_bytes, graph)},
    )


def _float_model(graph: TFLiteGraph) -> bool:
    return any(t in _tflm.FLOAT_TYPES for op in graph.all_ops for t in op.output_types)


def package(model_bytes: bytes, given: PackageInput) -> TargetBuild:
    """Arena, TFLM-vs-LiteRT verification, LUT compression, the arena plan, budgets, C sources.

    The bundle's ``model.tflite`` stays the plain int8 model (LiteRT runs it); what the
    microcontroller gets is ``mcu/``: the C array of the shipped flatbuffer (LUT-compressed
    and/or carrying an offline arena plan when that is smaller), also kept as ``NAME_mcu.tflite``.
    """
    graph = _runnable_graph(model_bytes)
    limits = read_budgets(given.options)
    needs = check_fits(model_bytes, graph, limits)
    arena = _tflm.measure_arena(model_bytes)
    x_test = np.asarray(given.x_test) if given.x_test is not None and len(given.x_test) else None
    details: dict[str, Any] = {"tflm_version": _tflm.version(), **needs, **{k: v for k, v in limits.items() if v is not None}}
    if x_test is not None:
        classifies = given.task in (None, "classification")
        details.update(compare_with_litert(_tflm.load(model_bytes, arena.total), model_bytes, x_test, classifies=classifies))
    check = _mcu_fit.evaluation(model_bytes, graph, arena.total, x_test)
    lut, planned = _mcu_fit.fit(model_bytes, arena, check, ram_budget=_bytes(limits["ram_kb"]))
    shipped, shipped_arena = planned.model, planned.arena
    check_budget("flash_kb", len(shipped), limits["flash_kb"], what="model (flash)")
    check_budget("ram_kb", shipped_arena.total, limits["ram_kb"], what="tensor arena (RAM)")
    interpreter = _tflm.load(shipped, shipped_arena.total)
    details.update({"flash_bytes": len(shipped), **shipped_arena.to_dict(), "arena_bytes_uncompressed": arena.total})
    details["resolver_ops"] = len(resolver_methods(read_tflite(shipped)))  # DECODE too, when compressed
    details.update({**lut.details, **planned.details})
    details.update(_shipped_accuracy(interpreter, check, given.y_test))
    details["fits_boards"] = budgets.boards_that_fit("mcu", flash=len(shipped), ram=shipped_arena.total)
    notes = [f"TFLM tensor arena {shipped_arena.total:,} bytes, model {len(shipped):,} bytes of flash", *lut.notes, *planned.notes]
    if not any(limits.values()):
        notes.append(budgets.boards_note("mcu", details["fits_boards"]))
    if details.get("tflm_samples"):
        notes.append(agreement_note(details))
    files = _mcu_files(shipped, interpreter, name=given.name, arena_bytes=shipped_arena.total, lut=lut, planned=planned)
    if shipped != model_bytes:
        files[f"{_stem(given.name)}_mcu.tflite"] = shipped
    return TargetBuild(files={f"{FOLDER}/{k}": v for k, v in files.items()}, details=details, notes=tuple(notes))


def _bytes(kib: float | None) -> int | None:
    return None if kib is None else int(kib * KIB)


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "model"


def _shipped_accuracy(interpreter, check: _mcu_fit.Evaluation, labels: Any) -> dict[str, Any]:
    """Run the shipped model with exactly its arena on the evaluation inputs: the outputs must be
    the uncompressed model's, and with labels this is the accuracy on the device's interpreter."""
    got = _tflm.run_all(interpreter, list(check.inputs), check.outputs)
    if not np.array_equal(got, check.expected):
        raise ModelError("the shipped mcu model's TFLM outputs differ from the uncompressed model's", hint="report this as a bug")
    result: dict[str, Any] = {"tflm_shipped_identical_samples": len(got)}
    y = None if labels is None else np.asarray(labels).reshape(-1)
    classes = interpreter.get_output_details(0)["shape"][-1]
    if y is not None and len(y) == len(got) and check.from_test_data and classes > 1:
        result["tflm_accuracy"] = round(float(np.mean(got[:, :classes].argmax(-1) == y)), 5)
    return result


def _runnable_graph(model_bytes: bytes) -> TFLiteGraph:
    graph = read_tflite(model_bytes)
    refused = _tflm.refusals(graph)
    if refused:
        reasons = "; ".join(f"{op}: {reason}" for op, reason in refused)
        raise ModelError(f"TFLite Micro cannot run this model ({reasons})", hint="convert with full int8 quantization")
    return graph


def read_budgets(options: Mapping[str, Any]) -> dict[str, float | None]:
    """``flash_kb``/``ram_kb`` from the target options (or its ``board``): None (no budget) or KiB."""
    return budgets.read_budgets(options, target="mcu")


def check_budget(key: str, measured: int, budget_kb: float | None, *, what: str, bound: bool = False) -> None:
    """Raise BudgetError when ``measured`` bytes exceed ``budget_kb`` KiB."""
    budgets.check_budget("mcu", key, measured, budget_kb, what=what, bound=bound)


def static_needs(model_bytes: bytes, graph: TFLiteGraph) -> dict[str, int]:
    """What the model needs at the least, from the flatbuffer alone (no TFLM): flash if every
    constant tensor of 128 or fewer distinct values were LUT-compressed to 1 bit, and the
    activations alive at the busiest op (the arena's non-persistent part cannot be smaller)."""
    needs = {"flash_bytes_at_least": len(model_bytes) - _lut_savings_at_most(graph)}
    if not _arena_plan.plannable(graph):
        needs["arena_lower_bound_bytes"] = _arena_plan.lower_bound(_arena_plan.buffers(graph))
    return needs


def _lut_savings_at_most(graph: TFLiteGraph) -> int:
    """An upper bound on what LUT compression can save (tables of at most 128 values, per
    tensor or per channel, at 1 bit): so the flash figure it leaves is a lower bound."""
    saved = 0
    for tensor in graph.main.tensors:
        values = graph.constant(tensor)
        if values is None or values.size <= 256:
            continue
        rows = values.reshape(values.shape[0], -1) if values.ndim > 1 else values.reshape(1, -1)
        if len(np.unique(values)) <= 128 or max(len(np.unique(row)) for row in rows) <= 128:
            saved += values.nbytes - values.size // 8
    return saved


def check_fits(model_bytes: bytes, graph: TFLiteGraph, budget: Mapping[str, float | None]) -> dict[str, int]:
    """The budget verdict before TFLM runs: a model that cannot fit is refused in a moment,
    not after minutes of arena probing and compression."""
    needs = static_needs(model_bytes, graph)
    check_budget("flash_kb", needs["flash_bytes_at_least"], budget["flash_kb"], what="model (flash), even with every compressible tensor at 1 bit,", bound=True)
    if "arena_lower_bound_bytes" in needs:
        check_budget("ram_kb", needs["arena_lower_bound_bytes"], budget["ram_kb"], what="tensor arena (RAM), for the activations alone,", bound=True)
    return needs


def _mcu_files(model_bytes: bytes, interpreter, *, name: str, arena_bytes: int, lut, planned) -> dict[str, bytes]:
    return micro_files(
        model_bytes,
        read_tflite(model_bytes),
        name=name,
        title="on a microcontroller (TensorFlow Lite Micro)",
        arena_bytes=arena_bytes,
        arena_origin=f"measured by tflite-micro {_tflm.version()}'s recording allocator on x86-64 and verified "
        "by loading with exactly this arena; 32-bit MCUs need the same or slightly less",
        inputs=[TensorInfo.from_detail(interpreter.get_input_details(0))],
        outputs=[TensorInfo.from_detail(interpreter.get_output_details(0))],
        extra=_integration_lines(lut, planned, name=name),
    )


def _integration_lines(lut, planned, *, name: str) -> tuple[str, ...]:
    """What the firmware build must do for a LUT-compressed or offline-planned model."""
    lines = []
    if lut.details.get("lut_compressed_tensors") or planned.details.get("arena_plan") == "offline":
        lines.append(
            f"`{_stem(name)}_mcu.tflite` in this folder is the same model as a file; LiteRT cannot run it "
            "(`../model.tflite`, the plain int8 model, is what `edgekit predict` and `edgekit bench` use)."
        )
    if lut.details.get("lut_compressed_tensors"):
        lines.append(
            f"Compressed: {lut.details['lut_compressed_tensors']} constant tensor(s) are LUT-compressed by tflite-micro's "
            f"compressor ({lut.details['lut_flash_saved_bytes']:,} bytes of flash saved). Firmware needs a TFLM with the "
            "DECODE kernel (tensorflow/lite/micro/kernels/decode.cc and decode_state*.cc, in TFLM's default make sources; "
            f"this model was verified with tflite-micro {_tflm.version()}), registered by `AddDecode()` in op_resolver.h. "
            "Each DECODE writes its tensor into the arena just before the op that reads it: that RAM "
            f"(+{lut.details['lut_arena_added_bytes']:,} bytes) is inside kTensorArenaSize, or goes to a memory region "
            "of your choice with `MicroInterpreter::SetDecompressionMemory()` before `AllocateTensors()`; decoding "
            "costs time on every inference."
        )
    if planned.details.get("arena_plan") == "offline":
        lines.append(
            "Arena plan: the model carries its own (`OfflineMemoryAllocation` metadata), which TFLM's default "
            "GreedyMemoryPlanner follows; keep the metadata when re-exporting. Kernels that ask for scratch buffers "
            "(CMSIS-NN conv) are placed around it, so measure the arena again on the device."
        )
    return tuple(lines)


MCU = Target(
    name="mcu",
    description="Microcontrollers via TensorFlow Lite Micro (full int8, int8 I/O; C array, op resolver, measured arena)",
    quantization="int8",
    quantizations=("int8", "float32"),
    io_dtype="int8",
    check=check,
    converter_options=CONVERTER_OPTIONS,
    options={"flash_kb": None, "ram_kb": None, "board": None},
    package=package,
    rewrite=tflm_loadable,
    static_batch=True,  # every artifact at batch 1: TFLM and Vela plan static shapes
    budget_figures=("flash", "ram"),  # the shipped flatbuffer's bytes and the arena TFLM needs for it
)

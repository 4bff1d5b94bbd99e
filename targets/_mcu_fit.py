"""Fit a model to a microcontroller without changing one output: LUT compression, then an
offline arena plan, each kept only where the real TFLM interpreter shows it is exact.

Both steps rewrite the flatbuffer, so both are checked the same way: the rewritten model runs
in ``tflite_micro`` on the evaluation inputs and must give the uncompressed model's TFLM
outputs bit for bit (and, for LUT, every decoded tensor must equal the stored one). A step that
fails its check is not shipped, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.errors import DataError, ModelError, ToolError
from edgekit.targets import _arena_plan, _lut, _tflm
from edgekit.tflite.graph import TFLiteGraph, read_tflite

RANDOM_INPUTS = 32
PLAN_SLACK = 1.05  # plan offline only when TFLM's own plan is more than 5 % above the bound


@dataclass(frozen=True)
class Evaluation:
    """Inputs the shipped model must reproduce the uncompressed model's TFLM outputs on."""

    inputs: tuple[np.ndarray, ...]  # one raw (already quantised) array per model input
    expected: np.ndarray  # the uncompressed model's TFLM outputs, all outputs side by side
    outputs: int
    source: str
    from_test_data: bool = False  # the rows are the caller's test inputs, in order (labels apply)

    def worst_difference(self, model_bytes: bytes, arena_bytes: int) -> float:
        """The largest difference from the expected outputs (0: bit-identical)."""
        got = _tflm.run_all(_tflm.load(model_bytes, arena_bytes), list(self.inputs), self.outputs)
        return float(np.max(np.abs(got.astype(np.float64) - self.expected.astype(np.float64)), initial=0.0))


def evaluation(model_bytes: bytes, graph: TFLiteGraph, arena_bytes: int, x_test: Any = None) -> Evaluation:
    """The test inputs when there are some (and the model has one input), else seeded random ones."""
    interpreter = _tflm.load(model_bytes, arena_bytes)
    test_data = x_test is not None and len(x_test) > 0 and len(graph.main.inputs) == 1
    if test_data:
        inputs, source = (_quantized(model_bytes, np.asarray(x_test)),), f"the {len(x_test)} test inputs"
    else:
        inputs, source = _random_inputs(interpreter, len(graph.main.inputs)), f"{RANDOM_INPUTS} seeded random inputs"
    outputs = len(graph.main.outputs)
    expected = _tflm.run_all(interpreter, list(inputs), outputs)
    return Evaluation(inputs=inputs, expected=expected, outputs=outputs, source=source, from_test_data=test_data)


def _quantized(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Normalised float test inputs as the model's input takes them (LiteRT reads the scale)."""
    from edgekit.runtime import open_model
    from edgekit.runtime.interpreter import quantize

    spec = open_model(model_bytes, default_delegates=False).inputs[0]
    if tuple(x.shape[1:]) != tuple(spec.shape[1:]):
        raise DataError(f"test inputs have shape {tuple(x.shape[1:])} but the model takes {tuple(spec.shape[1:])}")
    return quantize(x, spec)


def _random_inputs(interpreter, count: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        detail = interpreter.get_input_details(i)
        dtype, shape = np.dtype(detail["dtype"]), (RANDOM_INPUTS, *detail["shape"])
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype))
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return tuple(out)


@dataclass(frozen=True)
class Fitted:
    """A model as it will ship, its measured arena, and what the step found."""

    model: bytes
    arena: _tflm.Arena
    details: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# --- LUT compression, then the arena plan, within the RAM budget ------------------------------


def fit(model_bytes: bytes, arena: _tflm.Arena, check: Evaluation, *, ram_budget: int | None) -> tuple[Fitted, Fitted]:
    """LUT-compress what TFLM proves exact, then plan the arena; (LUT step, plan step).

    Decoded tensors live in the arena while their op runs, so with ``ram_budget`` (bytes) the
    largest compressed tensor is given back, and the arena planned again, until the planned
    arena fits (the offline plan can absorb what decoding adds).
    """
    graph = read_tflite(model_bytes)
    choices = _lut.choose(graph)
    kept, left = _verified(model_bytes, graph, [c for c in choices if c.candidate], check)
    left += [c for c in choices if not c.candidate]
    while True:
        lut = _lut_step(model_bytes, arena, kept, left, check)
        planned = plan_arena(lut.model, lut.arena, check)
        if ram_budget is None or planned.arena.total <= ram_budget or not kept:
            return lut, planned
        largest = max(kept, key=lambda c: c.bytes_before)
        kept = [c for c in kept if c is not largest]
        left = [*left, largest.left(f"decoding it in the arena would pass ram_kb ({planned.arena.total:,} > {ram_budget:,} bytes)")]


def _lut_step(model_bytes: bytes, arena: _tflm.Arena, kept: list, left: list, check: Evaluation) -> Fitted:
    model = _lut.compress(model_bytes, kept) if kept else model_bytes
    measured = _tflm.measure_arena(model) if kept else arena
    stored = _lut.stored_bytes(read_tflite(model)) if kept else {}
    tensors = [c.to_dict() | {"bytes_after": stored.get(c.name, c.bytes_before)} for c in kept] + [c.to_dict() for c in left]
    details = {
        "flash_bytes_uncompressed": len(model_bytes),
        "lut_compressed_tensors": len(kept),
        "lut_flash_saved_bytes": len(model_bytes) - len(model),
        "lut_arena_added_bytes": measured.total - arena.total,
        "lut_tensors": sorted(tensors, key=lambda t: (t["subgraph"], t["tensor"])),
    }
    return Fitted(model=model, arena=measured, details=details, notes=_lut_notes(model_bytes, model, arena, measured, kept, check))


def _verified(model_bytes: bytes, graph: TFLiteGraph, candidates: list, check: Evaluation) -> tuple[list, list]:
    """The candidates that compress exactly: all together if that verifies, else one by one."""
    if not candidates:
        return [], []
    problem = _problem(model_bytes, graph, candidates, check)
    if not problem:
        return candidates, []
    kept, left = [], []
    for choice in candidates:
        alone = _problem(model_bytes, graph, [choice], check)
        if alone:
            left.append(choice.left(alone))
        else:
            kept.append(choice)
    if kept and _problem(model_bytes, graph, kept, check):
        return [], left + [c.left("verified alone but not together with the others") for c in kept]
    return kept, left


def _problem(model_bytes: bytes, graph: TFLiteGraph, choices: list, check: Evaluation) -> str:
    """Why compressing ``choices`` is not exact, or "" when TFLM reproduces every output."""
    try:
        compressed = _lut.compress(model_bytes, choices)
        mismatched = _lut.decoded_values_match(compressed, graph, [c.name for c in choices])
        if mismatched:
            return "; ".join(f"{name}: {why}" for name, why in mismatched.items())
        difference = check.worst_difference(compressed, _tflm.roomy_arena(read_tflite(compressed)))
    except ModelError as exc:
        return str(exc)
    return f"outputs differ by up to {difference:g} on {check.source}" if difference else ""


def _lut_notes(before: bytes, after: bytes, arena: _tflm.Arena, fitted: _tflm.Arena, kept: list, check: Evaluation) -> tuple[str, ...]:
    if not kept:
        return ()
    return (
        f"LUT compression (tflite-micro DECODE): {len(kept)} tensor(s), flash {len(before):,} -> {len(after):,} bytes; "
        f"decoding adds {fitted.total - arena.total:,} bytes of arena ({arena.total:,} -> {fitted.total:,}); "
        f"outputs bit-identical to the uncompressed model in TFLM on {check.source}",
    )


# --- the arena plan -------------------------------------------------------------------------


def plan_arena(model_bytes: bytes, arena: _tflm.Arena, check: Evaluation) -> Fitted:
    """The lower bound, TFLM's plan and, where TFLM is over 5 % above the bound, an offline plan
    that TFLM is shown to honour (arena measured again, outputs bit-identical); the smaller ships."""
    graph = read_tflite(model_bytes)
    details: dict[str, Any] = {"arena_tflm_plan_bytes": arena.head, "arena_persistent_bytes": arena.tail, "arena_plan": "tflm"}
    why_not = _arena_plan.plannable(graph)
    if why_not:
        return Fitted(model=model_bytes, arena=arena, details=details, notes=(f"arena plan: TFLM's own ({why_not})",))
    planned = _arena_plan.buffers(graph)
    bound = _arena_plan.lower_bound(planned)
    details["arena_lower_bound_bytes"] = bound
    if arena.head <= PLAN_SLACK * bound:
        return Fitted(model=model_bytes, arena=arena, details=details, notes=(_plan_note(arena.head, bound, "TFLM's own plan"),))
    try:
        plan = _arena_plan.pack(planned)
    except ToolError as exc:  # no packer installed, or a plan that failed its own check: TFLM's plan stays
        return Fitted(model=model_bytes, arena=arena, details=details, notes=(f"offline arena plan skipped: {exc}",))
    details.update(arena_offline_plan_bytes=plan.bytes, arena_offline_plan_optimal=plan.proved_optimal)
    if plan.bytes >= arena.head:
        return Fitted(model=model_bytes, arena=arena, details=details, notes=(_plan_note(arena.head, bound, "TFLM's own plan (no smaller plan found)"),))
    return _offline(model_bytes, arena, plan, check, details)


def _offline(model_bytes: bytes, arena: _tflm.Arena, plan: _arena_plan.Plan, check: Evaluation, details: dict) -> Fitted:
    planned = _arena_plan.with_plan(model_bytes, plan.offsets)
    measured = _tflm.measure_arena(planned)
    details.update(arena_offline_measured_bytes=measured.total, arena_offline_head_bytes=measured.head)
    difference = check.worst_difference(planned, measured.total)
    if difference or measured.total >= arena.total:
        why = f"outputs differ by up to {difference:g}" if difference else f"TFLM needs {measured.total:,} bytes with it"
        return Fitted(model=model_bytes, arena=arena, details=details, notes=(f"offline arena plan not shipped: {why}",))
    details.update(arena_plan="offline", arena_tflm_arena_bytes=arena.total)
    note = (
        f"offline arena plan (OfflineMemoryAllocation, packed by SuperMalloc): non-persistent {measured.head:,} bytes "
        f"against TFLM's {arena.head:,} (lower bound {details['arena_lower_bound_bytes']:,}); arena {arena.total:,} -> "
        f"{measured.total:,} bytes; outputs bit-identical on {check.source}"
    )
    return Fitted(model=planned, arena=measured, details=details, notes=(note,))


def _plan_note(head: int, bound: int, which: str) -> str:
    above = (head / bound - 1) * 100 if bound else 0.0
    return f"arena plan: {which}, non-persistent {head:,} bytes, {above:.1f} % above the lower bound {bound:,}"

"""The tensor arena's non-persistent part, planned: lifetimes, the lower bound, an offline plan.

TFLM's GreedyMemoryPlanner places activation buffers largest first at the lowest offset that
does not clash with a buffer alive at the same time. On a chain of ops that reaches the lower
bound (the largest sum of buffers alive at once); on branching graphs it can leave holes. TFLM
also accepts a plan made elsewhere: an ``OfflineMemoryAllocation`` metadata entry holding one
byte offset per tensor (tflite-micro ``docs/memory_management.md``). This module computes the
buffers and their lifetimes exactly as TFLM's ``AllocationInfoBuilder`` marks them, the lower
bound, and a plan packed by OmniMalloc's SuperMalloc (a branch-and-bound packer that proves
optimality when it can), then writes the plan into the model. Whether TFLM honours it is for
the caller to measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.errors import ModelError, ToolError
from edgekit.tflite.graph import Subgraph, TFLiteGraph, read_tflite

METADATA_NAME = "OfflineMemoryAllocation"
FORMAT_VERSION = 1
ALIGNMENT = 16  # MicroArenaBufferAlignment(): every planned buffer is rounded up to this
ONLINE = -1  # "let TFLM's planner place this tensor"
PACK_TIMEOUT_S = 10.0
OMNIMALLOC_PIP = "pip install omnimalloc"
_ITEM_BYTES = {
    "float32": 4, "float16": 2, "float64": 8, "bfloat16": 2, "int8": 1, "uint8": 1, "int16": 2,
    "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "complex64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class Buffer:
    """One tensor the planner must place: its arena bytes and the op steps it is alive for."""

    tensor: int  # index in subgraph 0 (also its slot in the offline plan)
    bytes: int  # aligned to ALIGNMENT, as TFLM's planner sees it
    first: int  # op step that creates it (0: before the first op)
    last: int  # last op step that reads it (inclusive)

    def alive_at(self, step: int) -> bool:
        return self.first <= step <= self.last


@dataclass(frozen=True)
class Plan:
    """Offsets for the buffers, and how good they are."""

    offsets: dict[int, int]  # tensor index -> byte offset from the start of the head
    bytes: int  # the head this plan needs: the highest end of a placed buffer
    lower_bound: int
    proved_optimal: bool


def plannable(graph: TFLiteGraph) -> str:
    """Why the offline plan cannot cover this model, or "" when it can."""
    if len(graph.subgraphs) != 1:
        return f"{len(graph.subgraphs)} subgraphs (control flow): lifetimes across subgraphs are left to TFLM"
    if any(t.is_variable for t in graph.main.tensors):
        return "variable tensors (state kept between invocations) are left to TFLM"
    return ""


def buffers(graph: TFLiteGraph) -> list[Buffer]:
    """The buffers TFLM plans for subgraph 0, with TFLM's own lifetime rules.

    Subgraph inputs live from step 0; each op is one step; an op's outputs are created at its
    step and every tensor lives until the last step that reads (or writes) it; subgraph outputs
    live to the end. Constants, variables and empty tensors are not planned.
    """
    main = graph.main
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for index in main.inputs:
        first.setdefault(index, 0)
        last[index] = 0
    for step, op in enumerate(main.operators, start=1):
        for index in op.outputs:
            if index >= 0:
                first.setdefault(index, step)
        for index in (*op.inputs, *op.outputs):
            if index >= 0:
                last[index] = step
    end = len(main.operators)
    for index in main.outputs:
        first.setdefault(index, end)
        last[index] = end
    return [
        Buffer(tensor=i, bytes=size, first=first[i], last=last[i])
        for i in sorted(first)
        if (size := planned_bytes(graph, main, i)) and i in last
    ]


def planned_bytes(graph: TFLiteGraph, subgraph: Subgraph, index: int) -> int:
    """Arena bytes of a tensor TFLM plans (0 for constants and variables), aligned."""
    tensor = subgraph.tensors[index]
    if graph.is_constant(tensor) or tensor.is_variable:
        return 0
    item = _ITEM_BYTES.get(tensor.dtype)
    if item is None:
        raise ModelError(f"tensor {tensor.name!r} has dtype {tensor.dtype}, which the arena planner cannot size")
    size = int(np.prod(tensor.shape, dtype=np.int64)) * item if tensor.shape else item
    return -(-size // ALIGNMENT) * ALIGNMENT


def lower_bound(planned: list[Buffer]) -> int:
    """The largest sum of buffers alive at one step: no plan can use less."""
    steps = {b.first for b in planned} | {b.last for b in planned}
    return max((sum(b.bytes for b in planned if b.alive_at(s)) for s in steps), default=0)


def pack(planned: list[Buffer], *, timeout: float = PACK_TIMEOUT_S) -> Plan:
    """Offsets for ``planned`` from SuperMalloc (one thread, so the same model packs the same)."""
    try:
        import omnimalloc
        from omnimalloc.allocators.supermalloc import SupermallocAllocator
    except ImportError as exc:
        raise ToolError(f"omnimalloc is not installed ({exc})", hint=OMNIMALLOC_PIP) from exc
    allocations = tuple(omnimalloc.Allocation(id=b.tensor, size=b.bytes, start=b.first, end=b.last + 1) for b in planned)
    solved = SupermallocAllocator(timeout=timeout, num_threads=1).solve(allocations)
    offsets = {int(a.id): int(a.offset) for a in solved.allocations}
    check_plan(planned, offsets)
    return Plan(
        offsets=offsets,
        bytes=plan_bytes(planned, offsets),
        lower_bound=lower_bound(planned),
        proved_optimal=bool(solved.proved_optimal),
    )


def plan_bytes(planned: list[Buffer], offsets: dict[int, int]) -> int:
    return max((offsets[b.tensor] + b.bytes for b in planned), default=0)


def check_plan(planned: list[Buffer], offsets: dict[int, int]) -> None:
    """Refuse a plan that overlaps two buffers alive at the same time: TFLM would trust it."""
    for i, a in enumerate(planned):
        if offsets[a.tensor] % ALIGNMENT:
            raise ToolError(f"the offline plan puts tensor {a.tensor} at a misaligned offset {offsets[a.tensor]}")
        for b in planned[i + 1 :]:
            in_time = a.first <= b.last and b.first <= a.last
            in_space = offsets[a.tensor] < offsets[b.tensor] + b.bytes and offsets[b.tensor] < offsets[a.tensor] + a.bytes
            if in_time and in_space:
                raise ToolError(f"the offline plan overlaps tensors {a.tensor} and {b.tensor}, which are alive together")


def plan_metadata(graph: TFLiteGraph, offsets: dict[int, int]) -> bytes:
    """The ``OfflineMemoryAllocation`` buffer: version, subgraphs, count, one int32 per tensor."""
    count = len(graph.main.tensors)
    values = [FORMAT_VERSION, len(graph.subgraphs), count, *(offsets.get(i, ONLINE) for i in range(count))]
    return np.asarray(values, dtype="<i4").tobytes()


def with_plan(model_bytes: bytes, offsets: dict[int, int]) -> bytes:
    """The model with ``offsets`` as its offline plan; the graph's own bytes are not touched."""
    from edgekit.converters.metadata import with_metadata_entry

    graph = read_tflite(model_bytes)
    planned = with_metadata_entry(model_bytes, METADATA_NAME, plan_metadata(graph, offsets))
    if read_plan(planned) != {i: o for i, o in offsets.items()}:
        raise ToolError("the offline plan did not read back as written")
    return planned


def read_plan(model_bytes: bytes) -> dict[int, int] | None:
    """The offsets a model's ``OfflineMemoryAllocation`` gives (tensors left to TFLM omitted)."""
    graph = read_tflite(model_bytes)
    blob = graph.metadata_bytes(METADATA_NAME)
    if blob is None:
        return None
    values = np.frombuffer(blob[: len(blob) // 4 * 4], dtype="<i4")
    if len(values) < 3 or len(values) != 3 + int(values[2]):
        raise ModelError(f"the model's {METADATA_NAME} entry is malformed ({len(values)} words)")
    return {i: int(o) for i, o in enumerate(values[3:]) if o != ONLINE}

"""Which ops an accelerator takes: verdicts per op -> partitions -> per-kind placement rows.

Shared by the statically checked targets (gpu, edgetpu). The partitioning follows LiteRT's
``PartitionGraphIntoIndependentNodeSubsets``: walking the graph in dependency order, it grows
the largest run of same-kind ops (accelerated or not) before switching kind, so the number of
accelerated partitions is what the delegate or compiler would see.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from edgekit.target import OpPlacement
from edgekit.tflite.graph import Subgraph


def first_reason(reasons: Iterable[str | None]) -> str | None:
    """The first reason an op cannot run on the accelerator (checks evaluated lazily, in
    order: a later check may assume the earlier ones passed), or None when none objects."""
    return next((reason for reason in reasons if reason), None)


def partitions(subgraph: Subgraph, supported: Sequence[bool]) -> list[tuple[bool, list[int]]]:
    """(accelerated?, op indices) subsets in the order a delegate would build them."""
    produced = {t for op in subgraph.operators for t in op.outputs}
    available = {t.index for t in subgraph.tensors if t.index not in produced}
    pending = list(range(len(subgraph.operators)))
    kind = supported[0] if pending else True
    result: list[tuple[bool, list[int]]] = []
    stalled = 0
    while pending and stalled < 2:
        subset = _grow(subgraph, supported, kind, pending, available)
        stalled = 0 if subset else stalled + 1
        if subset:
            result.append((kind, subset))
        kind = not kind
    if pending:  # inputs never produced (a malformed graph): each op stands alone
        result.extend((supported[i], [i]) for i in pending)
    return result


def _grow(subgraph: Subgraph, supported, kind: bool, pending: list[int], available: set[int]) -> list[int]:
    subset: list[int] = []
    progress = True
    while progress:
        progress = False
        for index in list(pending):
            op = subgraph.operators[index]
            if supported[index] == kind and all(t < 0 or t in available for t in op.inputs):
                subset.append(index)
                pending.remove(index)
                available.update(op.outputs)
                progress = True
    return subset


def placement_rows(subgraph: Subgraph, placed: Sequence[tuple[str, str]]) -> tuple[OpPlacement, ...]:
    """Group per-op (placement, reason) into rows of (op, placement, reason, count), by op name."""
    counts: dict[tuple[str, str, str], int] = {}
    for op, (placement, reason) in zip(subgraph.operators, placed):
        key = (op.name, placement, reason)
        counts[key] = counts.get(key, 0) + 1
    return tuple(
        OpPlacement(op=name, count=count, placement=placement, reason=reason)
        for (name, placement, reason), count in sorted(counts.items())
    )

"""Pareto fronts of a sweep: the variants no other variant beats on both accuracy and cost.

A variant is dominated when another is at least as accurate *and* at most as costly, and
strictly better in one of the two. The front is what a user should choose from; everything
else is a worse deal. Two costs are reported: gzip bytes (download / flash) and median
latency.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

__all__ = ["dominates", "FRONTS", "mark_pareto", "pareto_front"]

# front name -> (label for people, how to read the cost from an artifact dict)
FRONTS: dict[str, tuple[str, Callable[[Mapping], float]]] = {
    "size": ("accuracy vs gzip size", lambda a: a["gzip_bytes"]),
    "latency": ("accuracy vs p50 latency", lambda a: a["latency_us"]["p50"]),
}


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """``a`` and ``b`` are (accuracy, cost): higher accuracy and lower cost are better."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (accuracy, cost) points, cheapest first.

    Quadratic on purpose: a sweep has tens of variants, and the plain definition is the
    one that is obviously right. Identical points are all kept.
    """
    front = [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]
    return sorted(front, key=lambda i: (points[i][1], -points[i][0], i))


def mark_pareto(artifacts: Sequence[dict]) -> dict[str, list[str]]:
    """Set ``artifact["pareto"] = {"size": bool, "latency": bool}``; return each front's names."""
    fronts = {}
    ranked = [a for a in artifacts if "accuracy" in a]  # a model that is not a classifier has no accuracy to rank
    for front, (_, cost) in FRONTS.items():
        indices = pareto_front([(a["accuracy"], cost(a)) for a in ranked])
        fronts[front] = [ranked[i]["name"] for i in indices]
    for artifact in artifacts:
        artifact["pareto"] = {front: artifact["name"] in names for front, names in fronts.items()}
    return fronts

"""The candidates' table: one row per candidate, its estimate, its rungs and its fate.

A row starts with what the candidate is and its untrained estimate; each rung it reaches
appends its measured result; its status says how it ended (rejected before training or over
budget, dropped at a rung, fits, winner, or not reached) and why, for report.json, report.md,
results.csv and the plots.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from edgekit.flows.fit.space import Candidate, describe_miss

__all__ = ["CandidateRows"]


class CandidateRows:
    """The rows by candidate name, in the order candidates were planned."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def add(self, point: Candidate, estimate: Mapping | None) -> None:
        self.rows[point.name] = {**point.to_dict(), "estimate": estimate, "rungs": []}

    def add_rung(self, point: Candidate, result: Mapping) -> None:
        self.rows[point.name]["rungs"].append(dict(result))

    def last_rung(self, point: Candidate) -> dict | None:
        rungs = self.rows[point.name]["rungs"]
        return rungs[-1] if rungs else None

    def update(self, point: Candidate, **fields: Any) -> None:
        self.rows[point.name].update(fields)

    def reject(self, point: Candidate, why: str, found: Sequence[Mapping], *, estimated: bool = False) -> None:
        """Over a budget: ``why`` (when it was found out) and by how much."""
        self.update(point, status="rejected", reason=f"{why}: {'; '.join(map(describe_miss, found))}", misses=list(found), estimated=estimated)

    def drop(self, point: Candidate, why: str) -> None:
        """Left behind by the halving (a rejected candidate stays rejected)."""
        if self.rows[point.name].get("status") != "rejected":
            self.update(point, status="dropped", reason=why)

    def finished(self) -> list[dict]:
        """Every row, the ones the search never reached marked so."""
        for row in self.rows.values():
            row.setdefault("status", "not reached")
            row.setdefault("reason", "")
        return list(self.rows.values())

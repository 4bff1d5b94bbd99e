"""Flash and RAM budgets of the microcontroller targets (mcu, ethos-u): read, and checked.

A budget comes from the target's settings: ``flash_kb``/``ram_kb`` (recipe ``[target.NAME]``,
``--flash-kb``/``--ram-kb`` on convert) or a ``board`` profile (``edgekit.targets.boards``); explicit
figures win over the board's. A model that exceeds one is not bad input but a verdict:
:class:`~edgekit.errors.BudgetError` (exit 1), naming what it needs, the budget and the fix.
"""

from __future__ import annotations

from typing import Any, Mapping

from edgekit.errors import BudgetError
from edgekit.targets.boards import check_budget_kb, get_board

KIB = 1024
KEYS = ("flash_kb", "ram_kb")


def read_budgets(options: Mapping[str, Any], *, target: str) -> dict[str, float | None]:
    """``{"flash_kb": ..., "ram_kb": ...}``: a positive number of KiB or None (no budget)."""
    board = get_board(options["board"], target=target) if options.get("board") else None
    budgets = {}
    for key in KEYS:
        value = options.get(key)
        if value is not None:
            check_budget_kb(f"[target.{target}] {key} =", value)
        budgets[key] = value if value is not None else (getattr(board, key) if board else None)
    return budgets


def boards_that_fit(target: str, *, flash: int, ram: int) -> list[str]:
    """The board profiles (``edgekit.targets.boards``) whose flash and RAM hold this model."""
    from edgekit.targets.boards import BOARDS

    return [b.name for b in BOARDS.values() if target in b.targets and flash <= b.flash_kb * KIB and ram <= b.ram_kb * KIB]


def boards_note(target: str, fitting: list[str]) -> str:
    """Without a budget, where the model fits: the warning a 5 MB arena deserves."""
    from edgekit.targets.boards import BOARDS

    if not fitting:
        largest = max((b for b in BOARDS.values() if target in b.targets), key=lambda b: b.ram_kb)
        return f"no budget set, and the model fits none of edgekit's board profiles (the largest, {largest.name}, has {largest.flash_kb:,} KiB flash and {largest.ram_kb:,} KiB RAM): set flash_kb/ram_kb for your board"
    return f"no budget set; fits the board profiles {', '.join(fitting)} (set flash_kb/ram_kb or board to check yours)"


FIGURES = {"flash_kb": "flash", "ram_kb": "ram"}


def check_budget(target: str, key: str, measured: int, budget_kb: float | None, *, what: str, hint: str = "", bound: bool = False) -> None:
    """Raise BudgetError when ``measured`` bytes exceed ``budget_kb`` KiB (``bound``: ``measured``
    is a lower bound read from the graph, not a measurement)."""
    if budget_kb is None or measured <= budget_kb * KIB:
        return
    flag = "--" + key.replace("_", "-")
    raise BudgetError(
        f"{target} budget {key} = {budget_kb:g} exceeded: the {what} needs {measured:,} bytes "
        f"({measured / KIB:.1f} KiB), {measured - budget_kb * KIB:,.0f} bytes over",
        hint=hint or f"raise [target.{target}] {key} ({flag} on convert), pick a larger board, or shrink the model (prune, cluster, fewer channels)",
        figure=FIGURES.get(key, key),
        needs=measured,
        limit=budget_kb * KIB,
        bound=bound,
    )

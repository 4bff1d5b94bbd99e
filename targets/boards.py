"""Board profiles: the flash and SRAM of a handful of common boards, as data.

People know their board, not its budgets in KiB: ``--board nrf52840`` on ``convert`` (or
``board = "nrf52840"`` in ``[target.mcu]``) sets the flash and RAM budgets the mcu and ethos-u
targets check; an explicit ``flash_kb``/``ram_kb`` wins. Figures are the chips' on-chip flash
and SRAM from their vendors' datasheets (what a model and its tensor arena compete for with
the application).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import InputError

__all__ = ["Board", "BOARDS", "check_budget_kb", "get_board", "MAX_BUDGET_KB"]

MAX_BUDGET_KB = 2**30  # 1 TiB: more flash or RAM than any device edgekit targets has


def check_budget_kb(label: str, value, *, example: int = 256) -> float:
    """A flash or RAM budget in KiB: a positive, finite number no device exceeds.

    ``1e300`` is finite but no budget: it would be carried, converted to bytes and printed
    with 300 digits; it is refused here with the other nonsense (NaN, inf, 0, negatives, text).
    ``label`` names where it came from (``--flash-kb``, ``[target.mcu] flash_kb``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_BUDGET_KB:  # NaN fails too
        shown = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
        raise InputError(f"{label} {shown}: a budget must be a positive number of KiB up to {MAX_BUDGET_KB:,} (1 TiB)", hint=f"e.g. {label} {example}")
    return value


@dataclass(frozen=True, kw_only=True)
class Board:
    name: str
    description: str
    targets: tuple[str, ...]  # the edgekit targets that fit this board's chip
    flash_kb: int
    ram_kb: int


BOARDS: dict[str, Board] = {
    board.name: board
    for board in (
        Board(name="nrf52832", description="Nordic nRF52832, Cortex-M4F 64 MHz", targets=("mcu",), flash_kb=512, ram_kb=64),
        Board(name="nrf52840", description="Nordic nRF52840 (Arduino Nano 33 BLE), Cortex-M4F 64 MHz", targets=("mcu",), flash_kb=1024, ram_kb=256),
        Board(name="stm32f411", description="STM32F411 (WeAct Black Pill), Cortex-M4F 100 MHz", targets=("mcu",), flash_kb=512, ram_kb=128),
        Board(name="stm32f746", description="STM32F746G-DISCO, Cortex-M7 216 MHz", targets=("mcu",), flash_kb=1024, ram_kb=320),
        Board(name="stm32l4r5", description="NUCLEO-L4R5ZI (the MLPerf Tiny reference board), Cortex-M4 120 MHz", targets=("mcu",), flash_kb=2048, ram_kb=640),
        Board(name="rp2040", description="Raspberry Pi Pico (RP2040), Cortex-M0+ 133 MHz, 2 MB external flash", targets=("mcu",), flash_kb=2048, ram_kb=264),
        Board(name="esp32s3", description="ESP32-S3 (8 MB flash module), Xtensa LX7 240 MHz, on-chip SRAM only", targets=("mcu",), flash_kb=8192, ram_kb=512),
        Board(name="apollo3", description="SparkFun Edge / Artemis (Ambiq Apollo3), Cortex-M4F 48 MHz", targets=("mcu",), flash_kb=1024, ram_kb=384),
        Board(name="alif-e7", description="Alif Ensemble E7 high-efficiency core: Cortex-M55 + Ethos-U55, 2 MB MRAM share, 4 MB SRAM", targets=("ethos-u", "mcu"), flash_kb=2048, ram_kb=4096),
    )
}


def board_names() -> list[str]:
    return list(BOARDS)


def get_board(name: str, *, target: str | None = None) -> Board:
    """The named board; an unknown name, or a board that target does not fit, is a one-line error."""
    if name not in BOARDS:
        raise InputError(f"unknown board {name!r}", hint=f"known boards: {', '.join(BOARDS)}; or give flash_kb and ram_kb")
    board = BOARDS[name]
    if target is not None and target not in board.targets:
        raise InputError(f"board {name!r} ({board.description}) is not a {target} board", hint=f"its targets: {', '.join(board.targets)}")
    return board

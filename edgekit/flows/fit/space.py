"""What ``edgekit fit`` searches and what it must meet: budgets, candidates, candidate recipes.

A candidate is one point of the space (width x sparsity x clusters x quantisation): its recipe
is the user's recipe with that point's ``[distill] width``, ``[prune] sparsity``, ``[cluster]``
counts and ``[quantize] mode``, so the winner is exactly what ``edgekit build`` of that recipe
ships. The space comes from the recipe (its ``[fit]`` table narrows it) and the target: cluster
counts only where fewer distinct values shrink what ships (LUT indices on an mcu, Vela's weight
compression on ethos-u), sparsity only where zeros do.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from edgekit.errors import InputError
from edgekit.recipe import Recipe
from edgekit.target import Target
from edgekit.vocabulary import QUANTIZE_METHODS

__all__ = [
    "Budgets",
    "Candidate",
    "candidate_recipe",
    "candidates",
    "describe_miss",
    "largest_kernel",
    "misses",
    "overshoot",
    "plan_space",
    "read_budgets",
    "Space",
]

KIB = 1024
MAX_LATENCY_MS = 3_600_000  # an hour per inference: beyond it a latency budget is a typo
DEFAULT_WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25)
# Fewer distinct values per kernel shrink the shipped file only where the target stores them
# packed: LUT indices on an mcu (16 values: 4 bits, 4 values: 2 bits), Vela's weight encoder.
PACKED_WEIGHTS = {"mcu": (0, 16, 4), "ethos-u": (0, 16, 4)}
# Where edgekit can time the artifact: the LiteRT CPU benchmark, the GPU accelerator, Vela.
TIMED = {"cpu": "LiteRT's CPU benchmark on this machine (batch 1, 1 thread)", "gpu": "the LiteRT GPU accelerator", "ethos-u": "Vela's estimate"}
FIGURE_UNITS = {"flash": "bytes", "ram": "bytes", "latency": "ms"}


@dataclass(frozen=True, kw_only=True)
class Budgets:
    """The limits a winner must meet: flash and RAM in bytes, latency in ms, an accuracy floor."""

    flash: int | None = None
    ram: int | None = None
    latency: float | None = None
    min_accuracy: float | None = None
    board: str | None = None

    def limits(self) -> dict[str, float]:
        """``{figure: limit}`` for the figures that have a budget."""
        return {k: v for k, v in (("flash", self.flash), ("ram", self.ram), ("latency", self.latency)) if v is not None}

    def target_options(self, target: Target) -> dict[str, Any]:
        """The flash/RAM budgets as the target's own options, for targets that fit themselves
        to them (the mcu gives LUT compression back when decoding would pass the RAM budget)."""
        wanted = {"flash_kb": None if self.flash is None else self.flash / KIB, "ram_kb": None if self.ram is None else self.ram / KIB}
        return {k: v for k, v in wanted.items() if k in target.options and v is not None}

    def to_dict(self) -> dict:
        return {"flash_bytes": self.flash, "ram_bytes": self.ram, "latency_ms": self.latency, "min_accuracy": self.min_accuracy, "board": self.board}


def read_budgets(target: Target, *, flash_kb=None, ram_kb=None, latency_ms=None, min_accuracy=None, board=None) -> Budgets:
    """The budgets as given on the command line, checked against what ``target`` can measure:
    every problem is a one-line error before anything trains."""
    from edgekit.targets.boards import check_budget_kb, get_board

    for flag, value, example in (("--flash-kb", flash_kb, 32), ("--ram-kb", ram_kb, 16)):
        if value is not None:
            check_budget_kb(flag, value, example=example)
    if latency_ms is not None and not 0 < latency_ms <= MAX_LATENCY_MS:  # NaN refused too
        raise InputError(f"--latency-ms {latency_ms:g}: a budget must be a positive number of ms up to {MAX_LATENCY_MS:,} (an hour)", hint="e.g. --latency-ms 5")
    if min_accuracy is not None and not 0 < min_accuracy <= 1:
        raise InputError(f"--min-accuracy {min_accuracy:g}: must be in (0, 1], e.g. 0.97 for 97 %")
    if board is not None:
        found = get_board(board, target=target.name)
        flash_kb = found.flash_kb if flash_kb is None else flash_kb
        ram_kb = found.ram_kb if ram_kb is None else ram_kb
    budgets = Budgets(
        flash=None if flash_kb is None else int(flash_kb * KIB),
        ram=None if ram_kb is None else int(ram_kb * KIB),
        latency=latency_ms,
        min_accuracy=min_accuracy,
        board=board,
    )
    _check_measurable(target, budgets)
    return budgets


def _check_measurable(target: Target, budgets: Budgets) -> None:
    if not budgets.limits():
        raise InputError("edgekit fit needs a budget: --flash-kb, --ram-kb, --latency-ms or --board", hint="e.g. --flash-kb 32 --ram-kb 16")
    unmeasured = [figure for figure in budgets.limits() if figure not in target.budget_figures]
    if "latency" in unmeasured:
        raise InputError(
            f"--latency-ms: edgekit cannot time the {target.name} target here",
            hint=f"latency budgets apply to {', '.join(f'{name} ({how})' for name, how in TIMED.items())}",
        )
    if unmeasured:
        raise InputError(f"--ram-kb: the {target.name} target has no RAM figure edgekit measures", hint="RAM budgets apply to mcu (the TFLM arena) and ethos-u (Vela's SRAM)")


@dataclass(frozen=True, order=True)
class Candidate:
    """One point of the space. ``clusters`` is every clusterable kernel's count (0: off);
    ``largest`` the largest kernel's own lower count (0: the same); ``mode`` how int8 is
    reached (``qat``, ``ptq``; ``-`` for float modes)."""

    width: float
    sparsity: float
    clusters: int
    largest: int
    quantization: str
    mode: str

    @property
    def name(self) -> str:
        parts = [f"w{self.width:g}", f"s{self.sparsity * 100:g}", f"c{self.clusters}"]
        if self.largest:
            parts.append(f"L{self.largest}")
        parts.append(self.quantization if self.mode == "-" else f"{self.quantization}-{self.mode}")
        return "-".join(parts)

    @property
    def structure(self) -> tuple:
        """What the shipped file's size and arena depend on (not the trained values)."""
        return (self.width, self.sparsity, self.clusters, self.largest, self.quantization)

    @property
    def training(self) -> tuple:
        """What its training depends on: candidates sharing it share one compression run."""
        return (self.width, self.sparsity, self.clusters, self.largest)

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Space:
    """The lists searched, for the report."""

    widths: tuple[float, ...]
    sparsities: tuple[float, ...]
    clusters: tuple[int, ...]
    split_largest: bool
    quantizations: tuple[str, ...]
    modes: tuple[str, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def plan_space(recipe: Recipe, target: Target, *, shrinkable: bool) -> Space:
    """The recipe's ``[fit]`` lists, the rest from the recipe and the target."""
    spec = recipe.fit
    fixed_student = recipe.distill.student is not None  # the recipe's own student: no widths to try
    widths = spec.widths or ((1.0,) if fixed_student or not shrinkable else DEFAULT_WIDTHS)
    if (fixed_student or not shrinkable) and any(w != 1 for w in widths):
        why = "the recipe distills into its own student" if fixed_student else "the model cannot be shrunk (width scaling needs a Sequential or Functional model)"
        raise InputError(f"{recipe.source}: fit.widths below 1, but {why}", hint="leave fit.widths out, or set it to [1.0]")
    sparsities = spec.sparsities or _default_sparsities(recipe, target)
    clusters = spec.clusters or PACKED_WEIGHTS.get(target.name, (0,))
    quantizations = tuple(spec.quantizations or (target.quantization,))
    bad = [q for q in quantizations if q not in target.quantizations]
    if bad:
        raise InputError(f"{recipe.source}: fit.quantizations {', '.join(bad)} not available on {target.name}", hint=f"choose from: {', '.join(target.quantizations)}")
    modes = tuple(spec.modes or QUANTIZE_METHODS)
    return Space(tuple(sorted(set(widths), reverse=True)), tuple(sorted(set(sparsities))), tuple(sorted(set(clusters), key=lambda c: (c != 0, -c))), spec.split_largest, quantizations, modes)


def _default_sparsities(recipe: Recipe, target: Target) -> tuple[float, ...]:
    """Unpruned, plus the recipe's sparsity where zeros shrink what ships (sparse encoding)."""
    if recipe.prune.enabled and recipe.prune.sparse_encoding and target.name in ("cpu", "gpu"):
        return (0.0, recipe.prune.sparsity)
    return (0.0,)


def candidates(space: Space) -> list[Candidate]:
    """Every point, widest and least compressed first."""
    points = []
    for width in space.widths:
        for sparsity in space.sparsities:
            for clusters, largest in _cluster_choices(space):
                for quantization in space.quantizations:
                    for mode in space.modes if quantization == "int8" else ("-",):
                        points.append(Candidate(width, sparsity, clusters, largest, quantization, mode))
    return points


def _cluster_choices(space: Space) -> list[tuple[int, int]]:
    """(count, largest kernel's count): each count alone, and with ``split_largest`` the
    largest kernel also at each lower count (the kernel that dominates the flash)."""
    choices = []
    for count in space.clusters:
        choices.append((count, 0))
        if space.split_largest and count:
            choices += [(count, lower) for lower in space.clusters if 0 < lower < count]
    return choices


def candidate_recipe(recipe: Recipe, candidate: Candidate, *, scale: float = 1.0, largest_layer: str | None = None, qat: bool | None = None) -> Recipe:
    """``recipe`` at this point, every fine-tuning section's epochs times ``scale`` (at least
    1): what ``build`` would compress, at a successive-halving rung's share of the epochs."""
    epochs = lambda n: max(1, math.ceil(n * scale))  # noqa: E731
    distill = recipe.distill
    if candidate.width < 1:
        distill = dataclasses.replace(distill, width=candidate.width, self_distill=False)
    distill = dataclasses.replace(distill, epochs=epochs(distill.epochs))
    prune = dataclasses.replace(recipe.prune, sparsity=candidate.sparsity, epochs=epochs(recipe.prune.epochs))
    split = {largest_layer: candidate.largest} if candidate.largest and largest_layer else {}
    layers = {**split, **dict(recipe.cluster.layers)}  # the user's own per-layer counts hold in every candidate
    cluster = dataclasses.replace(recipe.cluster, clusters=candidate.clusters, layers=layers, epochs=epochs(recipe.cluster.epochs))
    mode = ("qat" if qat else "ptq") if qat is not None else ("qat" if candidate.mode == "qat" else "ptq")
    quantize = dataclasses.replace(recipe.quantize, mode=mode, epochs=epochs(recipe.quantize.epochs))
    return dataclasses.replace(recipe, distill=distill, prune=prune, cluster=cluster, quantize=quantize)


def largest_kernel(model, exclude: Sequence[str] = ()) -> str | None:
    """The name of the layer with the most kernel weights (what dominates the flash); the
    caller excludes layers whose count the recipe pins (``[cluster] layers``)."""
    sizes = {layer.name: int(layer.kernel.shape.num_elements()) for layer in model.layers if hasattr(layer, "kernel") and layer.name not in exclude}
    return max(sizes, key=sizes.get) if sizes else None


def misses(figures: Mapping[str, float | None], budgets: Budgets) -> list[dict]:
    """Each budget a candidate's figures pass, as ``{figure, needs, limit}`` (unknown: no miss)."""
    found = []
    for figure, limit in budgets.limits().items():
        value = figures.get(figure)
        if value is not None and value > limit:
            found.append({"figure": figure, "needs": value, "limit": limit})
    return found


def describe_miss(miss: Mapping) -> str:
    """``arena 18.2 KiB > 16 KiB``: a miss as people read it."""
    figure, needs, limit = miss["figure"], miss["needs"], miss["limit"]
    if figure == "latency":
        return f"latency {needs:.2f} ms > {limit:g} ms"
    if figure == "accuracy":
        return f"accuracy {needs * 100:.2f} % < {limit * 100:g} %"
    name = "arena" if figure == "ram" else "flash"
    return f"{name} {needs / KIB:.1f} KiB > {limit / KIB:g} KiB ({needs:,.0f} > {limit:,.0f} bytes)"


def overshoot(candidate_misses: Sequence[Mapping]) -> float:
    """How far a candidate is from fitting: its worst ratio of need to limit (closest: smallest)."""
    ratios = [m["limit"] / m["needs"] if m["figure"] == "accuracy" else m["needs"] / m["limit"] for m in candidate_misses]
    return max(ratios, default=1.0)

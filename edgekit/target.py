"""The data types every hardware target shares (targets/ modules build on these)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from edgekit.errors import InputError
from edgekit.vocabulary import INTEGER_QUANTIZATIONS

__all__ = ["OpPlacement", "PackageInput", "Target", "TargetBuild", "TargetReport"]



@dataclass(frozen=True, kw_only=True)
class OpPlacement:
    """How many ops of one kind run on which engine, and why not on the accelerator."""

    op: str
    count: int
    placement: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class TargetReport:
    """What a target's check found in one converted model."""

    target: str
    runnable: bool
    ops: tuple[OpPlacement, ...] = ()
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runnable": self.runnable,
            "ops": [dataclasses.asdict(op) for op in self.ops],
            "notes": list(self.notes),
            "details": dict(self.details),
        }


@dataclass(frozen=True, kw_only=True)
class PackageInput:
    """What a target's ``package`` step gets besides the model bytes."""

    name: str
    x_test: Any = None  # normalised float test inputs (N, ...) for on-target verification
    options: Mapping[str, Any] = field(default_factory=dict)
    y_test: Any = None  # class labels of x_test, where the task has them: accuracy on the target's interpreter
    task: str | None = None  # what the outputs mean (edgekit.vocabulary.TASKS); top-1 figures only for classification


@dataclass(frozen=True, kw_only=True)
class TargetBuild:
    """What a target adds to a bundle beyond ``model.tflite``, and what it measured doing so."""

    files: Mapping[str, bytes] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    runnable: bool | None = None  # a measured verdict that replaces the check's prediction; None: keep it


@dataclass(frozen=True, kw_only=True)
class Target:
    """One hardware target: what form its model takes and how to check it."""

    name: str
    description: str
    quantization: str
    quantizations: tuple[str, ...]
    io_dtype: str
    check: Callable[[bytes], TargetReport]
    converter_options: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    package: Callable[[bytes, PackageInput], TargetBuild] | None = None
    # The target's own fix-ups of a converted flatbuffer (model bytes -> (bytes, notes)), applied
    # in the conversion stage so every figure is measured on the fixed model (TFLM's limits).
    rewrite: Callable[[bytes], tuple[bytes, tuple[str, ...]]] | None = None
    static_batch: bool = False  # convert with batch fixed to 1 (compilers that need static shapes)
    # The budgets ``edgekit fit`` can hold this target's artifacts to, as their measurement
    # reports them: "flash" (the shipped file's bytes), "ram" (the tensor arena), "latency".
    budget_figures: tuple[str, ...] = ("flash",)

    def __post_init__(self):
        if self.quantization not in self.quantizations:
            raise InputError(
                f"target {self.name!r} cannot use quantization {self.quantization!r}",
                hint=f"choose one of: {', '.join(self.quantizations)}",
            )

    @property
    def label(self) -> str:
        """``cpu-int8``: how artifacts and bundles of this target are named."""
        return f"{self.name}-{self.quantization}"

    @property
    def artifact_io_dtype(self) -> str:
        """Float modes keep float I/O; integer modes use the target's integer I/O."""
        return self.io_dtype if self.quantization in INTEGER_QUANTIZATIONS else "float32"

    def variant(self, **changes: Any) -> "Target":
        """A copy with other settings, e.g. ``MCU.variant(quantization="int8", ram_kb=32)``.

        ``quantization``, ``io_dtype`` and ``converter_options`` replace those fields; any
        other key must be one of the target's ``options`` (budgets, compiler settings).
        """
        fields = {"quantization", "io_dtype", "converter_options"}
        options = {k: v for k, v in changes.items() if k not in fields}
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = sorted(fields | set(self.options))
            raise InputError(
                f"target {self.name!r} has no setting {unknown[0]!r}",
                hint=f"valid settings: {', '.join(valid)}",
            )
        replaced = {k: v for k, v in changes.items() if k in fields}
        return dataclasses.replace(self, **replaced, options={**self.options, **options})

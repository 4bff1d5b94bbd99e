"""TFLite -> Edge TPU: run ``edgetpu_compiler`` (argv list, timeout) and parse its log into objects.

The compiler ships only as Coral's Debian package for x86-64 Linux, so callers first ask
:func:`find_compiler`; without it they ship :func:`compile_command` for the user to run.
The log parser reads what the compiler prints with ``-s``: the model and memory summary, the
"Number of operations that will run on Edge TPU/CPU" lines and the Operator / Count / Status
table, per segment when ``--num_segments`` splits the model for pipelining.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import InputError, ToolError

__all__ = [
    "Compilation",
    "compile_command",
    "compile_edgetpu",
    "CompiledModel",
    "CompilerLog",
    "DEFAULT_TIMEOUT_S",
    "find_compiler",
    "OperatorStatus",
    "parse_log",
    "parse_size",
]

COMPILER = "edgetpu_compiler"
DEFAULT_TIMEOUT_S = 180
_GRACE_S = 30  # the compiler enforces --timeout_sec itself; this only catches a hung process
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_ERROR_PREFIXES = (
    "ERROR:",
    "Compilation failed",
    "Invalid model",
    "Model could not be parsed",
    "Model not quantized",
    "Internal compiler error",
    "Compilation timeout",
)
_TABLE_HEADER = re.compile(r"^Operator\s+Count\s+Status\s*$")
_TABLE_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S.*?)\s*$")


@dataclass(frozen=True)
class OperatorStatus:
    """One row of the compiler's table: ``CONV_2D 35 Mapped to Edge TPU``."""

    op: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        return self.status == "Mapped to Edge TPU"

    def to_dict(self) -> dict:
        return {"op": self.op, "count": self.count, "status": self.status}


@dataclass
class CompiledModel:
    """The summary the compiler prints for one output model (one per segment)."""

    input_model: str = ""
    output_model: str = ""
    input_bytes: int | None = None
    output_bytes: int | None = None
    on_chip_used_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    on_chip_available_bytes: int | None = None  # compilers before 14 print "available", not "remaining"
    off_chip_used_bytes: int | None = None
    edgetpu_subgraphs: int | None = None
    total_ops: int | None = None
    ops_on_edgetpu: int | None = None
    ops_on_cpu: int | None = None
    compile_ms: int | None = None
    operation_log: str = ""
    operators: list[OperatorStatus] = field(default_factory=list)

    def edgetpu_op_count(self) -> int | None:
        """Ops on the Edge TPU: the explicit line, else the table, else all ops when none fell back."""
        if self.ops_on_edgetpu is not None:
            return self.ops_on_edgetpu
        if self.operators:
            return sum(row.count for row in self.operators if row.mapped)
        if self.total_ops is not None and self.edgetpu_subgraphs:
            return self.total_ops  # the compiler omits the line when everything maps
        return None


@dataclass(frozen=True)
class CompilerLog:
    """Everything read from one run's output."""

    version: str | None
    succeeded: bool | None
    models: tuple[CompiledModel, ...]
    errors: tuple[str, ...]

    @property
    def operators(self) -> list[OperatorStatus]:
        return [row for model in self.models for row in model.operators]

    def ops_on_edgetpu(self) -> int | None:
        counts = [m.edgetpu_op_count() for m in self.models]
        return None if not counts or None in counts else sum(counts)

    def ops_on_cpu(self) -> int | None:
        counts = []
        for model in self.models:
            on_tpu = model.edgetpu_op_count()
            counts.append(model.ops_on_cpu if model.ops_on_cpu is not None else _difference(model.total_ops, on_tpu))
        return None if not counts or None in counts else sum(counts)


def _difference(total: int | None, part: int | None) -> int | None:
    return None if total is None or part is None else total - part


def parse_size(text: str) -> int:
    """``3.21MiB`` -> bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(B|KiB|MiB|GiB)\s*", text)
    if not match:
        raise ValueError(f"not a compiler size: {text!r}")
    return int(round(float(match.group(1)) * _UNITS[match.group(2)]))


# "label: value" lines -> (CompiledModel attribute, converter)
_FIELDS = {
    "Input model": ("input_model", str),
    "Input": ("input_model", str),
    "Output model": ("output_model", str),
    "Output": ("output_model", str),
    "Input size": ("input_bytes", parse_size),
    "Output size": ("output_bytes", parse_size),
    "On-chip memory used for caching model parameters": ("on_chip_used_bytes", parse_size),
    "On-chip memory remaining for caching model parameters": ("on_chip_remaining_bytes", parse_size),
    "On-chip memory available for caching model parameters": ("on_chip_available_bytes", parse_size),
    "Off-chip memory used for streaming uncached model parameters": ("off_chip_used_bytes", parse_size),
    "Number of Edge TPU subgraphs": ("edgetpu_subgraphs", int),
    "Total number of operations": ("total_ops", int),
    "Operation log": ("operation_log", str),
    "Number of operations that will run on Edge TPU": ("ops_on_edgetpu", int),
    "Number of operations that will run on CPU": ("ops_on_cpu", int),
}
_STARTS_MODEL = {"input_model"}


def parse_log(text: str) -> CompilerLog:
    """Read the compiler's stdout (or its ``.log`` file) into a :class:`CompilerLog`."""
    version, errors, models = None, [], []
    current: CompiledModel | None = None
    pending_ms: int | None = None
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if in_table:
            row = _TABLE_ROW.match(line)
            if row and current is not None:
                current.operators.append(OperatorStatus(row.group(1), int(row.group(2)), row.group(3)))
                continue
            if not line:
                continue
            in_table = False
        if match := re.match(r"Edge TPU Compiler version (\S+)", line):
            version = match.group(1)
        elif match := re.match(r"Model compiled successfully in (\d+) ms", line):
            pending_ms = int(match.group(1))
        elif _TABLE_HEADER.match(line):
            current = current or _new_model(models)
            in_table = True
        elif line.startswith(_ERROR_PREFIXES):
            errors.append(line)
        elif ":" in line:
            label, _, value = line.partition(":")
            if label in _FIELDS:
                attribute, convert = _FIELDS[label]
                if attribute in _STARTS_MODEL or current is None:
                    current = _new_model(models)
                    current.compile_ms, pending_ms = pending_ms, None
                setattr(current, attribute, convert(value.strip()))
    return CompilerLog(version=version, succeeded=_succeeded(text, models, errors), models=tuple(models), errors=tuple(errors))


def _new_model(models: list[CompiledModel]) -> CompiledModel:
    models.append(CompiledModel())
    return models[-1]


def _succeeded(text: str, models, errors) -> bool | None:
    if "Compilation succeeded!" in text:
        return True
    if "Compilation failed" in text or any(not e.startswith("ERROR:") for e in errors):
        return False
    return True if any(m.output_model for m in models) else None


def find_compiler() -> str | None:
    """The compiler's path when it is on PATH."""
    return shutil.which(COMPILER)


def compiler_argv(compiler: str, model: str, out_dir: str, *, num_segments: int | None, timeout_s: float | None) -> list[str]:
    """``edgetpu_compiler -s -o OUT [--num_segments N] [--timeout_sec T] MODEL``."""
    argv = [compiler, "-s", "-o", out_dir]
    if num_segments is not None:
        argv += ["--num_segments", str(num_segments)]
    if timeout_s is not None:
        argv += ["--timeout_sec", str(int(timeout_s))]
    return [*argv, model]


def compile_command(model: str, *, num_segments: int | None = None, timeout_s: float | None = None) -> str:
    """The shell command a user runs beside ``model`` to compile it themselves."""
    _validate(num_segments, timeout_s)
    return shlex.join(compiler_argv(COMPILER, model, ".", num_segments=num_segments, timeout_s=timeout_s))


@dataclass(frozen=True)
class Compilation:
    """What a compiler run produced: output files by name, the parsed log and the argv."""

    files: dict[str, bytes]
    log: CompilerLog
    argv: tuple[str, ...]
    output: str

    def report_details(self) -> dict:
        """The compiler's measured facts, for the target report (they replace the prediction)."""
        models = self.log.models
        return {
            "edgetpu_compiled": True,
            "predicted": False,
            "compiler_version": self.log.version,
            "edgetpu_ops": self.log.ops_on_edgetpu(),
            "cpu_ops": self.log.ops_on_cpu(),
            "edgetpu_subgraphs": sum(m.edgetpu_subgraphs or 0 for m in models),
            "on_chip_memory_bytes": sum(m.on_chip_used_bytes or 0 for m in models),
            "off_chip_memory_bytes": sum(m.off_chip_used_bytes or 0 for m in models),
            "segments": len(models),
            "compiler_ops": [row.to_dict() for row in self.log.operators],
            "edgetpu_models": sorted(name for name in self.files if name.endswith("_edgetpu.tflite")),
        }

    def notes(self) -> tuple[str, ...]:
        on_cpu = self.log.ops_on_cpu()
        if on_cpu:
            return (f"edgetpu_compiler: {on_cpu} ops run on the CPU (see compiler_ops)",)
        return ()


def compile_edgetpu(
    model_bytes: bytes,
    *,
    name: str = "model",
    num_segments: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    compiler: str | None = None,
) -> Compilation:
    """Compile ``model_bytes``; return the ``*_edgetpu.tflite`` file(s), the log, and the argv used."""
    _validate(num_segments, timeout_s)
    compiler = compiler or find_compiler()
    if compiler is None:
        raise ToolError(f"{COMPILER} is not on PATH", hint="install Coral's edgetpu-compiler package (x86-64 Debian/Ubuntu)")
    with tempfile.TemporaryDirectory(prefix="edgekit-edgetpu-") as tmp:
        model, out = Path(tmp) / f"{name}.tflite", Path(tmp) / "out"
        model.write_bytes(model_bytes)
        out.mkdir()
        argv = compiler_argv(compiler, str(model), str(out), num_segments=num_segments, timeout_s=timeout_s)
        output, returncode = _run(argv, timeout_s + _GRACE_S, cwd=tmp)
        log = parse_log(output)
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    if returncode != 0 or log.succeeded is False or not any(n.endswith("_edgetpu.tflite") for n in files):
        reason = log.errors[0] if log.errors else (output.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"{COMPILER} failed (exit status {returncode}): {reason}")
    return Compilation(files=files, log=log, argv=tuple(argv), output=output)


def _run(argv: list[str], timeout: float, *, cwd: str) -> tuple[str, int]:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{COMPILER} did not finish within {timeout:g} s",
            hint="raise compiler_timeout_s, or split the model with num_segments",
        ) from None
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    return done.stdout + done.stderr, done.returncode


def _validate(num_segments, timeout_s) -> None:
    if num_segments is not None and (isinstance(num_segments, bool) or not isinstance(num_segments, int) or num_segments < 1):
        raise InputError(f"num_segments must be a whole number >= 1, not {num_segments!r}")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0):
        raise InputError(f"compiler_timeout_s must be a positive number of seconds, not {timeout_s!r}")

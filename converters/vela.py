"""int8 TFLite -> Arm Ethos-U TFLite, by running the real Vela compiler (``ethos-u-vela``).

Vela rewrites every NPU-supported part of the graph into one ``ethos-u`` custom op (command
stream plus compressed weights) and leaves the rest for TFLM on the Cortex-M. It runs as a
subprocess with an argv list and a timeout in a temporary folder; its network summary (stdout)
and summary CSV are parsed into a :class:`VelaResult`. Nothing is written anywhere else.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from edgekit.errors import InputError, ToolError

__all__ = ["ACCELERATORS", "compile_vela", "CpuFallback", "parse_fallbacks", "VelaResult"]

VELA_PIP = "pip install ethos-u-vela"
# ``vela --help`` of ethos-u-vela 5.2: the accepted --accelerator-config values.
ACCELERATORS = (
    "ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256",
    "ethos-u65-256", "ethos-u65-512",
    "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024", "ethos-u85-2048",
)  # fmt: skip
OPTIMISE = ("Performance", "Size")
KIB = 1024

_OP_COUNT = re.compile(r"^(CPU|NPU) operators = (\d+) \(([\d.]+)%\)", re.MULTILINE)
# Two warning styles: Vela's C++ core (regor) and its Python front end.
_REGOR_WARNING = re.compile(r"Warning \(supported operators\) operator: (\S+), ofm: '(.*)'\s*\nReason: (.*)")
_PYTHON_WARNING = re.compile(r"Warning: (?:Unsupported TensorFlow Lite semantics for )?(\S+) '(.*?)'.*Placing on CPU instead\s*\n - (.*)")


@dataclass(frozen=True)
class CpuFallback:
    """One operator Vela left for the Cortex-M, and Vela's reason."""

    op: str
    tensor: str
    reason: str


@dataclass(frozen=True)
class VelaResult:
    """The compiled model and Vela's own figures for it."""

    model: bytes
    accelerator: str
    system_config: str
    memory_mode: str
    npu_ops: int  # Vela's count after lowering (e.g. one SOFTMAX becomes ~20 NPU ops)
    cpu_ops: int
    fallbacks: tuple[CpuFallback, ...]
    sram_bytes: int
    flash_bytes: int  # on-chip plus off-chip flash Vela placed weights and command streams in
    dram_bytes: int
    cycles_npu: int
    cycles_total: int
    inference_time_s: float
    inferences_per_second: float
    macs: int
    clock_hz: float
    summary: Mapping[str, str] = field(default_factory=dict)  # the CSV row, verbatim
    log: str = ""

    @property
    def npu_op_share(self) -> float:
        """Fraction of Vela's operators that run on the NPU."""
        total = self.npu_ops + self.cpu_ops
        return self.npu_ops / total if total else 0.0

    def figures(self) -> dict:
        """The numbers a report needs (no model bytes, no log)."""
        return {
            "accelerator": self.accelerator,
            "system_config": self.system_config,
            "memory_mode": self.memory_mode,
            "vela_npu_ops": self.npu_ops,
            "vela_cpu_ops": self.cpu_ops,
            "sram_bytes": self.sram_bytes,
            "flash_bytes": self.flash_bytes,
            "dram_bytes": self.dram_bytes,
            "weights_area": self.summary.get("weights_storage_area", ""),
            "feature_map_area": self.summary.get("feature_map_storage_area", ""),
            "cycles_npu": self.cycles_npu,
            "cycles_total": self.cycles_total,
            "inference_time_ms": round(self.inference_time_s * 1000, 4),
            "inferences_per_second": round(self.inferences_per_second, 2) if math.isfinite(self.inferences_per_second) else None,
            "macs": self.macs,
            "clock_mhz": round(self.clock_hz / 1e6, 1),
        }


def find_vela() -> str:
    """The ``vela`` executable: on PATH, or beside this Python (an unactivated venv)."""
    found = shutil.which("vela") or shutil.which("vela", path=str(Path(sys.executable).parent))
    if not found:
        raise ToolError("the Vela compiler (vela) is not installed", hint=VELA_PIP)
    return found


def compile_vela(
    model_bytes: bytes,
    *,
    accelerator: str = "ethos-u55-128",
    system_config: str | None = None,
    memory_mode: str | None = None,
    config: str | Path | None = None,
    optimise: str = "Performance",
    extra_args: Sequence[str] = (),
    timeout: float = 300.0,
    vela: str | None = None,
) -> VelaResult:
    """Compile ``model_bytes`` for ``accelerator`` and return the Vela model and its summary."""
    _validate(model_bytes, accelerator, optimise, config, timeout)
    executable = vela or find_vela()
    with tempfile.TemporaryDirectory(prefix="edgekit-vela-") as temp:
        folder = Path(temp)
        (folder / "model.tflite").write_bytes(model_bytes)
        argv = [executable, "--accelerator-config", accelerator, "--optimise", optimise, "--output-dir", "out"]
        argv += ["--config", str(Path(config).resolve())] if config else []
        argv += ["--system-config", system_config] if system_config else []
        argv += ["--memory-mode", memory_mode] if memory_mode else []
        argv += [*extra_args, "model.tflite"]
        log = _run(argv, folder, timeout)
        return _read_outputs(folder / "out", log, accelerator)


def _validate(model_bytes, accelerator, optimise, config, timeout) -> None:
    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise InputError("Vela needs a TFLite model (no 'TFL3' identifier in the bytes)")
    if accelerator not in ACCELERATORS:
        raise InputError(f"unknown Ethos-U accelerator {accelerator!r}", hint=f"choose one of: {', '.join(ACCELERATORS)}")
    if optimise not in OPTIMISE:
        raise InputError(f"unknown Vela optimise strategy {optimise!r}", hint="choose Performance or Size")
    if config is not None and not Path(config).is_file():
        raise InputError(f"Vela config file not found: {config}", hint="pass a vela.ini path, or leave it unset")
    if not timeout or timeout <= 0:
        raise InputError(f"the Vela timeout must be a positive number of seconds, not {timeout!r}")


def _run(argv: list[str], cwd: Path, timeout: float) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"vela did not finish within {timeout:g} s", hint="raise the timeout or try --optimise Size") from exc
    except OSError as exc:
        raise ToolError(f"cannot run vela ({argv[0]}): {exc}", hint=VELA_PIP) from exc
    log = done.stdout + done.stderr
    if done.returncode != 0:
        tail = " / ".join(line.strip() for line in log.strip().splitlines()[-4:])
        raise ToolError(f"vela failed (exit {done.returncode}): {tail}", hint="see the reason above; vela --help lists the options")
    return log


def _read_outputs(out: Path, log: str, accelerator: str) -> VelaResult:
    models = sorted(out.glob("*_vela.tflite"))
    summaries = sorted(out.glob("*_summary_*.csv"))
    if not models or not summaries:
        raise ToolError("vela wrote no _vela.tflite or summary CSV", hint=f"its output was: {log.strip()[-300:]}")
    row = parse_summary_csv(summaries[0].read_text(encoding="utf-8"))
    return result_from(models[0].read_bytes(), row, log, accelerator)


def parse_summary_csv(text: str) -> dict[str, str]:
    """The single data row of Vela's ``*_summary_*.csv``."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if len(rows) != 1:
        raise ToolError(f"Vela's summary CSV has {len(rows)} data rows, expected 1")
    return rows[0]


def result_from(model: bytes, row: Mapping[str, str], log: str, accelerator: str) -> VelaResult:
    """Combine the compiled model, the CSV row and the console log."""
    counts = {kind: int(n) for kind, n, _ in _OP_COUNT.findall(log)}
    return VelaResult(
        model=model,
        accelerator=accelerator,
        system_config=row.get("system_config", ""),
        memory_mode=row.get("memory_mode", ""),
        npu_ops=counts.get("NPU", 0),
        cpu_ops=counts.get("CPU", 0),
        fallbacks=parse_fallbacks(log),
        sram_bytes=_kib(row, "sram_memory_used"),
        flash_bytes=_kib(row, "on_chip_flash_memory_used") + _kib(row, "off_chip_flash_memory_used"),
        dram_bytes=_kib(row, "dram_memory_used"),
        cycles_npu=int(_number(row, "cycles_npu")),
        cycles_total=int(_number(row, "cycles_total")),
        inference_time_s=_number(row, "inference_time"),
        inferences_per_second=_number(row, "inferences_per_second"),
        macs=int(_number(row, "nn_macs")),
        clock_hz=_number(row, "core_clock"),
        summary=dict(row),
        log=log,
    )


def parse_fallbacks(log: str) -> tuple[CpuFallback, ...]:
    """Every 'placed on CPU' warning in Vela's console output, in order."""
    found = [CpuFallback(op=m[0], tensor=m[1], reason=m[2].strip()) for m in _REGOR_WARNING.findall(log)]
    found += [CpuFallback(op=m[0], tensor=m[1], reason=m[2].strip()) for m in _PYTHON_WARNING.findall(log)]
    return tuple(found)


def _number(row: Mapping[str, str], key: str) -> float:
    try:
        return float(row.get(key, "0") or 0)
    except ValueError:
        return float("nan")


def _kib(row: Mapping[str, str], key: str) -> int:
    value = _number(row, key)
    return int(round(value * KIB)) if math.isfinite(value) else 0

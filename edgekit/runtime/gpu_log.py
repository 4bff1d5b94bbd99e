"""What the GPU accelerator said on its native log, read back into facts.

LiteRT's Python API answers one question about placement (``is_fully_accelerated()``, which
counts XNNPACK as acceleration too). Everything else a phone developer needs is only printed
by the native code to stderr: the WebGPU adapter Dawn selected, the ML Drift delegate's list of
operations it will not take and why, how many ops it took, and why it refused a graph. The
worker's stderr is kept in a file and parsed here; the wordings are LiteRT 2.x's
(``ml_drift_delegate/tflite/model_builder.cc``, ``tflite/core/subgraph.cc``,
``litert/runtime/.../environment.cc``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Adapter", "DelegateLog", "parse"]

_ADAPTER = re.compile(
    r"Selected adapter: (?P<name>.+?), arch=(?P<arch>[^,]*), vendor=(?P<vendor>[^,]*), backend=(?P<backend>[^,]*), adapterType=(?P<type>[^\r\n]*)"
)
_FALLBACK_START = "Following operations are not supported by GPU delegate:"
_FALLBACK_LINE = re.compile(r"^(?P<op>[A-Za-z0-9_]+): ?(?P<reason>.*)$")
_COUNTS = re.compile(r"(?P<gpu>\d+) operations will run on the GPU, and the remaining (?P<cpu>\d+) operations will run on the CPU")
_NONE_ON_GPU = re.compile(r"No operations will run on the GPU, and all (?P<cpu>\d+) operations will run on the CPU")
_DYNAMIC = re.compile(r"Attempting to use a delegate that only supports static-sized tensors.*?\(tensor#(?P<tensor>-?\d+) is a dynamic-sized tensor\)")
_NO_VULKAN = re.compile(r"Couldn't load Vulkan: (?P<why>[^\r\n]*)")
_NO_ADAPTER = "No adapters found"
_GPU_PARTITION = re.compile(r"Initializing \w+-based API from graph")  # once per partition the GPU compiles


@dataclass(frozen=True)
class Adapter:
    """The WebGPU adapter, as Dawn names it (``SwiftShader Device (Subzero)``, ``NVIDIA ...``)."""

    name: str
    backend: str
    type: str
    vendor: str = ""
    arch: str = ""

    @property
    def software(self) -> bool:
        """A CPU implementation of the graphics API (SwiftShader, llvmpipe): not a GPU."""
        return "software" in self.type.lower() or self.arch.lower() in ("swiftshader", "llvmpipe")

    def to_dict(self) -> dict:
        return {"name": self.name, "backend": self.backend, "type": self.type, "vendor": self.vendor, "arch": self.arch, "software": self.software}


@dataclass(frozen=True)
class DelegateLog:
    """The facts in one worker's native log."""

    adapter: Adapter | None = None
    fallback: tuple[tuple[str, str], ...] = ()  # (op, reason) the GPU delegate did not take
    gpu_ops: int | None = None  # None: the delegate printed no counts (it took every op)
    cpu_ops: int | None = None
    gpu_partitions: int = 0  # partitions the GPU delegate compiled
    dynamic_tensor: int | None = None  # the tensor LiteRT named when it refused dynamic shapes
    no_device: str = ""  # why no WebGPU adapter could be created, when none was
    error_lines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def partial(self) -> bool:
        return bool(self.fallback) or bool(self.cpu_ops)


def parse(text: str) -> DelegateLog:
    """Every fact the accelerator printed; absent facts stay None/empty."""
    adapter = _ADAPTER.search(text)
    counts = _COUNTS.search(text)
    none = _NONE_ON_GPU.search(text)
    dynamic = _DYNAMIC.search(text)
    gpu_ops, cpu_ops = (int(counts["gpu"]), int(counts["cpu"])) if counts else (0, int(none["cpu"])) if none else (None, None)
    return DelegateLog(
        adapter=Adapter(adapter["name"], adapter["backend"], adapter["type"].strip(), adapter["vendor"], adapter["arch"]) if adapter else None,
        fallback=_fallback(text),
        gpu_ops=gpu_ops,
        cpu_ops=cpu_ops,
        gpu_partitions=len(_GPU_PARTITION.findall(text)),
        dynamic_tensor=int(dynamic["tensor"]) if dynamic else None,
        no_device=_no_device(text),
        error_lines=tuple(line.strip() for line in text.splitlines() if line.startswith(("ERROR", "E0000", "RuntimeError", "└"))),
    )


def _fallback(text: str) -> tuple[tuple[str, str], ...]:
    """The (op, reason) lines between the delegate's header and its counts line."""
    start = text.find(_FALLBACK_START)
    if start < 0:
        return ()
    rows = []
    for line in text[start + len(_FALLBACK_START) :].splitlines()[1:]:
        match = _FALLBACK_LINE.match(line.strip())
        if not match or line.strip().startswith(("No operations", "INFO", "WARNING", "ERROR")):
            break
        rows.append((match["op"], match["reason"].strip()))
    return tuple(rows)


def _no_device(text: str) -> str:
    vulkan = _NO_VULKAN.search(text)
    if vulkan:
        return f"the Vulkan loader could not be loaded ({vulkan['why'].strip()})"
    if _NO_ADAPTER in text:
        return "Vulkan found no GPU device (WebGPU: no adapters found)"
    return ""

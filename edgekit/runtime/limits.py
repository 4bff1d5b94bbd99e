"""Resource budgets: an input that would take more memory than allowed is refused before it does.

A 1 KB ``.tflite`` can declare a tensor of two billion floats, a PNG header can claim
20000 x 20000 pixels, a ``.npy`` header a shape of hundreds of terabytes. Each is checked
against a budget from what the file declares, before anything is allocated:

- models: the bytes of every tensor the interpreter will allocate (all but the constants,
  which are in the file), from the flatbuffer, before an interpreter is made; and on the
  device commands a cap on the process's data memory (``RLIMIT_DATA``), so an allocation the
  model hides behind a small declared shape fails in the interpreter instead of the machine.
  In the supervised child that runs them (:mod:`edgekit.runtime.supervisor`) the cap is each
  model's own, :func:`model_memory_budget`: a 1 KB FILL model declaring [1, 1] that fills
  3.4 GiB at run time fails at once instead of after using most of the 4 GiB budget;
- images: width x height from the header, before the pixels are decoded;
- ``.npy`` arrays: shape x dtype from the header, which must also match the file's size.

``EDGEKIT_MAX_MEMORY`` (bytes, or 512M, 4G; 0 turns the caps off) sets the memory budget,
default the smaller of 4 GiB and 80 % of this machine's memory; ``EDGEKIT_MAX_IMAGE_PIXELS``
the image budget (default 50 million pixels, a 48-megapixel photo fits). A ``MemoryError``
anywhere becomes one line and exit 2.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from edgekit.errors import DataError, InputError, ModelError

__all__ = [
    "cap_model_memory",
    "cap_process_memory",
    "ENV_MEMORY",
    "human",
    "check_image_size",
    "check_npy",
    "check_tensor_memory",
    "expect_input_bytes",
    "interpreter_failure",
    "memory_cap",
    "model_memory_budget",
    "out_of_memory_message",
    "parse_size",
    "tensor_bytes",
]

ENV_MEMORY = "EDGEKIT_MAX_MEMORY"
ENV_PIXELS = "EDGEKIT_MAX_IMAGE_PIXELS"
DEFAULT_MEMORY = 4 * 1024**3
DEFAULT_PIXELS = 50_000_000
_HEADROOM = 512 * 1024**2  # the interpreter, Python and numpy above the model's own tensors
_DYNAMIC_BATCH = 32  # predict runs a model with a dynamic batch 32 samples at a time
_limits: dict[str, int] = {}  # "process": the soft RLIMIT_DATA the device command set; "model": the model's; "inputs": bytes announced
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8, "int4": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
             "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16}  # fmt: skip


def memory_cap() -> int | None:
    """The memory budget in bytes, or None when it is turned off."""
    text = os.environ.get(ENV_MEMORY, "").strip()
    if not text:
        total = _physical_memory()
        return min(DEFAULT_MEMORY, int(total * 0.8)) if total else DEFAULT_MEMORY
    value = parse_size(text, ENV_MEMORY)
    return value or None


def pixel_cap() -> int | None:
    text = os.environ.get(ENV_PIXELS, "").strip()
    value = parse_size(text, ENV_PIXELS) if text else DEFAULT_PIXELS
    return value or None


def parse_size(text: str, name: str) -> int:
    found = re.fullmatch(r"(\d+)\s*([KMGT]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not found:
        raise InputError(f"{name}={text!r}: not a size", hint="give bytes, or a number with K, M, G or T (e.g. 2G); 0 turns it off")
    return int(found.group(1)) * _UNITS[found.group(2).upper()]


def human(count: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if count >= _UNITS[unit]:
            return f"{count / _UNITS[unit]:.1f} {unit}iB"
    return f"{count} bytes"


def interpreter_failure(exc: BaseException) -> str:
    """What an interpreter's error means: LiteRT reports a failed allocation with no words."""
    text = str(exc).strip()
    if "model" in _limits and re.search(r"failed to (invoke|prepare)\.?$", text):
        # LiteRT gives no reason; under a model's own cap a kernel that grows its output at
        # run time (FILL, TILE, RESIZE) fails this way when it asks for more than the cap
        budget = f"the {human(_limits['model'])} its declared tensors allow (with headroom)"
        return f"{text.rstrip('.')}: most likely it asked for more memory than {budget}, the cap for a model from elsewhere"
    if text and "alloc" not in text.lower():
        return text
    cap = memory_cap()
    budget = f"the memory budget of {human(cap)} ({ENV_MEMORY})" if cap else "this machine's memory"
    if "model" in _limits:
        budget = f"the {human(_limits['model'])} its declared tensors allow (with headroom), the cap for a model from elsewhere"
    return f"it needs more memory than {budget}" + (f"; {text}" if text else "")


def out_of_memory_message() -> str:
    return f"out of memory: the input needs more than this machine (or the {ENV_MEMORY} budget) allows (give a smaller input)"


# --- models -----------------------------------------------------------------------------


def tensor_bytes(graph) -> int:
    """The bytes of every tensor the interpreter allocates: all but the constants in the file."""
    total = 0
    for subgraph in graph.subgraphs:
        for tensor in subgraph.tensors:
            if graph.is_constant(tensor):
                continue
            count = 1
            for dim in tensor.shape:
                count *= max(int(dim), 1)
            total += count * _ITEMSIZE.get(tensor.dtype, 8)
    return total


def check_tensor_memory(graph, where: str) -> None:
    """Refuse a model whose declared tensors alone exceed the memory budget."""
    cap = memory_cap()
    needed = tensor_bytes(graph)
    if cap is not None and needed > cap:
        raise ModelError(
            f"{where}: its tensors need {human(needed)}, more than the memory budget of {human(cap)}",
            hint=f"a model from elsewhere may be built to exhaust memory; raise {ENV_MEMORY} only if you trust it",
        )


def cap_process_memory() -> None:
    """Cap this process's data memory at what it uses now plus the budget (Linux: RLIMIT_DATA).

    Used by the device commands, which run nothing but numpy and an interpreter: an allocation
    beyond the cap fails (the interpreter reports it, numpy raises MemoryError) instead of
    exhausting the device.
    """
    cap = memory_cap()
    used = _data_memory()
    if cap is None or used is None:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = used + cap + _HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    _limits["process"] = min(limit, soft) if soft != resource.RLIM_INFINITY else limit


def model_memory_budget(graph) -> int:
    """The memory one untrusted model may use on top of what the process holds already.

    3 x the file (LiteRT's copy, XNNPACK's packed weights) + 2 x its declared tensors (the
    arena, scratch), at 32 samples when the batch is dynamic (``predict``'s batch), plus the
    inputs the command announced (:func:`expect_input_bytes`) and 512 MiB of headroom.
    """
    main = graph.main
    dynamic = any(main.tensors[i].shape_signature[:1] == (-1,) for i in main.inputs)
    batch = _DYNAMIC_BATCH if dynamic else 1
    return 3 * graph.size + 2 * batch * tensor_bytes(graph) + _limits.get("inputs", 0) + _HEADROOM


def expect_input_bytes(count: int) -> None:
    """Tell the next model's cap how much input data the command will hold beside it."""
    _limits["inputs"] = max(int(count), 0)


def cap_model_memory(graph) -> None:
    """Lower this process's soft data-memory limit to what it uses now plus the model's budget
    (never above the process-wide cap; a later, bigger model may raise it again up to that)."""
    used = _data_memory()
    if used is None or memory_cap() is None:  # EDGEKIT_MAX_MEMORY=0 turns every cap off
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    budget = model_memory_budget(graph)
    limit = used + budget
    for ceiling in (_limits.get("process"), None if hard == resource.RLIM_INFINITY else hard):
        if ceiling is not None:
            limit = min(limit, ceiling)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    _limits["model"] = budget


def _data_memory() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmData:\s+(\d+) kB", status)
    return int(found.group(1)) * 1024 if found else None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# --- images and arrays ------------------------------------------------------------------


def check_image_size(path: Path, width: int, height: int) -> None:
    """Refuse an image whose header declares more pixels than the budget, before decoding."""
    cap = pixel_cap()
    if cap is not None and width * height > cap:
        raise DataError(
            f"{path}: {width} x {height} pixels ({width * height:,}) is more than the limit of {cap:,}",
            hint=f"resize it first, or raise {ENV_PIXELS}",
        )


def check_npy(path: Path) -> None:
    """A ``.npy`` file's header against its size and the memory budget, before it is read."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            shape, fortran, dtype = _read_header(handle, version)
            offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataError(f"{path}: not a readable .npy array: {exc}") from None
    if dtype.hasobject:
        raise DataError(f"{path}: not a readable .npy array: it holds Python objects (pickled), which edgekit never loads")
    count = 1
    for dim in shape:
        count *= int(dim)
    declared = count * dtype.itemsize
    present = path.stat().st_size - offset
    if declared != present:
        raise DataError(f"{path}: its header declares {human(declared)} of data but the file holds {human(max(present, 0))}", hint="the file is truncated or its header was edited")
    cap = memory_cap()
    if cap is not None and declared > cap:
        raise DataError(f"{path}: {human(declared)} of data, more than the memory budget of {human(cap)}", hint=f"give a smaller array, or raise {ENV_MEMORY}")


def _read_header(handle, version):
    import numpy as np

    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"unsupported .npy format version {version}")

"""Which interpreter package to use, resolved once, in a documented order."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

from edgekit.errors import ToolError

__all__ = ["Backend", "BACKENDS", "resolve_backend"]

# name -> (module holding Interpreter, distribution whose version we report)
BACKENDS: dict[str, tuple[str, str]] = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite_runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
    "tensorflow": ("tensorflow.lite.python.interpreter", "tensorflow"),
}


# The pyproject extra that installs each backend, for the error that says what to install.
_EXTRAS = {"ai_edge_litert": "runtime", "tflite_runtime": "legacy-runtime", "tensorflow": "train"}


@dataclass(frozen=True)
class Backend:
    """A loaded interpreter module and what to call it in reports."""

    name: str
    version: str
    module: Any

    @property
    def Interpreter(self):  # noqa: N802 - mirrors the interpreter API's class name
        return self.module.Interpreter

    def load_delegate(self, library: str, options: dict | None = None):
        return self.module.load_delegate(library, options or {})

    def op_resolver(self, name: str):
        return getattr(self.module.OpResolverType, name)


@functools.cache
def resolve_backend(name: str | None = None) -> Backend:
    """The first importable backend, or the one named (``--runtime``)."""
    if name is not None and name not in BACKENDS:
        raise ToolError(f"unknown runtime {name!r}", hint=f"choose one of: {', '.join(BACKENDS)}")
    candidates = [name] if name else list(BACKENDS)
    failures = []
    for candidate in candidates:
        module_name, distribution = BACKENDS[candidate]
        try:
            if candidate == "tensorflow":
                from edgekit._compat import tf

                tf()
            module = importlib.import_module(module_name)
        except Exception as exc:  # ImportError, or numpy ABI errors from tflite_runtime
            failures.append(f"{candidate}: {exc.__class__.__name__}: {exc}")
            continue
        return Backend(candidate, _version(distribution), module)
    raise ToolError(
        "no TFLite interpreter could be imported (" + "; ".join(failures) + ")",
        hint=f"pip install 'edgekit-tflite[{_EXTRAS.get(name or 'ai_edge_litert')}]'",
    )


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"

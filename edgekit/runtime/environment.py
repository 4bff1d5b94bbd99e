"""The machine and software every measured number was taken on, recorded beside the number."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgekit._version import __version__

__all__ = ["describe_machine", "package_versions", "software_versions"]

_DISTRIBUTIONS = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "tflite-runtime", "numpy")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def board_model() -> str | None:
    """The board name on Raspberry Pi and other device-tree systems."""
    try:
        return Path("/proc/device-tree/model").read_bytes().rstrip(b"\x00").decode("utf-8", "replace") or None
    except OSError:
        return None


def package_versions() -> dict[str, str]:
    found = {"edgekit": __version__}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def software_versions() -> dict[str, str]:
    """Installed versions, with TensorFlow's taken from the loaded module when present."""
    from edgekit._compat import tf_version

    versions = package_versions()
    loaded = tf_version()
    if loaded:
        versions["tensorflow"] = loaded
    return versions


def describe_machine() -> dict:
    """CPU, cores, OS and architecture, plus the board on a Pi."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "architecture": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "board": board_model(),
    }

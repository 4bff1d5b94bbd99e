"""Which Vulkan driver the LiteRT GPU accelerator can use here, found without running anything.

LiteRT's GPU accelerator (ML Drift over WebGPU, ``libLiteRtWebGpuAccelerator.so``) reaches the
GPU through Dawn, which on Linux needs the Vulkan loader (``libvulkan.so.1``) and an installable
client driver (ICD). A machine with a real GPU has both from its driver package; a machine
without one can still run the accelerator on SwiftShader, the CPU implementation of Vulkan that
Chromium ships (Debian's ``chromium`` package puts ``vk_swiftshader_icd.json``, the driver and
a loader in ``/usr/lib/chromium``). The candidates are tried in order, real drivers first; each
is only a set of environment variables for the child process that runs the accelerator, so
nothing here changes this process.
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

__all__ = ["INSTALL_HINT", "missing_reason", "vulkan_drivers", "VulkanDriver"]

# Where browsers that bundle SwiftShader put its Vulkan ICD manifest (Debian/Ubuntu chromium,
# Fedora chromium, Google Chrome, the chromium snap).
SWIFTSHADER_ICDS = (
    "/usr/lib/chromium/vk_swiftshader_icd.json",
    "/usr/lib64/chromium-browser/vk_swiftshader_icd.json",
    "/usr/lib/chromium-browser/vk_swiftshader_icd.json",
    "/opt/google/chrome/vk_swiftshader_icd.json",
    "/snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json",
)
# The Vulkan loader's own search folders for ICD manifests (Linux).
SYSTEM_ICD_DIRS = ("/etc/vulkan/icd.d", "/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
INSTALL_HINT = (
    "install the GPU's Vulkan driver, or Debian's chromium package for SwiftShader "
    "(apt-get install chromium), or set VK_ICD_FILENAMES to a Vulkan ICD manifest"
)


@dataclass(frozen=True)
class VulkanDriver:
    """One way to give the accelerator a Vulkan device: a name for reports and the child's env."""

    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    prepend_library_path: str | None = None  # a folder holding libvulkan.so.1 when the system has none

    def child_env(self, base: Mapping[str, str], runtime_dir: str) -> dict[str, str]:
        """``base`` plus this driver's variables; Dawn wants a private XDG_RUNTIME_DIR."""
        env = {**base, **self.env, "XDG_RUNTIME_DIR": runtime_dir}
        if self.prepend_library_path:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (self.prepend_library_path, base.get("LD_LIBRARY_PATH")) if p)
        return env


def vulkan_drivers(environ: Mapping[str, str] | None = None) -> list[VulkanDriver]:
    """The drivers to try, best first; empty when there is none (see :func:`missing_reason`)."""
    environ = os.environ if environ is None else environ
    if platform.system() != "Linux":
        return [VulkanDriver(name=f"the system's GPU driver ({platform.system()})")]
    loader = system_loader()
    configured = environ.get("VK_ICD_FILENAMES") or environ.get("VK_DRIVER_FILES")
    if configured:
        return [_driver_for_icd(configured, loader, name=f"Vulkan ICD {configured} (VK_ICD_FILENAMES)")]
    drivers = []
    if loader and system_icds():
        drivers.append(VulkanDriver(name="the system's Vulkan driver (" + ", ".join(Path(p).name for p in system_icds()) + ")"))
    icd = swiftshader_icd()
    if icd:
        drivers.append(_driver_for_icd(icd, loader, name=f"SwiftShader ({icd})"))
    return drivers


def _driver_for_icd(icd: str, loader: str | None, *, name: str) -> VulkanDriver:
    first = icd.split(os.pathsep)[0]
    return VulkanDriver(name=name, env={"VK_ICD_FILENAMES": icd}, prepend_library_path=None if loader else bundled_loader(first))


def bundled_loader(icd: str) -> str | None:
    """A folder with a browser's own ``libvulkan.so.1``, for machines without the system loader."""
    candidates = [Path(icd).parent, *(Path(path).parent for path in SWIFTSHADER_ICDS)]
    return next((str(folder) for folder in candidates if (folder / "libvulkan.so.1").is_file()), None)


def missing_reason() -> str:
    """One line saying why :func:`vulkan_drivers` found nothing."""
    if not system_loader() and not swiftshader_icd():
        return "no Vulkan driver: no Vulkan loader (libvulkan.so.1) and SwiftShader is not installed"
    return "no Vulkan driver: the Vulkan loader finds no ICD manifest and SwiftShader is not installed"


def system_loader() -> str | None:
    """The system's Vulkan loader, as the dynamic linker would find it."""
    return ctypes.util.find_library("vulkan")


def system_icds() -> list[str]:
    """ICD manifests in the loader's standard folders (a real driver, or Mesa's)."""
    data_dirs = os.environ.get("XDG_DATA_DIRS", "").split(os.pathsep)
    folders = [*SYSTEM_ICD_DIRS, *(os.path.join(d, "vulkan", "icd.d") for d in data_dirs if d)]
    return sorted({path for folder in folders for path in glob.glob(os.path.join(folder, "*.json"))})


def swiftshader_icd() -> str | None:
    """The first SwiftShader ICD manifest a browser package installed, if any."""
    return next((path for path in SWIFTSHADER_ICDS if os.path.isfile(path)), None)

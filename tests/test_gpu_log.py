"""Reading the GPU accelerator's native log, and finding a Vulkan driver (no accelerator needed).

The logs in ``tests/data/gpu_logs`` are the real stderr of ``edgekit.runtime._gpu_worker`` with
LiteRT 2.3.0 on SwiftShader (paths shortened), one per outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.runtime import gpu_driver, gpu_log

LOGS = Path(__file__).parent / "data" / "gpu_logs"


def parsed(name: str) -> gpu_log.DelegateLog:
    return gpu_log.parse((LOGS / f"{name}.txt").read_text())


def test_a_fully_accelerated_model_names_its_adapter():
    log = parsed("fully_accelerated")
    assert log.adapter == gpu_log.Adapter("SwiftShader Device (Subzero)", "Vulkan", "CPU / Software", "google", "swiftshader")
    assert log.adapter.software and log.gpu_partitions == 1
    assert (log.fallback, log.gpu_ops, log.cpu_ops, log.dynamic_tensor, log.no_device) == ((), None, None, None, "")


def test_a_partial_model_lists_what_the_delegate_left_to_the_cpu():
    log = parsed("partial_rfft2d")
    assert dict(log.fallback) == {"COMPLEX_ABS": "Operation is not supported.", "DEQUANTIZE": "", "RFFT2D": "Operation is not supported."}
    assert (log.gpu_ops, log.cpu_ops, log.gpu_partitions) == (2, 4, 1) and log.partial


def test_no_op_on_the_gpu():
    log = parsed("none_five_d")
    assert (log.gpu_ops, log.cpu_ops, log.gpu_partitions) == (0, 3, 0)
    assert dict(log.fallback)["MUL"].startswith("Tensor dimensions must be less than 5.")


def test_a_refused_dynamic_graph_names_the_tensor():
    log = parsed("refused_dynamic_where")
    assert log.dynamic_tensor == 9 and log.adapter is not None and log.gpu_partitions == 0


@pytest.mark.parametrize("name, why", [("no_adapter", "no GPU device (WebGPU: no adapters found)"), ("no_vulkan_loader", "the Vulkan loader could not be loaded (libvulkan.so.1")])
def test_no_device_says_why(name, why):
    log = parsed(name)
    assert log.adapter is None and why in log.no_device


def test_a_configured_icd_is_the_only_driver_tried(tmp_path):
    icd = tmp_path / "vk_swiftshader_icd.json"
    icd.write_text("{}")
    (driver,) = gpu_driver.vulkan_drivers({"VK_ICD_FILENAMES": str(icd)})
    assert driver.env == {"VK_ICD_FILENAMES": str(icd)} and "VK_ICD_FILENAMES" in driver.name
    env = driver.child_env({"PATH": "/bin"}, str(tmp_path / "xdg"))
    assert env["XDG_RUNTIME_DIR"] == str(tmp_path / "xdg") and env["VK_ICD_FILENAMES"] == str(icd) and env["PATH"] == "/bin"


def test_a_bundled_loader_is_put_on_the_library_path(tmp_path):
    (tmp_path / "icd.json").write_text("{}")
    (tmp_path / "libvulkan.so.1").write_bytes(b"")
    driver = gpu_driver._driver_for_icd(str(tmp_path / "icd.json"), None, name="test")
    assert driver.child_env({"LD_LIBRARY_PATH": "/opt/lib"}, "/x")["LD_LIBRARY_PATH"] == f"{tmp_path}:/opt/lib"
    assert gpu_driver._driver_for_icd(str(tmp_path / "icd.json"), "libvulkan.so.1", name="test").prepend_library_path is None


def test_the_missing_driver_reason_names_what_to_install():
    assert gpu_driver.missing_reason().startswith("no Vulkan driver:")
    assert "apt-get install chromium" in gpu_driver.INSTALL_HINT

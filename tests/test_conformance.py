"""The conformance matrix, in the slow tier: real and hand-made models through ``edgekit
convert`` on every target, as ``benchmarks/conformance.py`` runs them (one process per cell).

Every cell works, or fails with one ``error:`` line naming the cause: never a traceback, never
an abort, never exit 2 for a valid model that is merely too big. (The full matrix, MobileNets
and EfficientNet included, is the benchmark's: ``python benchmarks/conformance.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import MLPERF, REPO

pytestmark = pytest.mark.slow
SMALL = "rnet,audio_dict,fcn_dynamic,regression,embedding"


TORCH = "torch_simple_cnn,torch_mobilenetish,torch_two_heads,torch_fcn_dynamic"
THIRD_PARTY_ONNX = "ppocr_det,ppocr_cls,silero_vad"
THIRDPARTY = REPO / ".venv" / "thirdparty"


@pytest.mark.parametrize("models", [SMALL, "ic,ad,kws", TORCH, THIRD_PARTY_ONNX])
def test_every_cell_works_or_is_one_error_line(models, tmp_path):
    if "ic" in models and not MLPERF.exists():
        pytest.skip(f"MLPerf Tiny models not available at {MLPERF} (needs ../shared/models/mlperf_tiny)")
    if models in (TORCH, THIRD_PARTY_ONNX):
        pytest.importorskip("torch" if models == TORCH else "onnxruntime", reason="the [torch] and [onnx] extras are not installed")
    if models == THIRD_PARTY_ONNX and not list(THIRDPARTY.glob("*.whl")):
        pytest.skip(f"the third-party ONNX wheels are not in {THIRDPARTY} (make test downloads them)")
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "conformance.py"), "--models", models, "--json", str(tmp_path / "cells.json")],
        capture_output=True, text=True, timeout=5400,
    )  # fmt: skip
    cells = json.loads((tmp_path / "cells.json").read_text())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(cells) == 5 * len(models.split(","))
    for cell in cells:
        assert cell["status"] in ("ok", "budget", "error"), cell
        assert cell["status"] != "error" or cell["exit_code"] == 2, cell  # a budget miss is exit 1, never "bad input"
        if cell["status"] == "ok":
            assert cell["bytes"] > 0 and cell["fidelity"] and cell["verdict"]
        if models in (TORCH, THIRD_PARTY_ONNX) and cell["status"] == "ok":  # imported as Keras layers, checked against the source
            assert cell["details"]["import_error"] <= 1e-4, cell
    if models == THIRD_PARTY_ONNX:  # Silero VAD's If and Equal are outside the mapping: one line naming them, on every target
        assert {c["status"] for c in cells if c["model"] == "silero_vad"} == {"error"}
        assert all("Equal, If" in c["message"] for c in cells if c["model"] == "silero_vad")

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


@pytest.mark.parametrize("models", [SMALL, "ic,ad,kws"])
def test_every_cell_works_or_is_one_error_line(models, tmp_path):
    if "ic" in models and not MLPERF.exists():
        pytest.skip(f"MLPerf Tiny models not available at {MLPERF} (needs ../shared/models/mlperf_tiny)")
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

"""The wheel ships one import package, edgekit (targets/ and converters/ inside it), and the built-in data.

Regenerate the pinned list after adding a module: EDGEKIT_UPDATE_GOLDEN=1 pytest tests/test_wheel.py
"""

import os
import zipfile

from tests.conftest import REPO, build_wheel

GOLDEN = REPO / "tests" / "golden" / "wheel_files.txt"


def test_wheel_file_list_is_pinned(tmp_path):
    wheel = build_wheel(tmp_path)
    names = sorted(n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n)
    if os.environ.get("EDGEKIT_UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(names) + "\n")
    assert names == GOLDEN.read_text().split()
    assert {n.split("/")[0] for n in names} == {"edgekit"}
    assert "edgekit/data/mnist10k.npz" in names

"""edgekit replaces only what it wrote, inside its own folders too (issue 22, finding 3 and 8).

The stamp names every file edgekit wrote inside ``bundles/``: a signed bundle the user copied
there, a ``bundles/README.txt`` or a ``NOTES.txt`` beside one of edgekit's models is refused
before any work, ``--force`` or not, and left as it was. A fit that ends with nothing fitting
leaves no earlier winner in ``bundles/``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from edgekit.errors import InputError
from edgekit.output.folder import STAMP, OutputFolder, read_stamp
from tests.conftest import REPO, edgekit_command, write_tiny_recipe


def tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None) for p in sorted(folder.rglob("*"))}


def write_output(path: Path, files: dict[str, str], **options) -> None:
    with OutputFolder(path, kind="build", entries=("bundles", "report.json", "report.md"), **options) as output:
        with output.staged() as staging:
            for name, text in files.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_text(text)


FIRST = {"report.json": "1", "bundles/tiny-cpu/model.tflite": "m", "bundles/tiny-cpu/manifest.json": "{}"}


def signed_bundle(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "model.tflite").write_bytes(b"mine")
    (folder / "manifest.json").write_text(json.dumps({"format": "edgekit-bundle", "files": {"model.tflite": "0" * 64}}))
    (folder / "manifest.json.sig").write_text("-----BEGIN SSH SIGNATURE-----\n")


@pytest.mark.parametrize(
    "added",
    ["bundles/README.txt", "bundles/tiny-cpu/NOTES.txt", "bundles/signed-by-me"],
)
@pytest.mark.parametrize("force", [False, True])
def test_a_users_file_inside_bundles_is_refused_and_kept(tmp_path, added, force):
    out = tmp_path / "out"
    write_output(out, FIRST)
    assert read_stamp(out)["files"] == ["bundles/tiny-cpu/manifest.json", "bundles/tiny-cpu/model.tflite"]
    if added.endswith("signed-by-me"):
        signed_bundle(out / added)
    else:
        (out / added).write_text("the user's own\n")
    before = tree(out)
    with pytest.raises(InputError, match=r"holds files edgekit did not write inside bundles/ \(bundles/(README.txt|tiny-cpu/NOTES.txt|signed-by-me/manifest.json)") as caught:
        write_output(out, {"report.json": "2", "bundles/tiny-cpu/model.tflite": "m2"}, force=force)
    assert "move them out of the folder, or choose another --out" in caught.value.hint
    assert tree(out) == before


def test_edgekits_own_bundles_are_still_replaced(tmp_path):
    out = tmp_path / "out"
    write_output(out, FIRST)
    write_output(out, {"report.json": "2", "bundles/tiny-mcu/model.tflite": "m"})
    assert sorted(p.name for p in (out / "bundles").iterdir()) == ["tiny-mcu"]
    assert read_stamp(out)["files"] == ["bundles/tiny-mcu/model.tflite"]


def test_an_output_stamped_before_the_file_list_tells_bundles_by_their_manifests(tmp_path):
    """A stamp without ``files`` (an older edgekit): a bundle folder holding only what its
    manifest lists is edgekit's; a loose file beside it is not."""
    out = tmp_path / "out"
    bundle = out / "bundles" / "tiny-cpu"
    bundle.mkdir(parents=True)
    (bundle / "model.tflite").write_bytes(b"m")
    (bundle / "manifest.json").write_text(json.dumps({"format": "edgekit-bundle", "files": {"model.tflite": "0" * 64}}))
    (out / "bundles" / "tiny-cpu.zip").write_bytes(b"PK")
    (out / "report.json").write_text("{}")
    (out / STAMP).write_text(json.dumps({"format": "edgekit-output", "kind": "build", "entries": ["bundles", "report.json"]}))
    (out / "bundles" / "README.txt").write_text("mine")
    with pytest.raises(InputError, match=r"\(bundles/README.txt\)"):
        write_output(out, {"report.json": "2"})
    (out / "bundles" / "README.txt").unlink()
    write_output(out, {"report.json": "2"})  # its own bundle and zip: replaced
    assert not (out / "bundles").exists()


# --- the commands, as processes ----------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_build_refuses_a_users_files_in_bundles_and_keeps_them(tmp_path):
    recipe = write_tiny_recipe(tmp_path)
    text = recipe.read_text().replace("epochs = 4", "epochs = 1").replace("sparsity = 0.5", "sparsity = 0").replace('mode = "qat"', 'mode = "ptq"')
    recipe.write_text(text)
    out = tmp_path / "out"
    first = run_cli("build", str(recipe), "--out", str(out), "--no-cache", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    own = next(p for p in sorted((out / "bundles").iterdir()) if p.is_dir())
    (out / "bundles" / "README.txt").write_text("how to flash these\n")
    (own / "NOTES.txt").write_text("measured on my board\n")
    signed_bundle(out / "bundles" / "signed-copy")
    before = tree(out)
    for force in ((), ("--force",)):
        again = run_cli("build", str(recipe), "--out", str(out), "--no-cache", *force, cwd=tmp_path)
        assert again.returncode == 2 and "holds files edgekit did not write inside bundles/" in one_error_line(again)
    assert tree(out) == before

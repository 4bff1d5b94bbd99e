"""edgekit writes only into folders it made or that are empty, and one writer at a time.

The folder checks run on :class:`edgekit.output.folder.OutputFolder` directly (no TensorFlow); the
probes from the issue run as real ``edgekit build`` processes: a user's folder, the current
folder and the recipe's folder are refused and left as they were, ``--force`` keeps every
file edgekit did not write, and a second writer of one output fails naming the first's PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.errors import BusyError, InputError
from edgekit.output.folder import STAMP, OutputFolder, check_bundle_folder, read_stamp
from tests.conftest import REPO, edgekit_command, write_tiny_recipe


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders and links)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None) for p in sorted(folder.rglob("*"))}


def write_output(path: Path, files: dict[str, str], **options) -> OutputFolder:
    with OutputFolder(path, kind="build", entries=("bundles", "report.json", "report.md"), **options) as output:
        with output.staged() as staging:
            for name, text in files.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_text(text)
    return output


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "userdir"
    (folder / "photos").mkdir(parents=True)
    (folder / "thesis.tex").write_text("chapter 1\n")
    (folder / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    return folder


def test_new_and_empty_folders_are_written_and_stamped(tmp_path):
    for folder in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        write_output(folder, {"report.json": "{}", "bundles/a/x": "1"})
        assert read_stamp(folder)["entries"] == ["bundles", "report.json"]
        assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no lock, no staging left


def test_a_marked_folder_is_replaced_whole(tmp_path):
    folder = tmp_path / "out"
    write_output(folder, {"report.json": "1", "report.md": "old"})
    write_output(folder, {"report.json": "2"})
    assert sorted(p.name for p in folder.iterdir()) == [STAMP, "report.json"] and (folder / "report.json").read_text() == "2"


def test_an_output_from_before_stamps_is_recognised(tmp_path):
    folder = tmp_path / "out"
    (folder / "bundles").mkdir(parents=True)
    (folder / "report.json").write_text('{"artifacts": [], "float_model": {}}')
    write_output(folder, {"report.json": "new"})
    assert (folder / "report.json").read_text() == "new" and not (folder / "bundles").exists()


def test_a_users_folder_is_refused_and_untouched(user_folder):
    before = tree(user_folder)
    with pytest.raises(InputError, match=r"is not empty and was not written by edgekit \(holds photos, thesis.tex\).*--force"):
        write_output(user_folder, {"report.json": "{}"})
    assert tree(user_folder) == before and not [p for p in user_folder.parent.iterdir() if p.name.startswith(".")]


def test_force_writes_beside_a_users_files_and_removes_none(user_folder):
    before = tree(user_folder)
    write_output(user_folder, {"report.json": "{}", "bundles/b/model": "m"}, force=True)
    after = tree(user_folder)
    assert {k: v for k, v in after.items() if k in before} == before
    assert "report.json" in after and read_stamp(user_folder)["entries"] == ["bundles", "report.json"]


def test_force_never_replaces_a_users_entry_of_the_same_name(user_folder):
    (user_folder / "report.json").write_text("the user's own\n")
    with pytest.raises(InputError, match="report.json exists and was not written by edgekit; --force never replaces it"):
        write_output(user_folder, {"report.json": "{}"}, force=True)
    assert (user_folder / "report.json").read_text() == "the user's own\n"


def test_files_added_to_an_output_are_kept_or_refused(tmp_path):
    folder = tmp_path / "out"
    write_output(folder, {"report.json": "1", "report.md": "old"})
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(InputError, match=r"holds files edgekit did not write \(notes.txt\)"):
        write_output(folder, {"report.json": "2"})
    write_output(folder, {"report.json": "2"}, force=True)
    assert (folder / "notes.txt").read_text() == "mine\n" and (folder / "report.json").read_text() == "2"
    assert not (folder / "report.md").exists()  # edgekit's own old entry is gone
    assert read_stamp(folder)["entries"] == ["report.json"]


@pytest.mark.parametrize("which", ["cwd", "recipe", "parent of cwd", "parent of recipe"])
def test_current_and_recipe_folders_and_their_parents_are_refused(tmp_path, monkeypatch, which):
    cwd, recipe = tmp_path / "work" / "here", tmp_path / "recipes" / "r"
    cwd.mkdir(parents=True)
    recipe.mkdir(parents=True)
    (recipe / "tiny.toml").write_text("")
    monkeypatch.chdir(cwd)
    target = {"cwd": cwd, "recipe": recipe, "parent of cwd": cwd.parent, "parent of recipe": recipe.parent}[which]
    before = tree(tmp_path)
    with pytest.raises(InputError, match="(is|holds) the (current|recipe's) folder"):
        write_output(target, {"report.json": "{}"}, protect=[recipe])
    assert tree(tmp_path) == before


def test_force_into_the_current_folder_adds_entries_and_keeps_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipe.toml").write_text("kept\n")
    write_output(Path("."), {"report.json": "{}"}, force=True)
    assert (tmp_path / "recipe.toml").read_text() == "kept\n" and (tmp_path / "report.json").is_file()


def test_a_symlinked_output_is_written_where_it_points(tmp_path):
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    write_output(link, {"report.json": "1"})
    write_output(link, {"report.json": "2"})
    assert link.is_symlink() and (real / "report.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing stranded beside either


def test_bundle_folders_are_marked_by_their_manifest(tmp_path):
    from edgekit.bundle.write import write_bundle

    bundle = tmp_path / "b"
    fields = dict(name="b", target="cpu", quantization="int8", inputs=[], outputs=[], versions={}, recorded_recipe=None, metrics={})
    write_bundle(bundle, model_bytes=b"m", labels=["a"], **fields)
    write_bundle(bundle, model_bytes=b"m2", labels=["a"], **fields)  # its own: replaced
    (bundle / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds files its manifest does not list \(notes.txt\)"):
        write_bundle(bundle, model_bytes=b"m3", labels=["a"], **fields)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    with pytest.raises(InputError, match="is not an edgekit bundle"):
        check_bundle_folder(other)
    (tmp_path / "link").symlink_to(other)
    with pytest.raises(InputError, match="is a symbolic link"):
        check_bundle_folder(tmp_path / "link")


HOLDER = """
import sys, time
from edgekit.output.folder import OutputFolder
with OutputFolder(sys.argv[1], kind="build"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held_output(tmp_path):
    """An output folder whose lock another process holds."""
    target = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert holder.stdout.readline().strip() == "held"
    yield target, holder.pid
    holder.kill()
    holder.wait()


def test_a_second_writer_is_refused_naming_the_first(held_output):
    target, pid = held_output
    with pytest.raises(BusyError, match=rf"another edgekit process \(PID {pid}\) is writing it"):
        write_output(target, {"report.json": "{}"})


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_build_probes_refuse_and_delete_nothing(tmp_path, user_folder, held_output):
    """The issue's probes as processes: --out a user's folder, --out "$PWD", output.dir = "."."""
    recipe = write_tiny_recipe(tmp_path)
    dot = tmp_path / "dot.toml"
    dot.write_text(recipe.read_text().replace('dir = "out"', 'dir = "."'))
    before = tree(tmp_path)
    started = time.perf_counter()
    for args, code, words in (
        (("build", str(recipe), "--out", str(user_folder)), 2, "is not empty and was not written by edgekit"),
        (("build", str(recipe), "--out", str(tmp_path)), 2, "is the current folder"),
        (("build", str(dot)), 2, "is the current folder"),
        (("build", str(recipe), "--out", str(held_output[0])), 1, f"(PID {held_output[1]})"),
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == code and words in one_error_line(result)
    assert tree(tmp_path) == before
    assert time.perf_counter() - started < 60  # refused before TensorFlow trains anything


def test_forced_build_into_a_users_folder_keeps_every_file(tmp_path, user_folder):
    recipe = write_tiny_recipe(tmp_path)
    text = recipe.read_text().replace("epochs = 4", "epochs = 1").replace("sparsity = 0.5", "sparsity = 0").replace('mode = "qat"', 'mode = "ptq"')
    recipe.write_text(text)
    before = tree(user_folder)
    result = run_cli("build", str(recipe), "--out", str(user_folder), "--force", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = tree(user_folder)
    assert {k: v for k, v in after.items() if k in before} == before
    assert json.loads((user_folder / "report.json").read_text())["artifacts"] and (user_folder / "bundles").is_dir()

"""A resumed fit believes no record on its word (issue 22, findings 3, 4 and 8).

One real search (the tiny CNN on the mcu target, real training, the real TFLM interpreter),
then copies of its output folder are tampered with and the same command runs again:

- a record edited to 99 % and 100 bytes: the table, report.json and results.csv show the
  figures measured on its artifact, and that worse candidate does not win;
- an estimate edited to miss the flash budget: the candidate is not rejected for it;
- malformed records of many kinds: one warning line each, computed again, the same winner;
- ``--flash-kb 4`` on the finished search: exit 1 and no earlier winner left in ``bundles/``;
- a user's files in ``bundles/``: refused before any work, kept.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import edgekit_command
from tests.test_fit import fit_recipe

BUDGETS = dict(target="mcu", flash_kb=10, ram_kb=8)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    from edgekit.flows.fit import fit

    folder = tmp_path_factory.mktemp("trust")
    recipe = fit_recipe(folder)
    result = fit(recipe, out=folder / "out", **BUDGETS)
    return recipe, result


def copy_of(searched, tmp_path: Path) -> Path:
    _, result = searched
    copy = tmp_path / "out"
    shutil.copytree(result.out_dir, copy, symlinks=True)
    return copy


def rows_by_name(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["candidates"]}


def edit(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record["result"])
    path.write_text(json.dumps(record))


def loser(result) -> str:
    """A candidate that reached a rung and did not win."""
    return next(row["name"] for row in result.report["candidates"] if row["rungs"] and row["name"] != result.winner["name"])


@pytest.fixture(scope="module")
def tampered(searched, tmp_path_factory):
    """The search run again after one loser's every rung says 99 % and 100 bytes, and the
    winner's estimate says it misses the flash budget."""
    from edgekit.flows.fit import fit

    recipe, first = searched
    out = copy_of(searched, tmp_path_factory.mktemp("tampered"))
    worse = loser(first)
    for path in sorted((out / "candidates").glob(f"{worse}-r*.json")):
        edit(path, lambda r: (r.update(val_accuracy=0.99, fits=True, misses=[]), r["figures"].update(flash=100, ram=100)))
    miss = {"figure": "flash", "needs": 99_999, "limit": 10_240}
    edit(out / "candidates" / f"{first.winner['name']}-est.json", lambda r: (r.update(misses=[miss]), r["figures"].update(flash=99_999)))
    handler = _Lines()
    logging.getLogger("edgekit").addHandler(handler)
    try:
        again = fit(recipe, out=out, **BUDGETS)
    finally:
        logging.getLogger("edgekit").removeHandler(handler)
    return first, again, worse, handler.lines


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_edited_figures_show_the_measured_ones_in_every_report(tampered):
    first, again, worse, lines = tampered
    before, after = rows_by_name(first.report)[worse], rows_by_name(again.report)[worse]
    assert [r["val_accuracy"] for r in after["rungs"]] == [r["val_accuracy"] for r in before["rungs"]]
    assert [r["figures"]["flash"] for r in after["rungs"]] == [r["figures"]["flash"] for r in before["rungs"]]
    assert any(f"candidates/{worse}-r1.json: the record's accuracy, flash, RAM" in line and "using the artifact's" in line for line in lines), lines
    out = again.out_dir
    assert json.loads((out / "report.json").read_text())["candidates"] == json.loads(json.dumps(again.report["candidates"]))
    with open(out / "results.csv", newline="") as handle:
        (row,) = [r for r in csv.reader(handle) if worse in r]
    assert "0.99" not in row and "100" not in row
    assert "99.0" not in next(line for line in (out / "report.md").read_text().splitlines() if worse in line)


def test_an_edited_rung_accuracy_does_not_change_the_winner(tampered):
    first, again, _, _ = tampered
    assert again.winner["name"] == first.winner["name"] and again.winner["figures"] == first.winner["figures"]
    bundles = again.out_dir / "bundles"
    assert [p.name for p in bundles.iterdir()] == [Path(first.winner["path"]).name]
    assert (bundles / Path(first.winner["path"]).name / "manifest.json").is_file()


def test_an_edited_estimate_does_not_reject_a_fitting_candidate(tampered):
    first, again, _, lines = tampered
    row = rows_by_name(again.report)[first.winner["name"]]
    assert row["status"] == "winner" and not row.get("estimated")
    assert row["estimate"] == rows_by_name(first.report)[first.winner["name"]]["estimate"]
    assert any(f"candidates/{first.winner['name']}-est.json: the record's flash, budget misses differ" in line for line in lines), lines


def malformed_records(folder: Path, names: list[str]) -> dict[str, bytes]:
    """Seven kinds of damage, one per record: what each file is replaced with."""

    def real_with(name: str, token: str) -> bytes:  # a real record whose flash figure is ``token``
        text = json.dumps(json.loads((folder / f"{name}.json").read_text()))
        return text.replace('"flash": ', f'"flash": {token}, "was": ', 1).encode()

    return {
        names[0]: b"{not json",
        names[1]: b"[1, 2, 3]",
        names[2]: json.dumps({"format": "edgekit-result", "key": json.loads((folder / f"{names[2]}.json").read_text())["key"]}).encode(),  # no source
        names[3]: json.dumps({"format": "edgekit-result", "key": 7, "source": "x", "result": []}).encode(),
        names[4]: b"\xff\xfe not UTF-8",
        names[5]: real_with(names[5], "NaN"),
        names[6]: real_with(names[6], "1e999"),
    }


def test_malformed_records_are_one_line_each_and_the_winner_holds(searched, tmp_path, caplog):
    from edgekit.flows.fit import fit

    recipe, first = searched
    out = copy_of(searched, tmp_path)
    folder = out / "candidates"
    names = sorted(p.stem for p in folder.glob("*.json"))
    assert len(names) >= 7, names
    damaged = malformed_records(folder, names)
    for name, data in damaged.items():
        (folder / f"{name}.json").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        again = fit(recipe, out=out, **BUDGETS)
    assert "Traceback" not in caplog.text
    for name in damaged:
        said = [r.getMessage() for r in caplog.records if f"candidates/{name}.json:" in r.getMessage()]
        assert len(said) == 1 and said[0].endswith("computing it again"), (name, said)
    assert again.winner["name"] == first.winner["name"] and again.winner["figures"] == first.winner["figures"]
    for name in damaged:  # computed again and written back whole
        assert json.loads((folder / f"{name}.json").read_text())["format"] == "edgekit-result"


def run_fit(recipe: Path, out: Path, *budget: str) -> subprocess.CompletedProcess:
    from tests.test_output_ownership import run_cli

    return run_cli("fit", str(recipe), "--target", "mcu", *budget, "--out", str(out), cwd=out.parent)


def test_nothing_fitting_leaves_no_earlier_winner(searched, tmp_path):
    recipe, first = searched
    out = copy_of(searched, tmp_path)
    assert (out / first.winner["path"]).is_dir()
    run = run_fit(recipe, out, "--flash-kb", "4", "--ram-kb", "8")
    assert run.returncode == 1 and "nothing in 4 candidates fits flash <= 4 KiB" in run.stderr, run.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["winner"] is None
    assert not (out / "bundles").exists() or list((out / "bundles").iterdir()) == []


def test_fit_refuses_a_users_files_in_bundles_and_keeps_them(searched, tmp_path):
    from tests.test_output_ownership import one_error_line, signed_bundle, tree

    recipe, first = searched
    out = copy_of(searched, tmp_path)
    (out / "bundles" / "README.txt").write_text("how to flash these\n")
    (out / first.winner["path"] / "NOTES.txt").write_text("measured on my board\n")
    signed_bundle(out / "bundles" / "signed-copy")
    before = tree(out)
    run = run_fit(recipe, out, "--flash-kb", "10", "--ram-kb", "8")
    assert run.returncode == 2 and "holds files edgekit did not write inside bundles/" in one_error_line(run)
    assert tree(out) == before


# --- the store itself, without TensorFlow -------------------------------------------------


@pytest.mark.parametrize(
    "text, wanted",
    [
        (b"", "is not JSON"),
        (b"{not json", "is not JSON"),
        (b"[1, 2]", "is not a JSON object but a list"),
        (b'"a string"', "is not a JSON object but a str"),
        (b"\xff\xfe", "is not JSON"),
        (b'{"format": "edgekit-result", "key": "k", "source": {"path": "a.tflite", "sha256": "0"}, "result": {"x": NaN}}', "is not JSON (NaN"),
        (b'{"format": "edgekit-result", "key": "k", "source": {"path": "a.tflite", "sha256": "0"}, "result": {"x": 1e999}}', "is not JSON (1e999 is out of range"),
        (b'{"format": "edgekit-result", "key": "k", "result": {"x": 99999999999999999999999999999999}}', "is not JSON (9999"),
        (b'{"key": "k", "result": {}}', "is not an edgekit result record"),
        (b'{"format": "edgekit-result", "key": 5}', "has no key"),
        (b'{"format": "edgekit-result", "key": "k"}', "names no artifact"),
        (b'{"format": "edgekit-result", "key": "k", "source": {"path": "../../etc/passwd", "sha256": "0"}, "result": {}}', "names the artifact '../../etc/passwd', not 'a.tflite'"),
        (b'{"format": "edgekit-result", "key": "k", "source": {"path": "a.tflite", "sha256": "0"}, "result": [1]}', "has no result object"),
        (b'{"format": "edgekit-result", "key": "k", "source": {"path": "a.tflite", "sha256": "0"}, "result": {}}', "its artifact a.tflite does not match the record's sha256"),
        (b"[" * 100_000, "is not JSON"),
    ],
)
def test_a_malformed_record_is_one_warning_and_computed_again(tmp_path, caplog, text, wanted):
    from edgekit.flows.results import ResultStore

    store = ResultStore(tmp_path, "records")
    (tmp_path / "a.tflite").write_bytes(b"model")
    store.save("r", "k", {"x": 1}, tmp_path / "a.tflite")
    assert store.load("r", "k", "a.tflite", lambda result, artifact: result) == {"x": 1}
    (tmp_path / "records" / "r.json").write_bytes(text)
    with caplog.at_level(logging.INFO, logger="edgekit"):
        assert store.load("r", "k", "a.tflite", lambda result, artifact: result) is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("records/r.json: ") and wanted in line and line.endswith("; computing it again"), line


def test_a_record_whose_artifact_changed_or_is_a_link_is_not_believed(tmp_path, caplog):
    from edgekit.flows.results import ResultStore

    store = ResultStore(tmp_path, "records")
    (tmp_path / "a.tflite").write_bytes(b"model")
    store.save("r", "k", {"x": 1}, tmp_path / "a.tflite")
    (tmp_path / "a.tflite").write_bytes(b"other")
    (tmp_path / "elsewhere").write_bytes(b"model")
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        assert store.load("r", "k", "a.tflite", lambda result, artifact: result) is None
        (tmp_path / "a.tflite").unlink()
        (tmp_path / "a.tflite").symlink_to(tmp_path / "elsewhere")
        assert store.load("r", "k", "a.tflite", lambda result, artifact: result) is None
    assert "does not match the record's sha256" in caplog.records[0].getMessage()
    assert "is reached through a link" in caplog.records[1].getMessage()
    assert store.load("r", "other settings", "a.tflite", lambda result, artifact: result) is None

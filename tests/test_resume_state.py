"""Resumed sweeps and checkpoints reuse only what their files still prove.

A finished variant whose model was replaced by random bytes, or whose record was edited
(99.9 %, 10 bytes, a path of ``/etc``), is measured again with one line saying why, and the
report carries the measured figures. A checkpoint whose note names a file outside its own
folder is computed again instead of loading that file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.conftest import write_tiny_recipe


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from edgekit.flows.sweep import sweep

    folder = tmp_path_factory.mktemp("resume-state")
    recipe = write_tiny_recipe(folder)
    recipe.write_text(recipe.read_text().replace("epochs = 4", "epochs = 1"))
    grid = dict(sparsities=[0.0], modes=["float32", "int8"], targets=["cpu"])
    first = sweep(recipe, out=folder / "out", **grid)
    assert sorted(first.computed) == ["tiny-cpu-s0-float32", "tiny-cpu-s0-int8"]
    return recipe, folder / "out", grid, {a["name"]: a for a in first.report["artifacts"]}


def test_an_untouched_sweep_is_reused_whole(swept):
    from edgekit.flows.sweep import sweep

    recipe, out, grid, _ = swept
    again = sweep(recipe, out=out, **grid)
    assert again.computed == [] and sorted(again.reused) == ["tiny-cpu-s0-float32", "tiny-cpu-s0-int8"]


def test_tampered_resume_state_is_measured_again(swept, caplog):
    from edgekit.flows.sweep import sweep

    recipe, out, grid, measured = swept
    (out / "bundles" / "tiny-cpu-s0-float32" / "model.tflite").write_bytes(os.urandom(2048))
    record_path = out / "variants" / "tiny-cpu-s0-int8.json"
    record = json.loads(record_path.read_text())
    record["result"]["artifact"].update(accuracy=0.999, gzip_bytes=10, path="/etc")
    record_path.write_text(json.dumps(record))
    with caplog.at_level(logging.INFO, logger="edgekit"):
        again = sweep(recipe, out=out, **grid)
    assert sorted(again.computed) == ["tiny-cpu-s0-float32", "tiny-cpu-s0-int8"]
    said = caplog.text
    assert "variants/tiny-cpu-s0-float32.json: its bundle does not verify (" in said and "model.tflite does not match its sha256" in said
    assert "variants/tiny-cpu-s0-int8.json: its record names the bundle '/etc', not 'bundles/tiny-cpu-s0-int8'" in said
    int8 = next(a for a in again.report["artifacts"] if a["name"] == "tiny-cpu-s0-int8")
    assert int8["path"] == "bundles/tiny-cpu-s0-int8" and int8["gzip_bytes"] == measured["tiny-cpu-s0-int8"]["gzip_bytes"]
    assert int8["accuracy"] == measured["tiny-cpu-s0-int8"]["accuracy"]


def test_an_edited_figure_is_caught_by_the_manifest(swept, caplog):
    from edgekit.flows.sweep import sweep

    recipe, out, grid, measured = swept
    record_path = out / "variants" / "tiny-cpu-s0-float32.json"
    record = json.loads(record_path.read_text())
    record["result"]["artifact"]["accuracy"] = 0.999
    record_path.write_text(json.dumps(record))
    with caplog.at_level(logging.INFO, logger="edgekit"):
        again = sweep(recipe, out=out, **grid)
    assert again.computed == ["tiny-cpu-s0-float32"]
    assert "variants/tiny-cpu-s0-float32.json: its record's accuracy differ from its bundle's; computing it again" in caplog.text


def test_a_checkpoint_note_naming_a_foreign_file_is_not_loaded(tmp_path, caplog, tiny_model):
    from edgekit.flows.model_cache import ModelCache

    cache = ModelCache(tmp_path / "cache")
    entry = cache.save("float", "0123456789abcdef", {"model.keras": tiny_model}, {"recipe": "x"})
    foreign = tmp_path / "models" / "model.keras"
    foreign.parent.mkdir()
    foreign.write_bytes((entry / "model.keras").read_bytes())
    note = json.loads((entry / "note.json").read_text())
    sha = note["files"].pop("model.keras")
    note["files"]["../../models/model.keras"] = sha
    (entry / "note.json").write_text(json.dumps(note))
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        assert cache.load("float", "0123456789abcdef") is None
    assert "names '../../models/model.keras', not one of the files a checkpoint holds" in caplog.text
    assert Path(entry).is_dir()


def test_malformed_variant_records_are_one_line_each(swept, caplog):
    """The sweep's records live in the store fit uses: damage is one warning, never a traceback."""
    from edgekit.flows.sweep import sweep

    recipe, out, grid, measured = swept
    (out / "variants" / "tiny-cpu-s0-float32.json").write_text("[1, 2]")
    (out / "variants" / "tiny-cpu-s0-int8.json").write_text('{"format": "edgekit-result", "key": 1e999}')
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        again = sweep(recipe, out=out, **grid)
    assert sorted(again.computed) == ["tiny-cpu-s0-float32", "tiny-cpu-s0-int8"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("variants/")]
    assert lines == [
        "variants/tiny-cpu-s0-float32.json: is not a JSON object but a list; computing it again",
        "variants/tiny-cpu-s0-int8.json: is not JSON (1e999 is out of range); computing it again",
    ]
    assert {a["name"]: a["gzip_bytes"] for a in again.report["artifacts"]} == {n: a["gzip_bytes"] for n, a in measured.items()}

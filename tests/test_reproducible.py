"""The same recipe and seed give byte-identical .tflite files on the same machine."""

import hashlib

from edgekit.flows.build import build


def digests(result):
    return {a.name: hashlib.sha256(a.model_bytes).hexdigest() for a in result.artifacts}


def test_two_builds_are_byte_identical(tiny_recipe, tmp_path):
    first = build(tiny_recipe, out=tmp_path / "a")
    second = build(tiny_recipe, out=tmp_path / "b")
    assert digests(first) == digests(second)
    for artifact in first.artifacts:
        shipped = (tmp_path / "a" / artifact.path / "model.tflite").read_bytes()
        assert shipped == (tmp_path / "b" / artifact.path / "model.tflite").read_bytes()

"""Real bundles for the device-side tests, built once per test session by ``edgekit build``.

A plain module (not a fixture in conftest) so each device test module can ask for the same
bundles; the first caller builds them with the tiny recipe, later callers reuse them.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_tiny_recipe, SAMPLES, TINY_RECIPE, TINY_TEST, TINY_TRAIN

_built: dict[str, Path] = {}


def tiny_bundles(tmp_path_factory) -> dict[str, Path]:
    """{"float32": bundle folder, "int8": bundle folder} from the tiny recipe."""
    if not _built:
        from edgekit import build

        root = tmp_path_factory.mktemp("device-bundles")
        recipe = root / "tiny.toml"
        write_tiny_recipe(recipe.parent, recipe.name)
        result = build(recipe, out=root / "out")
        for bundle in sorted((result.out_dir / "bundles").iterdir()):
            key = "int8" if bundle.name.endswith("-int8") else "float32" if bundle.name.endswith("-float32") else bundle.name
            _built[key] = bundle
    return dict(_built)

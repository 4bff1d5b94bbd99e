"""Metadata readers edgekit did not write, taken from other projects' wheels, for tests only.

- mediapipe 1.2.3 (pure Python wheel): ``mediapipe/tasks/metadata/metadata_schema_py_generated.py``
  and ``schema_py_generated.py``, the flatc code of the metadata and model schemas as MediaPipe
  ships it. Only they are imported (they need just ``flatbuffers``); the rest of mediapipe is not.
- tflite-support 0.4.4 (wheels up to Python 3.11): the official ``MetadataDisplayer``,
  ``MetadataPopulator`` and the C++ minimum-parser-version computation.

Each wheel is fetched once with ``pip download --no-deps`` and only the needed files are kept,
under ``$EDGEKIT_TEST_CACHE`` (default ``~/.cache/edgekit-tests``), so re-runs are fast. A
test that needs one is skipped, saying why, when it cannot be had.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

MEDIAPIPE = ("mediapipe", "1.2.3", ("mediapipe/tasks/metadata/metadata_schema_py_generated.py", "mediapipe/tasks/metadata/schema_py_generated.py"))
TFLITE_SUPPORT = ("tflite-support", "0.4.4", ("tensorflow_lite_support/metadata/",))


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_TEST_CACHE", Path.home() / ".cache" / "edgekit-tests"))


def wheel_files(package: str, version: str, members: tuple[str, ...]) -> Path:
    """A folder holding ``members`` (files, or folders ending in /) of the package's wheel."""
    target = cache_dir() / f"{package}-{version}-py{sys.version_info.major}{sys.version_info.minor}"
    done = target / ".complete"
    if done.exists():
        return target
    with tempfile.TemporaryDirectory() as download:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", download, f"{package}=={version}"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot download {package}=={version} for the independent reader: {exc}")
        wheels = list(Path(download).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            pytest.skip(f"cannot download {package}=={version} for the independent reader: {result.stderr.strip()[-300:]}")
        _extract(wheels[0], members, target)
    done.write_text(wheels[0].name + "\n")
    return target


def _extract(wheel: Path, members: tuple[str, ...], target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if any(n == m or (m.endswith("/") and n.startswith(m)) for m in members)]
        if not names:
            pytest.skip(f"{wheel.name} holds none of {members}")
        for name in names:
            archive.extract(name, target)


def load_file_module(path: Path, name: str):
    """Import one .py file under a private name (nothing else of its package is imported)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mediapipe_readers():
    """(metadata schema module, model schema module) as mediapipe ships them."""
    root = wheel_files(*MEDIAPIPE) / "mediapipe" / "tasks" / "metadata"
    return (
        load_file_module(root / "metadata_schema_py_generated.py", "_mediapipe_metadata_schema"),
        load_file_module(root / "schema_py_generated.py", "_mediapipe_model_schema"),
    )


def tflite_support_metadata():
    """tflite-support's ``metadata`` module (displayer, populator) and its C++ version helper."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip("tflite-support 0.4.4 has wheels only up to Python 3.11 (its binary helpers are cp311 here)")
    root = wheel_files(*TFLITE_SUPPORT)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        metadata = importlib.import_module("tensorflow_lite_support.metadata.python.metadata")
        version = importlib.import_module("tensorflow_lite_support.metadata.cc.python._pywrap_metadata_version")
    except ImportError as exc:
        pytest.skip(f"tflite-support's metadata module does not import here: {exc}")
    return metadata, version


def independent_read(model_bytes: bytes, meta_schema, model_schema) -> dict:
    """Every field edgekit writes, read through mediapipe's flatc code only."""
    model = model_schema.Model.GetRootAs(model_bytes, 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())]
    (entry,) = [e for e in entries if e.Name() == b"TFLITE_METADATA"]
    blob = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert meta_schema.ModelMetadata.ModelMetadataBufferHasIdentifier(blob, 0)
    meta = meta_schema.ModelMetadata.GetRootAs(blob, 0)
    assert meta.SubgraphMetadataLength() == 1
    subgraph = meta.SubgraphMetadata(0)
    assert subgraph.InputTensorMetadataLength() == 1 and subgraph.OutputTensorMetadataLength() == 1
    image, scores = subgraph.InputTensorMetadata(0), subgraph.OutputTensorMetadata(0)

    assert image.Content().ContentPropertiesType() == meta_schema.ContentProperties.ImageProperties
    properties = meta_schema.ImageProperties()
    properties.Init(image.Content().ContentProperties().Bytes, image.Content().ContentProperties().Pos)
    assert image.ProcessUnitsLength() == 1
    unit = image.ProcessUnits(0)
    assert unit.OptionsType() == meta_schema.ProcessUnitOptions.NormalizationOptions
    norm = meta_schema.NormalizationOptions()
    norm.Init(unit.Options().Bytes, unit.Options().Pos)
    assert scores.Content().ContentPropertiesType() == meta_schema.ContentProperties.FeatureProperties
    assert scores.AssociatedFilesLength() == 1
    label_file = scores.AssociatedFiles(0)
    return {
        "name": meta.Name().decode(),
        "description": meta.Description().decode(),
        "version": meta.Version().decode(),
        "author": meta.Author().decode(),
        "license": meta.License().decode(),
        "min_parser_version": meta.MinParserVersion().decode(),
        "input_name": image.Name().decode(),
        "input_description": image.Description().decode(),
        "color_space": properties.ColorSpace(),
        "mean": norm.MeanAsNumpy().tolist(),
        "std": norm.StdAsNumpy().tolist(),
        "input_stats": _stats(image.Stats()),
        "output_name": scores.Name().decode(),
        "output_description": scores.Description().decode(),
        "output_stats": _stats(scores.Stats()),
        "labels_file": label_file.Name().decode(),
        "labels_file_type": label_file.Type(),
    }


def _stats(stats):
    return None if stats is None else (stats.MinAsNumpy().tolist(), stats.MaxAsNumpy().tolist())

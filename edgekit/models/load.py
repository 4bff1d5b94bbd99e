"""Get a Keras model from a recipe: call a factory or load a saved file.

Factories are ``"file.py:function"`` (a file beside the recipe) or ``"package.module:function"``
returning a tf_keras model or a PyTorch ``nn.Module``. Files are ``.keras`` (loaded with
``safe_mode=True``: no arbitrary Lambda code), ``.h5`` (including old Keras 2.x HDF5 files), a
SavedModel directory, ``.onnx`` or a PyTorch ``.pt2`` program (imported as real Keras layers,
``edgekit.models.onnx_file`` / ``torch_model``); pickled ``.pt``/``.pth`` are refused. Every Keras format's config is
checked for code first (``edgekit.models.scan``), since tf_keras runs ``.h5``/SavedModel
Lambda bytecode while loading. Models load with
``compile=False``: optimizer state from another Keras version is useless here and often breaks.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from edgekit._compat import keras
from edgekit.errors import ModelError

__all__ = ["load_factory", "load_model_file", "model_from_factory"]


def model_from_factory(factory: str, kwargs: Mapping[str, Any], *, base_dir: Path = Path("."), input_shape: Sequence[int] | None = None):
    """Build an (untrained) model by calling the factory with ``kwargs``: a tf_keras model, or
    a PyTorch ``nn.Module`` taking inputs of ``input_shape`` (per sample, channels first),
    imported as a Keras model of real layers."""
    from edgekit.models.torch_model import is_torch_module, module_to_keras

    function = load_factory(factory, base_dir=base_dir)
    try:
        model = function(**dict(kwargs))
    except TypeError as exc:
        raise ModelError(f"model factory {factory!r} rejected its arguments: {exc}", hint="check [model] kwargs") from exc
    if is_torch_module(model):
        if not input_shape:
            raise ModelError(f"model factory {factory!r} returned a PyTorch module; edgekit needs its input shape to export it", hint="set model.input_shape, e.g. [3, 32, 32] (channels first, no batch)")
        return module_to_keras(model, input_shape, name=type(model).__name__, path=factory)
    if not isinstance(model, keras().Model):
        raise ModelError(f"model factory {factory!r} returned {type(model).__name__}, not a tf_keras Model or a PyTorch nn.Module")
    return model


def load_factory(factory: str, *, base_dir: Path = Path(".")) -> Callable:
    """Resolve ``"file.py:function"`` relative to ``base_dir``, or ``"module:function"``."""
    target, sep, attribute = factory.partition(":")
    if not sep or not attribute:
        raise ModelError(f"model factory {factory!r} must look like 'file.py:function' or 'module:function'")
    module = _load_module(target, base_dir)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ModelError(f"{target} has no function {attribute!r}")
    return function


def _load_module(target: str, base_dir: Path):
    if not target.endswith(".py"):
        try:
            return importlib.import_module(target)
        except ImportError as exc:
            raise ModelError(f"cannot import model factory module {target!r}: {exc}") from exc
    path = Path(target)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ModelError(f"model factory file not found: {path}")
    name = f"edgekit_factory_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_model_file(path: str | Path, *, trust: bool = False):
    """Load a saved Keras model for inference and fine-tuning."""
    path = Path(path)
    if path.suffix.lower() in FOREIGN:
        return _load_foreign(path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if path.is_dir():  # a SavedModel runs its graph while loading: checked before any loader sees it
        from edgekit.models.graph_scan import check_saved_model

        check_saved_model(path, trust=trust)
    if not trust:
        from edgekit.models.scan import check_model_safe

        check_model_safe(path)
    k = keras()
    try:
        with _custom_object_scope():
            return _load(k, path, trust)
    except ModelError:
        raise
    except Exception as exc:  # corrupt files raise OSError, ValueError, KeyError...
        raise ModelError(
            f"{path}: cannot load as a Keras model: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint="check the file is complete; Lambda layers in .keras files need --trust-model",
        ) from exc


# Model files of other frameworks, imported as Keras models of real layers (or refused).
FOREIGN = (".onnx", ".pt2", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def _load_foreign(path: Path):
    """An ONNX file or a PyTorch program, imported; a pickled checkpoint, refused."""
    from edgekit.models import onnx_file, torch_model

    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return onnx_file.load_onnx(path)
    if suffix == ".pt2":
        return torch_model.load_pt2(path)
    torch_model.refuse_pickle(path)


def _custom_object_scope():
    """TF-MOT's QAT layers, so models saved after quantisation-aware training load too."""
    from edgekit._compat import tfmot

    return tfmot().quantization.keras.quantize_scope()


def _load(k, path: Path, trust: bool):
    if path.is_dir():
        return _load_saved_model(path)
    if path.suffix == ".keras":
        return k.models.load_model(path, compile=False, safe_mode=not trust)
    if path.suffix in (".h5", ".hdf5"):
        return k.models.load_model(path, compile=False)
    raise ModelError(f"{path}: unsupported model file type", hint="use .keras, .h5, a SavedModel directory, .onnx or a PyTorch .pt2 program")


def _load_saved_model(path: Path):
    """A Keras SavedModel as a Keras model; any other SavedModel by its serving signature."""
    from edgekit.models.saved_model import load_signature_model

    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise ModelError(f"{path}: not a SavedModel folder (no saved_model.pb)", hint="give a .keras/.h5 file or a SavedModel folder")
    k = keras()
    try:
        model = k.models.load_model(path, compile=False)
    except Exception as exc:
        if (path / "keras_metadata.pb").is_file():  # a Keras SavedModel that does not load
            raise ModelError(
                f"{path}: SavedModel is not a Keras model ({type(exc).__name__})",
                hint="export it with model.save(path) from tf_keras",
            ) from exc
        return load_signature_model(path)  # plain TensorFlow: its serving signature
    return model if isinstance(model, k.Model) else load_signature_model(path)

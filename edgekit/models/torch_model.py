"""PyTorch models in: an ``nn.Module`` or a ``torch.export`` program (``.pt2``), exported to
ONNX inside edgekit and imported as a tf_keras model of real layers; PyTorch itself is the
reference every artifact is measured against.

Pickled checkpoints (``.pt``, ``.pth``) run code when loaded, so they are refused with the
line that exports the model instead. A ``.pt2`` archive is mostly data, but ``torch.export.load``
falls back to a full unpickling for payloads it cannot read otherwise; edgekit opens it with
every ``torch.load`` held to ``weights_only=True`` (PyTorch's restricted unpickler), so such a
program is refused instead of run. torch is imported only here, and only when a PyTorch model
is given.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit._compat import require
from edgekit.errors import ModelError

__all__ = ["PICKLE_SUFFIXES", "is_torch_module", "load_pt2", "module_to_keras", "refuse_pickle"]

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle")
INSTALL_HINT = "pip install 'edgekit-tflite[torch]' (torch 2.13.0's CPU build)"
EXPORT_HINT = (
    "export it instead: torch.export.save(torch.export.export(model.eval(), (example,)), 'model.pt2'), "
    "or torch.onnx.export(model.eval(), (example,), 'model.onnx')"
)


def refuse_pickle(path: Path) -> None:
    raise ModelError(f"{path}: a {path.suffix} file is a Python pickle that runs code when it is loaded; edgekit does not open it", hint=EXPORT_HINT)


def _torch():
    return require("torch", "torch is not installed; PyTorch models need it", hint=INSTALL_HINT)


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is an ``nn.Module``, without importing torch when it is not."""
    return any(cls.__module__.startswith("torch.nn") and cls.__name__ == "Module" for cls in type(obj).__mro__)


def module_to_keras(module, input_shape: Sequence[int], *, name: str, path: str = "<module>"):
    """``module`` (inputs of per-sample ``input_shape``, channels first as PyTorch has them) as
    a Keras model of real layers, with the module as its reference."""
    torch = _torch()
    module = module.eval()
    example = torch.zeros((1, *[int(d) for d in input_shape]))
    model = _export(torch, module, example, name)
    return _imported(model, name=name, path=path, forward=module)


def load_pt2(path: str | Path):
    """A ``torch.export`` program saved with ``torch.export.save`` as a Keras model."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        with _weights_only(torch):
            program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged archive
        raise ModelError(f"{path}: not a torch.export program ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})", hint=EXPORT_HINT) from exc
    example = program.example_inputs[0] if program.example_inputs else None
    if not example:
        raise ModelError(f"{path}: the program keeps no example inputs", hint="save it with torch.export.save(torch.export.export(model, (example,)), path)")
    model = _export(torch, program, example[0], path.stem)
    # a program is specialised to its example's batch (a guard checks it): run it at that size
    return _imported(model, name=path.stem, path=str(path), forward=program.module(), batch=int(example[0].shape[0]))


@contextlib.contextmanager
def _weights_only(torch):
    """Every ``torch.load`` inside the block uses the restricted unpickler (tensors and plain
    containers only), whatever the caller asked for."""
    original = torch.load

    def restricted(*args, **kwargs):
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch.load = restricted
    try:
        yield
    finally:
        torch.load = original


def _export(torch, program, example, name: str):
    """The ONNX ModelProto of a module or program (batch dynamic where torch allows it)."""
    with warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")
        try:
            exported = torch.onnx.export(program, (example,), dynamo=True, verbose=False, optimize=True)
        except Exception as exc:  # noqa: BLE001 - the exporter raises its own error types
            raise ModelError(f"{name}: torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                             hint="the model must run under torch.export (no data-dependent Python control flow)") from exc  # fmt: skip
    return exported.model_proto


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter prints its progress and logs that torchvision's ops are skipped; keep the
    command's output to edgekit's own lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _imported(model, *, name: str, path: str, forward, batch: int | None = None):
    from edgekit.models.onnx_file import import_model_proto

    names = [o.name for o in model.graph.output]
    return import_model_proto(model, name=name, path=path, kind="pytorch", run=_runner(forward, names, batch))


def _runner(forward, names: list[str], batch: int | None):
    """PyTorch's forward as the reference: source-layout inputs -> outputs by ONNX name, in
    chunks of ``batch`` where the program is fixed to one."""
    torch = _torch()

    def run_chunk(arrays: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            outputs = forward(*[torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays])
        flat = list(outputs.values()) if isinstance(outputs, dict) else list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(flat) != len(names):
            raise ModelError(f"the module returned {len(flat)} outputs, its ONNX export {len(names)}")
        return [t.detach().cpu().numpy() for t in flat]

    def run(arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        step = batch or len(arrays[0]) or 1
        try:
            chunks = [run_chunk([a[s : s + step] for a in arrays]) for s in range(0, len(arrays[0]), step)]
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the module's own failure on these inputs
            raise ModelError(f"PyTorch's forward failed on the data: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
        return {name: np.concatenate([chunk[i] for chunk in chunks]) for i, name in enumerate(names)}

    return run

"""The one registry of targets and converters, by dotted path, so nothing heavy loads until it is used.

A new target is one module under ``targets/`` plus one line here. ``get_target`` accepts a
name (optionally ``name:quantization``), a :class:`~edgekit.targets.Target` instance or a dict.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

from edgekit.errors import InputError

__all__ = ["get_converter", "get_target", "load_object", "target_names"]

TARGETS: dict[str, str] = {
    "cpu": "edgekit.targets.cpu:CPU",
    "gpu": "edgekit.targets.gpu:GPU",
    "edgetpu": "edgekit.targets.edgetpu:EDGETPU",
    "mcu": "edgekit.targets.mcu:MCU",
    "ethos-u": "edgekit.targets.ethos_u:ETHOS_U",
}

CONVERTERS: dict[str, str] = {
    "keras_tflite": "edgekit.converters.keras_tflite:convert_keras",
    "tflite_metadata": "edgekit.converters.metadata:attach_metadata",
}


def target_names() -> list[str]:
    """Registered target names, in registry order."""
    return list(TARGETS)


def load_object(dotted: str) -> Any:
    """Import ``package.module:attribute``."""
    module_name, _, attribute = dotted.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def get_converter(name: str):
    """A converter function by name (see ``CONVERTERS``)."""
    if name not in CONVERTERS:
        raise InputError(f"unknown converter {name!r}", hint=f"valid converters: {', '.join(CONVERTERS)}")
    return load_object(CONVERTERS[name])


def get_target(spec: Any):
    """Resolve a target from a name, ``name:quantization``, a Target or a dict."""
    from edgekit.target import Target

    if isinstance(spec, Target):
        return spec
    if isinstance(spec, Mapping):
        spec = dict(spec)
        base = get_target(spec.pop("name", "cpu"))
        return base.variant(**spec)
    if not isinstance(spec, str):
        raise InputError(f"a target must be a name, a Target or a dict, not {type(spec).__name__}")
    name, _, quantization = spec.partition(":")
    if name not in TARGETS:
        raise InputError(f"unknown target {name!r}", hint=f"valid targets: {', '.join(TARGETS)}")
    target = load_object(TARGETS[name])
    return target.variant(quantization=quantization) if quantization else target

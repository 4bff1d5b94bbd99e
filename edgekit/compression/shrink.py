"""Derive a student from a teacher by scaling every layer's width (channels and units).

Works on the architecture (the Keras config), not on weights: the student starts untrained.
The layer that produces each model output keeps its width, so the student predicts the same
classes. Sequential and Functional models (also nested ones) are supported; a subclassed model
has no config to edit and is refused with a clear message.
"""

from __future__ import annotations

from typing import Any

from edgekit._compat import keras
from edgekit.errors import ModelError

__all__ = ["is_graph_model", "shrink"]

WIDTH_KEYS = ("filters", "units")  # Conv*, SeparableConv*, Conv*Transpose: filters; Dense: units
_NESTED = ("Sequential", "Functional", "Model")


def shrink(model, width: float):
    """An untrained copy of ``model`` with ``round(n * width)`` channels/units per layer."""
    if not 0 < width:
        raise ModelError(f"width must be positive, got {width}")
    if not is_graph_model(model):
        raise ModelError(
            f"cannot shrink {type(model).__name__}: width scaling needs a Sequential or Functional model",
            hint="give [distill] student = 'file.py:function' that builds the student",
        )
    config = model.get_config()
    _shrink_model_config(type(model).__name__, config, width, keep_head=True)
    try:
        student = type(model).from_config(config)
    except Exception as exc:  # a Reshape with a fixed shape, a custom layer...
        raise ModelError(
            f"cannot build {model.name} at width {width}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            hint="layers with hard-coded shapes do not scale; give [distill] student = 'file.py:function'",
        ) from exc
    student._name = f"{model.name}_w{width:g}".replace(".", "_")
    return student


def is_graph_model(model) -> bool:
    """Sequential or Functional (has a layer graph TF-MOT and Keras can clone)."""
    k = keras()
    return isinstance(model, k.Sequential) or bool(getattr(model, "_is_graph_network", False))


def scaled(value: int, width: float) -> int:
    return max(1, int(round(value * width)))


def _shrink_model_config(class_name: str, config: dict, width: float, *, keep_head: bool) -> None:
    layers = config["layers"]
    head = _head_layers(class_name, config) if keep_head else set()
    for entry in layers:
        name = entry["config"].get("name")
        if entry["class_name"] in _NESTED:
            _shrink_model_config(entry["class_name"], entry["config"], width, keep_head=name in head)
            continue
        if name in head:
            continue
        for key in WIDTH_KEYS:
            if isinstance(entry["config"].get(key), int):
                entry["config"][key] = scaled(entry["config"][key], width)


def _head_layers(class_name: str, config: dict) -> set[str]:
    """Names of the width-carrying layers (or nested models) that feed an output directly."""
    layers = config["layers"]
    if class_name == "Sequential":
        for entry in reversed(layers):
            if _has_width(entry):
                return {entry["config"]["name"]}
        return set()
    by_name = {entry["config"]["name"]: entry for entry in layers}
    head, pending, seen = set(), [output[0] for output in config.get("output_layers", [])], set()
    while pending:
        name = pending.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        if _has_width(by_name[name]):
            head.add(name)
        else:
            pending.extend(_inbound_names(by_name[name]))
    return head


def _has_width(entry: dict) -> bool:
    if entry["class_name"] in _NESTED:
        return True
    return any(isinstance(entry["config"].get(key), int) for key in WIDTH_KEYS)


def _inbound_names(entry: dict) -> list[str]:
    """Layer names an entry's inbound nodes refer to (Keras 2 config format)."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])
                return
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(entry.get("inbound_nodes", []))
    return names

"""Flavours: how a build dresses some of its bundles for one kind of app, as data.

A ``plain`` bundle holds the model, ``labels.txt`` and ``manifest.json``. The ``phone``
flavour dresses the cpu int8 and gpu float16 artifacts for mobile apps: TFLite metadata
(labels, normalisation, names) packed into the model, and a README with the Kotlin that runs
it. A flavour names the artifacts it dresses by label and its dressing step by dotted path, so
nothing loads until a build uses it; a new flavour is one entry here plus its module.

Dressing is part of converting for a target (``edgekit.flows.stages.convert_for_target``), before
measuring, so every reported figure is measured on the bytes that ship; and a dressed model
must give exactly the predictions the undressed one gave, which is checked on the first test
inputs every time (:func:`check_same_predictions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from edgekit.errors import InputError, ModelError

__all__ = [
    "check_same_predictions",
    "Dressed",
    "dressed_labels",
    "DressInput",
    "Flavour",
    "flavour_names",
    "get_flavour",
    "PROBE_INPUTS",
]


@dataclass(frozen=True, kw_only=True)
class Flavour:
    """One way of dressing bundles: which artifacts (``target-quantization``) and with what."""

    name: str
    description: str
    dresses: tuple[str, ...] = ()
    dress: str | None = None  # "module:function" (model_bytes, DressInput) -> Dressed


@dataclass(frozen=True, kw_only=True)
class DressInput:
    """What a dressing step gets besides the model bytes.

    ``metadata`` holds the recipe's ``[metadata]`` fields (name, description, version, author,
    license; empty ones left out of the model), ``model_name`` what the model is called when
    ``metadata.name`` is not set (the recipe's name).
    """

    artifact: str
    target: str
    quantization: str
    labels: tuple[str, ...]
    normalization: Mapping[str, Any]
    image: Mapping[str, Any] | None
    metadata: Mapping[str, Any]
    model_name: str


@dataclass(frozen=True, kw_only=True)
class Dressed:
    """A dressed artifact: its new model bytes and the files it adds to its bundle."""

    model_bytes: bytes
    files: Mapping[str, bytes] = field(default_factory=dict)


PROBE_INPUTS = 256  # test inputs a dressed model must answer exactly as before

FLAVOURS: dict[str, Flavour] = {
    "plain": Flavour(name="plain", description="model.tflite, labels.txt and manifest.json"),
    "phone": Flavour(
        name="phone",
        description="TFLite metadata and labels packed into the model, README.md with Kotlin for the LiteRT Interpreter and GPU delegate",
        dresses=("cpu-int8", "gpu-float16"),
        dress="edgekit.flavours.phone:dress",
    ),
}


def flavour_names() -> list[str]:
    return list(FLAVOURS)


def get_flavour(name: str) -> Flavour:
    if name not in FLAVOURS:
        raise InputError(f"unknown flavour {name!r}", hint=f"valid flavours: {', '.join(FLAVOURS)}")
    return FLAVOURS[name]


def dressed_labels(flavour: Flavour) -> tuple[str, ...]:
    """The flavour's artifact labels whose target is registered (the gpu target may not be)."""
    from edgekit.registry import target_names

    return tuple(label for label in flavour.dresses if label.partition("-")[0] in target_names())


def check_same_predictions(name: str, before: bytes, after: bytes, x) -> None:
    """Dressing may add to a model, never change what it computes."""
    import numpy as np

    from edgekit.runtime import open_model

    if not np.array_equal(open_model(before).predict(x), open_model(after).predict(x)):
        raise ModelError(f"{name}: dressing the model changed its predictions", hint="this is a bug in the flavour; please report it")

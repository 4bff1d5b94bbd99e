"""Which layers a TF-MOT step may wrap, and a clone that wraps only those.

TF-MOT's whole-model calls (``prune_low_magnitude(model)``, ``quantize_annotate_model``,
``cluster_weights(model)``) stop with a stack trace at the first layer they do not know, at a
model nested inside another (QAT), and at subclassed models. Here every step clones the model
layer by layer instead: layers the step supports are wrapped, the others (and those the recipe
excludes by name or type) are left as they are and listed, each with its type and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

from edgekit._compat import keras
from edgekit._compat import tf as _tf
from edgekit.compression.shrink import is_graph_model
from edgekit.errors import ModelError

__all__ = ["all_layers", "check_names", "check_patterns", "clone_with_weights", "flatten_nested", "has_weights", "SkippedLayer", "wrap_layers"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class SkippedLayer:
    """A layer a step left unchanged, and why."""

    layer: str
    type: str
    step: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def matches(layer, patterns: Iterable[str]) -> bool:
    """True when a pattern is the layer's name or its class name."""
    patterns = set(patterns)
    return layer.name in patterns or type(layer).__name__ in patterns


def check_patterns(model, patterns: Sequence[str], *, key: str) -> None:
    """Refuse an exclude entry that matches no layer (a typo would silently exclude nothing)."""
    layers = list(all_layers(model))
    for pattern in patterns:
        if not any(matches(layer, [pattern]) for layer in layers):
            names = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in layers)
            raise ModelError(f"{key}: {pattern!r} matches no layer name or type", hint=f"the model's layers: {names}")


def check_names(model, names, *, key: str) -> None:
    """Refuse a per-layer setting for a layer the model does not have (a typo would do nothing)."""
    known = {layer.name for layer in all_layers(model)}
    for name in names:
        if name not in known:
            raise ModelError(f"{key}: the model has no layer {name!r}", hint=f"the model's layers: {', '.join(sorted(known))}")


def all_layers(model):
    """Every layer, descending into nested Sequential/Functional models."""
    for layer in getattr(model, "layers", []):
        if is_graph_model(layer):
            yield from all_layers(layer)
        else:
            yield layer


def has_weights(layer) -> bool:
    return bool(layer.weights)


def clone_with_weights(model):
    """An independent copy, so compressing never changes the float reference.

    A subclassed model cannot be cloned by Keras; it is used as is (no TF-MOT step can wrap
    it either, so nothing will train it).
    """
    if not is_graph_model(model):
        log.warning("%s is a subclassed model: TF-MOT steps can only leave it as it is", model.name)
        return model
    copy = keras().models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def wrap_layers(
    model,
    *,
    step: str,
    wrap: Callable,
    supports: Callable[[object], str | None],
    exclude: Sequence[str] = (),
    nested: bool = True,
) -> tuple[object, list[SkippedLayer]]:
    """Clone ``model`` with ``wrap(layer)`` applied where ``supports(layer)`` returns None.

    ``supports`` returns None for a layer the step can wrap, else the reason it cannot (or ""
    to leave a layer alone without listing it, e.g. a pooling layer with nothing to prune).
    With ``nested=False`` a model inside the model is an error for the caller to handle first.
    """
    skipped: list[SkippedLayer] = []
    if not is_graph_model(model):
        skipped.append(_subclassed(model, step))
        return model, skipped

    def clone(layer):
        if isinstance(layer, keras().layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras().Model):
            if not is_graph_model(layer):
                skipped.append(_subclassed(layer, step))
            elif nested:
                return keras().models.clone_model(layer, clone_function=clone)
            else:
                skipped.append(SkippedLayer(layer.name, type(layer).__name__, step, "a model nested in the model that could not be inlined"))
            return layer
        if matches(layer, exclude):
            skipped.append(SkippedLayer(layer.name, type(layer).__name__, step, f"excluded by the recipe ({step}.exclude)"))
            return layer
        reason = supports(layer)
        if reason is None:
            return wrap(layer)
        if reason:
            skipped.append(SkippedLayer(layer.name, type(layer).__name__, step, reason))
        return layer

    wrapped = keras().models.clone_model(model, clone_function=clone)
    announce(skipped, step)
    return wrapped, skipped


def announce(skipped: Sequence[SkippedLayer], step: str) -> None:
    """One readable warning naming every layer left out, instead of a TF-MOT stack trace."""
    if skipped:
        listed = "; ".join(f"{s.layer} ({s.type}): {s.reason}" for s in skipped)
        log.warning("%s: left %d layer(s) as they are: %s", step, len(skipped), listed)


def _subclassed(model, step: str) -> SkippedLayer:
    return SkippedLayer(
        model.name,
        type(model).__name__,
        step,
        "subclassed model: TF-MOT can only wrap the layers of Sequential/Functional models",
    )


def flatten_nested(model):
    """The same computation with nested Sequential/Functional models inlined (shared layers).

    TF-MOT's QAT refuses a model inside a model; inlining keeps every layer (and its weights)
    and only removes the nesting. Models without nesting are returned unchanged.
    """
    if not any(isinstance(layer, keras().Model) and is_graph_model(layer) for layer in model.layers):
        return model
    if not getattr(model, "_is_graph_network", False) or len(model.inputs) != 1:
        return model
    k = keras()
    reference = model.inputs[0]
    inputs = k.Input(batch_shape=reference.shape, dtype=reference.dtype, name=reference.name.split(":")[0])
    outputs = _inline(model, inputs)
    return k.Model(inputs, outputs, name=model.name)


def _inline(model, inputs):
    """Functional._run_internal_graph, but calling a nested model's layers instead of the model."""
    tf = _tf()
    tensors = {}
    for reference, value in zip(model.inputs, tf.nest.flatten(inputs)):
        tensors[str(id(reference))] = [value] * model._tensor_usage_count[str(id(reference))]
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input or any(t not in tensors for t in node.flat_input_ids):
                continue
            args, kwargs = node.map_arguments(tensors)
            if isinstance(node.layer, keras().Model) and is_graph_model(node.layer) and node.layer._is_graph_network:
                outputs = _inline(node.layer, args[0] if args else kwargs["inputs"])
            else:
                outputs = node.layer(*args, **kwargs)
            for x_id, y in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                tensors[x_id] = [y] * model._tensor_usage_count[x_id]
    results = [tensors[str(id(x))].pop() for x in model.outputs]
    return tf.nest.pack_sequence_as(model._nested_outputs, results)

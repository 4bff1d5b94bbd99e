"""Quantisation-aware training with TF-MOT, keeping what earlier steps did.

Plain QAT lets fine-tuning move pruned weights off zero and clustered weights off their
centroids. The collaborative schemes keep them: prune-preserving (PQAT) after pruning,
cluster-preserving (CQAT) after clustering, and both (PCQAT) after pruning then clustering.

Layers the scheme cannot quantise (custom layers, Lambdas, layers the recipe excludes) are
left unannotated: they stay float in the QAT model and the converter calibrates them from the
representative data. Nested Sequential/Functional models are inlined first (TF-MOT's QAT
refuses a model inside a model); a subclassed model cannot be annotated at all, so QAT is
skipped and int8 conversion falls back to post-training calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

from edgekit._compat import tfmot
from edgekit.compression.base import CompressionStep
from edgekit.compression.layers import SkippedLayer, check_patterns, flatten_nested, wrap_layers
from edgekit.errors import ModelError
from edgekit.training.train import TrainData, fit

__all__ = ["QuantizeAware"]

log = logging.getLogger("edgekit")

# (after pruning, after clustering) -> the step's name
SCHEME_NAMES = {(False, False): "qat", (True, False): "pqat", (False, True): "cqat", (True, True): "pcqat"}


@dataclass(kw_only=True)
class QuantizeAware(CompressionStep):
    """Insert fake-quant nodes and fine-tune so int8 conversion loses little accuracy."""

    epochs: int = 1
    learning_rate: float = 1e-4
    preserve_sparsity: bool = False
    preserve_clusters: bool = False
    exclude: tuple[str, ...] = ()
    name: str = ""
    skipped: list[SkippedLayer] = field(default_factory=list)
    # The converter reads int8 ranges from its result, so strip() keeps the QAT wrappers.
    yields_qat_model: ClassVar[bool] = True

    def __post_init__(self):
        self.name = self.name or SCHEME_NAMES[(self.preserve_sparsity, self.preserve_clusters)]

    def apply(self, model, data: TrainData):
        """The QAT model after fine-tuning, or None when no layer could be annotated."""
        quantization = tfmot().quantization.keras
        annotated = self.annotate(model)
        if annotated is None:
            log.warning("%s: no layer of %s can be quantisation-aware trained; int8 will be calibrated after training", self.name, model.name)
            return None
        try:
            with quantization.quantize_scope(custom_objects(annotated)):
                quantized = quantization.quantize_apply(annotated, self.scheme())
        except (RuntimeError, ValueError) as exc:
            raise ModelError(
                f"{self.name}: TF-MOT could not apply QAT to {model.name}: {str(exc).splitlines()[0][:300]}",
                hint="exclude the layer it names with quantize.exclude = [\"NAME\"] to keep it in float",
            ) from exc
        fit(quantized, data, epochs=self.epochs, learning_rate=self.learning_rate, stage=self.name)
        return quantized

    def annotate(self, model):
        """The model with every supported, not excluded layer annotated; None if there is none."""
        quantization = tfmot().quantization.keras
        check_patterns(model, self.exclude, key="quantize.exclude")
        registries = (_default_registry(), self.scheme().get_quantize_registry())
        annotated, self.skipped = wrap_layers(
            flatten_nested(model),
            step=self.name,
            wrap=quantization.quantize_annotate_layer,
            supports=lambda layer: None if all(r.supports(layer) for r in registries) else _why_not(layer),
            exclude=self.exclude,
            nested=False,
        )
        if not any(type(layer).__name__ == "QuantizeAnnotate" for layer in annotated.layers):
            return None
        return annotated

    def scheme(self):
        """The quantize scheme matching what earlier steps did (see ``SCHEME_NAMES``)."""
        combine = tfmot().experimental.combine
        if self.preserve_clusters:
            return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=self.preserve_sparsity)
        if self.preserve_sparsity:
            return combine.Default8BitPrunePreserveQuantizeScheme()
        return tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme()

    def verify(self, model) -> dict:
        return {
            "scheme": type(self.scheme()).__name__,
            "preserve_sparsity": self.preserve_sparsity,
            "preserve_clusters": self.preserve_clusters,
            "epochs": self.epochs,
            "applied": model is not None,
        }


def custom_objects(model) -> dict:
    """Layer classes from outside Keras/TF-MOT: QAT rebuilds the model from its config."""
    from edgekit.compression.layers import all_layers

    found = {}
    for layer in all_layers(model):
        inner = getattr(layer, "layer", layer)  # QuantizeAnnotate wraps the real layer
        for cls in (type(layer), type(inner)):
            if not cls.__module__.startswith(("tf_keras.", "keras.", "tensorflow")):
                found[cls.__name__] = cls
    return found


def _default_registry():
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import (
        Default8BitQuantizeRegistry,
    )

    return Default8BitQuantizeRegistry()


def _why_not(layer) -> str:
    if type(layer).__name__ in ("Lambda", "TFOpLambda"):
        return "Lambda/TF op layers have no QuantizeConfig in TF-MOT; kept in float"
    return "not supported by TF-MOT's 8-bit quantize registry; kept in float (calibrated at conversion)"

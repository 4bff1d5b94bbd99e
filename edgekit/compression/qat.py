"""Quantisation-aware training with TF-MOT, sparsity-preserving when pruning came first.

Plain QAT lets fine-tuning move pruned weights off zero, so a pruned model comes out of QAT
dense again. With ``preserve_sparsity`` the prune-preserving scheme (PQAT,
``Default8BitPrunePreserveQuantizeScheme``) keeps the zeros fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit._compat import tfmot
from edgekit.train import TrainData, fit


@dataclass(kw_only=True)
class QuantizeAware:
    """Insert fake-quant nodes and fine-tune so int8 conversion loses little accuracy."""

    epochs: int = 1
    learning_rate: float = 1e-4
    preserve_sparsity: bool = False
    name: str = "qat"

    def apply(self, model, data: TrainData):
        quantization = tfmot().quantization.keras
        annotated = quantization.quantize_annotate_model(model)
        with quantization.quantize_scope():
            quantized = quantization.quantize_apply(annotated, self.scheme())
        fit(quantized, data, epochs=self.epochs, learning_rate=self.learning_rate, stage=self.name)
        return quantized

    def scheme(self):
        """The quantize scheme: prune-preserving (PQAT) after pruning, default 8-bit otherwise."""
        if self.preserve_sparsity:
            return tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        return tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme()

    def strip(self, model):
        """QAT wrappers are what the converter reads the int8 ranges from; keep them."""
        return model

"""Run a sequence of compression steps and keep what each stage produced.

The flows need two models out of compression: the stripped float model (distilled, pruned,
clustered: for float and post-training-quantised artifacts) and the QAT model (for QAT int8
artifacts). The loop is generic: each step says whether its result is a QAT model
(``yields_qat_model``) and whether it guides the later steps (``guidance()``, a teacher), so a
distillation step makes every later fine-tuning (pruning, clustering, QAT) distillation-aware.
Which steps run, and with what settings, is the caller's business (``edgekit.flows.from_recipe`` maps a
recipe onto them); nothing here knows of recipes or targets.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from edgekit.compression.base import CompressionStep
from edgekit.compression.layers import clone_with_weights
from edgekit.training.train import TrainData

__all__ = ["Compressed", "run_compression", "uncompressed"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class Compressed:
    """The models compression produced and a short report of what it did.

    ``qat_steps`` names the report entries of steps whose result is ``qat_model``, so the
    float side can be reported on its own (:meth:`float_side`).
    """

    float_model: Any
    qat_model: Any | None = None
    report: Mapping[str, Any] = field(default_factory=dict)
    qat_steps: tuple[str, ...] = ()

    @property
    def model(self):
        """The most compressed Keras model (QAT if it ran)."""
        return self.qat_model if self.qat_model is not None else self.float_model

    @property
    def skipped_layers(self) -> list[dict]:
        """Layers some step left as they were (unsupported or excluded), with the reasons."""
        return list(self.report.get("skipped_layers", []))

    def float_side(self) -> "Compressed":
        """Only what float and calibrated int8 artifacts went through: no QAT model or report."""
        report = {name: value for name, value in self.report.items() if name not in self.qat_steps}
        skipped = [layer for layer in report.pop("skipped_layers", []) if layer.get("step") not in self.qat_steps]
        if skipped:
            report["skipped_layers"] = skipped
        return dataclasses.replace(self, qat_model=None, report=report, qat_steps=())


def uncompressed(model) -> Compressed:
    """No step ran: the model itself (not a copy, so its conversion is the model's own)."""
    return Compressed(float_model=model)


def run_compression(model, steps: Sequence[CompressionStep], data: TrainData) -> Compressed:
    """Apply ``steps`` in order to a copy of ``model``; each step verifies what it left.

    Keras' numbering of unnamed layers restarts first. TF-MOT's QAT input layer is one
    (``quantize_layer``, then ``quantize_layer_1``...), and its name is a tensor name in an
    int8 file with uint8 I/O: without the restart the same compression came out as other bytes
    when another had run in this process before (a sweep's second sparsity in the driver vs
    the same task first on a Dask worker; ``edgekit.compress`` called twice).
    """
    from edgekit._compat import keras

    keras().backend.reset_uids()
    float_model, qat_model, report, skipped, qat_steps = clone_with_weights(model), None, {}, [], []
    for step in steps:
        log.info("%s: fine-tuning", step.name)
        result = step.apply(float_model, data)
        if step.yields_qat_model:
            qat_model, report[step.name] = result, step.verify(result)
            qat_steps.append(step.name)
        else:
            float_model = step.strip(result)
            report[step.name] = step.verify(float_model)
        skipped += [layer.to_dict() for layer in step.skipped]
        teacher = step.guidance()
        if teacher is not None:
            data = dataclasses.replace(data, teacher=teacher)
    if skipped:
        report["skipped_layers"] = skipped
    return Compressed(float_model=float_model, qat_model=qat_model, report=report, qat_steps=tuple(qat_steps))

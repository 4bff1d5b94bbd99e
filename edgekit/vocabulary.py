"""The words edgekit's settings are made of, each defined once.

Recipes, the command line, targets, converters, compression steps and the device runtime all
validate against these tuples, so a choice can neither mean two things nor be listed twice.
Plain data, no imports: the device runtime reads it too.
"""

from __future__ import annotations

__all__ = [
    "CLUSTER_INITS",
    "COLOR_MODES",
    "FLOAT_QUANTIZATIONS",
    "INTEGER_QUANTIZATIONS",
    "IO_DTYPES",
    "PRUNE_POLICIES",
    "PRUNE_SCHEDULES",
    "QUANTIZATIONS",
    "QUANTIZE_METHODS",
    "STRATEGIES",
    "SWEEP_MODES",
    "sweep_quantization",
    "TASKS",
]

# What a converted model holds (a target's ``quantization``, the converter's ``quantization``).
FLOAT_QUANTIZATIONS = ("float32", "float16", "dynamic")
INTEGER_QUANTIZATIONS = ("int8",)
QUANTIZATIONS = (*FLOAT_QUANTIZATIONS, *INTEGER_QUANTIZATIONS)

# The dtype of a converted model's inputs and outputs.
IO_DTYPES = ("float32", "int8", "uint8")

# How a recipe reaches int8 (``[quantize] mode``): fine-tuning with fake quantisation, or
# post-training calibration.
QUANTIZE_METHODS = ("qat", "ptq")

# A sweep's ``--quantize`` modes: any quantization (int8 by calibration), or ``qat`` (QAT
# fine-tuning, then int8). Listed in run order: QAT last, after the modes it can share work with.
SWEEP_MODES = (*QUANTIZATIONS, "qat")

PRUNE_SCHEDULES = ("polynomial", "constant")
# ``xnnpack``: TF-MOT's PruneForLatencyOnXNNPack (only the layers XNNPACK can run sparse).
PRUNE_POLICIES = ("none", "xnnpack")
CLUSTER_INITS = ("kmeans++", "density", "linear", "random")

# ``[train] strategy``: tf.distribute on one machine's devices, or across workers (TF_CONFIG).
STRATEGIES = ("none", "mirrored", "multi_worker")

# What a model's outputs mean (``task`` in a recipe, ``--task`` on convert); ``auto`` decides
# from the outputs and says why. Detection means raw heads (boxes and scores), not NMS'd lists.
TASKS = ("auto", "classification", "regression", "detection", "embedding")

# How image inputs are read (``[data] color``, a bundle's ``image.color``).
COLOR_MODES = ("grayscale", "rgb")


def sweep_quantization(mode: str) -> str:
    """The quantization a sweep mode produces: ``qat`` ends in an int8 model."""
    return "int8" if mode == "qat" else mode

"""ONNX graph -> tf_keras functional model of real layers, channels-last inside.

A model exported from PyTorch (or any ONNX file) becomes a model made of ``Conv2D``,
``DepthwiseConv2D``, ``Dense``, ``BatchNormalization``, pooling, activation and merge layers
with the source's weights, so every stage applies to it unchanged: fine-tuning, pruning,
clustering, QAT, distillation, sensitivity, ``fit``. Channels-first becomes channels-last
inside the model: kernels are transposed once here, a ``Flatten`` after a convolution keeps
the channels-last order and the next ``Dense`` gets its weight rows reordered instead, so a
plain CNN converts to a ``.tflite`` without TRANSPOSE ops. Outputs keep the source's layout.

Ops with no Keras layer (``Pow``, ``Sqrt``, a mean over channels, attention's ``MatMul``...)
are computed with TensorFlow functions instead: the model still converts and measures, with
post-training quantisation only, and ``ImportedModel.tf_ops`` says which ops keep it from
fine-tuning. Ops outside both (control flow such as ``If``) are listed before anything is built
(:class:`UnmappedOps`). Nodes whose inputs are all constants
(shape arithmetic) are folded with ONNX's reference evaluator, never with a network lookup.
"""

from __future__ import annotations

from edgekit.converters.onnx_keras._build import ImportedModel, UnmappedOps, import_onnx, mapped_ops, tf_function_ops

__all__ = ["ImportedModel", "UnmappedOps", "import_onnx", "mapped_ops", "tf_function_ops"]

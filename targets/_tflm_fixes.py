"""Fix-ups of a converted graph so that TensorFlow Lite Micro loads what LiteRT runs.

TFLM's int8 SOFTMAX prepares its fixed-point input multiplier with
``PreprocessSoftmaxScaling`` (tflite-micro ``kernels/softmax_common.cc``), which CHECKs that
``beta * input_scale * 2**26 > 1``; a failed CHECK aborts the whole process (the Python
interpreter then reports ``std::bad_alloc`` while growing the arena, or dies with SIGABRT). A
classifier whose logits all sit near zero — an untrained network such as a Keras application
with ``weights=None`` — is calibrated to a softmax input scale below 2**-26 (MobileNetV2 0.35
at 96 px: 7.8e-9): LiteRT runs it, TFLM cannot load it, while the same network without its
classifier head loads.

The fix coarsens that tensor's scale to 2**-25. The op that produces it requantizes to
whatever scale its output tensor says (fully connected, convolutions, element-wise ops and
MEAN compute their output multiplier from it), the zero point stays, so every value
calibration saw still fits in int8; the softmax input changes by at most the coarser step, far
below what the softmax output's 1/256 resolution shows.
"""

from __future__ import annotations

from edgekit.tflite.graph import read_tflite

MIN_SOFTMAX_INPUT_SCALE = 2.0**-25  # twice TFLM's lower limit of 2**-26 (beta 1)
TFLM_SOFTMAX_LIMIT = 2.0**-26
# Ops whose int8 kernels requantize to their output tensor's own scale.
REQUANTIZING = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "MEAN", "QUANTIZE"})


def tflm_loadable(model_bytes: bytes) -> tuple[bytes, tuple[str, ...]]:
    """(the model TFLM can load, what was changed and why); unchanged when nothing needs it."""
    fixes = softmax_inputs_to_coarsen(model_bytes)
    if not fixes:
        return model_bytes, ()
    from edgekit.targets._model_edit import edit_model

    def coarsen(model) -> None:
        for tensor in fixes:
            model.subgraphs[0].tensors[tensor].quantization.scale = [MIN_SOFTMAX_INPUT_SCALE]

    graph = read_tflite(model_bytes)
    notes = tuple(
        f"SOFTMAX input {graph.main.tensors[t].name!r}: int8 scale {graph.main.tensors[t].quantization.scale[0]:.3g} is below "
        f"TFLM's limit of 2^-26 (its softmax would abort); coarsened to 2^-25 (the logits sit near zero: an untrained or degenerate classifier?)"
        for t in fixes
    )
    return edit_model(model_bytes, coarsen), notes


def softmax_inputs_to_coarsen(model_bytes: bytes) -> list[int]:
    """Tensor indices (subgraph 0) of int8 SOFTMAX inputs below TFLM's scale limit whose
    producer requantizes, so that their scale can be raised safely."""
    graph = read_tflite(model_bytes)
    main = graph.main
    producer = {out: op for op in main.operators for out in op.outputs}
    found = []
    for op in main.operators:
        if op.name != "SOFTMAX" or not op.inputs:
            continue
        tensor = main.tensors[op.inputs[0]]
        quant = tensor.quantization
        beta = float(op.options.get("beta", 1.0) or 1.0)
        if tensor.dtype != "int8" or quant is None or quant.per_channel or beta * quant.scale[0] > TFLM_SOFTMAX_LIMIT:
            continue
        source = producer.get(op.inputs[0])
        if source is not None and source.name in REQUANTIZING:
            found.append(op.inputs[0])
    return found

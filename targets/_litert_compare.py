"""How close TFLM's outputs are to LiteRT's, on real test inputs, raw integer for raw integer.

LiteRT has two int8 kernel sets that disagree with each other: the reference kernels
(``BUILTIN_REF``) and the optimised builtin ones (``open_model(default_delegates=False)``).
TFLM's CONV_2D follows the first while its FULLY_CONNECTED rounds like the second, and SOFTMAX
widens any 1-LSB difference that reaches it; so both are measured and reported.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgekit.errors import DataError
from edgekit.targets import _tflm


def compare_with_litert(interpreter, model_bytes: bytes, x: np.ndarray, *, classifies: bool = True) -> dict[str, Any]:
    """Run ``x`` through TFLM and through LiteRT, and measure how far the raw outputs differ.

    Two LiteRT kernel sets are compared: the ``BUILTIN_REF`` reference kernels (keys
    ``tflm_*_ref``) and the optimised builtin kernels that ``open_model(default_delegates=False)``
    runs (keys ``tflm_*_builtin``); they disagree with each other, and TFLM matches neither
    everywhere (SOFTMAX widens any 1-LSB difference before it). ``tflm_*`` without a suffix
    summarise the closer of the two, named by ``tflm_litert_kernels``. Top-1 agreement only
    when the outputs are class scores (``classifies``).
    """
    from edgekit.runtime import open_model
    from edgekit.runtime.interpreter import quantize

    builtin = open_model(model_bytes, default_delegates=False)
    if len(builtin.inputs) != 1:
        return {"tflm_samples": 0}  # test data feeds one input; nothing to compare
    expected = tuple(builtin.inputs[0].shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise DataError(f"test inputs have shape {tuple(x.shape[1:])} but the model takes {expected}")
    q = quantize(x, builtin.inputs[0])
    tflm = _tflm.run(interpreter, q)
    result: dict[str, Any] = {"tflm_samples": int(len(q))}
    result.update(_differences(tflm, litert_raw(litert_reference(model_bytes), q), suffix="_ref", classifies=classifies))
    result.update(_differences(tflm, litert_raw(builtin, q), suffix="_builtin", classifies=classifies))
    return {**result, **_closest(result)}


def _closest(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary against whichever LiteRT kernel set TFLM is closer to on this model.

    TFLM's int8 CONV_2D follows LiteRT's reference kernels while its FULLY_CONNECTED rounds like
    the optimised ones, so conv nets sit closer to one and dense nets to the other.
    """
    key = "tflm_max_diff_lsb" if "tflm_max_diff_lsb_ref" in result else "tflm_max_abs_diff"
    if f"{key}_ref" not in result:
        return {}
    kernels = min(("ref", "builtin"), key=lambda k: (result[f"{key}_{k}"], -result.get(f"tflm_top1_agreement_{k}", 0)))
    summary = {"tflm_litert_kernels": kernels, key: result[f"{key}_{kernels}"]}
    for name in ("tflm_top1_agreement", "tflm_within_1_lsb"):
        if f"{name}_{kernels}" in result:
            summary[name] = result[f"{name}_{kernels}"]
    return summary


def _differences(tflm: np.ndarray, litert: np.ndarray, *, suffix: str, classifies: bool = True) -> dict[str, Any]:
    diff = np.abs(tflm.astype(np.float64) - litert.astype(np.float64))
    result: dict[str, Any] = {}
    if classifies and tflm.shape[-1] > 1:
        result[f"tflm_top1_agreement{suffix}"] = round(float(np.mean(tflm.argmax(-1) == litert.argmax(-1))), 5)
    if np.issubdtype(tflm.dtype, np.integer):
        result[f"tflm_max_diff_lsb{suffix}"] = int(diff.max())
        result[f"tflm_within_1_lsb{suffix}"] = round(float(np.mean(diff.max(axis=1) <= 1)), 5)
    else:
        result[f"tflm_max_abs_diff{suffix}"] = float(diff.max())
    return result


def litert_reference(model_bytes: bytes):
    """LiteRT with its reference kernels (``BUILTIN_REF``), the code TFLM's kernels descend from."""
    from edgekit._quiet import quiet_native_output
    from edgekit.runtime import resolve_backend
    from edgekit.runtime.interpreter import ModelRunner

    backend = resolve_backend()
    with quiet_native_output():
        interpreter = backend.Interpreter(model_content=bytes(model_bytes), experimental_op_resolver_type=backend.op_resolver("BUILTIN_REF"))
        interpreter.allocate_tensors()
    return ModelRunner(interpreter, backend, bytes(model_bytes))


def litert_raw(runner, q: np.ndarray, batch: int = 100) -> np.ndarray:
    """Raw output 0 of LiteRT for already-quantised inputs, batched when the model allows."""
    spec = runner.inputs[0]
    size = batch if spec.shape_signature and spec.shape_signature[0] == -1 else 1
    outputs = []
    for start in range(0, len(q), size):
        part = q[start : start + size]
        if size > 1:
            runner.interpreter.resize_tensor_input(spec.index, [len(part), *spec.shape[1:]])
            runner.interpreter.allocate_tensors()
        runner.set_raw_input(part.reshape(len(part), *spec.shape[1:]))
        runner.invoke()
        outputs.append(np.array(runner.raw_output()).reshape(len(part), -1))
    return np.concatenate(outputs)


def agreement_note(details: Mapping[str, Any]) -> str:
    parts = []
    for suffix, label in (("_ref", "reference kernels"), ("_builtin", "builtin kernels")):
        text = label
        if f"tflm_top1_agreement{suffix}" in details:
            text += f" top-1 {details[f'tflm_top1_agreement{suffix}'] * 100:.2f} %"
        if f"tflm_max_diff_lsb{suffix}" in details:
            text += f", max {details[f'tflm_max_diff_lsb{suffix}']} LSB ({details[f'tflm_within_1_lsb{suffix}'] * 100:.2f} % within 1 LSB)"
        else:
            text += f", max difference {details[f'tflm_max_abs_diff{suffix}']:.3g}"
        parts.append(text)
    return f"tflite_micro vs LiteRT on {details['tflm_samples']} test inputs: " + "; ".join(parts)

"""Per-layer sensitivity: prune one layer, or quantise one layer, and measure the accuracy.

Every figure comes from the interpreter. Pruning a layer alone is one-shot magnitude pruning
at the recipe's sparsity (or m:n pattern), no fine-tuning, converted to float32. Quantising a
layer alone uses the converter's own ``QuantizationDebugger`` with every other op denylisted
(selective quantisation). The debugger's per-op error of the fully int8 model (mean squared
error, max abs error, scale) is reported alongside.

The build can use the table: layers whose accuracy drops by more than ``analyze.threshold``
are left unpruned or unquantised (``edgekit.flows.from_recipe.steps_from_recipe(..., exclude=...)``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from edgekit._compat import tf as _tf
from edgekit._quiet import quiet_native_output
from edgekit.compression.sparsity import kernels
from edgekit.errors import ModelError
from edgekit.runtime import open_model
from edgekit.training.train import top1_accuracy

__all__ = ["analyze_model", "LayerSensitivity", "magnitude_prune", "sensitive_layers"]

log = logging.getLogger("edgekit")
DEFAULT_SPARSITY = 0.5  # when the recipe does not prune, layers are probed at 50 %


@dataclass(frozen=True)
class LayerSensitivity:
    """One row of the table: accuracy (through the interpreter) with only this layer changed."""

    layer: str
    type: str
    params: int
    prune_accuracy: float | None
    prune_drop: float | None
    quant_accuracy: float | None
    quant_drop: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def analyze_model(
    model,
    *,
    x_calibration: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    sparsity: float = 0.0,
    m_by_n: tuple[int, int] | None = None,
    calibration_samples: int = 200,
) -> dict:
    """The per-layer sensitivity table and the debugger's per-op int8 error for ``model``."""
    from edgekit.converters.keras_tflite import convert_keras

    probe = sparsity or DEFAULT_SPARSITY
    baseline = _accuracy(convert_keras(model), x_test, y_test)
    debugger = _debugger(model, x_calibration, calibration_samples)
    ops = debugger_statistics(debugger)
    rows = []
    for layer in _layers_of_interest(model, ops):
        pruned = _prune_alone(model, layer, probe, m_by_n, x_test, y_test) if layer.name in kernels(model) else None
        quantised = _quantise_alone(debugger, layer.name, ops, x_test, y_test)
        rows.append(
            LayerSensitivity(
                layer=layer.name,
                type=type(layer).__name__,
                params=int(layer.count_params()),
                prune_accuracy=pruned,
                prune_drop=_drop(baseline, pruned),
                quant_accuracy=quantised,
                quant_drop=_drop(baseline, quantised),
            )
        )
        log.info("sensitivity: %s  prune %s  quant %s", layer.name, _fmt(rows[-1].prune_drop), _fmt(rows[-1].quant_drop))
    return {
        "baseline_accuracy": round(baseline, 5),
        "samples": int(len(x_test)),
        "probe_sparsity": f"{m_by_n[0]}:{m_by_n[1]}" if m_by_n else probe,
        "layers": [row.to_dict() for row in rows],
        "quantization_debugger": ops,
    }


def sensitive_layers(analysis: dict, threshold: float) -> dict[str, list[str]]:
    """Layers whose accuracy drop alone exceeds ``threshold``: {"prune": [...], "quantize": [...]}."""
    over = {"prune": [], "quantize": []}
    for row in analysis["layers"]:
        if row["prune_drop"] is not None and row["prune_drop"] > threshold:
            over["prune"].append(row["layer"])
        if row["quant_drop"] is not None and row["quant_drop"] > threshold:
            over["quantize"].append(row["layer"])
    return over


def magnitude_prune(values: np.ndarray, sparsity: float, m_by_n: tuple[int, int] | None = None) -> np.ndarray:
    """Zero the smallest-magnitude weights: a fraction ``sparsity``, or m in every n inputs."""
    if m_by_n is None:
        count = int(round(sparsity * values.size))
        flat = values.flatten()
        flat[np.argsort(np.abs(flat), kind="stable")[:count]] = 0
        return flat.reshape(values.shape)
    zeros, block = m_by_n
    rows = np.moveaxis(values, -1, 0).copy()  # (out, ..., in): m:n runs along the inputs
    shape = rows.shape
    rows = rows.reshape(-1, shape[-1])
    usable = shape[-1] - shape[-1] % block
    groups = rows[:, :usable].reshape(rows.shape[0], -1, block)
    order = np.argsort(np.abs(groups), axis=-1, kind="stable")[..., :zeros]
    np.put_along_axis(groups, order, 0, axis=-1)
    rows[:, :usable] = groups.reshape(rows.shape[0], usable)
    return np.moveaxis(rows.reshape(shape), 0, -1)


def debugger_statistics(debugger) -> list[dict]:
    """The debugger's per-op table (op, layer, scale, mean squared error, max abs error...)."""
    with _quiet_debugger():
        debugger.run()
    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    rows = []
    previous = ""
    for record in csv.DictReader(io.StringIO(text.getvalue())):
        layer = _layer_of(record["tensor_name"]) or previous
        previous = layer
        rows.append(
            {
                "op": record["op_name"],
                "layer": layer,
                "tensor": record["tensor_name"],
                "scale": float(record["scale"]),
                "zero_point": int(float(record["zero_point"])),
                "mean_squared_error": float(record["mean_squared_error"]),
                "max_abs_error": float(record["max_abs_error"]),
                "mean_error": float(record["mean_error"]),
            }
        )
    return rows


@contextlib.contextmanager
def _quiet_debugger():
    """The debugger runs TF's deprecated tf.lite.Interpreter and warns about unset input
    statistics on every selective model; neither is news to the user."""
    with quiet_native_output(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        yield


def _debugger(model, x: np.ndarray, samples: int):
    """A QuantizationDebugger calibrated once on ``samples`` inputs (options change cheaply)."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def dataset():
        for row in x[:samples]:
            yield [np.asarray(row[None, ...], dtype=np.float32)]

    converter.representative_dataset = dataset
    try:
        with _quiet_debugger():
            return tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    except Exception as exc:
        raise ModelError(f"the TFLite QuantizationDebugger cannot analyse {model.name}: {str(exc).splitlines()[0][:300]}") from exc


def _quantise_alone(debugger, layer: str, ops: list[dict], x, y) -> float | None:
    """Accuracy with only ``layer``'s ops in int8 (all other ops denylisted to float)."""
    tf = _tf()
    mine = [op["tensor"] for op in ops if op["layer"] == layer]
    if not mine:
        return None
    others = [op["tensor"] for op in ops if op["layer"] != layer]
    try:
        with _quiet_debugger():
            debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=others)
            model_bytes = debugger.get_nondebug_quantized_model()
    except ValueError:
        return None  # nothing of this layer is quantisable on its own
    return _accuracy(model_bytes, x, y)


def _prune_alone(model, layer, sparsity, m_by_n, x, y) -> float:
    from edgekit.compression.layers import clone_with_weights
    from edgekit.converters.keras_tflite import convert_keras

    copy = clone_with_weights(model)
    target = _find(copy, layer.name)
    weights = target.get_weights()
    kernel_index = next(i for i, w in enumerate(target.weights) if "kernel" in w.name.split("/")[-1])
    weights[kernel_index] = magnitude_prune(weights[kernel_index], sparsity, m_by_n)
    target.set_weights(weights)
    return _accuracy(convert_keras(copy), x, y)


def _layers_of_interest(model, ops: list[dict]):
    """Layers with a kernel or with ops of their own in the int8 model, in model order."""
    from edgekit.compression.layers import all_layers

    named = {op["layer"] for op in ops}
    weighted = set(kernels(model))
    return [layer for layer in all_layers(model) if layer.name in named or layer.name in weighted]


def _find(model, name: str):
    from edgekit.compression.layers import all_layers

    return next(layer for layer in all_layers(model) if layer.name == name)


def _layer_of(tensor_name: str) -> str:
    parts = tensor_name.split(";")[0].split("/")
    return parts[1] if len(parts) > 2 else ""


def _accuracy(model_bytes: bytes, x, y) -> float:
    return top1_accuracy(open_model(model_bytes).predict(x), y)


def _drop(baseline: float, accuracy: float | None) -> float | None:
    return None if accuracy is None else round(baseline - accuracy, 5)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f} pts"


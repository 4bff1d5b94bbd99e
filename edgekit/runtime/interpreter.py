"""Run a .tflite model: quantise inputs, invoke, dequantise outputs.

One small wrapper over whichever interpreter backend is installed, used both on the device
(``edgekit predict`` / ``bench``) and at build time to measure every shipped artifact.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit._quiet import quiet_native_output
from edgekit.errors import InterpreterError, ModelError
from edgekit.runtime import watch
from edgekit.runtime.backends import Backend, resolve_backend

__all__ = ["allocate", "create_runner", "dequantize", "ModelRunner", "open_model", "quantize", "read_model_bytes", "tensor_spec", "TensorSpec"]

_TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True)
class TensorSpec:
    """An input or output tensor as the interpreter describes it."""

    name: str
    index: int
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8", "int16") and self.scale != 0.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape_signature),
            "dtype": self.dtype,
            "quantization": {"scale": self.scale, "zero_point": self.zero_point}
            if self.quantized
            else None,
        }


def read_model_bytes(model: bytes | str | Path) -> bytes:
    """The model's bytes, verified before any native code sees them.

    A missing, foreign, truncated or corrupt file (valid header, damaged flatbuffer) raises
    ModelError here; handed to the interpreter it could abort the whole process instead.
    """
    from edgekit.runtime.limits import cap_model_memory, check_tensor_memory
    from edgekit.tflite.verify import verify_tflite

    graph = verify_tflite(bytes(model) if isinstance(model, bytearray) else model)
    where = "model bytes" if isinstance(model, (bytes, bytearray)) else str(model)
    check_tensor_memory(graph, where)  # before any allocation
    if watch.watching():  # a supervised device command: this model's own memory cap, its name for the watchdog
        watch.name_model(where)
        cap_model_memory(graph)
    return graph.data


class ModelRunner:
    """A loaded interpreter plus the I/O conversions every caller needs."""

    def __init__(self, interpreter, backend: Backend, model_bytes: bytes):
        self.interpreter = interpreter
        self.backend = backend
        self.model_bytes = model_bytes
        self.label = ""  # the file it came from, for messages (set by bench and open_bundle)
        self._batch = None

    @property
    def inputs(self) -> list[TensorSpec]:
        return [tensor_spec(d) for d in self.interpreter.get_input_details()]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [tensor_spec(d) for d in self.interpreter.get_output_details()]

    def invoke(self) -> None:
        try:
            with watch.busy("invoke"):
                self.interpreter.invoke()
        except (ValueError, RuntimeError) as exc:  # a kernel's refusal, or an allocation over the budget
            from edgekit.runtime.limits import interpreter_failure

            where = f"{self.label}: " if self.label else ""
            raise InterpreterError(f"{where}the interpreter ({self.backend.name}) failed to run this model: {interpreter_failure(exc)}") from exc

    def set_raw_input(self, array: np.ndarray, index: int = 0) -> None:
        """Set an input exactly as the model takes it (already quantised)."""
        self.interpreter.set_tensor(self.inputs[index].index, array)

    def raw_output(self, index: int = 0) -> np.ndarray:
        return self.interpreter.get_tensor(self.outputs[index].index)

    def quantize_input(self, x: np.ndarray, index: int = 0) -> np.ndarray:
        """Float (already normalised) inputs to the dtype the model's input takes."""
        return quantize(x, self.inputs[index])

    def predict(self, x: np.ndarray, *, batch_size: int = 100) -> np.ndarray:
        """Float outputs of the first output tensor for a batch of normalised float inputs."""
        batch_size = batch_size if self._batch_resizable() else 1
        parts = [self._run_batch(x[start : start + batch_size]) for start in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=0)

    def _batch_resizable(self) -> bool:
        signature = self.inputs[0].shape_signature
        return len(signature) > 0 and signature[0] == -1

    def _run_batch(self, batch: np.ndarray) -> np.ndarray:
        self._feed(batch)
        return dequantize(self.raw_output(), self.outputs[0])

    def op_names(self) -> list[str]:
        """The model's ops in execution order (after any delegate partitioning)."""
        return [op["op_name"] for op in self.interpreter._get_ops_details()]

    def named_outputs(self) -> list[tuple[str, TensorSpec]]:
        """(name, spec) of every output, by the ``serving_default`` signature's names where the
        model has one (the converter's subgraph order differs from the Keras model's), else by
        tensor name in subgraph order."""
        by_index = {spec.index: spec for spec in self.outputs}
        keys = _signature_outputs(self.interpreter)
        if keys and set(keys.values()) <= set(by_index):
            return [(name, by_index[index]) for name, index in keys.items()]
        return [(spec.name, spec) for spec in self.outputs]

    def predict_outputs(self, x: np.ndarray, *, batch_size: int = 100) -> dict[str, np.ndarray]:
        """Float values of every output, by name (:meth:`named_outputs`), for normalised inputs."""
        named = self.named_outputs()
        batch_size = batch_size if self._batch_resizable() else 1
        parts: dict[str, list[np.ndarray]] = {name: [] for name, _ in named}
        for start in range(0, len(x), batch_size):
            self._feed(x[start : start + batch_size])
            for name, spec in named:
                parts[name].append(dequantize(self.interpreter.get_tensor(spec.index), spec))
        return {name: np.concatenate(chunks, axis=0) for name, chunks in parts.items()}

    def _feed(self, batch: np.ndarray) -> None:
        """Resize (when the batch is dynamic), quantise, set and invoke."""
        spec = self.inputs[0]
        if self._batch != len(batch) and self._batch_resizable():
            self.interpreter.resize_tensor_input(spec.index, [len(batch), *spec.shape[1:]])
            with watch.busy("allocate"):
                self.interpreter.allocate_tensors()
            self._batch = len(batch)
        self.set_raw_input(quantize(batch, self.inputs[0]))
        self.invoke()


def _signature_outputs(interpreter) -> dict[str, int]:
    """{output name: tensor index} of the ``serving_default`` signature, or {} without one."""
    try:
        details = interpreter.get_signature_runner("serving_default").get_output_details()
    except (ValueError, KeyError, AttributeError, RuntimeError):
        return {}
    return {name: int(detail["index"]) for name, detail in details.items()}


def open_model(
    model: bytes | str | Path,
    *,
    threads: int | None = None,
    runtime: str | None = None,
    delegates: Sequence = (),
    default_delegates: bool = True,
) -> ModelRunner:
    """Load a model into the chosen backend's interpreter and allocate its tensors.

    ``default_delegates=False`` runs LiteRT's reference kernels (no XNNPACK), which is what
    op-placement checks and bit-exact comparisons need.
    """
    runner = create_runner(
        read_model_bytes(model), threads=threads, runtime=runtime, delegates=delegates, default_delegates=default_delegates
    )
    allocate(runner)
    return runner


def create_runner(
    data: bytes,
    *,
    threads: int | None = None,
    runtime: str | None = None,
    delegates: Sequence = (),
    default_delegates: bool = True,
) -> ModelRunner:
    """Build the interpreter without allocating tensors, so a benchmark can time the two apart."""
    backend = resolve_backend(runtime)
    kwargs = {"model_content": data, "num_threads": threads}
    if delegates:
        kwargs["experimental_delegates"] = list(delegates)
    if not default_delegates:
        kwargs["experimental_op_resolver_type"] = backend.op_resolver("BUILTIN_WITHOUT_DEFAULT_DELEGATES")
    try:
        with quiet_native_output(), warnings.catch_warnings():
            # tf.lite's "deprecated, use ai_edge_litert" notice: the user chose it with --runtime
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            with watch.busy("load"):
                interpreter = backend.Interpreter(**kwargs)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"the interpreter ({backend.name}) cannot load this model: {exc}") from exc
    return ModelRunner(interpreter, backend, data)


def allocate(runner: ModelRunner) -> None:
    """Allocate tensors; LiteRT applies its default delegate (XNNPACK) here."""
    try:
        with quiet_native_output(), watch.busy("allocate"):
            runner.interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        from edgekit.runtime.limits import interpreter_failure

        where = f"{runner.label}: " if runner.label else ""
        raise ModelError(f"{where}the interpreter ({runner.backend.name}) cannot prepare this model: {interpreter_failure(exc)}") from exc


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float to the tensor's dtype with its scale and zero point (or a plain cast)."""
    dtype = np.dtype(spec.dtype)
    if not spec.quantized:
        return np.asarray(x, dtype=dtype)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float32) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """The tensor's values as float32."""
    if not spec.quantized:
        return np.asarray(q, dtype=np.float32)
    return (q.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)


def tensor_spec(detail: dict) -> TensorSpec:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorSpec(
        name=detail["name"],
        index=int(detail["index"]),
        shape=tuple(int(d) for d in detail["shape"]),
        shape_signature=tuple(int(d) for d in detail.get("shape_signature", detail["shape"])),
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale),
        zero_point=int(zero_point),
    )

"""Mobile GPU target: float16 weights, float I/O, batch 1, through LiteRT's GPU accelerator.

Two verdicts, each with its job:

- ``check`` predicts, statically, which ops the accelerator takes and why the others fall back
  (:mod:`edgekit.targets._gpu_predict`, rules in :mod:`edgekit.targets._gpu_ops`). It needs no
  GPU, runs on any ``.tflite`` (``edgekit inspect -t gpu``) and explains op by op.
- ``package`` measures: every gpu artifact is run on the real LiteRT GPU accelerator
  (``CompiledModel`` with GPU|CPU, in a child process with a timeout) whenever one can be
  created here — a real GPU, or SwiftShader's Vulkan on the CPU — and the verdict, the adapter,
  the ops LiteRT left to the CPU, the outputs' error against the CPU path and the latency go
  under ``details.gpu_accelerator`` (:mod:`edgekit.targets._gpu_measure`). Where no accelerator
  can be created, it says why in one line and the prediction stands, marked as predicted.

Batch is fixed to 1: the accelerator refuses graphs with dynamic-sized tensors, which a dynamic
batch creates in common models (EfficientNet's squeeze-excite blocks).
"""

from __future__ import annotations

from edgekit.target import PackageInput, Target, TargetBuild, TargetReport
from edgekit.targets import _gpu_ops as spec
from edgekit.targets._gpu_measure import OPTIONS, measure
from edgekit.targets._gpu_predict import predict
from edgekit.targets._partition import placement_rows
from edgekit.tflite.graph import read_tflite

__all__ = ["GPU"]


def check(tflite_bytes: bytes) -> TargetReport:
    """Which ops the GPU accelerator is predicted to take, which fall back to the CPU and why."""
    graph = read_tflite(tflite_bytes)
    prediction = predict(graph)
    op_count = len(prediction.placed)
    return TargetReport(
        target="gpu",
        runnable=prediction.gpu_ops > 0,
        ops=placement_rows(graph.main, prediction.placed),
        notes=_notes(prediction, op_count),
        details={
            "predicted": True,
            "op_count": op_count,
            "gpu_ops": prediction.gpu_ops,
            "cpu_ops": op_count - prediction.gpu_ops,
            "gpu_partitions": prediction.partitions,
            "max_delegated_partitions": spec.DEFAULT_MAX_PARTITIONS,
        },
    )


def _notes(prediction, op_count: int) -> tuple[str, ...]:
    if prediction.refusal:
        return (prediction.refusal + "; convert with a fixed batch and avoid ops whose output size depends on the data",)
    notes = []
    if prediction.partitions > 1:
        notes.append(
            f"{prediction.partitions} GPU partitions: the delegate takes the largest ({prediction.gpu_ops} ops) by default; "
            "raise max_delegated_partitions to take more, at the cost of a GPU<->CPU copy each"
        )
    if op_count and prediction.gpu_ops < op_count:
        notes.append(f"{op_count - prediction.gpu_ops} of {op_count} ops run on the CPU")
    return tuple(notes)


def package(model_bytes: bytes, given: PackageInput) -> TargetBuild:
    """Run the artifact on the real GPU accelerator and record its verdict."""
    prediction = predict(read_tflite(model_bytes))
    return measure(model_bytes, given, predicted_all_on_gpu=bool(prediction.placed) and prediction.gpu_ops == len(prediction.placed))


GPU = Target(
    name="gpu",
    description="Mobile GPUs (Android OpenCL/WebGPU, iOS Metal) via the LiteRT GPU accelerator: float16 weights, float I/O, batch 1; measured on the real accelerator",
    quantization="float16",
    quantizations=("float16", "float32"),
    io_dtype="float32",
    check=check,
    options=OPTIONS,
    package=package,
    static_batch=True,  # batch 1: the GPU accelerator refuses dynamic-sized tensors
    budget_figures=("flash", "latency"),  # latency: measured on the LiteRT GPU accelerator
)

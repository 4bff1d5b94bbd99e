"""Child process that runs one model on LiteRT's GPU accelerator: ``python -m edgekit.runtime._gpu_worker DIR``.

A GPU driver that crashes (SIGSEGV) or hangs would take the build, ``bench`` or ``predict``
down with it, so the accelerator only ever runs here; the parent
(:mod:`edgekit.runtime.gpu_accelerator`) gives it a timeout and turns whatever happened into a
verdict. The native log (adapter, ops the delegate did not take) goes to this process's stderr,
which the parent keeps and parses.

``DIR`` holds ``request.json`` (the model file, the input file, latency settings) and, for
``run`` requests, ``inputs.npz`` (one array per input tensor, keyed ``t<tensor index>``, a
leading sample axis). The answer is ``result.json`` plus ``outputs.npz`` (same keys), both
written before the line ``done`` is printed. Progress lines on stdout (``stage ...``) tell the
parent where a crash happened.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def stage(text: str) -> None:
    print(f"stage {text}", flush=True)


def compile_model(model_path: Path, threads: int):
    """A CompiledModel on the GPU with the CPU (XNNPACK) taking what the GPU does not."""
    from ai_edge_litert.compiled_model import CompiledModel, CpuOptions, HardwareAccelerator, Options

    options = Options(hardware_accelerators=HardwareAccelerator.GPU | HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=threads))
    return CompiledModel.from_file(str(model_path), options=options)


def tensor_details(model) -> tuple[dict, dict]:
    """Signature 0's inputs and outputs: {name: {index, shape, dtype}} in signature order."""
    key = next(iter(model.get_signature_list()))
    return model.get_input_tensor_details(key), model.get_output_tensor_details(key)


class Session:
    """One compiled model with its buffers, run one sample at a time."""

    def __init__(self, model):
        self.model = model
        self.inputs, self.outputs = tensor_details(model)
        self.in_buffers = model.create_input_buffers(0)
        self.out_buffers = model.create_output_buffers(0)

    def run(self, sample: dict[int, np.ndarray]) -> list[np.ndarray]:
        self.write(sample)
        return self.infer()

    def write(self, sample: dict[int, np.ndarray]) -> None:
        for buffer, detail in zip(self.in_buffers, self.inputs.values()):
            buffer.write(np.ascontiguousarray(sample[int(detail["index"])], dtype=detail["dtype"]).reshape(detail["shape"]))

    def infer(self) -> list[np.ndarray]:
        """One inference, up to its outputs in host memory.

        ``run_by_index`` returns once the GPU work is queued (0.7 ms for a MobileNetV2 that takes
        54 ms on SwiftShader); reading the outputs waits for it. So an inference is the run plus
        the read, which is also what an app does to get its answer.
        """
        self.model.run_by_index(0, self.in_buffers, self.out_buffers)
        return [self._read(buffer, detail) for buffer, detail in zip(self.out_buffers, self.outputs.values())]

    @staticmethod
    def _read(buffer, detail) -> np.ndarray:
        shape = [int(d) for d in detail["shape"]]
        return buffer.read(int(np.prod(shape)) if shape else 1, np.dtype(detail["dtype"])).reshape(shape)

    def sample_inputs(self) -> dict[int, np.ndarray]:
        """Deterministic random values of every input's shape and dtype (bench, no data)."""
        from edgekit.runtime.interpreter import TensorSpec
        from edgekit.runtime.latency import random_input

        specs = [TensorSpec(name, int(d["index"]), tuple(d["shape"]), tuple(d["shape"]), np.dtype(d["dtype"]).name, 0.0, 0) for name, d in self.inputs.items()]
        return {spec.index: random_input(spec, seed=position) for position, spec in enumerate(specs)}


def run_samples(session: Session, inputs: dict[int, np.ndarray], max_seconds: float | None) -> dict[str, np.ndarray]:
    """Every sample through the GPU (the first ones only, past ``max_seconds``), stacked per output."""
    count = len(next(iter(inputs.values())))
    collected: list[list[np.ndarray]] = [[] for _ in session.outputs]
    deadline = time.perf_counter() + max_seconds if max_seconds else None
    for i in range(count):
        if deadline is not None and i and time.perf_counter() > deadline:
            break
        if i % 100 == 0:
            stage(f"running input {i + 1} of {count}")
        for store, value in zip(collected, session.run({index: array[i] for index, array in inputs.items()})):
            store.append(value.reshape(value.shape[1:]) if value.ndim and value.shape[0] == 1 else value)
    return {f"t{int(d['index'])}": np.stack(store) for d, store in zip(session.outputs.values(), collected)}


def time_runs(session: Session, sample: dict[int, np.ndarray], settings: dict) -> np.ndarray:
    """Microseconds per inference (run and read the outputs), after a warm-up; the inputs are
    written once, as ``edgekit bench`` sets them once before timing ``invoke()`` on the CPU.

    Until both ``runs`` and ``min_time`` are reached, but never past ``max_time`` (after three
    runs): a big model on SwiftShader takes seconds per inference.
    """
    session.write(sample)
    infer = session.infer
    for _ in range(settings.get("warmup", 3)):
        infer()
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(settings.get("min_time", 0.0) * 1e9)
    limit = start + int(settings.get("max_time") * 1e9) if settings.get("max_time") else None
    samples: list[int] = []
    while len(samples) < settings.get("runs", 10) or clock() < deadline:
        if limit is not None and len(samples) >= 3 and clock() > limit:
            break
        begin = clock()
        infer()
        samples.append(clock() - begin)
    return np.asarray(samples, dtype=np.float64) / 1000.0


def serve(folder: Path) -> dict:
    """Compile, run the inputs (or one random sample), time, and describe what happened."""
    request = json.loads((folder / "request.json").read_text())
    stage("compiling the model for the GPU")
    started = time.perf_counter()
    try:
        model = compile_model(folder / request["model"], int(request.get("threads", 1)))
    except RuntimeError as exc:
        return {"status": "refused", "error": _first_line(exc)}
    compiled = time.perf_counter()
    result: dict = {"status": "ok", "fully_accelerated": bool(model.is_fully_accelerated()), "compile_ms": round((compiled - started) * 1000, 3)}
    session = Session(model)
    result["inputs"] = _describe(session.inputs)
    result["outputs"] = _describe(session.outputs)
    stage("running the first inference")
    inputs = _load_inputs(folder, request) or {k: v[None] for k, v in session.sample_inputs().items()}
    first_sample = {index: array[0] for index, array in inputs.items()}
    begin = time.perf_counter()
    session.run(first_sample)
    result["first_inference_ms"] = round((time.perf_counter() - begin) * 1000, 3)
    if request.get("inputs"):
        np.savez(folder / "outputs.npz", **run_samples(session, inputs, request.get("max_seconds")))
    if request.get("latency"):
        stage("timing inferences")
        from edgekit.runtime.latency import summarize

        threads = int(request.get("threads", 1))
        result["latency_us"] = summarize(time_runs(session, first_sample, request["latency"]), threads=threads).to_dict()
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _load_inputs(folder: Path, request: dict) -> dict[int, np.ndarray] | None:
    if not request.get("inputs"):
        return None
    with np.load(folder / request["inputs"], allow_pickle=False) as data:
        return {int(key[1:]): data[key] for key in data.files}


def _describe(details: dict) -> list[dict]:
    return [{"name": name, "index": int(d["index"]), "shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name} for name, d in details.items()]


def _peak_rss_mb() -> float | None:
    from edgekit.runtime.bench import peak_rss_mb

    return peak_rss_mb()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip(" └") for line in str(exc).splitlines() if line.strip(" └") and not line.strip().startswith("ERROR: [")]
    return lines[-1] if lines else exc.__class__.__name__


def main(argv: list[str] | None = None) -> None:
    folder = Path((argv or sys.argv[1:])[0])
    try:
        result = serve(folder)
    except Exception as exc:  # LiteRT raising while running, or a model this worker cannot feed
        result = {"status": "failed", "error": f"{exc.__class__.__name__}: {_first_line(exc)}"}
    partial = folder / "result.json.partial"
    partial.write_text(json.dumps(result))
    partial.replace(folder / "result.json")
    print("done", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # LiteRT 2.3's WebGPU accelerator sometimes crashes in its own teardown (SIGSEGV after the
    # last inference, seen with dynamic-batch MobileNets); the answer is written, so skip it.
    os._exit(0)


if __name__ == "__main__":
    main()

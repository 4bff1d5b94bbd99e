"""The on-device latency test: load, init, first inference, then steady-state percentiles.

One result per (model, thread count), each from a fresh interpreter, each carrying the
machine, runtime, delegate and threads it was measured with, so a number never travels
without its context. Model load (read, verify, build the interpreter and any explicit
delegate), tensor allocation (where LiteRT applies XNNPACK) and the first inference (weight
packing, cold caches) are timed apart from the steady state, because on a Pi start-up is
often what the user feels. Peak RSS is reset before each model where Linux allows
(``/proc/self/clear_refs``), so it is that model's peak, not the largest seen so far.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from edgekit.errors import InputError, InterpreterError, ModelError, ToolError
from edgekit.runtime import gpu_device
from edgekit.runtime.backends import Backend, resolve_backend
from edgekit.runtime.environment import describe_machine
from edgekit.runtime.gpu_accelerator import run_on_gpu
from edgekit.runtime.interpreter import allocate, create_runner, read_model_bytes
from edgekit.runtime.latency import LatencyStats, set_sample_inputs, summarize, time_invocations

__all__ = ["bench_model", "bench_models", "BenchResult", "BenchSettings", "ModelSource", "peak_rss_mb", "read_source"]

DELEGATES = ("xnnpack", "none", "gpu", "edgetpu")
_EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


@dataclass(frozen=True)
class BenchSettings:
    """How to measure: the CLI's flags, validated once."""

    threads: tuple[int, ...] = (1,)
    runs: int = 100
    warmup: int = 10
    min_time: float = 1.0
    delegate: str = "xnnpack"
    runtime: str | None = None

    def __post_init__(self):
        if not self.threads or any(t < 1 for t in self.threads):
            raise InputError(f"threads must be positive integers, got {list(self.threads)}", hint="e.g. --threads 1,2,4")
        if self.runs < 1 or self.warmup < 0:
            raise InputError(f"--runs {self.runs} / --warmup {self.warmup}: runs must be at least 1, warm-up at least 0")
        if not 0 <= self.min_time < math.inf:  # also refuses NaN, which every comparison lets through
            raise InputError(f"--min-time {self.min_time}: must be a finite number of seconds, at least 0")
        if self.delegate not in DELEGATES and not self.delegate.endswith(".so") and "/" not in self.delegate:
            raise InputError(f"unknown delegate {self.delegate!r}", hint=f"choose {', '.join(DELEGATES)} or a path to a delegate .so")
        if self.delegate == "gpu" and self.runtime not in (None, "ai_edge_litert"):
            raise InputError(f"--delegate gpu runs LiteRT's GPU accelerator, not {self.runtime}", hint="drop --runtime, or use --runtime ai_edge_litert")


@dataclass
class BenchResult:
    """Everything measured for one model at one thread count, with its context."""

    model: str
    path: str
    kind: str
    quantization: str | None
    io_dtype: str
    model_bytes: int
    threads: int
    delegate: str
    runtime: dict
    load_ms: float
    init_ms: float
    first_inference_ms: float
    latency: LatencyStats
    peak_rss_mb: float
    peak_rss_scope: str
    rss_before_mb: float
    device: dict = field(default_factory=dict)
    host: str | None = None
    accelerator: dict | None = None  # --delegate gpu: the adapter, what ran on the GPU (edgekit.runtime.gpu_device)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["latency_us"] = self.latency.to_dict()
        del data["latency"]
        return data


def bench_models(
    paths: Sequence[str | Path], settings: BenchSettings, *, progress: Callable[[str], None] | None = None
) -> list[BenchResult]:
    """Benchmark every model at every thread count, in order; ``progress`` hears of each one done."""
    backend = resolve_backend(settings.runtime)
    device = describe_machine()
    if paths and settings.delegate != "gpu":  # the GPU accelerator runs in a fresh process per model
        warm_up_runtime(paths[0], settings, backend)
    results = []
    for path in paths:
        for threads in settings.threads:
            result = bench_model(path, threads=threads, settings=settings, backend=backend)
            results.append(replace(result, device=device))
            if progress:
                progress(f"{result.model} @ {threads} thread(s)")
    return results


def bench_model(path: str | Path, *, threads: int, settings: BenchSettings, backend: Backend | None = None) -> BenchResult:
    """Load, init, first inference and steady-state latency of one model at ``threads``."""
    if settings.delegate == "gpu":
        return bench_on_gpu(path, threads=threads, settings=settings)
    backend = backend or resolve_backend(settings.runtime)
    scope = "model" if reset_peak_rss() else "process"
    rss_before = current_rss_mb()
    started = time.perf_counter()
    source = read_source(path)
    runner = create_runner(
        source.data,
        threads=threads,
        runtime=backend.name,
        delegates=load_delegates(settings.delegate, backend),
        default_delegates=settings.delegate != "none",
    )
    runner.label = str(path)
    loaded = time.perf_counter()
    allocate(runner)
    initialised = time.perf_counter()
    set_sample_inputs(runner)
    try:
        runner.invoke()
    except InterpreterError:  # names the model already
        raise
    except RuntimeError as exc:
        raise ModelError(f"{path}: inference failed with delegate {settings.delegate!r}: {_first_line(exc)}") from exc
    first = time.perf_counter()
    samples = time_invocations(runner, runs=settings.runs, warmup=settings.warmup, min_time=settings.min_time)
    return BenchResult(
        model=source.name,
        path=str(path),
        kind=source.kind,
        quantization=source.quantization,
        io_dtype=runner.inputs[0].dtype,
        model_bytes=len(source.data),
        threads=threads,
        delegate=settings.delegate,
        runtime=backend_context(backend),
        load_ms=_ms(loaded - started),
        init_ms=_ms(initialised - loaded),
        first_inference_ms=_ms(first - initialised),
        latency=summarize(samples, threads=threads),
        peak_rss_mb=peak_rss_mb(),
        peak_rss_scope=scope,
        rss_before_mb=rss_before,
    )


def backend_context(backend: Backend) -> dict:
    return {"name": backend.name, "version": backend.version}


def bench_on_gpu(path: str | Path, *, threads: int, settings: BenchSettings, timeout: float = 600.0) -> BenchResult:
    """The same measurement on LiteRT's GPU accelerator, in its own process (threads: the CPU fallback's).

    Load is reading and verifying the model here; init is the child's CompiledModel creation
    (WebGPU device and kernel compilation); peak RSS is the child's.
    """
    started = time.perf_counter()
    source = read_source(path)
    loaded = time.perf_counter()
    latency = {"runs": settings.runs, "warmup": settings.warmup, "min_time": settings.min_time}
    run = gpu_device.checked(run_on_gpu(source.data, latency=latency, threads=threads, timeout=timeout), path)
    return BenchResult(
        model=source.name,
        path=str(path),
        kind=source.kind,
        quantization=source.quantization,
        io_dtype=run.input_specs[0]["dtype"] if run.input_specs else "unknown",
        model_bytes=len(source.data),
        threads=threads,
        delegate="gpu",
        runtime={"name": "ai_edge_litert", "version": run.litert_version},
        load_ms=_ms(loaded - started),
        init_ms=run.compile_ms,
        first_inference_ms=run.first_inference_ms,
        latency=LatencyStats(**{k: v for k, v in run.latency_us.items() if k != "throughput_per_s"}),
        peak_rss_mb=run.peak_rss_mb or 0.0,
        peak_rss_scope="accelerator process",
        rss_before_mb=current_rss_mb(),
        accelerator=gpu_device.accelerator_summary(run),
    )


def warm_up_runtime(path: str | Path, settings: BenchSettings, backend: Backend) -> None:
    """Pay the process's one-time costs (lazy library set-up) before anything is timed.

    Without this the first model listed would carry them in its load and first-inference
    figures, and a comparison table would favour whichever model came second.
    """
    runner = create_runner(read_source(path).data, threads=1, runtime=backend.name, default_delegates=settings.delegate != "none")
    runner.label = str(path)
    allocate(runner)
    set_sample_inputs(runner)
    runner.invoke()


@dataclass(frozen=True)
class ModelSource:
    """A model's bytes and what to call it, from a verified bundle or a bare .tflite."""

    name: str
    kind: str
    quantization: str | None
    data: bytes


def read_source(path: str | Path) -> ModelSource:
    """A bundle folder is verified (sha256 of every file) before its model is read."""
    path = Path(path)
    if path.suffix == ".zip" and path.is_file():
        from edgekit.bundle.manifest import unzipped_bundle

        with unzipped_bundle(path) as root:
            source = read_source(root)
        return replace(source, name=source.name if source.name != root.name else path.stem)
    if path.is_dir():
        from edgekit.bundle.manifest import verify_bundle

        manifest = verify_bundle(path)
        data = read_model_bytes(path / manifest.get("model", "model.tflite"))
        return ModelSource(manifest.get("name") or path.name, "bundle", manifest.get("quantization"), data)
    if not path.exists():
        raise ModelError(f"{path}: no such bundle or .tflite file", hint="pass a bundle folder or a .tflite file")
    return ModelSource(path.stem, "tflite", None, read_model_bytes(path))


def load_delegates(delegate: str, backend: Backend) -> list:
    """The explicit delegate objects for ``delegate`` (none for xnnpack/none: built in)."""
    if delegate in ("xnnpack", "none"):
        return []
    library = delegate_library(delegate)
    what = f"the {delegate} delegate ({library})" if delegate in DELEGATES else f"delegate library {library}"
    problem = check_delegate_library(library)
    if problem is None:
        try:
            return [backend.load_delegate(library)]
        except (ValueError, OSError, RuntimeError) as exc:
            problem = _first_line(exc)
    # a named delegate missing here is the machine's setup (1); a file the user named is their input (2)
    error = ToolError if delegate in DELEGATES else InputError
    raise error(f"cannot load {what}: {problem}", hint=delegate_hint(delegate))


def check_delegate_library(library: str) -> str | None:
    """Why ``library`` is not a loadable external delegate, or None.

    Checked with ctypes first because LiteRT's ``load_delegate`` leaves a half-built object
    behind on these failures, whose finaliser then prints a traceback after our one-line error.
    """
    import ctypes

    try:
        handle = ctypes.CDLL(library)
    except OSError as exc:
        return _first_line(exc)
    missing = [name for name in ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate") if not hasattr(handle, name)]
    return f"not a TFLite external delegate (no {', '.join(missing)})" if missing else None


def delegate_library(delegate: str) -> str:
    if delegate == "edgetpu":
        return _EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
    path = Path(delegate).expanduser()
    if not path.is_file():
        raise InputError(f"--delegate {delegate}: no such delegate library", hint="pass the path of a TFLite external delegate .so")
    return str(path.resolve())


def delegate_hint(delegate: str) -> str:
    if delegate == "edgetpu":
        return "install the Edge TPU runtime (Debian/Pi OS: add Coral's apt repository, then 'sudo apt install libedgetpu1-std') and plug in the Coral device"
    return "the file must be a TFLite external delegate exporting tflite_plugin_create_delegate"


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM, else getrusage)."""
    peak = _proc_status_mb("VmHWM:")
    if peak is not None:
        return peak
    import resource  # Unix only; /proc answers first on Linux

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak_kb / (1024 * 1024 if platform.system() == "Darwin" else 1024), 1)


def current_rss_mb() -> float:
    """Resident memory now, before a model is loaded: the baseline its peak adds to."""
    current = _proc_status_mb("VmRSS:")
    return current if current is not None else peak_rss_mb()


def _proc_status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0]

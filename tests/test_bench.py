"""``edgekit bench``: timings split into load/init/first/steady, context on every result,
delegates, the comparison table, and (slow) the sample's int8-vs-float32 and overhead ratios."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import BundleError, InputError
from edgekit.runtime.bench import BenchSettings, bench_model, bench_models
from edgekit.runtime.latency import summarize
from tests.conftest import REPO, edgekit_command
from tests.device_bundles import tiny_bundles

FAST = BenchSettings(runs=30, warmup=2, min_time=0.05)
FAST_ARGS = ["--runs", "30", "--warmup", "2", "--min-time", "0.05"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return tiny_bundles(tmp_path_factory)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, timeout=300)


def test_result_carries_every_timing_and_its_context(bundles):
    [result] = bench_models([bundles["int8"]], FAST)
    lat = result.latency
    assert lat.runs >= 30 and lat.min <= lat.p50 <= lat.p90 <= lat.p99 <= lat.max
    assert lat.min <= lat.mean and lat.throughput == pytest.approx(1e6 / lat.mean)
    assert result.load_ms > 0 and result.init_ms > 0 and result.first_inference_ms > 0
    assert result.peak_rss_scope == "model" and result.peak_rss_mb >= result.rss_before_mb > 0
    assert (result.threads, result.delegate, result.kind, result.quantization, result.io_dtype) == (1, "xnnpack", "bundle", "int8", "int8")
    assert result.runtime["name"] == "ai_edge_litert" and result.runtime["version"] not in ("", "unknown")
    assert {"cpu", "cores", "architecture", "os", "board"} <= set(result.device) and result.device["cores"] >= 1
    assert result.model_bytes == (bundles["int8"] / "model.tflite").stat().st_size


def test_runs_continue_until_min_time(bundles):
    started = time.perf_counter()
    result = bench_model(bundles["int8"], threads=1, settings=BenchSettings(runs=1, warmup=0, min_time=0.3))
    assert time.perf_counter() - started >= 0.3
    assert result.latency.runs > 1  # --runs 1 was not enough to fill 0.3 s


def test_far_outliers_are_counted_and_left_out_of_the_mean():
    samples = np.array([100.0] * 95 + [101.0, 99.0, 102.0, 98.0] + [5000.0])
    stats = summarize(samples, threads=1)
    assert stats.outliers == 1 and stats.max == 5000.0
    assert stats.mean == pytest.approx(100.0, abs=0.1) and stats.p50 == 100.0
    tight = summarize(np.array([20.0, 20.1, 20.2, 20.3, 21.5] * 20), threads=1)
    assert tight.outliers == 0  # 1.5 us jitter on 20 us is not an outlier, however small the IQR


def test_bare_tflite_file_is_benched_too(bundles, tmp_path):
    model = tmp_path / "model.tflite"
    shutil.copy(bundles["float32"] / "model.tflite", model)
    result = bench_model(model, threads=1, settings=FAST)
    assert (result.kind, result.model, result.quantization, result.io_dtype) == ("tflite", "model", None, "float32")


def test_comparison_table_and_json(bundles, tmp_path):
    out = tmp_path / "bench.json"
    result = cli("bench", str(bundles["float32"]), str(bundles["int8"]), "--threads", "1,2", *FAST_ARGS, "--json", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# ") and "ai_edge_litert" in lines[0] and "cores" in lines[0] and "delegate xnnpack" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    rows = [line.split() for line in lines[header + 2 : header + 6]]
    assert [(r[0], r[4]) for r in rows] == [
        (bundles["float32"].name, "1"), (bundles["float32"].name, "2"), (bundles["int8"].name, "1"), (bundles["int8"].name, "2"),
    ]  # fmt: skip
    assert rows[0][-1] == "1.00x" and rows[2][-1].endswith("x")
    document = json.loads(out.read_text())
    assert [(r["model"], r["threads"]) for r in document["results"]] == [(r[0], int(r[4])) for r in rows]
    for r in document["results"]:
        assert r["device"]["cpu"] and r["runtime"]["name"] == "ai_edge_litert" and r["delegate"] == "xnnpack"
        assert set(r["latency_us"]) >= {"mean", "std", "min", "p50", "p90", "p99", "max", "throughput_per_s", "runs"}
    assert "benchmarked 4/4" in result.stderr  # progress, one line per job when stderr is not a terminal


def test_json_to_stdout_is_only_json(bundles):
    result = cli("bench", str(bundles["int8"]), *FAST_ARGS, "--json", "-")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["latency_us"]["runs"] >= 30


def test_delegate_none_uses_builtin_kernels(bundles):
    result = bench_model(bundles["int8"], threads=1, settings=BenchSettings(runs=30, warmup=2, min_time=0.05, delegate="none"))
    assert result.delegate == "none" and result.latency.runs >= 30


def test_missing_edgetpu_runtime_is_one_clear_line(bundles):
    result = cli("bench", str(bundles["int8"]), "--delegate", "edgetpu", *FAST_ARGS)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot load the edgetpu delegate (libedgetpu.so.1)") and "libedgetpu1-std" in line


def test_library_that_is_not_a_delegate_is_refused(bundles):
    libm = next((p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/libm.so.6") if Path(p).exists()), None)
    if libm is None:
        pytest.skip("no libm.so.6 at a known path")
    result = cli("bench", str(bundles["int8"]), "--delegate", libm, *FAST_ARGS)
    [line] = result.stderr.strip().splitlines()
    assert "not a TFLite external delegate" in line
    assert result.returncode == 2  # a file the user named is their input, not the machine's setup
    with pytest.raises(InputError, match="no such delegate library"):
        bench_model(bundles["int8"], threads=1, settings=BenchSettings(delegate="/nonexistent/libdelegate.so"))


NOOP_DELEGATE = r"""
#include <stddef.h>
#include <stdint.h>
typedef struct TfLiteDelegate {
  void* data_;
  int (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  void* CopyFromBufferHandle;
  void* CopyToBufferHandle;
  void* FreeBufferHandle;
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;
static int prepare(void* context, TfLiteDelegate* delegate) { (void)context; (void)delegate; return 0; }
static TfLiteDelegate noop = {NULL, prepare, NULL, NULL, NULL, 0, NULL};
TfLiteDelegate* tflite_plugin_create_delegate(char** k, char** v, size_t n, void (*report)(const char*)) {
  (void)k; (void)v; (void)n; (void)report; return &noop;
}
void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) { (void)delegate; }
"""


def test_external_delegate_library_is_loaded(bundles, tmp_path):
    """A real (if do-nothing) external delegate, compiled here: it claims no ops, so the model
    still runs on the CPU, but the load_delegate path is exercised end to end."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test delegate")
    source = tmp_path / "noop.c"
    source.write_text(NOOP_DELEGATE)
    library = tmp_path / "libnoop_delegate.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source)], check=True)
    result = bench_model(bundles["int8"], threads=1, settings=BenchSettings(runs=30, warmup=2, min_time=0.05, delegate=str(library)))
    assert result.delegate == str(library) and result.latency.runs >= 30


def test_tampered_bundle_is_not_benched(bundles, tmp_path):
    bundle = shutil.copytree(bundles["int8"], tmp_path / "bundle")
    (bundle / "labels.txt").write_text("cat\ndog\n")
    with pytest.raises(BundleError, match="labels.txt does not match its sha256"):
        bench_model(bundle, threads=1, settings=FAST)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "0"], "give positive integers"),
        (["--threads", "a,b"], "give positive integers"),
        (["--delegate", "tpu"], "unknown delegate 'tpu'"),
        (["--runtime", "onnx"], "'onnx' is not one of"),
    ],
)
def test_bad_flags_are_usage_errors(bundles, args, message):
    result = cli("bench", str(bundles["int8"]), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


# --- slow: the sample's real bundles -------------------------------------------------------


@pytest.fixture(scope="module")
def sample_bundles(tmp_path_factory):
    """The full sample's bundles: from $EDGEKIT_SAMPLE_OUT if it holds a build, else built here (~3 min)."""
    out = Path(os.environ.get("EDGEKIT_SAMPLE_OUT", "")) if os.environ.get("EDGEKIT_SAMPLE_OUT") else None
    if out is None or not (out / "bundles").is_dir():
        from edgekit import build

        out = build(REPO / "samples" / "mnist_cnn.toml", out=tmp_path_factory.mktemp("sample") / "out").out_dir
    bundles = {p.name.rsplit("-", 1)[-1]: p for p in (out / "bundles").iterdir()}
    return bundles["float32"], bundles["int8"]


@pytest.mark.slow
def test_sample_int8_p50_is_at_most_0_6x_float32_at_one_thread(sample_bundles):
    results = bench_models(list(sample_bundles), BenchSettings(runs=200, warmup=50, min_time=2.0))
    float32, int8 = (r.latency.p50 for r in results)
    print(f"sample p50 at 1 thread: float32 {float32:.1f} us, int8 {int8:.1f} us, ratio {int8 / float32:.3f}")
    assert int8 <= 0.6 * float32, f"int8 p50 {int8} us vs float32 {float32} us"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_bench_overhead_is_within_5_percent(sample_bundles, kind):
    model = sample_bundles[0] if kind == "float32" else sample_bundles[1]
    script = REPO / "benchmarks" / "bench_overhead.py"
    result = subprocess.run([sys.executable, str(script), str(model), "--rounds", "5", "--max-ratio", "1.05"], capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr

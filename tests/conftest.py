"""Shared fixtures: a tiny CNN and a few hundred real MNIST digits, trained once per session.

Unit tests use these so the default run stays fast on 2 cores; the full sample runs in the
``slow`` tier and in ``make demo``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property tests judge the code, not the machine: on a busy 2-core runner Hypothesis's timing
# checks (too_slow, the per-example deadline) failed a test whose every example passed.
settings.register_profile("edgekit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("edgekit")

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared"
MLPERF = SHARED / "models" / "mlperf_tiny"

TINY_TRAIN = 512
TINY_TEST = 200


@pytest.fixture(scope="session")
def mnist_small():
    """Normalised (x_train, y_train, x_test, y_test) from the bundled MNIST digits."""
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec

    ds = load_dataset(DataSpec(source="mnist", limit_train=TINY_TRAIN, limit_test=TINY_TEST))
    return ds.normalize(ds.x_train), ds.y_train, ds.normalize(ds.x_test), ds.y_test


def tiny_cnn():
    """SimpleCNN at quarter width: 4/8 conv channels, 32 dense units (about 13k parameters)."""
    sys.path.insert(0, str(SAMPLES))
    try:
        import simple_cnn
    finally:
        sys.path.remove(str(SAMPLES))
    return simple_cnn.build(input_shape=(28, 28, 1), num_classes=10, width=0.25)


@pytest.fixture(scope="session")
def tiny_model(mnist_small):
    """A quarter-width SimpleCNN trained for 4 epochs on 512 digits."""
    from edgekit._compat import seed_everything
    from edgekit.training.train import TrainData, fit

    seed_everything(0)
    x, y, _, _ = mnist_small
    model = tiny_cnn()
    fit(model, TrainData(x, y, batch_size=32), epochs=4, learning_rate=3e-3, stage="fixture")
    return model


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model, mnist_small):
    """The tiny model converted once per quantisation mode: {mode: bytes}."""
    from edgekit.converters.keras_tflite import convert_keras

    x = mnist_small[0]
    return {
        "float32": convert_keras(tiny_model),
        "float16": convert_keras(tiny_model, quantization="float16"),
        "dynamic": convert_keras(tiny_model, quantization="dynamic"),
        "int8": convert_keras(tiny_model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=100),
    }


TINY_RECIPE = """
name = "tiny"
targets = ["cpu"]

[model]
factory = "{factory}"
kwargs = {{ input_shape = [28, 28, 1], num_classes = 10, width = 0.25 }}

[data]
source = "mnist"
limit_train = {train}
limit_test = {test}

[train]
epochs = 4
batch_size = 32
learning_rate = 0.003

[prune]
sparsity = 0.5
epochs = 2
learning_rate = 0.001

[quantize]
mode = "qat"
epochs = 1

[output]
dir = "out"
latency_runs = 5
"""


def write_tiny_recipe(folder: Path, name: str = "tiny.toml") -> Path:
    """The tiny recipe in ``folder`` with ``simple_cnn.py`` copied beside it (recipes may
    only reach files in their own folder)."""
    shutil.copyfile(SAMPLES / "simple_cnn.py", folder / "simple_cnn.py")
    path = folder / name
    path.write_text(TINY_RECIPE.format(factory="simple_cnn.py:build", train=TINY_TRAIN, test=TINY_TEST))
    return path


@pytest.fixture
def tiny_recipe(tmp_path) -> Path:
    """A recipe for the tiny CNN on 512 digits, written into a temporary folder."""
    return write_tiny_recipe(tmp_path)


def source_copy(folder: Path) -> Path:
    """The files a wheel is built from, copied into ``folder``: a build there cannot pick up a
    stale ``build/`` folder of the checkout (which would ship modules deleted since)."""
    source = folder / "src"
    for name in ("edgekit", "targets", "converters", "pyproject.toml", "README.md"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    return source


def build_wheel(folder: Path) -> Path:
    """``pip wheel --no-deps`` of a clean copy of the checkout; the wheel's path."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(folder / "wheel"), str(source_copy(folder))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = (folder / "wheel").glob("edgekit_tflite-*.whl")
    return wheel


def mlperf_path(*parts: str) -> Path:
    """A file of the MLPerf Tiny reference models, or skip with the reason."""
    path = MLPERF.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"MLPerf Tiny reference model not available at {path} (needs ../shared/models/mlperf_tiny)")
    return path


def default_sigint() -> None:
    """preexec_fn for children the tests send Ctrl-C: a test run started as a background job
    (``pytest &``) inherits SIGINT ignored, and its children would ignore it too."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when_written(argv: list[str], folder: Path, pattern: str, env: dict, *, wait_s: float = 300) -> tuple[int, str]:
    """Run ``argv``, press Ctrl-C once ``folder`` holds a file matching ``pattern`` (or the run
    ends, or ``wait_s`` passes); (exit code, stderr)."""
    import signal
    import subprocess
    import time

    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=default_sigint)
    deadline = time.monotonic() + wait_s
    while not list(folder.glob(pattern)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def edgekit_command(*args: str) -> list[str]:
    """argv that runs this checkout's CLI in a subprocess."""
    return [sys.executable, "-m", "edgekit", *args]


@pytest.fixture
def cli_env():
    """Environment for CLI subprocesses: this checkout importable, TF quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def assert_close_top1(a: np.ndarray, b: np.ndarray, minimum: float) -> None:
    agreement = float(np.mean(a.argmax(-1) == b.argmax(-1)))
    assert agreement >= minimum, f"top-1 agreement {agreement:.3f} < {minimum}"

"""A killed build resumes from its checkpoints and writes the same bytes as one that never stopped.

Real ``edgekit build`` processes on the tiny recipe (the quick settings of test_interrupt) are
killed once a checkpoint has appeared in the log, or in the middle of compression, then run
again. The re-run must say it reused the checkpoint, skip that stage, write a complete output
that verifies, and ship ``.tflite`` files whose sha256 equal those of an uninterrupted build
without any cache. The cache itself is tested in-process: a corrupt or half-written entry is
never loaded, and the keys change exactly when what a model depends on changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.flows.from_recipe import compression_key, float_model_key, recipe_targets
from edgekit.flows.model_cache import ModelCache
from edgekit.recipe import load_recipe
from tests.conftest import REPO, edgekit_command, tiny_cnn, write_tiny_recipe
from tests.test_interrupt import QUICK, assert_complete, interrupt_at, leftovers, start_build


@pytest.fixture(scope="module")
def module_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_build(recipe: Path, out: Path, env, *extra: str) -> subprocess.CompletedProcess:
    argv = edgekit_command("build", str(recipe), "--out", str(out), *QUICK, *extra)
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)


def tflite_digests(out: Path) -> dict[str, str]:
    """sha256 of every shipped model file, by its path in the output."""
    files = sorted(out.glob("bundles/*/*.tflite"))
    assert files, f"no .tflite in {out}"
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def reference(tmp_path_factory, module_env) -> dict[str, str]:
    """The .tflite digests of an uninterrupted build that reads and writes no checkpoint."""
    folder = tmp_path_factory.mktemp("reference")
    result = run_build(write_tiny_recipe(folder), folder / "out", module_env, "--no-cache")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "checkpoint" not in result.stderr and not (folder / "out.cache").exists()
    return tflite_digests(folder / "out")


def assert_resumed(result: subprocess.CompletedProcess, out: Path, reference: dict[str, str], *, reused: list[str]) -> None:
    """A successful re-run that reused ``reused`` stages and shipped the reference bytes."""
    log = result.stderr
    assert result.returncode == 0, log[-3000:]
    assert ("float model: reusing checkpoint" in log) == ("float" in reused), log
    assert ("train: epoch" in log) == ("float" not in reused), log
    assert ("compressed model: reusing checkpoint" in log) == ("compressed" in reused), log
    assert ("prune: epoch" in log) == ("compressed" not in reused), log
    assert_complete(out)
    assert tflite_digests(out) == reference
    report = json.loads((out / "report.json").read_text())
    assert report["checkpoints"]["reused"] == reused


@pytest.mark.slow  # a real build killed and resumed: ~45 s; the default tier keeps the checkpoint unit tests
def test_sigkill_after_training_resumes_from_the_float_checkpoint(tmp_path, cli_env, reference):
    recipe, out, cache = write_tiny_recipe(tmp_path), tmp_path / "out", tmp_path / "out.cache"
    code, log = interrupt_at(start_build(recipe, out, cli_env), "float model: checkpoint saved", signal.SIGKILL)
    assert code == -signal.SIGKILL, log
    assert not out.exists()
    assert [p.name.partition("-")[0] for p in cache.iterdir()] == ["float"]

    resumed = run_build(recipe, out, cli_env)
    assert_resumed(resumed, out, reference, reused=["float"])
    assert "trained in " in resumed.stderr and "compressed model: checkpoint saved" in resumed.stderr
    bundles = sorted(str(p) for p in (out / "bundles").iterdir())
    verified = subprocess.run(edgekit_command("verify", *bundles), capture_output=True, text=True, env=cli_env, timeout=120)
    assert verified.returncode == 0 and verified.stdout.count("ok: ") == len(bundles), verified.stdout + verified.stderr

    # A damaged checkpoint is never loaded: the next run says so, trains again, same bytes.
    weights = next(cache.glob("float-*")) / "model.keras"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    repaired = run_build(recipe, out, cli_env)
    assert "cannot be used (model.keras does not match the sha256" in repaired.stderr and "computing it again" in repaired.stderr, repaired.stderr
    assert_resumed(repaired, out, reference, reused=["compressed"])
    assert sorted(p.name.partition("-")[0] for p in cache.iterdir()) == ["compressed", "float"]


@pytest.mark.slow  # a real build killed and resumed: ~45 s; the default tier keeps the checkpoint unit tests
def test_ctrl_c_during_compression_keeps_the_trained_model(tmp_path, cli_env, reference):
    recipe, out, cache = write_tiny_recipe(tmp_path), tmp_path / "out", tmp_path / "out.cache"
    code, log = interrupt_at(start_build(recipe, out, cli_env), "prune: epoch 1/", signal.SIGINT)
    assert code == 130, log
    assert "Traceback" not in log
    assert f"interrupted: checkpoints kept in {cache}; run the same command to resume" in log
    assert not out.exists() and leftovers(tmp_path) == []
    assert [p.name.partition("-")[0] for p in cache.iterdir()] == ["float"]  # no half-written entry

    assert_resumed(run_build(recipe, out, cli_env), out, reference, reused=["float"])


def test_keys_change_exactly_with_what_the_models_depend_on(tmp_path):
    recipe_path = write_tiny_recipe(tmp_path)
    base = load_recipe(recipe_path)
    float_key = float_model_key(base)
    compressed_key = compression_key(base, float_key, recipe_targets(base))

    def keys(**overrides):
        recipe = load_recipe(recipe_path, overrides=overrides)
        key = float_model_key(recipe)
        return key, compression_key(recipe, key, recipe_targets(recipe))

    assert keys() == (float_key, compressed_key)
    for changed in ({"train.epochs": 5}, {"train.seed": 1}, {"data.limit_train": 300}, {"model.kwargs.width": 0.5}):
        new_float, new_compressed = keys(**changed)
        assert new_float != float_key and new_compressed != compressed_key, changed
    for changed in ({"prune.epochs": 3}, {"quantize.epochs": 2}, {"cluster.clusters": 8}, {"distill.width": 0.5}, {"target.cpu.pruning_policy": "xnnpack"}):
        new_float, new_compressed = keys(**changed)
        assert new_float == float_key and new_compressed != compressed_key, changed
    for unchanged in ({"output.latency_runs": 9}, {"targets": ["cpu", "edgetpu"]}, {"metadata.author": "me"}):
        assert keys(**unchanged) == (float_key, compressed_key), unchanged
    (tmp_path / "simple_cnn.py").write_text((tmp_path / "simple_cnn.py").read_text() + "\n# edited\n")
    assert float_model_key(load_recipe(recipe_path)) != float_key  # the factory's code counts


def test_a_damaged_or_partial_entry_is_computed_again(tmp_path, caplog):
    cache = ModelCache(tmp_path / "cache")
    model = tiny_cnn()
    path = cache.save("float", "k1", {"model.keras": model}, {"train_s": 1.0})
    entry = cache.load("float", "k1")
    assert entry.note["train_s"] == 1.0 and entry.path == path
    for saved, loaded in zip(model.get_weights(), entry.models["model"].get_weights()):
        assert (saved == loaded).all()

    damaged = {
        "truncated": lambda entry: (entry / "model.keras").write_bytes((entry / "model.keras").read_bytes()[:1000]),
        "no note": lambda entry: (entry / "note.json").unlink(),
        "bad note": lambda entry: (entry / "note.json").write_text("{"),
        "no model": lambda entry: (entry / "model.keras").unlink(),
    }
    for name, damage in damaged.items():
        shutil.copytree(path, tmp_path / "cache" / f"float-{name.replace(' ', '')}")
        damage(tmp_path / "cache" / f"float-{name.replace(' ', '')}")
        with caplog.at_level(logging.WARNING, logger="edgekit"):
            caplog.clear()
            assert cache.load("float", name.replace(" ", "")) is None, name
        assert "computing it again" in caplog.text, name


def test_a_killed_save_leaves_no_entry_and_is_cleaned_up(tmp_path):
    """What a SIGKILL mid-save leaves (a staging folder of a dead process) is never read as an
    entry, and the next save removes it."""
    cache = ModelCache(tmp_path / "cache")
    stale = tmp_path / "cache" / f".float-k1.partial-{_dead_pid()}-abcd"
    stale.mkdir(parents=True)
    (stale / "model.keras").write_bytes(b"half a zip")
    assert cache.load("float", "k1") is None
    cache.save("float", "k2", {"model.keras": tiny_cnn()}, {})
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["float-k2"]


def test_qat_models_load_but_code_needs_trust(tmp_path, mnist_small, caplog):
    """A QAT model round-trips (as .h5) without --trust-model; a Lambda layer does not."""
    from edgekit._compat import keras
    from edgekit.compression.qat import QuantizeAware
    from edgekit.training.train import TrainData

    x, y, _, _ = mnist_small
    qat = QuantizeAware(epochs=1).apply(tiny_cnn(), TrainData(x[:64], y[:64], batch_size=32))
    cache = ModelCache(tmp_path / "cache")
    cache.save("compressed", "k", {"qat.h5": qat}, {})
    loaded = cache.load("compressed", "k", expect=("qat",)).models["qat"]
    assert (loaded.predict(x[:8], verbose=0) == qat.predict(x[:8], verbose=0)).all()

    k = keras()
    lam = k.Sequential([k.layers.Input((4,)), k.layers.Lambda(lambda t: t * 2, name="double")])
    cache.save("float", "lambda", {"model.keras": lam}, {})
    with caplog.at_level(logging.WARNING, logger="edgekit"):
        assert cache.load("float", "lambda") is None
    assert "Lambda layer 'double'" in caplog.text
    assert ModelCache(tmp_path / "cache", trust=True).load("float", "lambda") is not None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# Where the slow test interrupts one build after another in the same folder, and which
# stages the run after each kill must find checkpointed.
KILL_CHAIN = [
    ("train: epoch 1/", signal.SIGKILL, []),
    ("float model: checkpoint saved", signal.SIGINT, []),
    ("pqat: epoch 1/", signal.SIGKILL, ["float"]),
    ("compressed model: checkpoint saved", signal.SIGTERM, ["float"]),
    ("convert ...", signal.SIGKILL, ["float", "compressed"]),
    ("measuring ", signal.SIGINT, ["float", "compressed"]),
]


@pytest.mark.slow
def test_kills_at_every_stage_then_resume_gives_the_same_bytes(tmp_path, cli_env, reference):
    recipe, out = write_tiny_recipe(tmp_path), tmp_path / "out"
    for marker, sig, reused in KILL_CHAIN:
        code, log = interrupt_at(start_build(recipe, out, cli_env), marker, sig)
        assert code == (-sig if sig == signal.SIGKILL else 130), f"{sig.name} at {marker!r}: {log}"
        assert "Traceback" not in log
        for stage in ("float", "compressed"):
            assert (f"{stage} model: reusing checkpoint" in log) == (stage in reused), f"{sig.name} at {marker!r}: {log}"
        assert not out.exists()
    assert_resumed(run_build(recipe, out, cli_env), out, reference, reused=["float", "compressed"])
    assert leftovers(tmp_path) == [] and not list((tmp_path / "out.cache").glob(".*"))


@pytest.mark.slow
def test_resumed_build_skips_most_of_the_work(tmp_path, cli_env):
    """With 40 epochs of training, a build killed after its float checkpoint finishes on a
    fraction of the CPU time an uninterrupted build takes."""
    longer = ("--set", "train.epochs=40", "--set", "data.limit_train=512")
    fresh_folder, folder = tmp_path / "fresh", tmp_path / "resumed"
    fresh_folder.mkdir(), folder.mkdir()
    cpu = cpu_seconds()
    fresh = run_build(write_tiny_recipe(fresh_folder), fresh_folder / "out", cli_env, *longer, "--no-cache")
    fresh_cpu = cpu_seconds() - cpu
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    recipe = write_tiny_recipe(folder)
    code, log = interrupt_at(start_build(recipe, folder / "out", cli_env, *longer), "compressed model: checkpoint saved", signal.SIGKILL)
    assert code == -signal.SIGKILL, log
    cpu, wall = cpu_seconds(), time.perf_counter()
    resumed = run_build(recipe, folder / "out", cli_env, *longer)
    resumed_cpu, resumed_wall = cpu_seconds() - cpu, time.perf_counter() - wall
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    print(f"fresh build {fresh_cpu:.1f} CPU s; resumed {resumed_cpu:.1f} CPU s, {resumed_wall:.1f} s wall")
    assert tflite_digests(folder / "out") == tflite_digests(fresh_folder / "out")
    assert resumed_cpu < fresh_cpu * 0.7
    report = json.loads((folder / "out" / "report.json").read_text())
    assert report["timings_s"]["train"] < json.loads((fresh_folder / "out" / "report.json").read_text())["timings_s"]["train"] / 3


@pytest.mark.slow
def test_a_changed_recipe_trains_again_and_fresh_ignores_checkpoints(tmp_path, cli_env):
    recipe, out, cache = write_tiny_recipe(tmp_path), tmp_path / "out", tmp_path / "out.cache"
    assert run_build(recipe, out, cli_env).returncode == 0
    first = sorted(p.name for p in cache.iterdir())
    changed = run_build(recipe, out, cli_env, "--set", "train.epochs=3")
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "reusing checkpoint" not in changed.stderr and "train: epoch 3/3" in changed.stderr
    second = sorted(p.name for p in cache.iterdir())
    assert len(second) == 2 and not set(first) & set(second)  # the cache keeps the latest build's entries
    pruned_longer = run_build(recipe, out, cli_env, "--set", "train.epochs=3", "--set", "prune.epochs=2")
    assert "float model: reusing checkpoint" in pruned_longer.stderr and "prune: epoch 2/2" in pruned_longer.stderr
    fresh = run_build(recipe, out, cli_env, "--set", "train.epochs=3", "--set", "prune.epochs=2", "--fresh")
    assert "reusing checkpoint" not in fresh.stderr and "train: epoch 3/3" in fresh.stderr
    assert json.loads((out / "report.json").read_text())["checkpoints"] == {"folder": str(cache), "reused": [], "fresh": True}

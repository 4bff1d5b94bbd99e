"""tf.distribute: Mirrored over two logical CPUs, MultiWorkerMirrored over two processes on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgekit.errors import InputError
from edgekit.training import distribute
from tests.conftest import REPO

FIT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from edgekit._compat import tf
    STRATEGY = sys.argv[1]
    if STRATEGY == "mirrored":
        cpu = tf().config.list_physical_devices("CPU")[0]
        tf().config.set_logical_device_configuration(cpu, [tf().config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from edgekit._compat import keras, seed_everything
    from edgekit.compression import Distill, Prune
    from edgekit.compression.run import run_compression
    from edgekit.training.distribute import strategy_scope
    from edgekit.training.train import TrainData, fit
    with strategy_scope(STRATEGY) as strategy:
        seed_everything(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(128, 8, 8, 1)).astype("float32")
        y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
        k = keras()
        model = k.Sequential([k.layers.Input((8, 8, 1)), k.layers.Conv2D(4, 3, activation="relu"), k.layers.Flatten(),
                              k.layers.Dense(8, activation="relu"), k.layers.Dense(2, activation="softmax")])
        data = TrainData(x, y, batch_size=32)
        metrics = fit(model, data, epochs=2, learning_rate=1e-2, stage="fit")
        result = run_compression(model, [Distill(width=0.5, epochs=1), Prune(sparsity=0.5, epochs=2)], data)
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "variable": type(model.weights[0]).__name__,
        "loss": metrics["loss"],
        "sparsity": result.report["prune"]["sparsity_after_strip"],
        "checksum": float(sum(abs(w).sum() for w in result.float_model.get_weights())),
    }))
    """
)


def _run(strategy: str, env: dict, timeout: int = 300) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FIT_SCRIPT, strategy], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _result(process: subprocess.Popen, timeout: int = 300) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus():
    result = _result(_run("mirrored", _env()))
    assert result["replicas"] == 2 and result["variable"] == "MirroredVariable"
    assert result["sparsity"] == pytest.approx(0.5, abs=0.02)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_over_two_processes():
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = [
        _run("multi_worker", _env(TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})))
        for i in range(2)
    ]
    results = [_result(p) for p in processes]
    assert all(r["replicas"] == 2 for r in results)
    assert results[0]["variable"] == "MirroredVariable"
    # all-reduced training: both workers end with the same weights
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-5)
    assert results[0]["sparsity"] == pytest.approx(0.5, abs=0.02)


def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InputError, match="TF_CONFIG"):
        distribute._check_tf_config()


@pytest.mark.parametrize(
    "config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", "index": 0}}, True),
    ],
)
def test_only_the_chief_writes_the_output(monkeypatch, tmp_path, config, chief):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.is_chief() is chief
    out = distribute.output_dir(tmp_path / "out", "multi_worker")
    assert (out == tmp_path / "out") is chief
    assert distribute.output_dir(tmp_path / "out", "none") == tmp_path / "out"


def test_a_non_chief_workers_scratch_folder_is_gone_when_it_exits(tmp_path):
    """A non-chief writes its copy of the output into a scratch folder nobody reads; it must
    not stay behind in the temporary folder after every run."""
    config = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    script = "from edgekit.training import distribute; out = distribute.output_dir('out', 'multi_worker'); out.mkdir(); print(out.parent)"
    env = {**os.environ, "TF_CONFIG": json.dumps(config), "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    scratch = Path(done.stdout.strip())
    assert done.returncode == 0 and scratch.parent == tmp_path and scratch.name.startswith("edgekit-worker-"), done.stderr
    assert not scratch.exists()


BUILD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from edgekit._compat import tf
    cpu = tf().config.list_physical_devices("CPU")[0]
    tf().config.set_logical_device_configuration(cpu, [tf().config.LogicalDeviceConfiguration()] * 2)
    import edgekit
    result = edgekit.build(sys.argv[1], out=sys.argv[2], overrides={"train.strategy": "mirrored"})
    print("RESULT " + json.dumps({"artifacts": result.report["artifacts"], "compression": result.report["compression"]}))
    """
)


@pytest.mark.slow
def test_build_under_mirrored_strategy(tiny_recipe, tmp_path):
    """The whole build (train, prune, PQAT, convert, measure) with every model a MirroredVariable model."""
    process = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(tiny_recipe), str(tmp_path / "out")],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    result = _result(process, timeout=600)
    reference, int8 = result["artifacts"]
    assert int8["quantization"] == "int8" and int8["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert int8["accuracy"] > 0.5
    assert (tmp_path / "out" / "report.json").exists()

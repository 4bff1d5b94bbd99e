"""ONNX files and PyTorch models in, wherever a model is accepted, measured against the source.

``edgekit convert model.onnx`` and ``model.pt2`` with channels-first data, a recipe loading a
``.pt2``, a recipe factory returning an ``nn.Module`` trained on its logits; pickles, broken
ONNX files and external data outside the model's folder refused with one line; and an import
that opens no network connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'edgekit-tflite[torch]')")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'edgekit-tflite[onnx]')")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'edgekit-tflite[onnx]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (torch.onnx.export needs it)")

from torch import nn  # noqa: E402

from tests.conftest import REPO, edgekit_command  # noqa: E402


class TinyNet(nn.Module):
    """A small channels-first classifier: conv, pool, flatten, two linear layers (logits)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def build(num_classes: int = 4):
    """The recipe factory (this file is copied beside the recipe)."""
    return TinyNet()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """TinyNet exported as .onnx and .pt2, a pickled .pth, and channels-first data."""
    folder = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    model = TinyNet().eval()
    example = torch.zeros(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), folder / "tiny.onnx", dynamo=True, external_data=False)
        torch.export.save(torch.export.export(model, (example,)), folder / "tiny.pt2")
    torch.save(model.state_dict(), folder / "tiny.pth")
    rng = np.random.default_rng(0)
    x = rng.random((160, 3, 8, 8), dtype=np.float32)
    y = rng.integers(0, 4, 160)
    np.savez(folder / "nchw.npz", x_train=x[:96], y_train=y[:96], x_test=x[96:], y_test=y[96:])
    return folder, model


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=environment, cwd=cwd, timeout=600)


@pytest.mark.parametrize("name", ["tiny.onnx", "tiny.pt2"])
def test_convert_takes_onnx_and_pt2_with_channels_first_data(files, tmp_path, name):
    folder, model = files
    result = run("convert", str(folder / name), "--target", "cpu", "--data", str(folder / "nchw.npz"), "--task", "classification", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    reference = "ONNX Runtime" if name.endswith(".onnx") else "PyTorch"
    assert f"imported from {'onnx' if reference == 'ONNX Runtime' else 'pytorch'} ({name}, input NCHW -> NHWC)" in result.stdout
    assert f"top-1 agreement with {reference}" in result.stdout
    bundle = tmp_path / f"{Path(name).stem}-cpu-int8"
    manifest = json.loads((bundle / "manifest.json").read_text())
    (spec,) = manifest["inputs"]
    assert spec["layout"] == "NHWC" and spec["source_layout"] == "NCHW" and spec["shape"][1:] == [8, 8, 3]
    # the shipped int8 model agrees with PyTorch on the test inputs (fed channels-last)
    from edgekit.runtime import open_model

    x = np.load(folder / "nchw.npz")["x_test"]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = open_model((bundle / "model.tflite").read_bytes()).predict(x.transpose(0, 2, 3, 1))
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) >= 0.9


def test_a_recipe_loads_a_pt2_and_reports_the_import_against_pytorch(files, tmp_path):
    from edgekit.flows.build import build as run_build

    folder, _ = files
    for name in ("tiny.pt2", "nchw.npz"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    recipe = tmp_path / "r.toml"
    recipe.write_text('task = "classification"\n[model]\nfile = "tiny.pt2"\n[data]\nsource = "nchw.npz"\nstd = 1.0\n[train]\nenabled = false\n[output]\nlatency_runs = 3\n')
    result = run_build(recipe, out=tmp_path / "out")
    imported = result.report["import"]
    assert imported["source"] == "pytorch" and imported["reference"] == "PyTorch" and imported["source_layouts"] == ["NCHW"]
    assert imported["max_error_relative"] < 1e-4
    assert result.report["float_model"]["accuracy"] == pytest.approx(result.report["artifacts"][0]["accuracy"], abs=0.02)
    from edgekit.report.text import float_line

    assert float_line(result.report).startswith("float PyTorch model (tiny.pt2): accuracy")


def test_a_factory_returning_a_module_is_trained_on_its_logits(tmp_path):
    from edgekit.flows.build import build as run_build

    (tmp_path / "tiny_torch.py").write_text(Path(__file__).read_text())
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    x = rng.normal(0, 0.3, (400, 3, 8, 8)).astype(np.float32)
    x[np.arange(400), y % 3, :, :] += 1.0 + (y // 3)[:, None, None]  # a learnable pattern per class
    np.savez(tmp_path / "d.npz", x=x, y=y)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[model]\nfactory = "tiny_torch.py:build"\ninput_shape = [3, 8, 8]\n[data]\nsource = "d.npz"\nstd = 1.0\n'
        "[train]\nepochs = 6\nlearning_rate = 0.01\n[output]\nlatency_runs = 3\n"
    )
    result = run_build(recipe, out=tmp_path / "out")
    assert "import" not in result.report  # trained by edgekit: the Keras model is its own reference
    assert result.report["float_model"]["accuracy"] >= 0.8
    names = [layer["name"] for layer in json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"]]
    assert names == ["r-float32", "r-cpu-int8"]


def test_a_module_without_its_input_shape_is_one_line(tmp_path):
    (tmp_path / "tiny_torch.py").write_text(Path(__file__).read_text())
    (tmp_path / "r.toml").write_text('[model]\nfactory = "tiny_torch.py:build"\n[data]\nsource = "mnist"\n')
    result = run("build", str(tmp_path / "r.toml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "returned a PyTorch module" in result.stderr and "model.input_shape" in result.stderr


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pickles_are_refused_with_the_export_line(files, tmp_path, suffix):
    folder, _ = files
    pickle = tmp_path / f"model{suffix}"
    pickle.write_bytes((folder / "tiny.pth").read_bytes())
    result = run("convert", str(pickle), "--target", "cpu", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "pickle that runs code" in line and "torch.export.save" in line and "torch.onnx.export" in line
    assert not (tmp_path / "out").exists()


def test_broken_onnx_files_and_escaping_external_data_are_one_line(files, tmp_path):
    folder, _ = files
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes((folder / "tiny.onnx").read_bytes()[:300])
    model = onnx.load(str(folder / "tiny.onnx"))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../../etc/passwd"
    escaping = tmp_path / "escaping.onnx"
    onnx.save(model, str(escaping))
    for path, fragment in ((truncated, "not an ONNX model"), (escaping, "point outside its folder")):
        result = run("convert", str(path), "--target", "cpu", "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-1500:]
        assert fragment in result.stderr


SITE = '''
import socket, os
_log = os.environ["EDGEKIT_NET_LOG"]
def _refuse(*args, **kwargs):
    with open(_log, "a") as f:
        f.write(repr(args)[:200] + "\\n")
    raise OSError("network unreachable (test)")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
'''


def test_importing_opens_no_network_connection(files, tmp_path):
    """Every connection attempt fails and is logged: the import must make none."""
    folder, _ = files
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITE)
    log = tmp_path / "net.log"
    env = {"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{REPO}", "EDGEKIT_NET_LOG": str(log)}
    for name in ("tiny.onnx", "tiny.pt2"):
        result = subprocess.run(
            edgekit_command("convert", str(folder / name), "--target", "cpu", "--data", str(folder / "nchw.npz"), "--out", str(tmp_path / name)),
            capture_output=True, text=True, env=dict(os.environ, **env), timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-1500:]
    assert not log.exists(), log.read_text()


def test_compress_model_prunes_the_seeds_simplecnn_and_hands_back_its_int8_artifact(tmp_path):
    """The seed's own call: ``compress_model(SimpleCNN(), ratio=0.5, data=(x, y))``."""
    import edgekit
    from edgekit.runtime import open_model
    from edgekit.runtime.inspect import weight_sparsity
    from tests._torch_models import SimpleCNN

    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 256)
    x = rng.normal(0, 0.3, (256, 3, 32, 32)).astype(np.float32)
    torch.manual_seed(0)
    result = edgekit.compress_model(SimpleCNN(), ratio=0.5, data=(x, y), epochs=1, qat_epochs=1)
    assert result.report["sparsity"] >= 0.45 and result.report["prune"]["sparsity_after_strip"] == pytest.approx(0.5, abs=0.01)
    assert result.input_layout == "NHWC" and result.metrics["reference"] == "pytorch"
    runner = open_model(result.artifact, default_delegates=False)
    assert runner.inputs[0].dtype == "int8" and weight_sparsity(runner) == pytest.approx(0.5, abs=0.05)
    assert set(result.metrics) >= {"accuracy", "agreement", "bytes", "gzip_bytes", "sparsity"}
    assert result.save(tmp_path / "m.tflite").read_bytes() == result.artifact


def test_a_pt2_whose_weights_need_a_full_unpickling_is_refused_not_run(files, tmp_path):
    """``torch.export.load`` unpickles payloads marked ``use_pickle`` with weights_only=False;
    edgekit holds every load to the restricted unpickler, so the payload never runs."""
    import pickle
    import zipfile

    folder, _ = files
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    hostile = tmp_path / "hostile.pt2"
    with zipfile.ZipFile(folder / "tiny.pt2") as source, zipfile.ZipFile(hostile, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                first = next(iter(config["config"].values()))
                first["use_pickle"] = True
                payload_name = first["path_name"]
                data = json.dumps(config).encode()
            target.writestr(item, data)
        prefix = next(n for n in source.namelist() if n.endswith("model_weights_config.json")).rsplit("/", 1)[0]
        target.writestr(f"{prefix}/{payload_name}_payload", b"")
    # the payload replaces the first weight's file
    rebuilt = tmp_path / "rebuilt.pt2"
    with zipfile.ZipFile(hostile) as source, zipfile.ZipFile(rebuilt, "w") as target:
        for item in source.infolist():
            if item.filename.endswith("_payload"):
                continue
            data = source.read(item.filename)
            if item.filename == f"{prefix}/{payload_name}":
                data = pickle.dumps(Payload())
            target.writestr(item, data)
    result = run("convert", str(rebuilt), "--target", "cpu", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "not a torch.export program" in result.stderr
    assert not marker.exists()


def test_a_model_with_tensorflow_function_ops_converts_but_is_not_trained(tmp_path):
    """PTQ only, and the one line names the ops that keep it from fine-tuning."""
    from tests.test_onnx_import import LayerNormAttention

    example = torch.zeros(1, 5, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LayerNormAttention().eval(), (example,), tmp_path / "attn.onnx", dynamo=True, external_data=False)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((64, 5, 6)).astype(np.float32), y=rng.integers(0, 6, 64))
    converted = run("convert", str(tmp_path / "attn.onnx"), "--target", "cpu", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out"))
    assert converted.returncode == 0, converted.stderr[-2000:]
    assert "run as TensorFlow functions: post-training quantisation only" in converted.stdout and "Pow" in converted.stdout
    (tmp_path / "r.toml").write_text('[model]\nfile = "attn.onnx"\n[data]\nsource = "d.npz"\nstd = 1.0\n[prune]\nsparsity = 0.5\n')
    refused = run("build", str(tmp_path / "r.toml"), "--out", str(tmp_path / "built"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "attn.onnx:" in line and "have no Keras layer" in line and "post-training quantisation" in line and "train.enabled = false" in line
    assert not (tmp_path / "built").exists()


def test_a_sweep_of_a_pt2_measures_every_variant_against_pytorch(files, tmp_path):
    from edgekit.flows.sweep import sweep

    folder, _ = files
    for name in ("tiny.pt2", "nchw.npz"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    recipe = tmp_path / "r.toml"
    recipe.write_text('task = "classification"\n[model]\nfile = "tiny.pt2"\n[data]\nsource = "nchw.npz"\nstd = 1.0\n[train]\nenabled = false\n[prune]\nepochs = 1\n[output]\nlatency_runs = 3\n')
    result = sweep(recipe, out=tmp_path / "sweep", sparsities=(0.0, 0.5), modes=("int8",), targets=["cpu"])
    rows = {row["name"]: row for row in result.report["artifacts"]}
    assert set(rows) == {"r-cpu-s0-int8", "r-cpu-s50-int8"}
    assert rows["r-cpu-s0-int8"]["agreement"] >= 0.9  # the unpruned int8 model agrees with PyTorch itself
    assert rows["r-cpu-s50-int8"]["sparsity"] >= 0.4

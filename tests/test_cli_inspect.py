"""``edgekit inspect`` and ``edgekit targets`` as a user runs them, without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import edgekit_command, mlperf_path


def run(cli_env, *args, check=True):
    done = subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=cli_env, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_inspect_third_party_model_as_json(cli_env):
    path = mlperf_path("ic", "pretrainedResnet_quant.tflite")
    summary = json.loads(run(cli_env, "inspect", str(path), "--target", "edgetpu", "-t", "gpu", "--json").stdout)
    assert summary["bytes"] == path.stat().st_size == 98496
    (image,) = summary["inputs"]
    assert image["shape"] == [-1, 32, 32, 3] and image["dtype"] == "int8"
    assert image["quantization"] == {"scale": 1.0, "zero_point": -128}
    assert summary["ops"] == {"ADD": 3, "AVERAGE_POOL_2D": 1, "CONV_2D": 9, "FULLY_CONNECTED": 1, "RESHAPE": 1, "SOFTMAX": 1}
    for name in ("edgetpu", "gpu"):
        report = summary["targets"][name]
        assert sum(op["count"] for op in report["ops"]) == summary["op_count"] == 16
    assert summary["targets"]["edgetpu"]["details"]["dynamic_batch"] is True


def test_inspect_text_lists_ops_and_placement(cli_env, tiny_tflite, tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tiny_tflite["float16"])
    text = run(cli_env, "inspect", str(path), "--target", "gpu").stdout
    assert f"{len(tiny_tflite['float16']):,} bytes" in text
    assert "not quantised" in text and "CONV_2D" in text
    assert "target gpu: runs" in text


def test_inspect_does_not_import_tensorflow(cli_env):
    path = mlperf_path("kws", "kws_ref_model.tflite")
    code = (
        "import sys\n"
        "from edgekit.cli import main\n"
        "try:\n"
        f"    main(['inspect', {str(path)!r}, '--target', 'edgetpu', '--target', 'gpu'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "print('NO-TF')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("NO-TF")


def test_inspect_rejects_a_non_model_with_one_line(cli_env, tmp_path):
    bogus = tmp_path / "notes.tflite"
    bogus.write_text("not a model")
    done = run(cli_env, "inspect", str(bogus), check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {bogus}: not a TFLite model (no 'TFL3' identifier) "
                                                "(pass a .tflite file produced by a TFLite/LiteRT converter)"]


def test_inspect_unknown_target_lists_valid_ones(cli_env):
    done = run(cli_env, "inspect", str(mlperf_path("ad", "ad01_int8.tflite")), "--target", "npu", check=False)
    assert done.returncode == 2 and "valid targets: cpu, gpu, edgetpu" in done.stderr


def test_targets_lists_each_target_on_one_line(cli_env):
    lines = run(cli_env, "targets").stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["cpu", "gpu", "edgetpu", "mcu", "ethos-u"]
    assert "uint8 I/O" in lines[2] and "float16" in lines[1]


def test_help_of_the_new_commands(cli_env):
    assert "inspect" in run(cli_env, "--help").stdout and "targets" in run(cli_env, "--help").stdout
    assert "--target" in run(cli_env, "inspect", "--help").stdout
    assert "hardware targets" in run(cli_env, "targets", "--help").stdout

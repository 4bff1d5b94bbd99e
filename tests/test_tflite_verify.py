"""A damaged .tflite is a ModelError before the interpreter sees it, never a crashed process.

The damaged files below are real: each is a reference MLPerf Tiny model with one byte
changed, found by ``benchmarks/mutate_tflite.py``, and each aborts or segfaults LiteRT 2.x
when loaded directly. Interpreters run in child processes so a crash is a negative exit code,
not a dead pytest.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from edgekit.errors import ModelError
from edgekit.runtime.interpreter import read_model_bytes
from edgekit.tflite.graph import Quantization, read_tflite
from edgekit.tflite.verify import first_problem, verify_tflite
from tests.conftest import MLPERF, mlperf_path

IC = ("ic", "pretrainedResnet_quant.tflite")
SWW = ("sww", "str_ww_ref_model.tflite")
# (model, [(offset, new byte)], what the check says, run it raw here); every one aborted or
# segfaulted LiteRT 2.3 when found. The last segfaults only after a minute of work on a 671 MB
# input, so the test only checks it is refused.
CRASHERS = [
    (IC, [(83425, 0o320)], "unquantised int8 tensor 24", True),
    (IC, [(83216, 0o10)], "unquantised int8 tensor 25", True),
    (IC, [(80020, 0o37)], "is written by both operator", True),
    (IC, [(81700, 0), (81701, 0), (81702, 0), (81703, 0)], "quantisation scale is zero", True),
    (SWW, [(50036, 0o2)], "DEPTHWISE_CONV_2D) is quantised but has no bias input", True),
    (SWW, [(74387, 1)], "disagrees with its signature", False),
]


def probe(*args, stdin: str | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "tests._crash_probe", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


def test_crashing_files_are_refused_before_the_interpreter():
    cases = [{"model": str(mlperf_path(*model)), "edits": edits, "run_raw": raw} for model, edits, _, raw in CRASHERS]
    done = probe("cases", stdin=json.dumps(cases))
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    for (model, edits, expected, _), result in zip(CRASHERS, results):
        assert result["open_model_error"] is not None and expected in result["open_model_error"], (model, result)
    statuses = [r["raw_status"] for r in results if r["raw_status"] is not None]
    # Each file crashed LiteRT 2.3 (SIGABRT); a later LiteRT may refuse them itself (status 3).
    assert all(status < 0 or status == 3 for status in statuses), statuses


@pytest.mark.parametrize("name", ["ad/ad01_int8.tflite", "ic/pretrainedResnet_quant.tflite", "kws/kws_ref_model.tflite",
                                  "sww/str_ww_ref_model.tflite", "vww/vww_96_int8.tflite"])
def test_mutated_models_never_crash_the_runtime(name):
    """600 damaged copies each (truncated, bytes, bit flips, words, random body) through open_model."""
    path = MLPERF / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    done = probe("fuzz", str(path), "600", "0")
    last = [line for line in done.stdout.splitlines() if line.startswith("trying")][-1:]
    assert done.returncode == 0, f"runtime died with {done.returncode} at {last}: {done.stderr[-1000:]}"
    assert "ESCAPED" not in done.stdout, [line for line in done.stdout.splitlines() if "ESCAPED" in line]
    tally = json.loads(done.stdout.rsplit("TALLY ", 1)[1])
    assert tally["rejected"] > 300  # most damage is caught by the check


def test_good_models_pass(tiny_tflite):
    for data in tiny_tflite.values():
        assert read_model_bytes(data) == data
    for path in sorted(MLPERF.glob("*/*.tflite")):
        verify_tflite(path)


def test_read_model_bytes_names_the_file(tmp_path, tiny_tflite):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_tflite["int8"][:-200])
    with pytest.raises(ModelError, match=f"{path}: malformed TFLite flatbuffer"):
        read_model_bytes(path)
    with pytest.raises(ModelError, match="no such model file"):
        read_model_bytes(tmp_path / "missing.tflite")
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_model_bytes(b"\x00" * 64)


def _replace_tensor(graph, index, **changes):
    main = graph.main
    tensors = list(main.tensors)
    tensors[index] = dataclasses.replace(tensors[index], **changes)
    return dataclasses.replace(graph, subgraphs=(dataclasses.replace(main, tensors=tuple(tensors)), *graph.subgraphs[1:]))


def _replace_op(graph, index, **changes):
    main = graph.main
    ops = list(main.operators)
    ops[index] = dataclasses.replace(ops[index], **changes)
    return dataclasses.replace(graph, subgraphs=(dataclasses.replace(main, operators=tuple(ops)), *graph.subgraphs[1:]))


def test_each_rule(tiny_tflite):
    graph = read_tflite(tiny_tflite["int8"])
    assert first_problem(graph) is None
    main = graph.main
    conv = next(op for op in main.operators if op.name == "CONV_2D")
    activation = main.tensors[conv.outputs[0]]
    weights = main.tensors[conv.inputs[1]]
    q = activation.quantization
    broken = {
        "outside the int8 range": _replace_tensor(graph, activation.index, quantization=Quantization(q.scale, (300,))),
        "zero, negative, infinite or NaN": _replace_tensor(graph, activation.index, quantization=Quantization((float("nan"),), (0,))),
        "scale is zero": _replace_tensor(graph, activation.index, quantization=Quantization((0.0,), (0,))),
        "1 quantisation scales but 2 zero points": _replace_tensor(graph, activation.index, quantization=Quantization(q.scale, (0, 0))),
        "per-channel scales do not match": _replace_tensor(graph, weights.index, quantization=dataclasses.replace(weights.quantization, quantized_dimension=3)),
        "mixes quantised tensors": _replace_tensor(graph, activation.index, quantization=None),
        "disagrees with its signature": _replace_tensor(graph, activation.index, shape=(1, 99, 26, 4)),
        "negative dimension": _replace_tensor(graph, activation.index, shape=(1, -5, 26, 4)),
        "absent (-1) output": _replace_op(graph, conv.index, outputs=(-1,)),
        "graph input or output is absent": dataclasses.replace(graph, subgraphs=(dataclasses.replace(main, outputs=(-1,)),)),
        "is written by both": _replace_op(graph, conv.index + 1, outputs=conv.outputs),
        "a graph input or constant": _replace_op(graph, conv.index, outputs=(weights.index,)),
        "lacks a required input": _replace_op(graph, conv.index, inputs=(conv.inputs[0], -1, conv.inputs[2])),
        "is quantised but has no bias input": _replace_op(graph, conv.index, inputs=conv.inputs[:2]),
    }
    for expected, damaged in broken.items():
        assert expected in (first_problem(damaged) or ""), expected

"""What ``edgekit convert`` costs over the bare converter: MobileNetV2 1.0 at 224 px, int8 for cpu.

Side by side in one run, each as its own process (wall time and that process's peak RSS):

- ``edgekit convert model.keras --target cpu --data data.npz``: load, the float model's
  outputs, int8 conversion with the target's options, XNNPACK placement check, measurement
  (every output's fidelity, size, weights, latency) and the bundle;
- the bare path: ``tf.lite.TFLiteConverter.from_keras_model`` with the same calibration
  samples, then one LiteRT interpreter pass over the same test inputs.

Goal: edgekit within 1.5x the bare path's time. Run: ``python benchmarks/convert_overhead.py``
(``--repeats N`` for medians; the model is MobileNetV2 with ``weights=None``, no download).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _measure import run_measured  # benchmarks/_measure.py

SAMPLES, CALIBRATION = 64, 32
BARE = """
import os, sys, numpy as np
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf, tf_keras
from ai_edge_litert.interpreter import Interpreter
model = tf_keras.models.load_model(sys.argv[1], compile=False)
with np.load(sys.argv[2]) as data:
    x = data["x"]
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = lambda: ([row[None]] for row in x[:{calibration}])
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.inference_input_type = converter.inference_output_type = tf.int8
interpreter = Interpreter(model_content=converter.convert())
interpreter.allocate_tensors()
detail, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
scale, zero = detail["quantization"]
for row in x:
    interpreter.set_tensor(detail["index"], np.clip(np.round(row[None] / scale + zero), -128, 127).astype(np.int8))
    interpreter.invoke()
    interpreter.get_tensor(out["index"])
"""


def prepare(folder: Path) -> tuple[Path, Path]:
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from edgekit._compat import keras, seed_everything

    seed_everything(0)
    model = keras().applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None)
    model.save(folder / "mobilenetv2.keras")
    x = np.random.default_rng(0).uniform(-1, 1, size=(SAMPLES, 224, 224, 3)).astype(np.float32)
    np.savez(folder / "data.npz", x=x)
    return folder / "mobilenetv2.keras", folder / "data.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-overhead-") as scratch:
        folder = Path(scratch)
        model, data = prepare(folder)
        runs = {"edgekit convert": [], "bare converter + interpreter": []}
        for i in range(args.repeats):
            edgekit = [sys.executable, "-m", "edgekit", "-q", "convert", str(model), "--target", "cpu", "--data", str(data), "--out", str(folder / f"out{i}"), "--calibration-samples", str(CALIBRATION)]
            bare = [sys.executable, "-c", BARE.format(calibration=CALIBRATION), str(model), str(data)]
            for name, command in (("edgekit convert", edgekit), ("bare converter + interpreter", bare)):
                code, seconds, rss, _, stderr = run_measured(command, folder / f"log-{i}-{len(name)}")
                if code != 0:
                    print(stderr[-2000:], file=sys.stderr)
                    return 1
                runs[name].append((seconds, rss))
    summary = {name: {"seconds": statistics.median(s for s, _ in values), "peak_rss_mb": max(r for _, r in values)} for name, values in runs.items()}
    ratio = summary["edgekit convert"]["seconds"] / summary["bare converter + interpreter"]["seconds"]
    print("| path | wall s (median of %d) | peak RSS MB |" % args.repeats)
    print("|---|---:|---:|")
    for name, figures in summary.items():
        print(f"| {name} | {figures['seconds']:.1f} | {figures['peak_rss_mb']:.0f} |")
    print(f"\nedgekit / bare: {ratio:.2f}x the time (goal <= 1.5x)")
    if args.json:
        args.json.write_text(json.dumps({**summary, "ratio": round(ratio, 3)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

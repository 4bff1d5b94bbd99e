"""The seed's SimpleCNN imported from PyTorch against the same network written in Keras: the
cpu int8 artifact's latency, side by side in one run, and the ops each converts to.

The importer keeps PyTorch's weights and turns channels-first into channels-last inside the
model (a Flatten that only dense layers read keeps Keras' order; the dense weight rows follow
it), so the imported model should convert to the same ops as a Keras model and run as fast:
the goal is a ratio within 1.1x with no TRANSPOSE op.

Both models are converted to full int8 (int8 I/O, the cpu target's settings) on the same
random calibration inputs and timed in this process with LiteRT (XNNPACK, 1 thread), in
alternating rounds so that drift on the machine falls on both alike.

    python benchmarks/torch_vs_keras_latency.py                # 7 rounds of 2,000 invocations
    python benchmarks/torch_vs_keras_latency.py --rounds 3 --runs 500 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def keras_simple_cnn():
    """The SimpleCNN in tf_keras, layer for layer as the PyTorch module (logits out)."""
    from edgekit._compat import keras

    layers = keras().layers
    return keras().Sequential(
        [
            layers.Input(shape=(32, 32, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu", name="fc1"),
            layers.Dense(10, name="fc2"),
        ]
    )


def imported_simple_cnn():
    import torch

    sys.path.insert(0, str(REPO / "samples"))
    from simple_cnn_torch import SimpleCNN

    from edgekit.models.torch_model import module_to_keras

    torch.manual_seed(0)
    return module_to_keras(SimpleCNN(), (3, 32, 32), name="SimpleCNN")


def int8(model, x: np.ndarray) -> bytes:
    from edgekit.registry import get_target
    from edgekit.converters.keras_tflite import convert_keras

    cpu = get_target("cpu")
    return convert_keras(model, quantization="int8", io_dtype=cpu.artifact_io_dtype, representative_data=x, calibration_samples=100, options=cpu.converter_options)


def ops(model_bytes: bytes) -> list[str]:
    from edgekit.tflite.graph import read_tflite

    return sorted(op.name for op in read_tflite(model_bytes).subgraphs[0].operators)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=2000, help="timed invocations per model per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from edgekit.runtime.environment import describe_machine
    from edgekit.runtime.latency import measure_latency

    x = np.random.default_rng(0).random((100, 32, 32, 3), dtype=np.float32)
    models = {"keras": int8(keras_simple_cnn(), x), "imported": int8(imported_simple_cnn(), x)}
    p50 = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model_bytes in models.items():
            p50[name].append(measure_latency(model_bytes, threads=1, runs=args.runs, warmup=50).p50)
    result = {
        "machine": describe_machine(),
        "rounds": args.rounds,
        "runs_per_round": args.runs,
        "p50_us": {name: round(statistics.median(values), 2) for name, values in p50.items()},
        "p50_us_per_round": p50,
        "ratio_imported_to_keras": round(statistics.median(i / k for i, k in zip(p50["imported"], p50["keras"])), 3),
        "bytes": {name: len(data) for name, data in models.items()},
        "ops": {name: ops(data) for name, data in models.items()},
    }
    print(f"SimpleCNN cpu int8, LiteRT XNNPACK, 1 thread, {args.rounds} rounds x {args.runs} invocations")
    for name in models:
        print(f"  {name:<9} p50 {result['p50_us'][name]:8.2f} µs   {result['bytes'][name]:,} bytes   ops {', '.join(result['ops'][name])}")
    print(f"  imported / keras: {result['ratio_imported_to_keras']:.3f} (median of per-round ratios); TRANSPOSE in the import: {'TRANSPOSE' in result['ops']['imported']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Flash and RAM of edgekit's mcu artifacts: LUT compression and the arena plan, measured.

Everything runs through the mcu target's own package step (the real ``tflite_micro``
interpreter), so the figures are those of the files a build ships.

    python benchmarks/mcu_fit.py sample [OUT]        # a built samples/mnist_cnn.toml (make demo)
    python benchmarks/mcu_fit.py stretch [OUT]       # the same, dense1 re-clustered to 4 levels
    python benchmarks/mcu_fit.py mlperf              # the five MLPerf Tiny models (../shared)

``sample``: flash before and after LUT compression, the ratio to the float32 model, the TFLM
accuracy of the shipped model on the 2,000 test digits and its arena figures. ``stretch``: what
the per-layer clustering the recipe cannot express yet would give: the shipped int8 dense1
kernel's 16 values are merged into 4 (1-D k-means weighted by use, zero kept; no fine-tuning),
then packaged the same way. ``mlperf``: each Keras model converted as the slow test converts it
(tests/test_mlperf_mcu_ethos.py, same inputs) and packaged with its reference int8 file's TFLM
arena as ``ram_kb``, next to that reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.target import PackageInput  # noqa: E402
from edgekit.targets import _tflm  # noqa: E402
from edgekit.targets.mcu import MCU  # noqa: E402
from edgekit.tflite.graph import read_tflite  # noqa: E402

FIGURES = (
    "flash_bytes_uncompressed", "flash_bytes", "lut_compressed_tensors", "arena_bytes_uncompressed", "arena_bytes",
    "arena_lower_bound_bytes", "arena_tflm_plan_bytes", "arena_offline_plan_bytes", "arena_head_bytes",
    "arena_persistent_bytes", "arena_plan", "tflm_accuracy", "tflm_shipped_identical_samples",
)  # fmt: skip


def sample_inputs(out: Path):
    """(mcu int8 bytes, float32 bytes, normalised test digits, labels) of a built sample."""
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec

    bundles = out / "bundles"
    manifest = json.loads((bundles / "mnist_cnn-mcu-int8" / "manifest.json").read_text())
    norm = manifest["inputs"][0]["normalization"]
    ds = load_dataset(DataSpec(source="mnist", mean=norm["mean"], std=norm["std"]))
    mcu = (bundles / "mnist_cnn-mcu-int8" / "model.tflite").read_bytes()
    float32 = (bundles / "mnist_cnn-float32" / "model.tflite").read_bytes()
    return mcu, float32, ds.normalize(ds.x_test), ds.y_test


def package(model: bytes, name: str, x=None, y=None, target=MCU) -> dict:
    built = target.package(model, PackageInput(name=name, x_test=x, y_test=y, options=target.options))
    return {k: built.details.get(k) for k in FIGURES} | {"tensors": built.details["lut_tensors"]}


def show_sample(figures: dict, float32: bytes) -> None:
    flash = figures["flash_bytes"]
    print(f"float32 model: {len(float32):,} bytes")
    print(f"mcu flash: {figures['flash_bytes_uncompressed']:,} -> {flash:,} bytes (1/{len(float32) / flash:.1f} of float32)")
    print(f"TFLM accuracy of the shipped model on {figures['tflm_shipped_identical_samples']} digits: {figures['tflm_accuracy'] * 100:.2f} %")
    print(f"arena: {figures['arena_bytes_uncompressed']:,} -> {figures['arena_bytes']:,} bytes (lower bound {figures['arena_lower_bound_bytes']:,}, "
          f"TFLM plan {figures['arena_tflm_plan_bytes']:,}, persistent {figures['arena_persistent_bytes']:,}, plan: {figures['arena_plan']})")  # fmt: skip
    for t in figures["tensors"]:
        after = f"{t['bytes_after']:,}" if "bytes_after" in t else f"left: {t['reason']}"
        print(f"  {t['name'][:60]:<60} {str(t['shape']):<14} {t['tables']:<22} {t['values']:>4} values {t['bits']} bits  {t['bytes_before']:>7,} -> {after}")
    print(json.dumps({k: v for k, v in figures.items() if k != "tensors"}))


def four_levels(model: bytes, shape=(128, 1568)) -> bytes:
    """The model with its int8 kernel of ``shape`` merged from 16 values into 4 (zero kept)."""
    graph = read_tflite(model)
    tensor = next(t for t in graph.main.tensors if t.shape == shape and graph.is_constant(t))
    values = graph.constant(tensor)
    levels, counts = np.unique(values, return_counts=True)
    nonzero = np.repeat(levels[levels != 0], counts[levels != 0]).astype(np.float64)
    centres = np.array([0.0, *np.quantile(nonzero, [1 / 6, 1 / 2, 5 / 6])])  # zero, then 3 spread over the rest
    for _ in range(50):  # Lloyd's k-means on the distinct values, weighted by how often each is used
        nearest = np.abs(levels[:, None] - centres[None, :]).argmin(1)
        for k in range(1, len(centres)):  # centre 0 stays at zero: pruned weights stay zeros
            if np.any(nearest == k):
                centres[k] = np.average(levels[nearest == k], weights=counts[nearest == k])
    mapping = np.round(centres[np.abs(levels[:, None] - centres[None, :]).argmin(1)]).astype(np.int8)
    merged = mapping[np.searchsorted(levels, values)]
    start, end = graph.buffers[tensor.buffer]
    out = bytearray(model)
    out[start:end] = merged.tobytes()
    return bytes(out)


def mlperf() -> None:
    from edgekit.converters.keras_tflite import convert_keras
    from tests.test_mlperf_mcu_ethos import CALIBRATION, CASES, EVALUATION, load_keras, mlperf_path

    rows = []
    for name, case in CASES.items():
        reference = mlperf_path(*case.reference).read_bytes()
        ref_arena = _tflm.measure_arena(reference)
        model = convert_keras(load_keras(case), quantization="int8", io_dtype="int8", representative_data=case.inputs(CALIBRATION, 1),
                              calibration_samples=CALIBRATION, options=MCU.converter_options, batch_size=1)  # fmt: skip
        x = case.inputs(EVALUATION, 2)
        free = package(model, f"{name}-mcu-int8", x)  # LUT with no RAM limit
        within = package(model, f"{name}-mcu-int8", x, target=MCU.variant(ram_kb=ref_arena.total / 1024))
        rows.append((name, len(reference), ref_arena.total, within, free))
        for label, f in (("free", free), ("within", within)):
            print("MLPERF", name, label, json.dumps({k: v for k, v in f.items() if k != "tensors"}), flush=True)
    print("\n| model | flash: reference / edgekit / shipped | LUT tensors | lower bound | TFLM plan | edgekit plan | persistent | arena: reference / shipped | LUT with no RAM limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, ref_bytes, ref_arena, f, free in rows:
        plan = f["arena_head_bytes"]
        lut = (f"{free['lut_compressed_tensors']} tensors: flash {free['flash_bytes'] - free['flash_bytes_uncompressed']:+,}, arena {free['arena_bytes'] - free['arena_bytes_uncompressed']:+,}"
               if free["lut_compressed_tensors"] else "nothing fits a 7-bit table")  # fmt: skip
        print(f"| {name} | {ref_bytes:,} / {f['flash_bytes_uncompressed']:,} / {f['flash_bytes']:,} | {f['lut_compressed_tensors']} | "
              f"{f['arena_lower_bound_bytes']:,} | {f['arena_tflm_plan_bytes']:,} | {plan:,} ({f['arena_plan']}) | "
              f"{f['arena_persistent_bytes']:,} | {ref_arena:,} / {f['arena_bytes']:,} | {lut} |")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("sample", "stretch", "mlperf"))
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "out" / "mnist_cnn", help="a built samples/mnist_cnn.toml")
    args = parser.parse_args(argv)
    if args.what == "mlperf":
        mlperf()
        return 0
    mcu, float32, x, y = sample_inputs(args.out)
    model = four_levels(mcu) if args.what == "stretch" else mcu
    show_sample(package(model, f"mnist_cnn-mcu-int8{'-4levels' if args.what == 'stretch' else ''}", x, y), float32)
    return 0


if __name__ == "__main__":
    sys.exit(main())

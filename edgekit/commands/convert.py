"""``edgekit convert MODEL --target T``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import writable

__all__ = ["convert"]


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--target", "target", required=True, help="Target name, optionally with a quantisation: cpu, cpu:float16, mcu, ...")
@click.option("--data", type=click.Path(path_type=Path), help="Representative inputs: an .npz (array 'x', optional 'y') or a folder of images.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), callback=writable, show_default=True, help="Folder for the bundle.")
@click.option("--mean", type=float, default=0.0, show_default=True, help="Normalisation applied to --data: (x - mean) / std.")
@click.option("--std", type=float, default=1.0, show_default=True)
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="labels.txt, one class name per line.")
@click.option("--calibration-samples", type=click.IntRange(1), default=200, show_default=True)
@click.option("--task", default="auto", show_default=True, metavar="TASK", help="What the outputs mean: classification, regression (incl. reconstruction / anomaly detection), detection (raw heads), embedding, or auto (decided from the outputs).")
@click.option("--input-shape", default=None, metavar="HxWxC", help="Fix the model's dynamic input dimensions, e.g. 96x96x3 (default: the --data samples' shape).")
@click.option("--flash-kb", type=float, default=None, metavar="KIB", help="Flash budget (mcu, ethos-u): a model that does not fit is a budget verdict, exit 1.")
@click.option("--ram-kb", type=float, default=None, metavar="KIB", help="RAM budget for the tensor arena (mcu, ethos-u).")
@click.option("--board", default=None, metavar="NAME", help="A board's flash and RAM as the budgets, e.g. nrf52840 (see edgekit.targets.boards); --flash-kb/--ram-kb win.")
@click.option("--trust-model", is_flag=True, help="Allow code (Lambda layers) in the model file.")
def convert(model: Path, target: str, data, out: Path, mean: float, std: float, labels, calibration_samples: int, task: str, input_shape: str | None, flash_kb, ram_kb, board, trust_model: bool):
    """Convert a trained Keras MODEL (.keras, .h5, SavedModel folder) for one target by
    post-training quantisation, check it, measure every output against the Keras model, and
    write its bundle."""
    from edgekit.errors import InputError
    from edgekit.flows.convert import convert_file
    from edgekit.measure.tasks import check_task
    from edgekit.models.shapes import parse_shape

    if std == 0:
        raise InputError("--std must be non-zero (inputs are divided by it)")
    check_task(task)
    shape = parse_shape(input_shape) if input_shape is not None else None
    names = _read_labels(labels) if labels else None
    result = convert_file(
        model, target=target, out=out, data=data, mean=mean, std=std,
        labels=[n for n in names if n.strip()] if names else None,
        calibration_samples=calibration_samples, trust_model=trust_model, task=task, input_shape=shape,
        budgets={"flash_kb": flash_kb, "ram_kb": ram_kb, "board": board},
    )  # fmt: skip
    click.echo(_summary(result))


def _read_labels(path: Path) -> list[str]:
    from edgekit.errors import InputError

    try:
        return path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"--labels {path}: not a UTF-8 text file (byte {exc.start})", hint="one class name per line") from None


def _summary(result) -> str:
    metrics, report, task = result.metrics, result.target_report, result.task
    lines = [f"bundle: {result.bundle}", f"size: {metrics['bytes']:,} bytes ({metrics['gzip_bytes']:,} gzip)"]
    if result.imported:
        imported = result.imported
        lines.append(
            f"imported from {imported['source']} ({imported['file']}, input {', '.join(imported['source_layouts'])} -> {', '.join(imported['input_layouts'])}): "
            f"Keras layers vs {imported['reference']} max error {imported['max_error_relative']:.2g} of the largest output; every figure below is against {imported['reference']}"
        )
        if imported.get("tf_ops"):
            listed = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in imported["tf_ops"].items())
            lines.append(f"note: {listed} have no Keras layer and run as TensorFlow functions: post-training quantisation only (no fine-tuning)")
    lines.append(f"task: {task['name']} ({task['reason']})")
    if "accuracy" in metrics:
        lines.append(f"accuracy: {metrics['accuracy'] * 100:.2f} % on {metrics['samples']} labelled inputs")
    if "agreement" in metrics:
        reference = result.imported["reference"] if result.imported else "the Keras model"
        lines.append(f"top-1 agreement with {reference}: {metrics['agreement'] * 100:.2f} % on {metrics['samples']} inputs")
    if "auc" in metrics:
        lines.append(f"ROC AUC of the reconstruction error: {metrics['auc']:.4f} on {metrics['samples']} labelled inputs")
    for name, figures in metrics.get("outputs", {}).items():
        lines.append(f"output {name}: {_fidelity(figures)}")
    lines += [f"warning: {text}" for text in [*task.get("warnings", []), *metrics.get("warnings", [])]]
    lines.append(f"latency p50: {metrics['latency_us']['p50']:.0f} µs (1 thread)")
    lines.append(f"target {report['target']}: {'runnable' if report['runnable'] else 'NOT runnable'}")
    for op in report["ops"]:
        reason = f"  ({op['reason']})" if op.get("reason") else ""
        lines.append(f"  {op['op']:<24} x{op['count']:<3} {op['placement']}{reason}")
    lines += [f"  note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def _fidelity(figures) -> str:
    snr = "identical" if figures["snr_db"] is None else f"SNR {figures['snr_db']:.1f} dB"
    return f"{snr}, cosine {figures['cosine']:.4f}, mean abs error {figures['mean_abs_error']:.4g}, max {figures['max_abs_error']:.4g}"

"""``edgekit inspect MODEL.tflite [--target T]``: what is in any .tflite file, and where its ops would run.

Works on files edgekit did not make and on machines without TensorFlow: the graph is read
straight from the flatbuffer (``edgekit.tflite.graph``); only the ``cpu`` target's check loads
an interpreter.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["describe", "format_summary", "inspect"]


@click.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", "-t", "targets", multiple=True, metavar="NAME", help="Also check op placement for a target (repeatable; see `edgekit targets`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def inspect(model: Path, targets: tuple[str, ...], as_json: bool):
    """Show MODEL's size, inputs and outputs with their quantisation, its ops, and for each
    --target which ops run on the accelerator and which fall back to the CPU, and why."""
    summary = describe(model, targets)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


def describe(path: Path, targets=()) -> dict:
    """Everything ``inspect`` shows, as plain data."""
    from edgekit.registry import get_target
    from edgekit.tflite.graph import read_tflite
    from edgekit.tflite.verify import verify_tflite

    # A target check may hand the model to an interpreter: refuse a damaged one here, by name.
    graph = verify_tflite(path) if targets else read_tflite(path)
    main = graph.main
    reports, int8_only = {}, []
    for spec in targets:
        target = get_target(spec)
        reports[target.name] = target.check(graph.data).to_dict()
        if "float32" not in target.quantizations:
            int8_only.append(target.name)
    return {
        "file": str(path),
        "bytes": graph.size,
        "schema_version": graph.version,
        "subgraphs": len(graph.subgraphs),
        "signatures": list(graph.signatures),
        "inputs": [main.tensors[i].to_dict() for i in main.inputs],
        "outputs": [main.tensors[i].to_dict() for i in main.outputs],
        "ops": graph.op_counts(),
        "op_count": len(main.operators),
        "float_activations": float_activations(graph),
        "int8_only_targets": int8_only,
        "targets": reports,
    }


def float_activations(graph) -> bool:
    """True when the ops compute in float (float32/float16 models, dynamic-range int8 weights)."""
    main = graph.main
    produced = [main.tensors[i] for op in main.operators for i in op.outputs if i >= 0]
    return bool(produced) and not any(t.dtype in ("int8", "uint8", "int16") for t in produced)


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['file']}: {summary['bytes']:,} bytes, {summary['op_count']} ops, "
        f"{summary['subgraphs']} subgraph(s), signatures: {', '.join(summary['signatures']) or 'none'}",
        "inputs:",
        *(_tensor_line(t) for t in summary["inputs"]),
        "outputs:",
        *(_tensor_line(t) for t in summary["outputs"]),
        "ops:",
        *(f"  {name:<28} {count:>5}" for name, count in summary["ops"].items()),
    ]
    for name, report in summary["targets"].items():
        if summary.get("float_activations") and name in summary.get("int8_only_targets", ()):
            lines += ["", f"target {name}: this model computes in float; {name} runs full-int8 models only (convert it with: edgekit convert MODEL.keras --target {name} --data DATA)"]
            continue
        lines += ["", *_report_lines(name, report)]
    return "\n".join(lines)


def _tensor_line(tensor: dict) -> str:
    quant = tensor["quantization"]
    if quant is None:
        text = "not quantised"
    elif "per_channel" in quant:
        text = f"per-channel ({quant['per_channel']} scales, axis {quant['axis']})"
    else:
        text = f"scale {quant['scale']:.6g}, zero point {quant['zero_point']}"
    return f"  {tensor['name']:<32} {str(tensor['shape']):<20} {tensor['dtype']:<8} {text}"


def _report_lines(name: str, report: dict) -> list[str]:
    details = report["details"]
    counts = ", ".join(f"{k}={v}" for k, v in details.items() if isinstance(v, (int, float, bool)))
    lines = [f"target {name}: {'runs' if report['runnable'] else 'cannot use the accelerator'} ({counts})"]
    lines += [f"  {op['op']:<28} {op['count']:>5}  {op['placement']:<8} {op['reason']}".rstrip() for op in report["ops"]]
    lines += [f"  note: {note}" for note in report["notes"]]
    return lines

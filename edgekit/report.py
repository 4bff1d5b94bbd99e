"""The build report: report.json for tools, report.md and a terminal table for people.

All three are rendered from the same dict, so the numbers cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

COLUMNS = ("artifact", "target", "quant", "accuracy", "agreement", "bytes", "gzip", "sparsity", "p50 µs")


def artifact_row(artifact: Mapping) -> list[str]:
    return [
        artifact["name"],
        artifact["target"],
        artifact["quantization"],
        f"{artifact['accuracy'] * 100:.2f} %",
        f"{artifact['agreement'] * 100:.2f} %",
        f"{artifact['bytes']:,}",
        f"{artifact['gzip_bytes']:,}",
        f"{artifact['sparsity'] * 100:.1f} %",
        f"{artifact['latency_us']['p50']:.0f}",
    ]


def format_table(report: Mapping) -> str:
    """A fixed-width table of every artifact, preceded by the float model's accuracy."""
    rows = [list(COLUMNS)] + [artifact_row(a) for a in report["artifacts"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    head = _float_line(report)
    return "\n".join([head, "", *lines])


def format_markdown(report: Mapping) -> str:
    rows = [artifact_row(a) for a in report["artifacts"]]
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    machine = report.get("environment", {}).get("machine", {})
    parts = [
        f"# edgekit report: {report['recipe']}",
        "",
        _float_line(report),
        "",
        *table,
        "",
        "Accuracy and agreement (top-1 agreement with the float Keras model) are measured through",
        "the LiteRT interpreter on the test split; latency is the median of single-image",
        f"invocations on {machine.get('cpu', 'this machine')} ({machine.get('cores', '?')} cores).",
    ]
    parts += _compression_lines(report.get("compression", {}))
    return "\n".join(parts) + "\n"


def write_reports(out_dir: str | Path, report: Mapping) -> None:
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(format_markdown(report), encoding="utf-8")


def _float_line(report: Mapping) -> str:
    float_model = report["float_model"]
    return f"float Keras model: accuracy {float_model['accuracy'] * 100:.2f} %, {float_model['params']:,} parameters"


def _compression_lines(compression: Mapping) -> list[str]:
    lines = []
    prune = compression.get("prune")
    if prune:
        schedule = prune["schedule"]
        lines += [
            "",
            f"Pruning: target {prune['target_sparsity'] * 100:.1f} %, measured after strip_pruning "
            f"{prune['sparsity_after_strip'] * 100:.2f} % (schedule {schedule['kind']}, end step "
            f"{schedule['end_step']} of {schedule['total_steps']}, every {schedule['frequency']} steps).",
        ]
    for name in ("qat", "pqat"):
        if name in compression:
            lines += ["", f"Quantisation-aware training: {compression[name]['scheme']}, {compression[name]['epochs']} epoch(s)."]
    return lines

"""The build and sweep reports as text: the terminal table, report.md and results.csv.

Everything is rendered from the one report dict, so the numbers cannot disagree. Writing
the HTML report and its plots beside them is ``edgekit.report.files``'s job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

__all__ = [
    "environment_lines",
    "float_line",
    "format_debugger",
    "format_markdown",
    "format_sensitivity",
    "format_sweep_markdown",
    "format_sweep_table",
    "format_table",
    "markdown_table",
    "placement_summary",
    "read_report",
    "results_csv",
    "SWEEP_COLUMNS",
    "sweep_row",
]

COLUMNS = ("artifact", "target", "quant", "accuracy", "agreement", "SNR dB", "bytes", "gzip", "sparsity", "uniq/kernel", "p50 µs")
SENSITIVITY_COLUMNS = ("layer", "type", "params", "pruned alone", "Δ prune", "int8 alone", "Δ int8")
DEBUGGER_COLUMNS = ("op", "layer", "scale", "zero point", "mean sq. error", "max abs error")


def artifact_row(artifact: Mapping) -> list[str]:
    return [
        artifact["name"],
        artifact["target"],
        artifact["quantization"],
        _percent(artifact.get("accuracy")),
        _percent(artifact.get("agreement")),
        snr_text(artifact),
        f"{artifact['bytes']:,}",
        f"{artifact['gzip_bytes']:,}",
        f"{artifact['sparsity'] * 100:.1f} %",
        _max_unique(artifact),
        f"{artifact['latency_us']['p50']:.0f}",
    ]


def snr_text(artifact: Mapping) -> str:
    """The worst output's signal-to-noise ratio against the float model (``exact``: identical)."""
    fidelity = artifact.get("fidelity")
    if not fidelity:
        return "-"
    return "exact" if fidelity.get("snr_db") is None else f"{fidelity['snr_db']:.1f}"


def _max_unique(artifact: Mapping) -> str:
    """The largest number of distinct values in any kernel (per channel for int8)."""
    counts = artifact.get("unique_weights_per_kernel") or {}
    return str(max(counts.values())) if counts else "-"


def format_table(report: Mapping) -> str:
    """A fixed-width table of every artifact, preceded by the float model's accuracy."""
    lines = fixed_width(COLUMNS, [artifact_row(a) for a in report["artifacts"]])
    head = float_line(report)
    notes = _artifact_notes(report["artifacts"], report.get("failed") or [])
    sensitivity = ["", format_sensitivity(report["sensitivity"])] if report.get("sensitivity") else []
    return "\n".join([head, "", *lines, *([""] + notes if notes else []), *sensitivity])


def format_sensitivity(analysis: Mapping) -> str:
    """The per-layer table: accuracy through the interpreter with one layer pruned, or in int8."""
    rows = _sensitivity_rows(analysis)
    probe = analysis["probe_sparsity"]
    probe = probe if isinstance(probe, str) else f"{probe * 100:.0f} %"
    head = (
        f"Sensitivity (float32 baseline {analysis['baseline_accuracy'] * 100:.2f} % on {analysis['samples']:,} test inputs; "
        f"each layer pruned alone to {probe}, or quantised alone to int8; Δ = accuracy lost, in points):"
    )
    lines = [head, *fixed_width(SENSITIVITY_COLUMNS, rows)]
    if "excluded" in analysis:
        excluded = analysis["excluded"]
        lines.append(
            f"threshold {analysis['threshold'] * 100:.2f} pts: left unpruned {', '.join(excluded['prune']) or 'none'}; "
            f"left out of QAT {', '.join(excluded['quantize']) or 'none'}"
        )
    return "\n".join(lines)


def _sensitivity_rows(analysis: Mapping) -> list[list[str]]:
    return [
        [
            row["layer"],
            row["type"],
            f"{row['params']:,}",
            _percent(row["prune_accuracy"]),
            _points(row["prune_drop"]),
            _percent(row["quant_accuracy"]),
            _points(row["quant_drop"]),
        ]
        for row in analysis["layers"]
    ]


def format_debugger(analysis: Mapping) -> str:
    """The TFLite QuantizationDebugger's per-op error of the fully int8 (calibrated) model."""
    rows = [
        [op["op"], op["layer"] or "-", f"{op['scale']:.3g}", str(op["zero_point"]), f"{op['mean_squared_error']:.3g}", f"{op['max_abs_error']:.3g}"]
        for op in analysis["quantization_debugger"]
    ]
    return "\n".join(["QuantizationDebugger, int8 after calibration (error vs float, per op output):", *fixed_width(DEBUGGER_COLUMNS, rows)])


def fixed_width(columns, rows: list[list[str]]) -> list[str]:
    """Left-aligned columns under a dashed rule, for terminals."""
    rows = [list(columns)] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _artifact_notes(artifacts, failed=()) -> list[str]:
    """Targets left out, skipped layers, graph fixes and sparse-encoding findings, one line each."""
    notes = [f"{f['target']}: not built: {f['error']}" for f in failed]
    for artifact in artifacts:
        skipped = artifact.get("skipped_layers") or []
        if skipped:
            listed = "; ".join(f"{s['layer']} ({s['type']}, {s['step']}): {s['reason']}" for s in skipped)
            notes.append(f"{artifact['name']}: layers left as they were: {listed}")
        sparse = artifact.get("sparse_encoding")
        if sparse:
            notes.append(f"{artifact['name']}: sparse encoding: {sparse['note']}")
        notes += [f"{artifact['name']}: {fix}" for fix in artifact.get("graph_fixes") or []]
    return notes


def _percent(value) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _points(value) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def format_markdown(report: Mapping) -> str:
    table = markdown_table(COLUMNS, [artifact_row(a) for a in report["artifacts"]])
    machine = report.get("environment", {}).get("machine", {})
    parts = [
        f"# edgekit report: {report['recipe']}",
        "",
        float_line(report),
        "",
        *table,
        "",
        "Accuracy and agreement (top-1 agreement with the float Keras model) are measured through",
        "the LiteRT interpreter on the test split; latency is the median of single-image",
        f"invocations on {machine.get('cpu', 'this machine')} ({machine.get('cores', '?')} cores).",
    ]
    parts += _compression_lines(report.get("compression", {}))
    notes = _artifact_notes(report["artifacts"], report.get("failed") or [])
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    parts += _unique_lines(report["artifacts"])
    if report.get("sensitivity"):
        parts += ["", *_sensitivity_markdown(report["sensitivity"])]
    return "\n".join(parts) + "\n"


def markdown_table(columns, rows) -> list[str]:
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return table + ["| " + " | ".join(row) + " |" for row in rows]


def _unique_lines(artifacts) -> list[str]:
    lines = []
    for artifact in artifacts:
        counts = artifact.get("unique_weights_per_kernel") or {}
        if counts:
            listed = ", ".join(f"{name} {count}" for name, count in counts.items())
            lines.append(f"- {artifact['name']}: unique weights per kernel (per channel for int8): {listed}")
    return ["", *lines] if lines else []


def _sensitivity_markdown(analysis: Mapping) -> list[str]:
    head, *rest = format_sensitivity(analysis).split("\n")
    tail = [line for line in rest if line.startswith("threshold")]
    return [head, "", *markdown_table(SENSITIVITY_COLUMNS, _sensitivity_rows(analysis)), *(["", *tail] if tail else [])]


def float_line(report: Mapping) -> str:
    float_model = report["float_model"]
    task = (report.get("task") or {}).get("name") or "classification"
    figures = [f"accuracy {float_model['accuracy'] * 100:.2f} %"] if "accuracy" in float_model else []
    if "auc" in float_model:
        figures.append(f"reconstruction-error AUC {float_model['auc']:.4f}")
    figures.append(f"{float_model['params']:,} parameters")
    imported = report.get("import")
    kind = f"float {imported['reference']} model ({imported['file']})" if isinstance(imported, Mapping) and "reference" in imported else "float Keras model"
    head = kind if task == "classification" else f"{kind} ({task})"
    line = f"{head}: {', '.join(figures)}"
    if isinstance(imported, Mapping) and "max_error_relative" in imported:
        line += f"; imported as Keras layers, {imported['max_error_relative']:.2g} of the largest output from {imported['reference']}"
    return line


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
    distill = compression.get("distill")
    if distill:
        lines += [
            "",
            f"Distillation: student ({distill['student']}) with {distill['student_params']:,} parameters, "
            f"{distill['params_ratio']:.3f} of the teacher's {distill['teacher_params']:,}; alpha {distill['alpha']}, "
            f"T {distill['temperature']}, {distill['epochs']} epoch(s)"
            + ("; the teacher also guided every later fine-tuning." if distill["guides_later_steps"] else "."),
        ]
    cluster = compression.get("cluster")
    if cluster:
        most = max(cluster["unique_weights_per_kernel"].values(), default=0)
        lines += [
            "",
            f"Clustering: {cluster['clusters']} clusters per kernel"
            + "".join(f", {n} for {layer}" for layer, n in (cluster.get("clusters_per_layer") or {}).items())
            + f" ({cluster['init']}"
            + (", sparsity-preserving" if cluster["preserve_sparsity"] else "")
            + f"); at most {most} unique values per kernel after strip_clustering.",
        ]
    for name in ("qat", "pqat", "cqat", "pcqat"):
        if name in compression:
            lines += ["", f"Quantisation-aware training: {compression[name]['scheme']}, {compression[name]['epochs']} epoch(s)."]
    return lines


# --- sweeps: report.md, results.csv and report.html from the same report.json -------------

SWEEP_COLUMNS = ("variant", "target", "pruned", "mode", "accuracy", "agreement", "bytes", "gzip", "zeros", "uniq/kernel", "p50 µs", "pareto")
CSV_COLUMNS = (
    "name", "target", "sparsity_target", "mode", "quantization", "accuracy", "agreement", "bytes", "gzip_bytes",
    "sparsity", "latency_p50_us", "latency_p90_us", "latency_p99_us", "pareto_size", "pareto_latency", "path",
)  # fmt: skip


def sweep_row(artifact: Mapping) -> list[str]:
    """A build row plus the grid point and the Pareto fronts the variant is on."""
    name, target, _, accuracy, agreement, _, size, gzip_bytes, zeros, unique, p50 = artifact_row(artifact)
    pruned = artifact.get("sparsity_target")
    pruned_text = "-" if pruned is None else f"{pruned * 100:g} %"
    mode = artifact.get("mode", artifact["quantization"])
    return [name, target, pruned_text, mode, accuracy, agreement, size, gzip_bytes, zeros, unique, p50, pareto_marks(artifact)]


def pareto_marks(artifact: Mapping) -> str:
    """``size, latency``: the fronts this artifact is on (blank when on none)."""
    return ", ".join(front for front, on in artifact.get("pareto", {}).items() if on)


def format_sweep_table(report: Mapping) -> str:
    lines = fixed_width(SWEEP_COLUMNS, [sweep_row(a) for a in report["artifacts"]])
    return "\n".join([float_line(report), "", *lines, "", *_front_lines(report)])


def format_sweep_markdown(report: Mapping, plots: Mapping[str, str] | None = None) -> str:
    """The sweep in Markdown; ``plots`` maps a title to a PNG path relative to the report."""
    rows = [sweep_row(a) for a in report["artifacts"]]
    table = markdown_table(SWEEP_COLUMNS, rows)
    grid = report.get("sweep", {})
    parts = [
        f"# edgekit sweep: {report['recipe']}",
        "",
        float_line(report),
        "",
        f"{len(rows)} variants: sparsity {', '.join(f'{s * 100:g} %' for s in grid.get('sparsities', []))} "
        f"x quantisation {', '.join(grid.get('modes', []))} x target {', '.join(grid.get('targets', []))}.",
        "",
        *_front_lines(report),
        "",
    ]
    parts += [f"![{title}]({path})" for title, path in (plots or {}).items()]
    parts += ["", *table, "", "## Targets", ""]
    parts += [f"- {a['name']}: {placement_summary(a.get('target_report'))}" for a in report["artifacts"]]
    parts += ["", "## Environment", "", *environment_lines(report)]
    return "\n".join(parts) + "\n"


def placement_summary(target_report: Mapping | None) -> str:
    """``runnable; xnnpack 7 ops, cpu 1 op (QUANTIZE)``: a target check in one line."""
    if not target_report:
        return "no target check"
    counts: dict[str, int] = {}
    for op in target_report.get("ops", []):
        counts[op["placement"]] = counts.get(op["placement"], 0) + op["count"]
    placed = ", ".join(f"{where} {count} op{'s' if count != 1 else ''}" for where, count in counts.items())
    state = "runnable" if target_report.get("runnable") else "NOT runnable"
    return f"{state}; {placed}" if placed else state


def environment_lines(report: Mapping) -> list[str]:
    environment = report.get("environment", {})
    machine = environment.get("machine", {})
    runtime = environment.get("runtime", {})
    versions = environment.get("versions", {})
    lines = [f"- CPU: {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores, {machine.get('architecture', '?')}, {machine.get('os', '?')})"]
    if runtime:
        lines.append(f"- Interpreter: {runtime.get('interpreter')} {runtime.get('version')}, {runtime.get('threads', 1)} thread(s)")
    lines.append("- Versions: " + ", ".join(f"{name} {value}" for name, value in versions.items() if value))
    return lines


def results_csv(report: Mapping) -> str:
    """One row per artifact, numbers unformatted, for spreadsheets and pandas (text cells
    neutralised against formula injection: ``edgekit.report._csv``)."""
    from edgekit.report._csv import csv_text

    rows = []
    for a in report["artifacts"]:
        latency, pareto = a["latency_us"], a.get("pareto", {})
        rows.append([
            a["name"], a["target"], a.get("sparsity_target", ""), a.get("mode", a["quantization"]), a["quantization"],
            a.get("accuracy", ""), a.get("agreement", ""), a["bytes"], a["gzip_bytes"], a["sparsity"], latency["p50"], latency["p90"],
            latency["p99"], pareto.get("size", ""), pareto.get("latency", ""), a.get("path", ""),
        ])  # fmt: skip
    return csv_text(CSV_COLUMNS, rows)


def read_report(folder: str | Path) -> dict:
    """``FOLDER/report.json``, with a clear error when it is missing or not a report."""
    from edgekit.errors import InputError

    path = Path(folder) / "report.json"
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: no such folder", hint="give the output folder of edgekit sweep or edgekit build")
    if not path.is_file():
        raise InputError(f"no report.json in {folder}", hint="give the output folder of edgekit sweep or edgekit build")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InputError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(report, dict) or not isinstance(report.get("artifacts"), list) or "float_model" not in report:
        raise InputError(f"{path}: not an edgekit report (needs 'artifacts' and 'float_model')")
    problem = _report_problem(report)
    if problem:
        raise InputError(f"{path}: {problem}", hint="re-run the sweep or build that wrote it, or fix the field")
    return report


# The fields every rendering reads, and their types; optional sections are checked where used.
_NUMBER = (int, float)
_REPORT_FIELDS = {"recipe": str, "float_model": dict}
_FLOAT_MODEL_FIELDS = {"params": int}
_ARTIFACT_FIELDS = {
    "name": str, "target": str, "quantization": str, "bytes": int, "gzip_bytes": int, "sparsity": _NUMBER, "latency_us": dict,
}  # fmt: skip
# A classifier's figures: required in a classifier's (and every sweep's) report.
_OPTIONAL_FIELDS = {"accuracy": _NUMBER, "agreement": _NUMBER}
_LATENCY_FIELDS = {"p50": _NUMBER, "p90": _NUMBER, "p99": _NUMBER}


def _report_problem(report: Mapping) -> str | None:
    """The first missing or mistyped field, named by its path in the JSON, or None."""
    classifies = "sweep" in report or ((report.get("task") or {}).get("name") or "classification") == "classification"
    artifact_fields = {k: v for k, v in _ARTIFACT_FIELDS.items() if k in ("name", "target", "quantization")}
    artifact_fields.update({**(_OPTIONAL_FIELDS if classifies else {}), **_ARTIFACT_FIELDS})
    float_fields = {**_FLOAT_MODEL_FIELDS, **({"accuracy": _NUMBER} if classifies else {})}
    checks = [("", report, _REPORT_FIELDS), ("float_model.", report.get("float_model"), float_fields)]
    for i, artifact in enumerate(report["artifacts"]):
        checks.append((f"artifacts[{i}].", artifact, artifact_fields))
        if isinstance(artifact, dict):
            checks.append((f"artifacts[{i}].latency_us.", artifact.get("latency_us"), _LATENCY_FIELDS))
    for prefix, value, fields in checks:
        if not isinstance(value, dict):
            return f"{prefix.rstrip('.')} is not an object"
        for key, kind in fields.items():
            if key not in value:
                return f"{prefix}{key} is missing"
            if not isinstance(value[key], kind) or isinstance(value[key], bool):
                return f"{prefix}{key} = {json.dumps(value[key])[:40]} has the wrong type"
    return None


def _front_lines(report: Mapping) -> list[str]:
    from edgekit.report.pareto import FRONTS

    fronts = report.get("pareto") or {}
    return [f"Pareto front, {FRONTS[name][0]}: {', '.join(names)}" for name, names in fronts.items() if name in FRONTS]

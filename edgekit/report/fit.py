"""``edgekit fit``'s report, rendered: report.md, results.csv, report.html and the budget plots
(written by ``edgekit.report.files``, the one report-folder writer).

Every candidate is one row: what it is, its estimated figures (from the untrained structure),
its measured figures and validation accuracy at the last rung it reached, and its status with
the reason (rejected before training, over budget, dropped at a rung, fits, winner). The plots
put validation accuracy against each budgeted figure with the budget drawn as a line; the
candidates rejected without training sit on the bottom edge at their estimated figure.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Mapping, Sequence

from edgekit.report._csv import csv_text
from edgekit.report.text import environment_lines, float_line, markdown_table

__all__ = ["budget_plots", "format_markdown", "format_table", "render_html", "results_csv"]

COLUMNS = ("candidate", "status", "width", "sparsity", "clusters", "largest", "quantization", "mode", "rung", "val acc", "flash B", "RAM B", "latency ms", "reason")
# Drawn in this order, the winner last (on top of a sibling with the same figures).
STATUS_COLORS = {"not reached": "#bbbbbb", "rejected": "#1f77b4", "dropped": "#7f7f7f", "fits": "#2ca02c", "winner": "#d62728"}
STATUS_LABELS = {"dropped": "dropped (at the rung it stopped)", "rejected": "over budget when measured"}
AXES = {"flash": "flash (bytes of the shipped file)", "ram": "RAM (tensor arena, bytes)", "latency": "latency (ms)"}


def candidate_cells(row: Mapping) -> list:
    """One candidate's cells, in COLUMNS order."""
    last = row["rungs"][-1] if row.get("rungs") else None
    figures = (last or {}).get("figures") or row.get("estimate") or {}
    accuracy = "" if last is None else f"{last['val_accuracy'] * 100:.2f}"
    latency = figures.get("latency")
    return [
        row["name"], row["status"], f"{row['width']:g}", f"{row['sparsity']:g}", row["clusters"], row["largest"] or "",
        row["quantization"], row["mode"], "" if last is None else last["rung"], accuracy,
        _integer(figures.get("flash")), _integer(figures.get("ram")), "" if latency is None else f"{latency:.3f}", row["reason"],
    ]  # fmt: skip


def _integer(value) -> str:
    return "" if value is None else f"{int(value):,}"


def results_csv(report: Mapping) -> str:
    return csv_text(COLUMNS, [candidate_cells(row) for row in report["candidates"]])


def summary_lines(report: Mapping) -> list[str]:
    """What was asked, what was searched, what it cost, and the answer."""
    fit, winner = report["fit"], report["winner"]
    budgets = fit["budgets"]
    asked = [f"flash <= {budgets['flash_bytes']:,} B" if budgets["flash_bytes"] else "", f"RAM <= {budgets['ram_bytes']:,} B" if budgets["ram_bytes"] else ""]
    asked += [f"latency <= {budgets['latency_ms']:g} ms" if budgets["latency_ms"] else "", f"accuracy >= {budgets['min_accuracy'] * 100:g} %" if budgets["min_accuracy"] else ""]
    if budgets.get("board"):
        asked.append(f"board {budgets['board']}")
    space = fit["space"]
    lines = [
        f"Target {fit['target']}, budgets: {', '.join(a for a in asked if a)}.",
        f"Space: widths {_list(space['widths'])} × sparsity {_list(space['sparsities'])} × clusters {_list(space['clusters'])}"
        f"{' (largest kernel split)' if space['split_largest'] else ''} × {_list(space['quantizations'])} × {_list(space['modes'])}: {fit['candidates']} candidates.",
        f"{fit['rejected_before_training']} rejected before training (their untrained structure cannot fit); "
        f"{len(fit['trained'])} compression run(s) trained over {len(fit['rungs'])} rung(s) (epoch shares {_list(fit['rungs'])}), {len(fit['reused'])} result(s) reused.",
        float_line(report)[0].upper() + float_line(report)[1:] + f" (ranked on {report['float_model'].get('validation_samples', 0):,} held-out training samples).",
    ]
    if winner:
        art, fig = winner["artifact"], winner["figures"]
        extra = f", TFLM accuracy {art['target_report']['details']['tflm_accuracy'] * 100:.2f} %" if "tflm_accuracy" in (art.get("target_report") or {}).get("details", {}) else ""
        lines.append(
            f"Winner: {winner['name']} ({winner['path']}): accuracy {art['accuracy'] * 100:.2f} % on the test split{extra}; "
            + ", ".join(f"{name} {_figure(name, value)}" for name, value in fig.items() if value is not None) + "."
        )
    else:
        lines.append(f"Nothing fits: {fit['verdict']}.")
    return lines


def _figure(name: str, value) -> str:
    return f"{value:.3f} ms" if name == "latency" else f"{int(value):,} B"


def _list(values: Sequence) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def format_markdown(report: Mapping, plots: Sequence[str] = ()) -> str:
    lines = [f"# edgekit fit: {report['recipe']}", "", *[f"- {line}" for line in summary_lines(report)], ""]
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    lines += ["", *markdown_table(COLUMNS, [[str(c).replace("|", "\\|") for c in candidate_cells(row)] for row in report["candidates"]])]
    return "\n".join([*lines, "", *environment_lines(report), ""])


def format_table(report: Mapping) -> str:
    """The terminal summary: the answer first, then the candidates that were trained."""
    trained = [row for row in report["candidates"] if row.get("rungs")]
    width = max((len(row["name"]) for row in trained), default=10)
    rows = [f"{row['name']:<{width}}  {row['status']:<9} {candidate_cells(row)[9]:>6} %  flash {candidate_cells(row)[10]:>9}  RAM {candidate_cells(row)[11]:>8}" for row in trained]
    return "\n".join([*summary_lines(report), "", *rows])


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit fit: {{ recipe }}</title>
<style>{{ style | safe }}
tr.winner td { background: #fff0f0; font-weight: 600; } tr.rejected td { color: #555; }
</style></head><body>
<h1>edgekit fit: {{ recipe }}</h1>
<ul>{% for line in summary %}<li>{{ line }}</li>{% endfor %}</ul>
{% for plot in plots %}<figure id="plot-{{ plot.name }}"><img alt="{{ plot.title }}" src="data:image/png;base64,{{ plot.data }}"><figcaption>{{ plot.title }}</figcaption></figure>
{% endfor %}<h2>Every candidate ({{ rows | length }})</h2>
<table id="candidates"><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{%- for row in rows %}<tr class="{{ row.status }}" data-name="{{ row.name }}">{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor -%}
</tbody></table>
<h2>Environment</h2><ul>{% for line in environment %}<li>{{ line }}</li>{% endfor %}</ul>
</body></html>
"""


def render_html(report: Mapping, plots: Sequence) -> str:
    import jinja2

    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(PAGE)
    from edgekit.report.html import STYLE

    return template.render(
        style=STYLE,
        recipe=report["recipe"],
        summary=summary_lines(report),
        plots=[{"name": p.name, "title": p.title, "data": base64.b64encode(p.png).decode("ascii")} for p in plots],
        columns=COLUMNS,
        rows=[{"name": row["name"], "status": row["status"], "cells": candidate_cells(row)} for row in report["candidates"]],
        environment=[line.removeprefix("- ") for line in environment_lines(report)],
    )


def budget_plots(report: Mapping) -> list:
    """Validation accuracy against each budgeted figure, the budget as a dashed line."""
    from edgekit.report.plots import Plot, log_bytes_axis, new_figure, png_bytes

    limits = {"flash": report["fit"]["budgets"]["flash_bytes"], "ram": report["fit"]["budgets"]["ram_bytes"], "latency": report["fit"]["budgets"]["latency_ms"]}
    plots = []
    for name, limit in limits.items():
        if limit is None:
            continue
        figure = new_figure()
        axes = figure.add_subplot()
        trained = [r for r in report["candidates"] if r.get("rungs") and r["rungs"][-1]["figures"].get(name) is not None]
        untrained = [r for r in report["candidates"] if not r.get("rungs") and (r.get("estimate") or {}).get(name) is not None]
        floor = min((r["rungs"][-1]["val_accuracy"] * 100 for r in trained), default=90.0) - 1
        for status, color in STATUS_COLORS.items():
            points = [(r["rungs"][-1]["figures"][name], r["rungs"][-1]["val_accuracy"] * 100) for r in trained if r["status"] == status]
            if points:
                winner = status == "winner"
                axes.scatter(*zip(*points), color=color, s=140 if winner else 35, marker="*" if winner else "o", label=STATUS_LABELS.get(status, status), zorder=5 if winner else 3)
        if untrained:
            axes.scatter([r["estimate"][name] for r in untrained], [floor] * len(untrained), marker="x", color="#1f77b4", label="rejected untrained (estimate)", zorder=2)
        axes.axvline(limit, color="black", linestyle="--", linewidth=1, label=f"budget {_figure_text(name, limit)}")
        if name != "latency":
            log_bytes_axis(axes)
        axes.set(title=f"Validation accuracy vs {name}", xlabel=AXES[name], ylabel="validation accuracy (%)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8, loc="best")
        plots.append(Plot(f"accuracy_vs_{name}", f"Accuracy vs {name}, budget drawn", png_bytes(figure)))
    return plots


def _figure_text(name: str, value) -> str:
    return f"{value:g} ms" if name == "latency" else f"{value / 1024:g} KiB"

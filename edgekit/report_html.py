"""report.html: one self-contained file, readable offline and safe to mail or attach to a CI run.

Plots are inline base64 PNGs and the style sheet is inline; the page references nothing on
the network (no fonts, scripts or images from elsewhere). Every string from the report is
escaped.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Mapping, Sequence

from edgekit.report import SWEEP_COLUMNS, environment_lines, float_line, placement_summary, sweep_row

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f4f4f4; }
td:first-child, td:nth-child(2), td:nth-child(4), th:first-child, th:nth-child(2), th:nth-child(4) { text-align: left; }
tr.front td { background: #fff7e0; } td.pareto { font-weight: 600; text-align: left; }
details { margin: 0.3rem 0; } summary { cursor: pointer; }
code, pre { font-size: 0.8rem; } .muted { color: #666; }
"""


def render_html(report: Mapping, plots: Sequence) -> str:
    """The whole page; ``plots`` are :class:`edgekit.plots.Plot` objects."""
    title = f"edgekit {'sweep' if 'sweep' in report else 'report'}: {report['recipe']}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _summary(report),
        "<h2>Pareto plots</h2>",
        *[_figure(plot) for plot in plots],
        f"<h2>Every variant ({len(report['artifacts'])})</h2>",
        _variant_table(report["artifacts"]),
        "<h2>Target reports</h2>",
        *[_target_report(a) for a in report["artifacts"]],
        "<h2>Environment</h2>",
        _environment(report),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _summary(report: Mapping) -> str:
    from edgekit.pareto import FRONTS

    line = float_line(report)
    items = [escape(line[0].upper() + line[1:]) + "."]
    grid = report.get("sweep")
    if grid:
        items.append(
            f"{grid['variants']} variants: sparsity {', '.join(f'{s * 100:g} %' for s in grid['sparsities'])} &times; "
            f"quantisation {escape(', '.join(grid['modes']))} &times; target {escape(', '.join(grid['targets']))}; "
            f"{len(grid['computed'])} computed in this run, {len(grid['reused'])} reused."
        )
    for name, names in (report.get("pareto") or {}).items():
        if name in FRONTS:
            items.append(f"Pareto front, {escape(FRONTS[name][0])}: {escape(', '.join(names))}.")
    items.append(
        "Accuracy and agreement (top-1 agreement with the float Keras model) are measured through the "
        "interpreter on the test split; sizes are of the shipped .tflite; latency is the median of "
        "single-image invocations."
    )
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _figure(plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="plot-{escape(plot.name)}"><img class="plot" alt="{escape(plot.title)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(plot.title)}</figcaption></figure>'
    )


def _variant_table(artifacts: Sequence[Mapping]) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in SWEEP_COLUMNS)
    rows = []
    for artifact in artifacts:
        cells = sweep_row(artifact)
        css = ' class="front"' if any(artifact.get("pareto", {}).values()) else ""
        tds = "".join(f"<td>{escape(cell)}</td>" for cell in cells[:-1]) + f'<td class="pareto">{escape(cells[-1])}</td>'
        rows.append(f'<tr{css} data-name="{escape(artifact["name"])}">{tds}</tr>')
    return f'<table id="variants"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _target_report(artifact: Mapping) -> str:
    report = artifact.get("target_report")
    summary = f"<summary><b>{escape(artifact['name'])}</b>: {escape(placement_summary(report))}</summary>"
    if not report:
        return f"<details>{summary}</details>"
    ops = "".join(
        f"<tr><td>{escape(op['op'])}</td><td>{op['count']}</td><td>{escape(op['placement'])}</td><td>{escape(op.get('reason', ''))}</td></tr>"
        for op in report.get("ops", [])
    )
    notes = "".join(f"<li>{escape(str(note))}</li>" for note in report.get("notes", []))
    details = escape(json.dumps(report.get("details", {}), indent=1))
    return (
        f"<details>{summary}<table><thead><tr><th>op</th><th>count</th><th>runs on</th><th>why</th></tr></thead>"
        f"<tbody>{ops}</tbody></table><ul>{notes}</ul><pre>{details}</pre></details>"
    )


def _environment(report: Mapping) -> str:
    lines = [escape(line.removeprefix("- ")) for line in environment_lines(report)]
    timings = report.get("timings_s", {})
    if timings:
        lines.append("Seconds in this run: " + escape(", ".join(f"{name} {value}" for name, value in timings.items())))
    return "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + '</ul>\n<p class="muted">made by edgekit ' + escape(
        str(report.get("environment", {}).get("versions", {}).get("edgekit", ""))
    ) + "</p>"

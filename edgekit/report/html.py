"""report.html: one self-contained file, readable offline and safe to mail or attach to a CI run.

Plots are inline base64 PNGs and the style sheet is inline; the page references nothing on
the network (no fonts, scripts or images from elsewhere). The page is a Jinja2 template with
autoescaping on: every value from the report (names, notes, numbers, a field someone edited
in report.json) is escaped by construction, none is ever pasted into markup by hand.
"""

from __future__ import annotations

import base64
import json
from typing import Mapping, Sequence

from edgekit.report.text import SWEEP_COLUMNS, environment_lines, float_line, placement_summary, sweep_row

__all__ = ["render_html", "STYLE"]

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

PAGE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>"""
    + STYLE
    + """</style>
</head>
<body>
<h1>{{ title }}</h1>
<ul>{% for item in summary %}<li>{{ item }}</li>{% endfor %}</ul>
<h2>Pareto plots</h2>
{% for plot in plots %}<figure id="plot-{{ plot.name }}"><img class="plot" alt="{{ plot.title }}" src="data:image/png;base64,{{ plot.data }}"><figcaption>{{ plot.title }}</figcaption></figure>
{% endfor %}<h2>Every variant ({{ rows | length }})</h2>
<table id="variants"><thead><tr>{% for column in columns %}<th>{{ column }}</th>{% endfor %}</tr></thead><tbody>
{%- for row in rows %}<tr{% if row.front %} class="front"{% endif %} data-name="{{ row.name }}">{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}<td class="pareto">{{ row.pareto }}</td></tr>{% endfor -%}
</tbody></table>
<h2>Target reports</h2>
{% for target in targets %}<details><summary><b>{{ target.name }}</b>: {{ target.summary }}</summary>
{%- if target.report %}<table><thead><tr><th>op</th><th>count</th><th>runs on</th><th>why</th></tr></thead><tbody>
{%- for op in target.ops %}<tr><td>{{ op.op }}</td><td>{{ op.count }}</td><td>{{ op.placement }}</td><td>{{ op.reason }}</td></tr>{% endfor -%}
</tbody></table><ul>{% for note in target.notes %}<li>{{ note }}</li>{% endfor %}</ul><pre>{{ target.details }}</pre>{% endif %}</details>
{% endfor %}<h2>Environment</h2>
<ul>{% for line in environment %}<li>{{ line }}</li>{% endfor %}</ul>
<p class="muted">made by edgekit {{ version }}</p>
</body>
</html>
"""
)


def render_html(report: Mapping, plots: Sequence) -> str:
    """The whole page; ``plots`` are :class:`edgekit.report.plots.Plot` objects."""
    return _template().render(
        title=f"edgekit {'sweep' if 'sweep' in report else 'report'}: {report['recipe']}",
        summary=_summary(report),
        plots=[{"name": p.name, "title": p.title, "data": base64.b64encode(p.png).decode("ascii")} for p in plots],
        columns=SWEEP_COLUMNS,
        rows=[_row(a) for a in report["artifacts"]],
        targets=[_target(a) for a in report["artifacts"]],
        environment=_environment(report),
        version=str(report.get("environment", {}).get("versions", {}).get("edgekit", "")),
    )


def _template():
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(PAGE)


def _summary(report: Mapping) -> list[str]:
    from edgekit.report.pareto import FRONTS

    line = float_line(report)
    items = [line[0].upper() + line[1:] + "."]
    grid = report.get("sweep")
    if grid:
        items.append(
            f"{grid['variants']} variants: sparsity {', '.join(f'{s * 100:g} %' for s in grid['sparsities'])} × "
            f"quantisation {', '.join(map(str, grid['modes']))} × target {', '.join(map(str, grid['targets']))}; "
            f"{len(grid['computed'])} computed in this run, {len(grid['reused'])} reused."
        )
    for name, names in (report.get("pareto") or {}).items():
        if name in FRONTS:
            items.append(f"Pareto front, {FRONTS[name][0]}: {', '.join(map(str, names))}.")
    items.append(
        "Accuracy and agreement (top-1 agreement with the float Keras model) are measured through the "
        "interpreter on the test split; sizes are of the shipped .tflite; latency is the median of "
        "single-image invocations."
    )
    return items


def _row(artifact: Mapping) -> dict:
    cells = sweep_row(artifact)
    return {"name": artifact["name"], "cells": cells[:-1], "pareto": cells[-1], "front": any(artifact.get("pareto", {}).values())}


def _target(artifact: Mapping) -> dict:
    report = artifact.get("target_report")
    return {
        "name": artifact["name"],
        "summary": placement_summary(report),
        "report": bool(report),
        "ops": [{"op": op["op"], "count": op["count"], "placement": op["placement"], "reason": op.get("reason", "")} for op in (report or {}).get("ops", [])],
        "notes": [str(note) for note in (report or {}).get("notes", [])],
        "details": json.dumps((report or {}).get("details", {}), indent=1),
    }


def _environment(report: Mapping) -> list[str]:
    lines = [line.removeprefix("- ") for line in environment_lines(report)]
    timings = report.get("timings_s", {})
    if timings:
        lines.append("Seconds in this run: " + ", ".join(f"{name} {value}" for name, value in timings.items()))
    return lines

"""Writing a report folder: report.json, report.md, results.csv, report.html and its plots.

Rendered from the one report dict (``edgekit.report`` for text, ``edgekit.report_html`` for
HTML, ``edgekit.plots`` for the PNGs), everything before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from edgekit.report import format_markdown, format_sweep_markdown, results_csv


def write_build_reports(out_dir: str | Path, report: Mapping) -> None:
    """A build's report.json and report.md (into its staging folder, swapped in whole)."""
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(format_markdown(report), encoding="utf-8")


def render_reports(out_dir: str | Path, report: Mapping) -> list[Path]:
    """Write report.md, results.csv, report.html and plots/*.png from ``report``; return the paths.

    Each file is replaced atomically. ``report.json`` itself is not touched, so this is how
    ``edgekit report DIR`` re-renders a folder.
    """
    import copy

    from edgekit.atomic import write_file_atomic
    from edgekit.pareto import mark_pareto
    from edgekit.plots import make_plots
    from edgekit.report_html import render_html

    out_dir = Path(out_dir)
    report = copy.deepcopy(dict(report))
    if "pareto" not in report:
        report["pareto"] = mark_pareto(report["artifacts"])
    # Everything is rendered before anything is written: a field that breaks the HTML must
    # not leave new plots beside an old report.md.
    plots = make_plots(report)
    markdown = format_sweep_markdown(report, {p.title: f"plots/{p.name}.png" for p in plots}) if "sweep" in report else format_markdown(report)
    files = {f"plots/{plot.name}.png": plot.png for plot in plots}
    files.update({"report.md": markdown, "results.csv": results_csv(report), "report.html": render_html(report, plots)})
    if plots:
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_file_atomic(out_dir / name, data)
    return [out_dir / name for name in files]


def write_sweep_reports(out_dir: str | Path, report: Mapping) -> list[Path]:
    """report.json, then everything rendered from it."""
    from edgekit.atomic import write_file_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_file_atomic(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    return [out_dir / "report.json", *render_reports(out_dir, report)]

"""The one writer of a report folder, for build, sweep and fit (and ``edgekit report DIR``).

Everything is rendered from the one report dict before anything is written, so a field that
breaks the HTML cannot leave new plots beside an old report.md. Then each file is replaced
atomically (``edgekit.output.atomic``), in one order: the plots, report.md, results.csv,
report.html, and report.json last, so a report.json on disk always has its renderings beside it.

What is rendered follows the report's kind: a fit report (``"fit"``) gets the candidates'
tables and the budget plots (``edgekit.report.fit``), a sweep report (``"sweep"``) the
variants' table and the Pareto plots, a build report its artifact table; a build's own
output holds report.md alone (``full=False``), ``edgekit report DIR`` renders the rest.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Mapping

from edgekit.output.atomic import write_file_atomic

__all__ = ["render_files", "write_report_folder"]

JSON_NAME = "report.json"


def render_files(report: Mapping, *, full: bool = True) -> dict[str, str | bytes]:
    """``{relative path: contents}`` of every file rendered from ``report``, in writing order
    (plots first); ``full`` False: report.md alone."""
    if "fit" in report:
        return _fit_files(report, full=full)
    return _artifact_files(report, full=full)


def write_report_folder(out_dir: str | Path, report: Mapping, *, full: bool = True, with_json: bool = True) -> list[Path]:
    """Render, then write the folder's report files (report.json last unless ``with_json`` is
    False, as when re-rendering a folder from its own report.json); return the paths."""
    out_dir = Path(out_dir)
    files = render_files(report, full=full)
    if with_json:
        files[JSON_NAME] = json.dumps(report, indent=2, default=str) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(name.startswith("plots/") for name in files):
        (out_dir / "plots").mkdir(exist_ok=True)
    for name, data in files.items():
        write_file_atomic(out_dir / name, data)
    return [out_dir / name for name in files]


def _artifact_files(report: Mapping, *, full: bool) -> dict[str, str | bytes]:
    """A build's or a sweep's files: one row per artifact, the Pareto fronts marked."""
    from edgekit.report.text import format_markdown, format_sweep_markdown, results_csv

    if not full:
        return {"report.md": format_markdown(report)}
    from edgekit.report.html import render_html
    from edgekit.report.pareto import mark_pareto
    from edgekit.report.plots import make_plots

    report = copy.deepcopy(dict(report))
    report.setdefault("pareto", mark_pareto(report["artifacts"]))
    plots = make_plots(report)
    sweep = "sweep" in report
    markdown = format_sweep_markdown(report, {p.title: f"plots/{p.name}.png" for p in plots}) if sweep else format_markdown(report)
    files: dict[str, str | bytes] = {f"plots/{p.name}.png": p.png for p in plots}
    files.update({"report.md": markdown, "results.csv": results_csv(report), "report.html": render_html(report, plots)})
    return files


def _fit_files(report: Mapping, *, full: bool) -> dict[str, str | bytes]:
    """A fit's files: one row per candidate, accuracy against each budgeted figure."""
    from edgekit.report import fit

    plots = fit.budget_plots(report) if full else []
    files: dict[str, str | bytes] = {f"plots/{p.name}.png": p.png for p in plots}
    files["report.md"] = fit.format_markdown(report, [f"plots/{p.name}.png" for p in plots])
    if full:
        files.update({"results.csv": fit.results_csv(report), "report.html": fit.render_html(report, plots)})
    return files

"""``edgekit report DIR``: re-render a folder's report from its report.json."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def report(folder: Path):
    """Re-render report.md, results.csv, report.html and plots/ in FOLDER from FOLDER/report.json
    (the output of edgekit sweep or edgekit build). report.json itself is not changed."""
    from edgekit.report import read_report
    from edgekit.report_files import render_reports

    written = render_reports(folder, read_report(folder))
    for path in written:
        click.echo(str(path))

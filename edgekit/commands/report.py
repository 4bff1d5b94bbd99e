"""``edgekit report DIR``: re-render a folder's report from its report.json."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def report(folder: Path):
    """Re-render report.md, results.csv, report.html and plots/ in FOLDER from FOLDER/report.json
    (the output of edgekit build, sweep or fit). report.json itself is not changed."""
    from edgekit.report.files import write_report_folder
    from edgekit.report.text import read_report

    written = write_report_folder(folder, read_report(folder), with_json=False)
    for path in written:
        click.echo(str(path))

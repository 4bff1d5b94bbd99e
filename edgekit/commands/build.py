"""``edgekit build RECIPE``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import recipe_overrides, writable


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Output folder (default: the recipe's output.dir).")
@click.option("--trust-model", is_flag=True, help="Allow code (Lambda layers) in the recipe's model.file.")
@recipe_overrides
def build(recipe: Path, out: Path | None, overrides: dict, trust_model: bool):
    """Run RECIPE: train, compress, convert per target, measure through the interpreter,
    write one bundle per artifact and report.json/report.md."""
    from edgekit.pipeline import build as run_build
    from edgekit.report import format_table

    result = run_build(recipe, out=out, overrides=overrides, trust_model=trust_model)
    click.echo(format_table(result.report))
    click.echo(f"\nbundles and report: {result.out_dir}")

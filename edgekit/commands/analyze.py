"""``edgekit analyze RECIPE``: per-layer sensitivity to pruning and to quantisation."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import recipe_overrides, writable

__all__ = ["analyze"]


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable, help="Also write the analysis as JSON to this file.")
@recipe_overrides
def analyze(recipe: Path, out: Path | None, overrides: dict):
    """Train RECIPE's float model, then prune (at the recipe's sparsity) and quantise each
    layer alone and measure the accuracy through the interpreter; print the per-layer table
    and the TFLite QuantizationDebugger's per-op int8 error."""
    from edgekit.flows.analyze import analyze as analyze_recipe
    from edgekit.output.atomic import write_file_atomic
    from edgekit.report.text import format_debugger, format_sensitivity

    analysis = analyze_recipe(recipe, overrides=overrides)
    click.echo(format_sensitivity(analysis))
    click.echo("")
    click.echo(format_debugger(analysis))
    if out is not None:
        import json

        write_file_atomic(out, json.dumps(analysis, indent=2) + "\n")
        click.echo(f"\nanalysis: {out}")

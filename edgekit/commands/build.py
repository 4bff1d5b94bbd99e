"""``edgekit build RECIPE``."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import force_option, recipe_overrides, writable

__all__ = ["build"]


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Output folder (default: the recipe's output.dir).")
@click.option("--trust-model", is_flag=True, help="Allow code (Lambda layers) in the recipe's model.file.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), help="Folder for the trained and compressed models' checkpoints (default: OUT.cache beside the output).")
@click.option("--fresh", is_flag=True, help="Ignore checkpoints: train and compress again, then replace them.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write checkpoints.")
@click.option("--keep-going", is_flag=True, help="A target that fails (not only a missed budget) is reported and left out; the others are still bundled.")
@force_option
@recipe_overrides
def build(recipe: Path, out: Path | None, overrides: dict, trust_model: bool, cache: Path | None, fresh: bool, no_cache: bool, keep_going: bool, force: bool):
    """Run RECIPE: train, compress, convert per target, measure through the interpreter,
    write one bundle per artifact and report.json/report.md.

    The trained and the compressed models are checkpointed as soon as they exist, so running
    the same command again after an interrupt resumes from them."""
    from edgekit.flows.build import build as run_build
    from edgekit.report.text import format_table

    if no_cache and cache is not None:
        raise click.UsageError("--no-cache and --cache contradict each other; give one")
    checkpoints = False if no_cache else cache
    result = run_build(recipe, out=out, overrides=overrides, trust_model=trust_model, cache=checkpoints, fresh=fresh, keep_going=keep_going, force=force)
    click.echo(format_table(result.report))
    click.echo(f"\nbundles and report: {result.out_dir}")

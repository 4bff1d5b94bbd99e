"""``edgekit sweep RECIPE``: the grid of sparsity x quantisation x target, and its Pareto report."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from edgekit.commands._options import distributed_options, force_option, placement_for, recipe_overrides, writable
from edgekit.flows.sweep.grid import DEFAULT_SPARSITIES
from edgekit.vocabulary import SWEEP_MODES

__all__ = ["sweep"]

SPARSITIES = ",".join(f"{s:g}" for s in DEFAULT_SPARSITIES)
MODES = ",".join(SWEEP_MODES)



@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sparsity", "sparsities", default=SPARSITIES, show_default=True, metavar="LIST", help="Pruning sparsities, comma-separated; 0 is unpruned.")
@click.option(
    "--quantize", "modes", default=MODES, show_default=True, metavar="LIST",
    help="Quantisation modes, comma-separated: float32, float16, dynamic, int8 (post-training calibration), qat (QAT fine-tuning, then int8).",
)  # fmt: skip
@click.option("--targets", default=None, metavar="LIST", help="Targets, comma-separated (default: the recipe's targets).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Output folder (default: the recipe's output.dir + '-sweep').")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Folder for trained models, reused across runs (default: OUT/cache).")
@distributed_options
@force_option
@recipe_overrides
def sweep(recipe: Path, sparsities: str, modes: str, targets: str | None, out: Path | None, cache: Path | None, overrides: dict, force: bool, where: dict):
    """Train RECIPE's float model once (cached), then convert, measure and bundle every
    variant of the grid and write report.md, results.csv, report.json and report.html with
    the Pareto fronts (accuracy vs gzip size, accuracy vs p50 latency).

    Ctrl-C keeps the finished variants; running the same command again skips them.
    --workers N runs one task per sparsity on N local Dask processes, --scheduler on a Dask
    cluster; the results are the same as in this process.
    """
    from edgekit.commands._progress import RichProgress
    from edgekit.flows.from_recipe import default_out_dir
    from edgekit.flows.sweep import sweep as run_sweep
    from edgekit.recipe import load_recipe
    from edgekit.report.text import format_sweep_table

    loaded = load_recipe(recipe, overrides=overrides)
    placement = placement_for(loaded, where)
    out = out if out is not None else default_out_dir(loaded)
    grid = dict(
        sparsities=_numbers("--sparsity", sparsities), modes=_names("--quantize", modes),
        targets=_names("--targets", targets) if targets is not None else None,
    )  # fmt: skip
    try:
        with RichProgress(enabled=logging.getLogger("edgekit").isEnabledFor(logging.INFO)) as progress:
            result = run_sweep(loaded, out=out, cache=cache, progress=progress, force=force, placement=placement, **grid)
    except KeyboardInterrupt:
        # The sweep has logged what it kept; the default "nothing was written" would be wrong here.
        raise SystemExit(130) from None
    click.echo(format_sweep_table(result.report))
    click.echo(f"\nreport: {result.out_dir / 'report.html'} (also report.md, results.csv, report.json)")


def _names(option: str, text: str) -> list[str]:
    from edgekit.errors import InputError

    names = [item.strip() for item in text.split(",") if item.strip()]
    if not names:
        raise InputError(f"{option} {text!r}: names nothing", hint="give a comma-separated list, or leave the option out for the default")
    return names


def _numbers(option: str, text: str) -> list[float]:
    from edgekit.errors import InputError

    try:
        return [float(item) for item in _names(option, text)]
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated numbers, e.g. 0,0.5,0.8") from None

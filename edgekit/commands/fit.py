"""``edgekit fit RECIPE --target T``: budgets in, the most accurate model that fits out."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import distributed_options, force_option, placement_for, recipe_overrides, writable

__all__ = ["fit"]


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The target to fit: mcu, ethos-u, cpu, gpu (optionally with a quantisation, e.g. cpu:float16).")
@click.option("--flash-kb", type=float, default=None, metavar="KIB", help="Flash budget: the bytes of the file the device stores (mcu: the shipped, LUT-compressed flatbuffer; ethos-u: Vela's).")
@click.option("--ram-kb", type=float, default=None, metavar="KIB", help="RAM budget for the tensor arena (mcu: measured in TFLM; ethos-u: Vela's SRAM).")
@click.option("--latency-ms", type=float, default=None, metavar="MS", help="Latency budget (cpu: LiteRT's benchmark on this machine; gpu: the GPU accelerator; ethos-u: Vela's estimate).")
@click.option("--board", default=None, metavar="NAME", help="A board's flash and RAM as the budgets, e.g. nrf52840; --flash-kb/--ram-kb win.")
@click.option("--min-accuracy", type=float, default=None, metavar="A", help="The winner must score at least A on the test split, e.g. 0.97.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Output folder (default: the recipe's output.dir + '-fit').")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), callback=writable, help="Folder for trained models, reused across runs (default: OUT/cache).")
@click.option("--exhaustive", is_flag=True, help="No shortcuts: train every candidate with the full epochs and measure it (the baseline the search is compared with; slow).")
@distributed_options
@force_option
@recipe_overrides
def fit(recipe: Path, target: str, flash_kb, ram_kb, latency_ms, board, min_accuracy, out, cache, exhaustive: bool, force: bool, overrides: dict, where: dict):
    """Search RECIPE's space (width, sparsity, clusters, quantisation; narrowed by its [fit]
    table) for the most accurate model that fits the budgets on TARGET, and bundle it.

    Structures that cannot fit are rejected before training; the rest compete in successive
    halving, every deciding figure measured on the shipped artifact. Writes the winner's bundle,
    report.json, report.md, results.csv and report.html. Nothing fits: exit 1 naming the closest
    candidate. Ctrl-C keeps the finished candidates; the same command resumes. --workers N
    runs each rung's training groups on N local Dask processes, --scheduler on a Dask cluster.
    """
    from edgekit.flows.fit import fit as run_fit
    from edgekit.recipe import load_recipe
    from edgekit.report.fit import format_table

    loaded = load_recipe(recipe, overrides=overrides)
    placement = placement_for(loaded, where)

    try:
        result = run_fit(
            loaded, target=target, flash_kb=flash_kb, ram_kb=ram_kb, latency_ms=latency_ms, board=board,
            min_accuracy=min_accuracy, out=out, cache=cache, force=force, exhaustive=exhaustive, placement=placement,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # the search has logged what it kept
    click.echo(format_table(result.report))
    click.echo(f"\nbundle: {result.out_dir / result.winner['path']}\nreport: {result.out_dir / 'report.html'} (also report.md, results.csv, report.json)")

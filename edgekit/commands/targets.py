"""``edgekit targets``: the registered hardware targets, one line each."""

from __future__ import annotations

import click

__all__ = ["targets"]


@click.command()
def targets():
    """List the hardware targets a recipe or `edgekit inspect --target` can name."""
    from edgekit.registry import get_target, target_names

    rows = [_row(get_target(name)) for name in target_names()]
    width = max(len(r[0]) for r in rows)
    for name, forms, text in rows:
        click.echo(f"{name:<{width}}  {forms:<42}  {text}")


def _row(target) -> tuple[str, str, str]:
    others = [q for q in target.quantizations if q != target.quantization]
    forms = target.quantization + (f" (or {', '.join(others)})" if others else "")
    if target.quantization == "int8":
        forms += f", {target.io_dtype} I/O"
    return target.name, forms, target.description

"""``edgekit verify BUNDLE...``: check every file against the manifest's sha256 and size."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
def verify(bundles: tuple[Path, ...]):
    """Check that each BUNDLE is complete and untampered: every file's size and sha256
    match its manifest and no unlisted file is present. Exits non-zero on the first bad one."""
    from edgekit.manifest import verify_bundle

    for bundle in bundles:
        manifest = verify_bundle(bundle)
        click.echo(f"ok: {bundle} ({manifest.get('name')}, {len(manifest['files'])} files, sha256 verified)")

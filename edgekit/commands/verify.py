"""``edgekit verify BUNDLE...``: check every file against the manifest's sha256 and size, and
the publisher's signature when asked."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._options import signer_options

__all__ = ["verify"]


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@signer_options
def verify(bundles: tuple[Path, ...], signers):
    """Check that each BUNDLE is complete and consistent: every file's size and sha256 match
    its manifest and no unlisted file is present. With --key or --allowed-signers (or on a
    device set to require them) also check who signed the manifest. Exits non-zero on the
    first bad one."""
    from edgekit.bundle.manifest import verify_signed_bundle
    from edgekit.terminal import printable

    for bundle in bundles:
        manifest, signer = verify_signed_bundle(bundle, signers=signers)
        if manifest.get("model", "model.tflite") in manifest["files"]:  # a listed, hash-checked file only
            _check_model(bundle, manifest.get("model", "model.tflite"))
        who = f"signed by {printable(signer)}" if signer else "publisher not checked (pass --key or --allowed-signers)"
        click.echo(f"ok: {printable(str(bundle))} ({printable(str(manifest.get('name')))}, {len(manifest['files'])} files, sha256 verified; {who})")


def _check_model(bundle: Path, model: str) -> None:
    """The model must also pass the checks ``predict`` makes before an interpreter sees it: a
    bundle whose hashes match can still hold a model built to crash LiteRT."""
    from edgekit.bundle.manifest import unzipped_bundle
    from edgekit.tflite.verify import verify_tflite

    if bundle.suffix == ".zip" and bundle.is_file():
        with unzipped_bundle(bundle) as root:
            verify_tflite(root / model)
    else:
        verify_tflite(bundle / model)

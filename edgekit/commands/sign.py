"""``edgekit sign BUNDLE... --key KEY``: sign each bundle's manifest as its publisher."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["sign"]


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False, path_type=Path), help="OpenSSH private key (or its .pub, with the key in ssh-agent).")
def sign(bundles: tuple[Path, ...], key: Path):
    """Sign each BUNDLE folder's manifest.json with KEY (ssh-keygen -Y sign, namespace
    edgekit-bundle), writing manifest.json.sig beside it. The manifest pins every file by
    sha256, so the signature covers the whole bundle; each is verified before it is signed.
    The manifest's name is signed with it: a BUNDLE folder must be called by that name, and a
    renamed signed bundle is refused wherever it is checked.
    Check with 'edgekit verify BUNDLE --key KEY.pub' (or --allowed-signers FILE)."""
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import check_signable, check_signing_key, fingerprint, sign_bundle
    from edgekit.errors import InputError
    from edgekit.terminal import printable

    check_signing_key(key)
    for bundle in bundles:
        if bundle.suffix == ".zip" and bundle.is_file():
            raise InputError(f"{bundle}: edgekit sign signs bundle folders", hint="sign the folder, then zip it (or set [output] sign_key and zip = true)")
        verify_bundle(bundle, signers=None)  # never sign what is already broken
        check_signable(bundle)  # nor a folder not called by its manifest's name
    for bundle in bundles:
        sign_bundle(bundle, key)
        click.echo(f"signed: {printable(str(bundle))} (key {fingerprint(key)})")

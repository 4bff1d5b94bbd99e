"""``edgekit deploy BUNDLE --host user@pi``: copy a bundle to a device and check it can run it."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands._device import make_remote, remote_options, runtime_option
from edgekit.commands._options import signer_options

__all__ = ["deploy"]


@click.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", "hosts", multiple=True, required=True, metavar="USER@HOST", help="Device to copy to over SSH (repeatable).")
@runtime_option
@remote_options
@signer_options
def deploy(bundles, hosts, runtime, remote_dir, signers, **remote):
    """Copy each BUNDLE to --path on every --host, after checking the host has Python,
    edgekit and a TFLite interpreter (and saying exactly what to install if not). The copy
    is verified there (sha256 of every file) before it replaces a previous one; what is
    on the device and was not written by edgekit is never replaced. With --key or
    --allowed-signers the bundle must carry that publisher's signature."""
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.remote.deploy import deploy as copy_bundle
    from edgekit.remote.deploy import safe_remote_name
    from edgekit.remote.ssh import probe

    for bundle in bundles:
        verify_bundle(bundle, signers=signers)  # never ship a bundle that is broken (or unsigned, when asked) here
        safe_remote_name(Path(bundle).resolve())
    for host in hosts:
        target = make_remote(host, **remote)
        info = probe(target, runtime)
        for bundle in bundles:
            where = copy_bundle(target, bundle, remote_dir)
            click.echo(f"{host}:{where}  verified; runs on {info['runtime']['name']} {info['runtime']['version']} (edgekit {info['edgekit']}, Python {info['python']}, {info['machine']})")

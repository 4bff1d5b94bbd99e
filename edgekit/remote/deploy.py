"""Put bundles and models on a device over SSH without trusting names or touching its files.

Every name the remote shell or scp sees is edgekit's own or checked: a staging folder
``.edgekit-upload-HEX`` (or ``.edgekit-bench-HEX``) in ``--path``, the copy inside it in
``new/`` under the bundle's checked name (a signature binds the name, and the device's own
edgekit checks it there), and the final name, the local folder's name, only after it passed
:func:`safe_remote_name`; every word is ``shlex.quote``d and every path comes after ``--``.

``deploy`` keeps what it does not own: before copying, a stdlib-only script run by the device's
Python looks at ``--path/NAME``; a folder there that is not an edgekit bundle, or a bundle
holding files its manifest does not list, is refused by name and left alone. The new copy is
verified by the device's own edgekit in the staging folder; only then is the previous bundle
moved aside (into the staging folder) and the new one moved in, and the previous copy is
deleted after the new one is in place; a failed move puts it back. ``NAME.old`` or any
other name beside it is never touched.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shlex
from pathlib import Path
from typing import Iterator

from edgekit.bundle.entries import bundle_files
from edgekit.errors import BundleError, InputError, ToolError
from edgekit.remote.ssh import DEFAULT_REMOTE_DIR, Remote, last_line, remote_path, run_checked

__all__ = ["bench_copies", "deploy", "safe_remote_name"]

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")

# Run by the device's Python with the final path as its argument: what is there, and which
# files in it the bundle's manifest does not list. Stdlib only, any Python 3.
OWNERSHIP = r"""
import json, os, sys
path, info = sys.argv[1], {}
if not os.path.lexists(path):
    info["kind"] = "missing"
elif os.path.islink(path) or not os.path.isdir(path):
    info["kind"] = "not a folder"
else:
    found = []
    for root, dirs, files in os.walk(path):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        found += [os.path.relpath(os.path.join(root, n), path) for n in files + links]
    try:
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as handle:
            manifest = json.load(handle)
        listed = set(manifest["files"]) if manifest.get("format") == "edgekit-bundle" else None
    except Exception:
        listed = None
    own = {"manifest.json", "manifest.json.sig"}
    info["kind"] = "bundle" if listed is not None else "not an edgekit bundle"
    info["foreign"] = sorted(set(found) - (listed or set()) - (own if listed is not None else set()))
print(json.dumps(info))
"""


def safe_remote_name(local: Path) -> str:
    """The local folder's (or file's) name, if it is safe as a remote name in any shell."""
    name = local.name
    if not _SAFE_NAME.fullmatch(name):
        raise InputError(
            f"{local}: the name {name!r} is not safe on a device's shell",
            hint="rename it with letters, digits and . _ + - only (not starting with . or -)",
        )
    return name


def deploy(remote: Remote, local: Path, remote_dir: str = DEFAULT_REMOTE_DIR) -> str:
    """Copy a bundle folder to ``remote_dir/NAME``, verified there before it replaces the
    previous one; returns the remote path."""
    local = Path(local).resolve()  # "." or "bundle/" still has a name
    remote_dir = remote_path(remote_dir)
    final = f"{remote_dir}/{safe_remote_name(local)}"
    check_owned(remote, final)
    with _staging(remote, remote_dir, "upload") as staging:
        copy = f"{staging}/new/{safe_remote_name(local)}"  # its own name: a signature binds it
        run_checked(remote, f"mkdir -- {shlex.quote(staging + '/new')}", what="create the remote folder")
        bundle_files(local)  # again, just before scp -r (which follows links) reads it
        remote.copy_to(local, copy)
        verify_remote(remote, copy)
        run_checked(remote, swap_command(staging, final, copy), what="move the bundle into place")
    return final


@contextlib.contextmanager
def bench_copies(remote: Remote, models: list[Path], remote_dir: str = DEFAULT_REMOTE_DIR) -> Iterator[list[str]]:
    """Models copied into a staging folder of their own for one benchmark, removed after it:
    a benchmark leaves nothing on the device and replaces nothing there."""
    names = [safe_remote_name(Path(model).resolve()) for model in models]
    if len(set(names)) != len(names):
        raise InputError(f"two models have the same name ({', '.join(sorted(n for n in names if names.count(n) > 1))})", hint="rename one of them")
    with _staging(remote, remote_path(remote_dir), "bench") as staging:
        paths = [f"{staging}/{name}" for name in names]
        for model, path in zip(models, paths):
            if Path(model).is_dir():
                bundle_files(Path(model))  # scp -r follows links: a bundle holds regular files only
            remote.copy_to(Path(model).resolve(), path)
        yield paths


@contextlib.contextmanager
def _staging(remote: Remote, remote_dir: str, kind: str) -> Iterator[str]:
    """An edgekit-named folder in ``remote_dir``, removed afterwards whatever happens."""
    staging = f"{remote_dir}/.edgekit-{kind}-{secrets.token_hex(6)}"
    run_checked(remote, f"mkdir -p -- {shlex.quote(remote_dir)} && mkdir -- {shlex.quote(staging)}", what="create the remote folder")
    try:
        yield staging
    finally:
        with contextlib.suppress(ToolError):  # never hide the failure that got us here
            remote.run(f"rm -rf -- {shlex.quote(staging)}", what="clean up")


def check_owned(remote: Remote, final: str) -> None:
    """Refuse, by name, a remote ``final`` that is not an edgekit bundle holding only its own files."""
    result = remote.run(remote.python_command("-c", OWNERSHIP, final), what="look at the remote folder")
    try:
        info = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ToolError(f"{remote.host}: could not look at {final} there: {last_line(result.stderr) or last_line(result.stdout)}") from None
    kind, foreign = info.get("kind"), info.get("foreign") or []
    if kind == "missing" or (kind == "bundle" and not foreign):
        return
    what = f"holds files its manifest does not list ({', '.join(map(str, foreign[:3]))})" if kind == "bundle" else f"is {kind}"
    raise InputError(f"{remote.host}:{final} {what}; deploy keeps what it did not write", hint="move it away on the device, or deploy with another --path")


def swap_command(staging: str, final: str, copy: str) -> str:
    """Previous bundle aside into the staging folder, the verified ``copy`` in; on failure
    the previous one goes back. Only edgekit's staging folder is removed."""
    n, previous, new = (shlex.quote(p) for p in (final, f"{staging}/previous", copy))
    return (
        f"{{ if [ -e {n} ] || [ -L {n} ]; then mv -- {n} {previous}; fi; }} && "
        f"{{ mv -- {new} {n} || {{ if [ -e {previous} ]; then mv -- {previous} {n}; fi; exit 1; }}; }}"
    )


def verify_remote(remote: Remote, path: str) -> None:
    result = remote.run(remote.python_command("-m", "edgekit", "verify", "--", path), what="verify the bundle")
    if result.returncode != 0:
        raise BundleError(f"{remote.host}: the copied bundle failed verification there: {last_line(result.stderr) or last_line(result.stdout)}")

"""Publisher signatures over a bundle's manifest, made and checked by OpenSSH's ``ssh-keygen -Y``.

The manifest pins every file of a bundle by sha256 and size, so one signature over
``manifest.json`` covers the whole bundle; it is stored beside it as ``manifest.json.sig``.
The sha256 values alone only prove the bundle is consistent: whoever rewrites a model can
rewrite its manifest too. The signature proves who published it.

Why OpenSSH's signatures (``ssh-keygen -Y sign/verify``, the format git uses for signed
commits) rather than a signature library: the system OpenSSH is already edgekit's transport
to devices, so the device needs no new package (its runtime install stays small and
compiled-extension free); the keys are the SSH keys publishers already have, including ones
held in ssh-agent or on a hardware token; ``allowed_signers`` files name principals and can
limit a key to a namespace and a validity window; and the code that parses keys and checks
signatures is OpenSSH's, reviewed for decades, not edgekit's. Signatures use the namespace
``edgekit-bundle``, so a git commit signature can never pass for a bundle's and the reverse.

Checking: ``--key PUB`` (one public key) or ``--allowed-signers FILE``; a device can require a
signature for every bundle it opens by pointing ``EDGEKIT_ALLOWED_SIGNERS`` at such a file, or
by placing one at ``~/.config/edgekit/allowed_signers``. On such a device ``--key`` and
``--allowed-signers`` only narrow its requirement: the signature must pass both.

The signature binds the bundle's name: the manifest it covers names the bundle, and a signed
bundle whose folder (or zip) is called otherwise is refused (:func:`check_bound_name`), since
``deploy`` names the device's copy by the folder. The signature file is capped at 64 KiB
before ssh-keygen sees it; a key file or allowed_signers file that ssh-keygen cannot read, or
one that lists no one, is named as such rather than reported as a failed signature.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from edgekit.bundle.entries import MAX_SIGNATURE_BYTES
from edgekit.errors import BundleError, InputError, ToolError

__all__ = ["check_bound_name", "check_signable", "check_signature", "check_signing_key", "device_policy", "fingerprint", "read_public_key", "sign_bundle", "SIGNATURE_NAME", "Signers"]

NAMESPACE = "edgekit-bundle"
SIGNATURE_NAME = "manifest.json.sig"
ENV_ALLOWED_SIGNERS = "EDGEKIT_ALLOWED_SIGNERS"
_KEY_PRINCIPAL = "publisher"  # the one principal of a --key check's allowed_signers
_TIMEOUT = 60
_MAX_KEY_FILE_BYTES = 1024**2
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-")


@dataclass(frozen=True)
class Signers:
    """Whose signature a bundle must carry: one public key, or an ``allowed_signers`` file.

    ``source`` says where the requirement came from, for error messages. ``device`` is the
    device's own requirement when the command line named another one: the signature must
    satisfy both, so ``--key`` and ``--allowed-signers`` can only narrow what a device
    allows, never widen it.
    """

    key: Path | None = None
    allowed_signers: Path | None = None
    source: str = ""
    device: "Signers | None" = None

    @classmethod
    def from_options(cls, key: Path | None, allowed_signers: Path | None) -> "Signers | None":
        """The command line's choice (narrowing the device's own requirement), else the
        device's requirement (or None)."""
        if key is not None and allowed_signers is not None:
            raise InputError("--key and --allowed-signers both name who signs; give one")
        if key is not None:
            return cls(key=Path(key), source="--key", device=device_policy())
        if allowed_signers is not None:
            return cls(allowed_signers=Path(allowed_signers), source="--allowed-signers", device=device_policy())
        return device_policy()

    @property
    def label(self) -> str:
        """The key or file, as the user named it: ``--key K.pub``, ``EDGEKIT_ALLOWED_SIGNERS=F``."""
        path = self.key or self.allowed_signers
        if self.source.startswith("--"):
            return f"{self.source} {path}"
        return f"{ENV_ALLOWED_SIGNERS}={path}" if self.source == ENV_ALLOWED_SIGNERS else str(path)


def device_policy() -> Signers | None:
    """A device set to require signatures: ``EDGEKIT_ALLOWED_SIGNERS`` or the config file."""
    named = os.environ.get(ENV_ALLOWED_SIGNERS)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise InputError(f"{ENV_ALLOWED_SIGNERS}={named}: no such allowed_signers file", hint="fix the variable, or unset it to stop requiring signatures")
        return Signers(allowed_signers=path, source=ENV_ALLOWED_SIGNERS)
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "edgekit" / "allowed_signers"
    return Signers(allowed_signers=config, source=str(config)) if config.is_file() else None


# --- checking -----------------------------------------------------------------------------


class _NotListed(BundleError):
    """The signature was made by a key the signers do not list."""


def check_signature(bundle: str | Path, manifest: bytes, signature: bytes | None, signers: Signers) -> str:
    """The principal whose signature over ``manifest`` checks out; raise one line otherwise.

    Each way to fail has its own message: no signature, a signature file that is too large
    or not an SSH signature, a ``--key`` or ``allowed_signers`` file that cannot be read as
    one (checked before any signature is), a signature by a key the signers do not list, a
    manifest changed after signing, and a signer the command line allows but the device's
    own policy does not.
    """
    if signature is None:
        raise BundleError(
            f"{bundle}: not signed (no {SIGNATURE_NAME}), and {signers.source} requires a publisher signature",
            hint="ask its publisher for a signed bundle ('edgekit sign BUNDLE --key KEY')",
        )
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise BundleError(f"{bundle}: {SIGNATURE_NAME} is {len(signature):,} bytes, more than a signature can be ({MAX_SIGNATURE_BYTES:,})", hint="a real SSH signature is well under 2 KB; get the bundle again from its publisher")
    with _scratch() as folder:
        (folder / "sig").write_bytes(signature)
        signer = _checked_by(bundle, manifest, folder, signers)
        if signers.device is not None:
            try:
                _checked_by(bundle, manifest, folder, signers.device)
            except _NotListed:
                raise BundleError(
                    f"{bundle}: signed by {signer}, whom {signers.source} accepts, but this device's own policy "
                    f"({signers.device.label}) does not list that key; {signers.source} can only narrow the signers a device allows",
                    hint="sign the bundle with a key the device lists, or add the key to the device's allowed_signers file",
                ) from None
    return signer


def _checked_by(bundle: str | Path, manifest: bytes, folder: Path, signers: Signers) -> str:
    """Who in ``signers`` made the signature in ``folder/sig`` over ``manifest``; raise otherwise."""
    allowed = _allowed_signers(signers, folder)
    principals = _principals(bundle, allowed, folder / "sig", signers)
    for principal in principals:
        result = _ssh_keygen(["-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", str(folder / "sig")], stdin=manifest)
        if result.returncode == 0:
            return f"the key {fingerprint(signers.key)}" if signers.key else principal
    who = "the key in --key" if signers.key and signers.source == "--key" else f"anyone in {signers.label}"
    raise BundleError(
        f"{bundle}: signature check failed: {SIGNATURE_NAME} is not a signature of this manifest.json by {who} "
        f"(the manifest was changed after signing, or it was signed for another use than '{NAMESPACE}')",
        hint="get the bundle again from its publisher, and check which key you trust",
    )


def _allowed_signers(signers: Signers, folder: Path) -> Path:
    """The allowed_signers file to check against: the one named, checked to list someone,
    or a one-line file made for ``--key``."""
    if signers.key is not None:
        allowed = folder / "allowed_signers"
        allowed.write_text(f'{_KEY_PRINCIPAL} namespaces="{NAMESPACE}" {read_public_key(signers.key, what=signers.source or "--key")}\n', encoding="utf-8")
        return allowed
    path = signers.allowed_signers
    try:
        text = _read_small(path).decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{signers.label}: not a readable allowed_signers file ({exc})", hint=_ALLOWED_SIGNERS_FORMAT) from None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        raise InputError(f"{signers.label}: the allowed_signers file lists no signers, so no signature could pass", hint=_ALLOWED_SIGNERS_FORMAT)
    return path


_ALLOWED_SIGNERS_FORMAT = 'one line per signer: PRINCIPAL namespaces="edgekit-bundle" KEYTYPE BASE64, the last two the first words of the .pub file'


def _principals(bundle: str | Path, allowed: Path, signature: Path, signers: Signers) -> list[str]:
    """Who in ``allowed`` holds the key that made ``signature`` (not yet whether it signed this manifest)."""
    result = _ssh_keygen(["-Y", "find-principals", "-s", str(signature), "-f", str(allowed)])
    principals = [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []
    if principals:
        return principals
    if "parse signature" in result.stderr or "sshsig" in result.stderr:
        raise BundleError(f"{bundle}: {SIGNATURE_NAME} is not an SSH signature ({_last_line(result.stderr.replace(str(signature), SIGNATURE_NAME))})", hint="get the bundle again from its publisher")
    bad_line = re.search(rf"^{re.escape(str(allowed))}:(\d+): (.*)$", result.stderr, re.MULTILINE)
    if bad_line and signers.key is None:
        raise InputError(f"{signers.label}: line {bad_line.group(1)} is not a signer ssh-keygen can read ({bad_line.group(2).strip()})", hint=_ALLOWED_SIGNERS_FORMAT)
    who = f"the key in --key ({fingerprint(signers.key)})" if signers.key else f"{signers.label}"
    raise _NotListed(
        f"{bundle}: signature check failed: {SIGNATURE_NAME} was made by a key that is not {who}" if signers.key
        else f"{bundle}: signature check failed: {SIGNATURE_NAME} was made by a key that {who} does not list",
        hint="get the bundle from its publisher, and check which key you trust",
    )


def check_bound_name(bundle: str | Path, manifest: Mapping, name: str, *, called: str = "folder") -> None:
    """A signed bundle must be called by the name its signed manifest gives it.

    Why: the signature covers ``manifest.json``, whose ``name`` is the bundle's name, and
    ``deploy`` names the device's copy by the folder's name. Without this check a publisher's
    signed ``fire-detector`` renamed ``door-detector`` would verify and replace the device's
    ``door-detector``. So the name is bound through the manifest: ``edgekit sign`` refuses a
    folder not called by its manifest's name, and every signature check (``verify``,
    ``predict``, ``bench``, ``deploy``, and the device's check of a deployed copy) refuses a
    signed bundle whose folder (or zip, without ``.zip``) is called otherwise.

    Older signed bundles: nothing changes in the signature itself, so a bundle signed by an
    earlier edgekit verifies as before when it is called by its manifest's name, which is how
    ``build``, ``sweep`` and ``fit`` name every bundle folder. One that was renamed before or
    after signing is refused with this message; rename it back, or set the manifest's name
    and sign it again.
    """
    signed = manifest.get("name")
    if signed == name:
        return
    if not isinstance(signed, str) or not signed:
        raise BundleError(f"{bundle}: its signed manifest gives no bundle name, so the {called} name {name!r} cannot be checked", hint="have its publisher rebuild and sign it")
    raise BundleError(
        f"{bundle}: signed as {signed!r} but the {called} is named {name!r}; a signature binds the bundle's name, so a renamed bundle is refused",
        hint=f"rename the {called} back to {signed + ('.zip' if called == 'zip' else '')!r}, or have its publisher set that name in manifest.json and sign it again",
    )


def read_public_key(path: Path, *, what: str = "--key") -> str:
    """The ``type base64`` of an OpenSSH public key file, checked by ssh-keygen itself;
    anything else (a private key, a truncated or edited line) is refused by name."""
    try:
        words = _read_small(Path(path)).decode("utf-8").split()
    except (OSError, UnicodeDecodeError, ValueError):
        words = []
    if len(words) < 2 or not words[0].startswith(_KEY_TYPES):
        raise InputError(f"{what} {path}: not an OpenSSH public key", hint="give the .pub file, e.g. ~/.ssh/id_ed25519.pub")
    with _scratch() as folder:
        (folder / "key.pub").write_text(f"{words[0]} {words[1]}\n", encoding="utf-8")
        if _ssh_keygen(["-l", "-f", str(folder / "key.pub")]).returncode != 0:
            raise InputError(f"{what} {path}: not a valid OpenSSH public key: ssh-keygen cannot read its {words[0]} key, truncated or edited", hint="copy the .pub file again from its owner")
    return f"{words[0]} {words[1]}"


def _read_small(path: Path) -> bytes:
    """A key or allowed_signers file: a regular file of at most 1 MiB (never a FIFO)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError("not a regular file")
    with open(path, "rb") as handle:
        data = handle.read(_MAX_KEY_FILE_BYTES + 1)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_KEY_FILE_BYTES:,} bytes")
    return data


# --- signing ------------------------------------------------------------------------------


def sign_manifest(manifest: bytes, key: str | Path) -> bytes:
    """``ssh-keygen -Y sign`` of the manifest bytes with a private key (or a public key whose
    private half is in ssh-agent). The terminal stays the tool's, for a key's passphrase."""
    key = Path(key).expanduser()
    with _scratch() as folder:
        message = folder / "manifest.json"
        message.write_bytes(manifest)
        result = _ssh_keygen(["-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(message)], interactive=True)
        signature = folder / "manifest.json.sig"
        if result.returncode != 0 or not signature.is_file():
            raise InputError(f"cannot sign with {key}: {_last_line(result.stderr) or 'ssh-keygen failed'}", hint="give an OpenSSH private key (ssh-keygen -t ed25519), or its .pub with the key in ssh-agent")
        return signature.read_bytes()


def check_signing_key(key: str | Path, *, what: str = "--key") -> Path:
    """Refuse now, before minutes of work, a signing key that is missing or not a key."""
    key = Path(key).expanduser()
    if not key.is_file():
        raise InputError(f"{what} {key}: no such key file", hint="create one with 'ssh-keygen -t ed25519 -f KEY'")
    if _ssh_keygen(["-l", "-f", str(key)]).returncode != 0:
        raise InputError(f"{what} {key}: not an OpenSSH key", hint="create one with 'ssh-keygen -t ed25519 -f KEY'")
    return key


def fingerprint(key: str | Path) -> str:
    words = _ssh_keygen(["-l", "-f", str(key)]).stdout.split()
    return words[1] if len(words) > 1 else "?"


def sign_bundle(bundle: str | Path, key: str | Path) -> Path:
    """Sign ``bundle/manifest.json``; the signature is written atomically beside it."""
    from edgekit.output.atomic import write_file_atomic

    signature = sign_manifest(check_signable(bundle), key)
    write_file_atomic(Path(bundle) / SIGNATURE_NAME, signature)
    return Path(bundle) / SIGNATURE_NAME


def check_signable(bundle: str | Path) -> bytes:
    """The manifest bytes of a folder that may be signed: it holds only regular files and
    folders, and it is called by its manifest's name (the signature binds the name, see
    :func:`check_bound_name`). Anything else is refused before a key is asked for."""
    import json

    from edgekit.bundle.entries import MAX_MANIFEST_BYTES, bundle_files, read_capped

    bundle = Path(bundle)
    bundle_files(bundle)
    manifest = read_capped(bundle, "manifest.json", MAX_MANIFEST_BYTES, what="a manifest", hint="rebuild the bundle")
    if manifest is None:
        raise InputError(f"{bundle}: not a bundle (no manifest.json)", hint="pass a folder written by 'edgekit build'")
    try:
        name = json.loads(manifest).get("name")
    except (ValueError, AttributeError):
        name = None
    folder = bundle.resolve().name
    if name != folder:
        raise InputError(
            f"{bundle}: the folder is named {folder!r} but its manifest names the bundle {name!r}; a signature binds the bundle's name",
            hint=f"rename the folder to {name!r}, or set \"name\" in its manifest.json to {folder!r}, then sign",
        )
    return manifest


# --- ssh-keygen ---------------------------------------------------------------------------


def _ssh_keygen(args: list[str], *, stdin: bytes | None = None, interactive: bool = False) -> subprocess.CompletedProcess:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise ToolError("publisher signatures need OpenSSH's ssh-keygen (8.2 or later), which is not installed", hint="install it, e.g. 'sudo apt install openssh-client'")
    try:
        result = subprocess.run(
            [tool, *args], input=stdin, capture_output=True, timeout=_TIMEOUT, check=False,
            **({} if interactive or stdin is not None else {"stdin": subprocess.DEVNULL}),
        )  # fmt: skip
        return subprocess.CompletedProcess(result.args, result.returncode, _text(result.stdout), _text(result.stderr))
    except subprocess.TimeoutExpired:
        hint = "a key's passphrase prompt? load the key into ssh-agent" if interactive else "it was checking, with no prompt; is the machine overloaded?"
        raise ToolError(f"ssh-keygen {' '.join(args[:2])} did not finish within {_TIMEOUT} s", hint=hint) from None


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="edgekit-sign-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""

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
by placing one at ``~/.config/edgekit/allowed_signers``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from edgekit.errors import BundleError, InputError, ToolError

__all__ = ["check_signature", "check_signing_key", "device_policy", "fingerprint", "read_public_key", "sign_bundle", "SIGNATURE_NAME", "Signers"]

NAMESPACE = "edgekit-bundle"
SIGNATURE_NAME = "manifest.json.sig"
ENV_ALLOWED_SIGNERS = "EDGEKIT_ALLOWED_SIGNERS"
_KEY_PRINCIPAL = "publisher"  # the one principal of a --key check's allowed_signers
_TIMEOUT = 60
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-")


@dataclass(frozen=True)
class Signers:
    """Whose signature a bundle must carry: one public key, or an ``allowed_signers`` file.

    ``source`` says where the requirement came from, for error messages.
    """

    key: Path | None = None
    allowed_signers: Path | None = None
    source: str = ""

    @classmethod
    def from_options(cls, key: Path | None, allowed_signers: Path | None) -> "Signers | None":
        """The command line's choice, else the device's own requirement (or None)."""
        if key is not None and allowed_signers is not None:
            raise InputError("--key and --allowed-signers both name who signs; give one")
        if key is not None:
            return cls(key=Path(key), source="--key")
        if allowed_signers is not None:
            return cls(allowed_signers=Path(allowed_signers), source="--allowed-signers")
        return device_policy()


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


def check_signature(bundle: str | Path, manifest: bytes, signature: bytes | None, signers: Signers) -> str:
    """The principal whose signature over ``manifest`` checks out; raise one line otherwise."""
    if signature is None:
        raise BundleError(
            f"{bundle}: not signed (no {SIGNATURE_NAME}), and {signers.source} requires a publisher signature",
            hint="ask its publisher for a signed bundle ('edgekit sign BUNDLE --key KEY')",
        )
    with _scratch() as folder:
        allowed = signers.allowed_signers or _key_as_allowed_signers(signers.key, folder)
        (folder / "sig").write_bytes(signature)
        principals = _principals(allowed, folder / "sig")
        for principal in principals:
            result = _ssh_keygen(["-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", str(folder / "sig")], stdin=manifest)
            if result.returncode == 0:
                return f"the key {fingerprint(signers.key)}" if signers.key else principal
    who = "the key in --key" if signers.key else f"anyone in {signers.allowed_signers}"
    raise BundleError(
        f"{bundle}: signature check failed: {SIGNATURE_NAME} is not a signature of this manifest.json by {who} "
        "(the manifest was changed after signing, or another key signed it)",
        hint="get the bundle again from its publisher, and check which key you trust",
    )


def _principals(allowed: Path, signature: Path) -> list[str]:
    result = _ssh_keygen(["-Y", "find-principals", "-s", str(signature), "-f", str(allowed)])
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def _key_as_allowed_signers(key: Path, folder: Path) -> Path:
    """A one-line allowed_signers file for a single public key."""
    allowed = folder / "allowed_signers"
    allowed.write_text(f'{_KEY_PRINCIPAL} namespaces="{NAMESPACE}" {read_public_key(key)}\n', encoding="utf-8")
    return allowed


def read_public_key(path: Path) -> str:
    """The ``type base64`` of an OpenSSH public key file; anything else is refused by name."""
    try:
        words = Path(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        words = []
    if len(words) < 2 or not words[0].startswith(_KEY_TYPES):
        raise InputError(f"--key {path}: not an OpenSSH public key", hint="give the .pub file, e.g. ~/.ssh/id_ed25519.pub")
    return f"{words[0]} {words[1]}"


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

    bundle = Path(bundle)
    signature = sign_manifest((bundle / "manifest.json").read_bytes(), key)
    write_file_atomic(bundle / SIGNATURE_NAME, signature)
    return bundle / SIGNATURE_NAME


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
        raise ToolError(f"ssh-keygen {args[0]} {args[1]} did not finish within {_TIMEOUT} s", hint="a key's passphrase prompt? load the key into ssh-agent") from None


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

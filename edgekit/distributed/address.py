"""Whether edgekit may talk to a Dask scheduler, decided from its address before any connection.

A Dask scheduler runs whatever a client sends it and a client unpickles whatever comes back,
so a plain ``tcp://`` scheduler off this machine means models, data and code travel in the
clear to and from anyone who can reach that port. The rule: ``tcp://`` to a loopback address
(127.0.0.0/8, ::1, ``localhost``) is fine; anywhere else needs ``tls://`` with a CA, a
certificate and a key (Dask's own ``Security``), or ``--insecure``, which says what it allows.
A host name other than ``localhost`` counts as remote: nothing is resolved to decide.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import InputError

__all__ = ["Connection", "TlsFiles", "decide", "is_loopback", "parse_address"]

_ADDRESS = re.compile(r"(?P<scheme>tcp|tls)://(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>[0-9]{1,5})")
INSECURE_MEANING = "models, data and task results travel unencrypted and unauthenticated to and from anyone who can reach that port"


@dataclass(frozen=True)
class TlsFiles:
    """``--tls-ca``, ``--tls-cert`` and ``--tls-key``: what Dask's ``Security`` needs."""

    ca: str
    cert: str
    key: str


@dataclass(frozen=True)
class Connection:
    """A scheduler edgekit may connect to, and how (``tls`` None: plain TCP)."""

    address: str
    host: str
    port: int
    tls: TlsFiles | None = None
    insecure: bool = False


def parse_address(address: str, *, flag: str = "--scheduler") -> tuple[str, str, int]:
    """(scheme, host, port) of ``tcp://HOST:PORT`` or ``tls://HOST:PORT``; InputError otherwise."""
    match = _ADDRESS.fullmatch(address.strip()) if isinstance(address, str) else None
    if match is None:
        raise InputError(f"{flag} {str(address)[:80]!r}: not a scheduler address", hint="give tcp://HOST:PORT or tls://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    host = match["ipv6"] or match["host"]
    port = int(match["port"])
    if not 0 < port < 65536:
        raise InputError(f"{flag} {address!r}: port {port} is out of range", hint="a port is 1 to 65535")
    if match["ipv6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError(f"{flag} {address!r}: [{host}] is not an IPv6 address") from None
    return match["scheme"], host, port


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; a name is never resolved (that would be a lookup on
    the network before the decision)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def decide(address: str, *, tls: TlsFiles | None = None, insecure: bool = False, flag: str = "--scheduler") -> Connection:
    """The connection edgekit may open to ``address``, or InputError saying why not and what to do."""
    scheme, host, port = parse_address(address, flag=flag)
    if scheme == "tls":
        if tls is None:
            raise InputError(f"{flag} {address}: tls:// needs --tls-ca, --tls-cert and --tls-key", hint="give the CA that signed the scheduler's certificate, and this client's certificate and key")
        _check_files(tls)
        return Connection(address, host, port, tls=tls)
    if tls is not None:
        raise InputError(f"{flag} {address}: --tls-* files given for a plain tcp:// address", hint=f"use tls://{_hostport(host, port)} to connect with TLS")
    if is_loopback(host):
        return Connection(address, host, port)
    if not insecure:
        raise InputError(
            f"{flag} {address}: a plain tcp:// scheduler off this machine would mean {INSECURE_MEANING}",
            hint=f"use tls://{_hostport(host, port)} with --tls-ca/--tls-cert/--tls-key, or --insecure on a network you trust",
        )
    return Connection(address, host, port, insecure=True)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_files(tls: TlsFiles) -> None:
    for flag, path in (("--tls-ca", tls.ca), ("--tls-cert", tls.cert), ("--tls-key", tls.key)):
        if not Path(path).is_file():
            raise InputError(f"{flag} {path}: no such file", hint="give the PEM file's path")

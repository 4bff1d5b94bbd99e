"""Drive a Raspberry Pi (or any Linux board) over SSH with the system OpenSSH client.

The system ``ssh``/``scp`` are used, not a Python SSH library, so the user's
``~/.ssh/config``, keys, agent, jump hosts and known_hosts apply exactly as on the command
line. Every call is an argv list with ``BatchMode=yes`` (never a password prompt that would
hang), a connect timeout and an overall timeout; ssh's own failures are turned into one-line
errors that say what to do.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from edgekit.errors import InputError, ToolError

__all__ = ["DEFAULT_REMOTE_DIR", "install_hint", "last_line", "probe", "Remote", "remote_path", "run_checked", "run_remote_bench"]

DEFAULT_REMOTE_DIR = "edgekit-bundles"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+@=-]+$")

# Runs with the remote python before edgekit is known to be there: stdlib only, any Python 3.
PROBE = r"""
import json, platform, sys
info = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}
if sys.version_info < (3, 10):
    info.update(missing="python", error="Python %s is too old (edgekit needs 3.10+)" % info["python"])
else:
    try:
        import edgekit
        info["edgekit"] = edgekit.__version__
        from edgekit.runtime.backends import resolve_backend
        backend = resolve_backend(sys.argv[1] or None)
        info["runtime"] = {"name": backend.name, "version": backend.version}
    except BaseException as exc:
        info["missing"] = "runtime" if "edgekit" in info else "edgekit"
        info["error"] = ("%s: %s" % (type(exc).__name__, exc)).splitlines()[0]
print(json.dumps(info))
"""

# (pattern in ssh's stderr, what it means, what to do); the first match wins.
_SSH_FAILURES = (
    ("Could not resolve hostname", "cannot resolve the host name", "check the spelling, or add it to ~/.ssh/config"),
    ("Connection refused", "connection refused (no SSH server on that port)", "check the host and port, and that sshd runs there"),
    ("timed out", "connection timed out", "check the device is on and on this network"),
    ("No route to host", "no route to host", "check the device is on and on this network"),
    ("Network is unreachable", "network unreachable", "check this machine's network"),
    ("Permission denied", "the server refused our key (Permission denied)", "install your public key there with 'ssh-copy-id HOST', or set IdentityFile in ~/.ssh/config"),
    ("Host key verification failed", "host key unknown or changed", "connect once with 'ssh HOST' to check and accept its key, or fix ~/.ssh/known_hosts"),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "host key changed", "if the device was reinstalled, remove the old key with 'ssh-keygen -R HOST'"),
    ("Too many authentication failures", "too many keys offered", "set IdentitiesOnly=yes and IdentityFile for this host in ~/.ssh/config"),
)


@dataclass(frozen=True)
class Remote:
    """One SSH destination and how to reach its Python."""

    host: str
    python: str = "python3"
    ssh_config: str | None = None
    connect_timeout: int = 10
    timeout: float = 900.0
    legacy_scp: bool = False

    def __post_init__(self):
        if not self.host or self.host.startswith("-") or any(c.isspace() or not c.isprintable() for c in self.host):
            raise InputError(f"invalid host {self.host!r}", hint="use user@host, a Host alias from ~/.ssh/config, or ssh://user@host:port")
        if re.fullmatch(r"[^:\[\]/]+:\d+", self.host):
            raise InputError(f"invalid host {self.host!r}: ssh does not take host:port", hint=f"write ssh://{self.host} or set Port in ~/.ssh/config")
        try:
            destination, _ = _split_uri(self.host)  # urlsplit checks the port and brackets
        except ValueError as exc:
            raise InputError(f"invalid host {self.host!r}: {exc}", hint="write ssh://user@host:port, e.g. ssh://pi@10.0.0.5:2222") from None
        if not destination or destination.endswith("@"):
            raise InputError(f"invalid host {self.host!r}: no host name", hint="use user@host, a Host alias from ~/.ssh/config, or ssh://user@host:port")
        problem = destination_problem(destination)
        if problem:
            raise InputError(f"invalid host {self.host!r}: {problem}", hint="OpenSSH refuses such names too; use user@host, a Host alias or ssh://user@host:port")
        try:
            words = shlex.split(self.python)
        except ValueError as exc:
            raise InputError(f"--remote-python {self.python!r}: {exc}") from None
        if not words:
            raise InputError("--remote-python is empty", hint="name the device's Python, e.g. python3 or ~/edgekit-venv/bin/python")

    @property
    def destination(self) -> str:
        """``user@host`` as ssh takes it (an IPv6 address without brackets)."""
        user, host = split_destination(_split_uri(self.host)[0])
        return f"{user}@{host}" if user else host

    def scp_target(self, path: str) -> str:
        """``user@host:path`` as scp takes it: an IPv6 address goes in brackets, or scp would
        read its first colon as the end of the host."""
        user, host = split_destination(_split_uri(self.host)[0])
        host = f"[{host}]" if ":" in host else host
        return f"{user}@{host}:{path}" if user else f"{host}:{path}"

    def ssh_argv(self, command: str) -> list[str]:
        port = _split_uri(self.host)[1]
        return ["ssh", *self._options(), *(["-p", str(port)] if port else []), "--", self.destination, command]

    def scp_argv(self, sources: list[str], target: str) -> list[str]:
        """scp over SFTP (``-s``) unless ``legacy_scp`` (``-O``): every remote name is edgekit's
        own or checked, so even the old protocol, whose remote shell sees the path, is safe."""
        port = _split_uri(self.host)[1]
        protocol = scp_protocol_flag(legacy=self.legacy_scp)
        return ["scp", "-q", "-r", *protocol, *self._options(), *(["-P", str(port)] if port else []), "--", *sources, target]

    def _options(self) -> list[str]:
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
        return (["-F", self.ssh_config] if self.ssh_config else []) + options

    def run(self, command: str, *, what: str) -> subprocess.CompletedProcess:
        """Run a shell command on the host; ssh's own failures raise, the command's do not."""
        result = _run(self.ssh_argv(command), timeout=self.timeout, what=f"{self.host}: {what}")
        if result.returncode == 255:
            raise ssh_error(self.host, result.stderr)
        return result

    def python_command(self, *args: str) -> str:
        """A shell command line running the remote python with ``args``, every word quoted."""
        return " ".join([*(remote_word(w) for w in shlex.split(self.python)), *(shlex.quote(a) for a in args)])

    def copy_to(self, local: Path, remote_path: str) -> None:
        """Copy a file or folder to ``remote_path`` (an edgekit name in a folder that exists)."""
        result = _run(self.scp_argv([str(local)], self.scp_target(remote_path)), timeout=self.timeout, what=f"{self.host}: copy {local.name}")
        if result.returncode != 0:
            if not self.legacy_scp and "subsystem request failed" in result.stderr.lower():
                raise ToolError(f"{self.host}: the server offers no SFTP, which edgekit copies with", hint="enable its sftp Subsystem, or pass --legacy-scp")
            raise ssh_error(self.host, result.stderr, doing=f"copying {local.name}")


def ssh_error(host: str, stderr: str, *, doing: str = "connecting") -> ToolError:
    """One line: what went wrong reaching ``host`` and what to do."""
    for pattern, meaning, hint in _SSH_FAILURES:
        if pattern.lower() in stderr.lower():
            return ToolError(f"{host}: {meaning} while {doing}", hint=hint.replace("HOST", host))
    last = last_line(stderr) or "ssh exited with status 255"
    return ToolError(f"{host}: ssh failed while {doing}: {last}", hint="run 'ssh -v " + host + "' to see why")


def probe(remote: Remote, runtime: str | None = None) -> dict:
    """What the host has: Python, edgekit and an interpreter; raise with the fix if not."""
    result = remote.run(remote.python_command("-c", PROBE, runtime or ""), what="check the remote runtime")
    if result.returncode == 127 or (result.returncode != 0 and not result.stdout.strip()):
        raise ToolError(
            f"{remote.host}: cannot run {remote.python!r} there ({last_line(result.stderr) or 'exit status ' + str(result.returncode)})",
            hint="install Python 3.10+ there ('sudo apt install python3 python3-venv') or point --remote-python at it",
        )
    try:
        info = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise ToolError(f"{remote.host}: unexpected answer from the runtime check: {last_line(result.stdout)!r}") from exc
    if "missing" in info:
        raise ToolError(f"{remote.host}: {_missing_what(info, remote)} ({info['error']})", hint=install_hint(info, remote))
    return info


def _missing_what(info: dict, remote: Remote) -> str:
    if info["missing"] == "python":
        return f"{remote.python} is Python {info['python']}, too old for edgekit"
    if info["missing"] == "edgekit":
        return f"edgekit is not installed for {remote.python}"
    return f"edgekit is installed for {remote.python} but no TFLite interpreter can be imported"


def install_hint(info: dict, remote: Remote) -> str:
    """The exact command to run on the device, for its architecture and Python."""
    extra = "legacy-runtime" if info.get("machine", "").startswith(("armv6", "armv7")) else "runtime"
    package = f"'edgekit-tflite[{extra}]'"
    if info["missing"] == "python":
        return "install Python 3.10+ there ('sudo apt install python3 python3-venv')"
    if remote.python == "python3":
        return (
            f"install it there with: python3 -m venv ~/edgekit-venv && ~/edgekit-venv/bin/pip install {package}"
            " - then pass --remote-python ~/edgekit-venv/bin/python"
        )
    return f"install it there with: {remote.python} -m pip install {package}"


def run_remote_bench(remote: Remote, paths: list[str], bench_args: list[str]) -> dict:
    """Run ``edgekit bench`` there and bring its JSON back over the same connection."""
    command = remote.python_command("-m", "edgekit", "--quiet", "bench", *bench_args, "--json", "-", "--", *paths)
    result = remote.run(command, what="run the benchmark")
    if result.returncode != 0:
        raise ToolError(f"{remote.host}: the remote benchmark failed: {last_line(result.stderr) or 'exit status ' + str(result.returncode)}")
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise ToolError(f"{remote.host}: the remote benchmark did not return JSON: {last_line(result.stdout)!r}") from exc


def remote_path(path: str) -> str:
    """A remote folder as scp and the remote shell both read it: ``~/x`` becomes ``x``.

    Only plain characters, no ``..``, and no leading ``-``: a path must never be read as an
    option by scp, mkdir or the remote edgekit.
    """
    if path in ("~", "~/"):
        return "."
    path = path[2:] if path.startswith("~/") else path
    if not path or path.startswith("-") or not _SAFE_PATH.match(path) or ".." in PurePosixPath(path).parts:
        raise InputError(f"remote path {path!r} is not allowed", hint="use letters, digits and ._/+@=- only (not first -), relative to the remote home or absolute")
    return path.rstrip("/") or "/"


# OpenSSH's own checks of a destination (ssh.c: valid_hostname, valid_ruser): names that a
# shell or ssh's option parser would read as something else.
_HOST_FORBIDDEN = set("'`\"$\\;&<>|(){},")
_USER_FORBIDDEN = set("'`\";&<>|(){}")


def split_destination(destination: str) -> tuple[str, str]:
    """(user, host) of ``user@host``; brackets around an IPv6 address are dropped."""
    user, _, host = destination.rpartition("@")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return user, host


def destination_problem(destination: str) -> str | None:
    """What OpenSSH would refuse in ``user@host``, or None."""
    user, host = split_destination(destination)
    if not host or host.startswith("-") or any(c in _HOST_FORBIDDEN or c.isspace() or not c.isprintable() for c in host):
        return f"the host name {host!r} holds a character a shell or ssh would read as syntax"
    if user and (user.startswith("-") or user.endswith("\\") or any(c in _USER_FORBIDDEN or not c.isprintable() for c in user) or " -" in user):
        return f"the user name {user!r} holds a character a shell or ssh would read as syntax"
    return None


def scp_protocol_flag(*, legacy: bool) -> list[str]:
    """``-s`` (SFTP) or ``-O`` (the original protocol), as far as this scp knows them:
    ``-s`` since OpenSSH 8.7, ``-O`` since 9.0 (where SFTP became the default)."""
    version = openssh_version()
    if legacy:
        return ["-O"] if version >= (9, 0) else []
    if version < (8, 7):
        raise ToolError(f"this OpenSSH client ({'.'.join(map(str, version))}) cannot copy over SFTP", hint="upgrade OpenSSH to 8.7 or later, or pass --legacy-scp")
    return ["-s"]


@functools.lru_cache(maxsize=1)
def openssh_version() -> tuple[int, int]:
    """The local OpenSSH client's version, from ``ssh -V``."""
    result = _run(["ssh", "-V"], timeout=10, what="ssh -V")
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stderr + result.stdout)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def remote_word(word: str) -> str:
    """Shell-quote a word but keep a leading ``~/`` expandable by the remote shell."""
    if word.startswith("~/"):
        return '"$HOME"/' + shlex.quote(word[2:])
    return shlex.quote(word)


def run_checked(remote: Remote, command: str, *, what: str) -> subprocess.CompletedProcess:
    """Run a remote shell command; a non-zero exit is a one-line error."""
    result = remote.run(command, what=what)
    if result.returncode != 0:
        raise ToolError(f"{remote.host}: could not {what}: {last_line(result.stderr) or 'exit status ' + str(result.returncode)}")
    return result


def _run(argv: list[str], *, timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError as exc:
        raise ToolError(f"the OpenSSH client ({argv[0]}) is not installed", hint="install it, e.g. 'sudo apt install openssh-client'") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what}: no answer within {timeout:.0f} s", hint="check the connection, or raise --timeout") from exc


def _split_uri(host: str) -> tuple[str, int | None]:
    """``ssh://user@host:port`` to (``user@host``, port); anything else unchanged."""
    if not host.startswith("ssh://"):
        return host, None
    parts = urlsplit(host)
    destination = f"{parts.username}@{parts.hostname}" if parts.username else (parts.hostname or "")
    return destination, parts.port


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""

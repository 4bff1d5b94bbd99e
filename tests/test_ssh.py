"""Deploy and bench over SSH against a real OpenSSH server started on 127.0.0.1.

The server runs as the current user with a throw-away ed25519 host key and client key; the
client gets its own ssh_config and known_hosts (passed with --ssh-config, as a user's
~/.ssh/config would be read), so nothing of the machine's own SSH set-up is used or changed.
The "device" runs this checkout's edgekit via PYTHONPATH, the way a Pi runs an installed
``edgekit-tflite[runtime]``.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, edgekit_command
from tests.device_bundles import tiny_bundles

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = next((p for p in (Path("/usr/lib/openssh/sftp-server"), Path("/usr/libexec/openssh/sftp-server")) if p.exists()), None)
FAST = ["--runs", "20", "--warmup", "2", "--min-time", "0.05"]


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = _has_ipv6_loopback()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A live sshd on a free loopback port, and an ssh_config with three Host aliases."""
    if not SSHD.exists() or shutil.which("ssh") is None or shutil.which("scp") is None:
        pytest.skip("OpenSSH server/client not installed (Debian: apt-get install openssh-server openssh-client; .ci/run does this)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir, made by systemd normally
    root = tmp_path_factory.mktemp("sshd")
    host_key = root / "host_ed25519"
    host_pub = keygen(host_key)
    client_pub = keygen(root / "client_ed25519")
    keygen(root / "stranger_ed25519")  # a key the server does not know
    (root / "authorized_keys").write_text(client_pub + "\n")
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                *(["ListenAddress [::1]"] if IPV6 else []),
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "LogLevel ERROR",
                *([f"Subsystem sftp {SFTP_SERVER}"] if SFTP_SERVER else []),
                "",
            ]
        )
    )
    log = root / "sshd.log"
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log.open("w"))
    _wait_for_port(port, server, log)
    known_hosts = root / "known_hosts"
    known_hosts.write_text("".join(f"[{address}]:{port} {' '.join(host_pub.split()[:2])}\n" for address in ("127.0.0.1", "::1")))
    client_config = root / "ssh_config"
    (root / "empty_known_hosts").write_text("")
    common = f"  HostName 127.0.0.1\n  User {getpass.getuser()}\n  IdentitiesOnly yes\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
    client_key = f"  IdentityFile {root / 'client_ed25519'}\n"
    known = f"  UserKnownHostsFile {known_hosts}\n"
    client_config.write_text(
        f"Host pi 127.0.0.1\n  Port {port}\n{client_key}{known}{common}\n"
        f"Host stranger\n  Port {port}\n  IdentityFile {root / 'stranger_ed25519'}\n{known}{common}\n"
        f"Host nowhere\n  Port {free_port()}\n{client_key}{known}{common}\n"
        f"Host ::1\n  Port {port}\n{client_key}{known}  User {getpass.getuser()}\n  IdentitiesOnly yes\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\n"
        f"Host newdevice\n  Port {port}\n{client_key}  UserKnownHostsFile {root / 'empty_known_hosts'}\n{common}\n"
    )
    try:
        yield {"config": str(client_config), "root": root, "port": port, "known_hosts": str(known_hosts), "key": str(root / "client_ed25519")}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"sshd exited with {server.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    server.kill()
    pytest.fail(f"sshd did not listen on port {port}: {log.read_text()}")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return tiny_bundles(tmp_path_factory)


def remote_args(sshd, host: str, python: str | None = None) -> list[str]:
    python = python or f"env PYTHONPATH={REPO} {sys.executable}"
    return ["--host", host, "--ssh-config", sshd["config"], "--remote-python", python, "--path", str(sshd["root"] / "device"), "--connect-timeout", "5"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=env, timeout=300)


def test_deploy_copies_and_verifies_on_the_device(sshd, bundles):
    bundle = bundles["int8"]
    result = run_cli("deploy", str(bundle), *remote_args(sshd, "pi"))
    assert result.returncode == 0, result.stderr
    remote_copy = sshd["root"] / "device" / bundle.name
    assert "verified" in result.stdout and "ai_edge_litert" in result.stdout
    assert sorted(p.name for p in remote_copy.iterdir()) == sorted(p.name for p in bundle.iterdir())
    assert (remote_copy / "model.tflite").read_bytes() == (bundle / "model.tflite").read_bytes()
    assert not [p for p in remote_copy.parent.iterdir() if ".partial-" in p.name]  # staging cleaned up


def test_bench_over_ssh_brings_results_back_by_host(sshd, bundles, tmp_path):
    """Two models on a fleet of two "devices" (the same sshd reached as an alias and as a URI)."""
    out = tmp_path / "fleet.json"
    uri = f"ssh://{getpass.getuser()}@127.0.0.1:{_port(sshd)}"
    models = [str(bundles["float32"]), str(bundles["int8"])]
    result = run_cli("bench", *models, *FAST, "--json", str(out), *remote_args(sshd, "pi"), "--host", uri)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["results"]
    assert [(r["host"], r["model"]) for r in rows] == [(h, Path(m).name) for h in ("pi", uri) for m in models]
    assert all(r["latency_us"]["runs"] >= 20 and r["device"]["cores"] and r["runtime"]["name"] == "ai_edge_litert" for r in rows)
    assert all(r["path"].startswith(str(sshd["root"] / "device")) for r in rows)  # measured on the copies
    table = result.stdout.splitlines()
    assert table[0].startswith("# pi: ") and table[1].startswith(f"# {uri}: ")
    header = next(line for line in table if line.startswith("host"))
    assert "p50 µs" in header and sum(line.startswith(("pi ", uri)) for line in table) == 4


def _port(sshd) -> int:
    text = Path(sshd["config"]).read_text()
    return int(text.split("Port ", 1)[1].split()[0])


@pytest.mark.parametrize(
    "host, python, expected",
    [
        ("nowhere", None, "nowhere: connection refused"),
        ("stranger", None, "stranger: the server refused our key (Permission denied)"),
        ("newdevice", None, "newdevice: host key unknown or changed"),
        ("pi", f"{sys.executable} -S", "pi: edgekit is not installed for"),
        ("pi", f"env PYTHONPATH={REPO} {sys.executable} -S", "no TFLite interpreter can be imported"),
        ("pi", "/nonexistent/python3", "pi: cannot run '/nonexistent/python3' there"),
    ],
)
def test_failures_are_one_clear_line(sshd, bundles, host, python, expected):
    result = run_cli("deploy", str(bundles["int8"]), *remote_args(sshd, host, python))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]


def test_missing_runtime_names_the_exact_install_command(sshd, bundles):
    result = run_cli("deploy", str(bundles["int8"]), *remote_args(sshd, "pi", f"{sys.executable} -S"))
    assert "pip install 'edgekit-tflite[runtime]'" in result.stderr


def test_refused_key_error_says_how_to_install_the_key(sshd, bundles):
    result = run_cli("bench", str(bundles["int8"]), *FAST, *remote_args(sshd, "stranger"))
    assert result.returncode != 0
    assert "ssh-copy-id stranger" in result.stderr


# --- without a server: the pieces that turn ssh's answers into advice -----------------------


def test_install_hint_matches_the_device():
    from edgekit.remote.ssh import Remote, install_hint

    pi64 = {"missing": "edgekit", "machine": "aarch64", "python": "3.11.2"}
    assert install_hint(pi64, Remote("pi")) == (
        "install it there with: python3 -m venv ~/edgekit-venv && ~/edgekit-venv/bin/pip install 'edgekit-tflite[runtime]'"
        " - then pass --remote-python ~/edgekit-venv/bin/python"
    )
    pi32 = {"missing": "runtime", "machine": "armv7l", "python": "3.11.2"}
    assert install_hint(pi32, Remote("pi", python="~/venv/bin/python")) == "install it there with: ~/venv/bin/python -m pip install 'edgekit-tflite[legacy-runtime]'"


def test_remote_words_and_paths_are_quoted():
    from edgekit.errors import InputError
    from edgekit.remote.ssh import Remote, remote_path

    remote = Remote("pi", python="~/venv/bin/python -u")
    assert remote.python_command("-m", "edgekit", "verify", "dir with space") == "\"$HOME\"/venv/bin/python -u -m edgekit verify 'dir with space'"
    assert remote_path("~/bundles/") == "bundles" and remote_path("/opt/x") == "/opt/x"
    for bad in ("../etc", "a;rm -rf", "$(reboot)"):
        with pytest.raises(InputError):
            remote_path(bad)
    for bad in ("-oProxyCommand=x", "pi:2222", "two words"):
        with pytest.raises(InputError):
            Remote(bad)
    assert Remote("ssh://me@10.0.0.5:2222").ssh_argv("true")[-5:] == ["-p", "2222", "--", "me@10.0.0.5", "true"]

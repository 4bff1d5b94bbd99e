"""Deploy over SSH as an attacker and a careless user would, against the real sshd on 127.0.0.1.

The legacy scp protocol (``scp -O``, the default before OpenSSH 9.0) hands the remote path to
the device's shell; edgekit's remote names are its own, so a bundle called ``b$(touch X)``
runs nothing there. ``deploy`` keeps what it did not write on the device and keeps the previous
bundle until the new one verifies.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_ssh import IPV6, bundles, remote_args, run_cli, sshd  # noqa: F401 - fixtures

HOSTILE = "b$(touch PWNED)"


def _device(sshd) -> Path:
    return sshd["root"] / "device"


def _pwned(sshd) -> list[Path]:
    """Files a command injected through a name would have made (in the device's places)."""
    places = [Path.home(), _device(sshd), sshd["root"], Path.cwd()]
    return [place / "PWNED" for place in places if (place / "PWNED").exists()]


@pytest.fixture
def hostile_bundle(bundles, tmp_path):  # noqa: F811
    copy = tmp_path / HOSTILE
    shutil.copytree(bundles["int8"], copy)
    return copy


def test_legacy_scp_deploys_a_bundle(sshd, bundles):  # noqa: F811
    result = run_cli("deploy", str(bundles["int8"]), *remote_args(sshd, "pi"), "--legacy-scp")
    assert result.returncode == 0, result.stderr
    copy = _device(sshd) / bundles["int8"].name
    assert (copy / "model.tflite").read_bytes() == (bundles["int8"] / "model.tflite").read_bytes()
    assert not [p for p in _device(sshd).iterdir() if p.name.startswith(".edgekit-")]


def test_hostile_bundle_name_runs_nothing_on_the_device(sshd, hostile_bundle):
    result = run_cli("deploy", str(hostile_bundle), *remote_args(sshd, "pi"), "--legacy-scp")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "is not safe on a device's shell" in result.stderr
    assert not _pwned(sshd)


def test_legacy_copy_of_a_hostile_folder_lands_under_edgekit_names(sshd, hostile_bundle):
    """Below the name check: the copy itself sends only edgekit's names through the shell."""
    from edgekit.remote.deploy import _staging
    from edgekit.remote.ssh import Remote

    remote = Remote("pi", python=f"env PYTHONPATH={REPO} {sys.executable}", ssh_config=sshd["config"], legacy_scp=True)
    assert "-O" in remote.scp_argv(["x"], "pi:y")
    with _staging(remote, str(_device(sshd)), "upload") as staging:
        remote.copy_to(hostile_bundle, f"{staging}/bundle")
        assert sorted(p.name for p in Path(staging, "bundle").iterdir()) == sorted(p.name for p in hostile_bundle.iterdir())
    assert not _pwned(sshd) and not Path(staging).exists()


def test_deploy_keeps_files_it_did_not_write(sshd, bundles):  # noqa: F811
    bundle = bundles["int8"]
    assert run_cli("deploy", str(bundle), *remote_args(sshd, "pi")).returncode == 0
    copy = _device(sshd) / bundle.name
    old = _device(sshd) / f"{bundle.name}.old"
    old.mkdir(exist_ok=True)
    (old / "mine.txt").write_text("kept by the user\n")
    (copy / "notes.txt").write_text("the user's notes\n")
    refused = run_cli("deploy", str(bundle), *remote_args(sshd, "pi"))
    assert refused.returncode == 2 and "holds files its manifest does not list (notes.txt)" in refused.stderr
    assert (copy / "notes.txt").read_text() == "the user's notes\n"
    (copy / "notes.txt").unlink()
    assert run_cli("deploy", str(bundle), *remote_args(sshd, "pi")).returncode == 0
    assert (old / "mine.txt").read_text() == "kept by the user\n"  # NAME.old is the user's


def test_deploy_refuses_a_folder_that_is_not_a_bundle(sshd, bundles, tmp_path):  # noqa: F811
    target = _device(sshd) / "photos"
    target.mkdir(parents=True, exist_ok=True)
    (target / "cat.jpg").write_bytes(b"\xff\xd8")
    copy = tmp_path / "photos"
    shutil.copytree(bundles["int8"], copy)
    result = run_cli("deploy", str(copy), *remote_args(sshd, "pi"))
    assert result.returncode == 2 and "is not an edgekit bundle" in result.stderr
    assert (target / "cat.jpg").read_bytes() == b"\xff\xd8"


def test_previous_bundle_stays_until_the_new_one_verifies(sshd, bundles, tmp_path):  # noqa: F811
    bundle = bundles["int8"]
    assert run_cli("deploy", str(bundle), *remote_args(sshd, "pi")).returncode == 0
    copy = _device(sshd) / bundle.name
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    failing = tmp_path / "python-failing-verify"  # the device's edgekit refuses the new copy
    failing.write_text(f'#!/bin/sh\ncase "$*" in *" verify "*) echo "error: refused by the device" >&2; exit 2;; esac\nexec env PYTHONPATH={REPO} {sys.executable} "$@"\n')
    failing.chmod(0o755)
    result = run_cli("deploy", str(bundle), *remote_args(sshd, "pi", str(failing)))
    assert result.returncode == 2 and "failed verification there" in result.stderr
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert not [p for p in _device(sshd).iterdir() if p.name.startswith(".edgekit-")]


def test_bench_over_ssh_leaves_nothing_on_the_device(sshd, bundles):  # noqa: F811
    before = sorted(p.name for p in _device(sshd).iterdir()) if _device(sshd).exists() else []
    result = run_cli("bench", str(bundles["int8"]), "--runs", "5", "--warmup", "1", "--min-time", "0", *remote_args(sshd, "pi"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in _device(sshd).iterdir()) == before


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback here")
def test_ipv6_host_is_bracketed_for_scp(sshd, bundles):  # noqa: F811
    host = f"ssh://{getpass.getuser()}@[::1]:{sshd['port']}"
    result = run_cli("deploy", str(bundles["float32"]), *remote_args(sshd, host))
    assert result.returncode == 0, result.stderr
    assert (_device(sshd) / bundles["float32"].name / "manifest.json").is_file()


def test_destinations_are_checked_as_openssh_does():
    from edgekit.errors import InputError
    from edgekit.remote.ssh import Remote

    assert Remote("pi@[fe80::1]").scp_target("x/y") == "pi@[fe80::1]:x/y"
    assert Remote("ssh://pi@[::1]:2222").destination == "pi@::1"
    assert Remote("::1").scp_target("a") == "[::1]:a"
    for bad in ("pi@host;reboot", "pi@$(reboot)", "pi@a|b", "-oProxyCommand=x", "us'er@pi", "pi@host,other"):
        with pytest.raises(InputError):
            Remote(bad)


def test_a_device_that_requires_signatures_refuses_unsigned_bundles(sshd, bundles, tmp_path):  # noqa: F811
    from edgekit.bundle.signing import sign_bundle

    key = tmp_path / "publisher"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'release namespaces="edgekit-bundle" {kind} {blob}\n')
    strict = f"env EDGEKIT_ALLOWED_SIGNERS={allowed} PYTHONPATH={REPO} {sys.executable}"
    unsigned = tmp_path / "strict-bundle"
    shutil.copytree(bundles["int8"], unsigned)
    _rename_in_manifest(unsigned)  # a signature binds the name: the folder's must be the manifest's
    refused = run_cli("deploy", str(unsigned), *remote_args(sshd, "pi", strict))
    assert refused.returncode == 2 and "failed verification there" in refused.stderr and "not signed" in refused.stderr
    assert not (_device(sshd) / unsigned.name).exists()
    sign_bundle(unsigned, key)
    result = run_cli("deploy", str(unsigned), *remote_args(sshd, "pi", strict), "--key", str(key.with_suffix(".pub")))
    assert result.returncode == 0, result.stderr
    assert (_device(sshd) / unsigned.name / "manifest.json.sig").is_file()
    renamed = tmp_path / "renamed-bundle"
    shutil.copytree(unsigned, renamed)
    refused = run_cli("deploy", str(renamed), *remote_args(sshd, "pi", strict))  # no local policy: the device's check refuses it
    assert refused.returncode == 2 and "failed verification there" in refused.stderr
    assert "signed as 'strict-bundle' but the folder is named 'renamed-bundle'" in refused.stderr
    assert not (_device(sshd) / renamed.name).exists()
    assert not [p for p in _device(sshd).iterdir() if p.name.startswith(".edgekit-")]


def _rename_in_manifest(bundle: Path) -> None:
    import json

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["name"] = bundle.name
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def test_deploy_copies_nothing_a_link_in_the_bundle_points_to(sshd, bundles, tmp_path):  # noqa: F811
    """scp -r follows links: a bundle holding one is refused before anything is copied."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "id_ed25519").write_text("private\n")
    linked = tmp_path / "linked-bundle"
    shutil.copytree(bundles["int8"], linked)
    (linked / "keys").symlink_to(secrets, target_is_directory=True)
    refused = run_cli("deploy", str(linked), *remote_args(sshd, "pi"))
    assert refused.returncode == 2 and f"{linked}: keys is a symbolic link" in refused.stderr.strip().splitlines()[-1]
    assert not _device(sshd).exists() or not list(_device(sshd).rglob("id_ed25519"))
    bench = run_cli("bench", str(linked), "--runs", "1", "--warmup", "0", "--min-time", "0", *remote_args(sshd, "pi"))
    assert bench.returncode == 2 and f"{linked}: keys is a symbolic link" in bench.stderr.strip().splitlines()[-1]
    assert not _device(sshd).exists() or not list(_device(sshd).rglob("id_ed25519"))

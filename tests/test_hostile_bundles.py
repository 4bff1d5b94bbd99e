"""Hostile bundles: links, special files, huge signatures, renamed bundles, and signer policy.

Every command that opens a bundle (verify, predict, bench, sign, deploy) walks it first without
following a link: a symbolic link (to a folder outside, dangling, ``manifest.json`` itself, a
linked ``mcu/``), a FIFO, a device or a socket is refused by name before a byte is read or
copied. A signature file is capped before ssh-keygen sees it. A signature binds the bundle's
name; ``--key`` only narrows a device's policy; a malformed key, an empty allowed_signers file
and a garbage signature each get their own message. Real files, links, FIFOs and ssh-keygen.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import socket
import stat
import time
import zipfile
from pathlib import Path

import pytest

from edgekit.errors import BundleError, InputError
from tests.test_signing import bundle, cli, keys  # noqa: F401 - fixtures and the CLI runner

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH's ssh-keygen is not installed")

DEAD_HOST = ("--host", "ssh://127.0.0.1:1", "--connect-timeout", "2")


@pytest.fixture
def signed(bundle, keys):  # noqa: F811
    from edgekit.bundle.signing import sign_bundle

    sign_bundle(bundle, keys / "publisher")
    return bundle


def by_key(keys, name="publisher"):  # noqa: F811
    from edgekit.bundle.signing import Signers

    return Signers(key=keys / f"{name}.pub", source="--key")


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[-1]


# ---- finding 5: links and special files --------------------------------------------------


def _outside_folder(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    return secrets


HOSTILE = {
    "a link to a folder outside": lambda b, t: (b / "extra").symlink_to(_outside_folder(t), target_is_directory=True),
    "a dangling link": lambda b, t: (b / "gone.txt").symlink_to(t / "no-such-file"),
    "a FIFO": lambda b, t: os.mkfifo(b / "pipe"),
    "a socket": lambda b, t: _bind_socket(b / "sock"),
    "a character device": lambda b, t: _make_device(b / "null"),
    "manifest.json a link": lambda b, t: _move_and_link(b / "manifest.json", t / "elsewhere.json"),
    "labels.txt a link to its own copy": lambda b, t: _move_and_link(b / "labels.txt", t / "labels-copy.txt"),
}
KIND = {
    "a link to a folder outside": "extra is a symbolic link",
    "a dangling link": "gone.txt is a symbolic link",
    "a FIFO": "pipe is a FIFO (named pipe)",
    "a socket": "sock is a socket",
    "a character device": "null is a character device",
    "manifest.json a link": "manifest.json is a symbolic link",
    "labels.txt a link to its own copy": "labels.txt is a symbolic link",
}
_SOCKETS: list[socket.socket] = []


def _bind_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    _SOCKETS.append(server)


def _make_device(path: Path) -> None:
    """/dev/null's twin, where this user may make device nodes (root, CAP_MKNOD)."""
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD")


def _move_and_link(path: Path, elsewhere: Path) -> None:
    shutil.move(path, elsewhere)
    path.symlink_to(elsewhere)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_links_and_special_files_are_refused_by_name_signed_or_not(signed, keys, tmp_path, kind):  # noqa: F811
    from edgekit.bundle.manifest import verify_bundle

    HOSTILE[kind](signed, tmp_path)
    for signers in (None, by_key(keys)):
        with pytest.raises(BundleError, match=f"{re.escape(KIND[kind])}.*; bundles contain only regular files and folders"):
            verify_bundle(signed, signers=signers)


def test_files_reached_through_a_linked_subfolder_are_refused(bundle, keys, tmp_path):  # noqa: F811
    """A target's ``mcu/`` folder moved elsewhere and linked back: every listed file still
    matches its sha256, but is read from outside the bundle."""
    from edgekit.bundle.manifest import dumps, file_entry, verify_bundle
    from edgekit.bundle.signing import sign_bundle

    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "mcu").mkdir()
    (bundle / "mcu" / "model.cc").write_text("const unsigned char model[] = {0};\n")
    manifest["files"]["mcu/model.cc"] = file_entry((bundle / "mcu" / "model.cc").read_bytes())
    (bundle / "manifest.json").write_text(dumps(manifest))
    sign_bundle(bundle, keys / "publisher")
    verify_bundle(bundle, signers=by_key(keys))
    _move_and_link(bundle / "mcu", tmp_path / "elsewhere-mcu")
    with pytest.raises(BundleError, match="mcu is a symbolic link"):
        verify_bundle(bundle, signers=by_key(keys))


def test_reads_never_follow_a_link_put_in_after_the_walk(bundle, tmp_path):  # noqa: F811
    """The walk can be raced; the reads cannot: every component is opened with O_NOFOLLOW,
    and a FIFO is opened without blocking and refused."""
    from edgekit.bundle.entries import open_bundle_file

    (bundle / "sub").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x").write_text("outside\n")
    (bundle / "linked").symlink_to(tmp_path / "real")
    (bundle / "sub" / "link").symlink_to(tmp_path / "real" / "x")
    os.mkfifo(bundle / "fifo")
    for name, words in (("linked/x", "linked is a symbolic link"), ("sub/link", "sub/link is a symbolic link"), ("fifo", "fifo is a FIFO")):
        with pytest.raises(BundleError, match=words):
            with open_bundle_file(bundle, name):
                pass
    with open_bundle_file(bundle, "labels.txt") as opened:
        assert opened is not None and opened[1] == (bundle / "labels.txt").stat().st_size
    with open_bundle_file(bundle, "nothere") as opened:
        assert opened is None


def test_every_command_refuses_a_linked_folder_before_reading_or_copying(signed, keys, tmp_path):  # noqa: F811
    """verify --key, predict, sign and deploy: one error line, exit 2; deploy's is given before
    it connects (the host is a closed port), so scp -r never sees the link."""
    secrets = _outside_folder(tmp_path)
    (signed / "extra").symlink_to(secrets, target_is_directory=True)
    digit = tmp_path / "digit.npy"
    import numpy as np

    np.save(digit, np.zeros((28, 28, 1), dtype=np.uint8))
    for args in (
        ("verify", str(signed), "--key", str(keys / "publisher.pub")),
        ("predict", str(signed), str(digit)),
        ("sign", str(signed), "--key", str(keys / "publisher")),
        ("deploy", str(signed), *DEAD_HOST),
        ("bench", str(signed), "--runs", "1", "--warmup", "0", "--min-time", "0"),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert f"{signed}: extra is a symbolic link (to {secrets})" in one_error_line(result)


def test_a_fifo_does_not_hang_any_command(signed, keys, tmp_path):  # noqa: F811
    os.mkfifo(signed / "labels.txt.new")
    started = time.monotonic()
    result = cli("verify", str(signed), "--key", str(keys / "publisher.pub"))
    assert result.returncode == 2 and "labels.txt.new is a FIFO (named pipe)" in one_error_line(result)
    assert time.monotonic() - started < 30


def test_zipped_links_and_special_members_are_refused(bundle, tmp_path):  # noqa: F811
    from edgekit.bundle.manifest import verify_bundle

    for name, mode in (("link", 0o120777), ("fifo", 0o010644), ("device", 0o020644)):
        archive = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive, "w") as out:
            for path in sorted(bundle.iterdir()):
                out.write(path, f"digits/{path.name}")
            member = zipfile.ZipInfo(f"digits/{name}")
            member.create_system, member.external_attr = 3, mode << 16
            out.writestr(member, b"/etc/passwd")
        with pytest.raises(BundleError, match="symbolic link|not a regular file"):
            verify_bundle(archive, signers=None)


# ---- finding 6: a huge signature --------------------------------------------------------


def test_a_huge_signature_is_refused_before_ssh_keygen_runs(signed, keys):  # noqa: F811
    with open(signed / "manifest.json.sig", "wb") as sig:
        sig.truncate(64 * 1024**2)  # 64 MB of zeros: ssh-keygen took over a minute on it
    started = time.monotonic()
    result = cli("verify", str(signed), "--key", str(keys / "publisher.pub"))
    line = one_error_line(result)
    assert result.returncode == 2 and f"{signed}: manifest.json.sig is 67,108,864 bytes, more than a signature can be (65,536)" in line
    assert "passphrase" not in line and time.monotonic() - started < 20


def test_a_huge_manifest_is_refused_unread(bundle):  # noqa: F811
    from edgekit.bundle.manifest import verify_bundle

    with open(bundle / "manifest.json", "r+b") as manifest:
        manifest.truncate(17 * 1024**2)
    with pytest.raises(BundleError, match="manifest.json is 17,825,792 bytes, more than a manifest can be"):
        verify_bundle(bundle, signers=None)


def test_a_check_that_times_out_blames_no_passphrase(monkeypatch, signed, keys):  # noqa: F811
    """ssh-keygen checking a signature never prompts, so its timeout's hint does not ask
    about a passphrase (signing, which may prompt, still does)."""
    from edgekit.bundle import signing
    from edgekit.errors import ToolError

    monkeypatch.setattr(signing, "_TIMEOUT", 0.001)
    sig = str(signed / "manifest.json.sig")
    with pytest.raises(ToolError) as checking:
        signing._ssh_keygen(["-Y", "find-principals", "-s", sig, "-f", str(keys / "allowed_signers")])
    assert "passphrase" not in str(checking.value) and "no prompt" in str(checking.value)
    with pytest.raises(ToolError, match="passphrase"):
        signing._ssh_keygen(["-Y", "sign", "-f", str(keys / "publisher"), "-n", "edgekit-bundle", sig], interactive=True)


# ---- finding 11: signer policy ----------------------------------------------------------


def test_key_only_narrows_the_device_policy(bundle, keys, tmp_path):  # noqa: F811
    """The device allows the publisher; a bundle signed by a stranger, checked with
    ``--key stranger.pub``, is refused (it was run before); the publisher's passes."""
    from edgekit.bundle.signing import sign_bundle

    device = {"EDGEKIT_ALLOWED_SIGNERS": str(keys / "allowed_signers")}
    sign_bundle(bundle, keys / "stranger")
    refused = cli("verify", str(bundle), "--key", str(keys / "stranger.pub"), env=device)
    line = one_error_line(refused)
    assert refused.returncode == 2 and "whom --key accepts, but this device's own policy" in line and "can only narrow" in line
    assert cli("verify", str(bundle), "--key", str(keys / "stranger.pub")).returncode == 0  # no device policy: --key decides
    sign_bundle(bundle, keys / "publisher")
    allowed = cli("verify", str(bundle), "--key", str(keys / "publisher.pub"), env=device)
    assert allowed.returncode == 0 and "signed by the key SHA256:" in allowed.stdout, allowed.stderr
    other_list = tmp_path / "stranger_signers"
    kind, blob = (keys / "stranger.pub").read_text().split()[:2]
    other_list.write_text(f'someone namespaces="edgekit-bundle" {kind} {blob}\n')
    sign_bundle(bundle, keys / "stranger")
    refused = cli("verify", str(bundle), "--allowed-signers", str(other_list), env=device)
    assert refused.returncode == 2 and "--allowed-signers can only narrow" in one_error_line(refused)


def test_predict_with_a_key_the_device_does_not_allow_runs_nothing(bundle, keys, tmp_path):  # noqa: F811
    import numpy as np

    from edgekit.bundle.signing import sign_bundle

    sign_bundle(bundle, keys / "stranger")
    digit = tmp_path / "digit.npy"
    np.save(digit, np.zeros((28, 28, 1), dtype=np.uint8))
    result = cli("predict", str(bundle), str(digit), "--key", str(keys / "stranger.pub"), env={"EDGEKIT_ALLOWED_SIGNERS": str(keys / "allowed_signers")})
    assert result.returncode == 2 and "can only narrow" in one_error_line(result) and not result.stdout


def test_a_signature_binds_the_bundle_name(signed, keys, tmp_path):  # noqa: F811
    from edgekit.bundle.archive import zip_folder
    from edgekit.bundle.manifest import verify_bundle, verify_signed_bundle

    assert verify_signed_bundle(signed, signers=by_key(keys))[1].startswith("the key SHA256:")
    renamed = tmp_path / "door-detector"
    shutil.copytree(signed, renamed)
    with pytest.raises(BundleError, match="signed as 'digits' but the folder is named 'door-detector'; a signature binds the bundle's name"):
        verify_bundle(renamed, signers=by_key(keys))
    verify_bundle(renamed, signers=None)  # unsigned checks do not care about names
    zipped = zip_folder(signed, tmp_path / "digits.zip")
    verify_bundle(zipped, signers=by_key(keys))
    zipped.rename(tmp_path / "door-detector.zip")
    with pytest.raises(BundleError, match=r"door-detector.zip: signed as 'digits' but the zip is named 'door-detector'.*rename the zip back to 'digits.zip'"):
        verify_bundle(tmp_path / "door-detector.zip", signers=by_key(keys))
    result = cli("deploy", str(renamed), *DEAD_HOST, "--key", str(keys / "publisher.pub"))
    assert result.returncode == 2 and "signed as 'digits' but the folder is named 'door-detector'" in one_error_line(result)


def test_a_folder_not_called_by_its_manifest_name_is_not_signed(bundle, keys, tmp_path):  # noqa: F811
    renamed = tmp_path / "renamed"
    shutil.copytree(bundle, renamed)
    result = cli("sign", str(renamed), "--key", str(keys / "publisher"))
    assert result.returncode == 2 and "the folder is named 'renamed' but its manifest names the bundle 'digits'" in one_error_line(result)
    assert not (renamed / "manifest.json.sig").exists()


def test_malformed_keys_and_signer_files_get_their_own_messages(signed, keys, tmp_path):  # noqa: F811
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import Signers

    kind, blob = (keys / "publisher.pub").read_text().split()[:2]
    broken_key = tmp_path / "broken.pub"
    broken_key.write_text(f"{kind} {blob[:20]}\n")  # truncated while copying
    with pytest.raises(InputError, match=f"--key {broken_key}: not a valid OpenSSH public key"):
        verify_bundle(signed, signers=Signers(key=broken_key, source="--key"))
    empty = tmp_path / "allowed_signers"
    empty.write_text("# nobody yet\n\n")
    with pytest.raises(InputError, match=f"--allowed-signers {empty}: the allowed_signers file lists no signers"):
        verify_bundle(signed, signers=Signers(allowed_signers=empty, source="--allowed-signers"))
    bad_line = tmp_path / "bad_signers"
    bad_line.write_text(f'release namespaces="edgekit-bundle" {kind} {blob[:20]}\n')
    with pytest.raises(InputError, match=f"--allowed-signers {bad_line}: line 1 is not a signer ssh-keygen can read"):
        verify_bundle(signed, signers=Signers(allowed_signers=bad_line, source="--allowed-signers"))
    (signed / "manifest.json.sig").write_bytes(b"not a signature\n")
    with pytest.raises(BundleError, match=f"{signed}: manifest.json.sig is not an SSH signature"):
        verify_bundle(signed, signers=by_key(keys))


def test_each_signature_failure_says_which(signed, keys):  # noqa: F811
    from edgekit.bundle.manifest import verify_bundle

    with pytest.raises(BundleError, match=r"manifest.json.sig was made by a key that is not the key in --key \(SHA256:"):
        verify_bundle(signed, signers=by_key(keys, "stranger"))
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["metrics"] = {"accuracy": 0.999}
    (signed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a signature of this manifest.json by the key in --key .the manifest was changed after signing"):
        verify_bundle(signed, signers=by_key(keys))

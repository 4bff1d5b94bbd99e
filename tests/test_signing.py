"""Signed bundles: consistency is not authenticity.

A bundle whose labels and claims were rewritten with every sha256 updated still passes the
sha256 check; signed with ``edgekit sign`` (OpenSSH's ``ssh-keygen -Y``), it is refused by
``verify``/``predict`` with one line naming the signature check. Keys, allowed_signers files
and a device's own requirement all go through the real ssh-keygen.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import BundleError, InputError
from tests.conftest import edgekit_command

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH's ssh-keygen is not installed")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for name in ("publisher", "stranger"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)], check=True)
    kind, key = (folder / "publisher.pub").read_text().split()[:2]
    (folder / "allowed_signers").write_text(f'release@example.org namespaces="edgekit-bundle" {kind} {key}\n')
    return folder


@pytest.fixture
def bundle(tmp_path, tiny_tflite):
    from edgekit.bundle.write import write_bundle
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(tiny_tflite["int8"])
    inputs[0]["normalization"] = {"mean": [0.0], "std": [255.0], "raw_dtype": "uint8"}
    folder = tmp_path / "digits"
    write_bundle(
        folder, model_bytes=tiny_tflite["int8"], labels=[str(i) for i in range(10)], name="digits", target="cpu",
        quantization="int8", inputs=inputs, outputs=outputs, versions={}, recorded_recipe=None, metrics={"accuracy": 0.9},
    )  # fmt: skip
    return folder


def rewrite_consistently(bundle: Path) -> None:
    """The attack: shifted labels and a better claim, every sha256 in the manifest updated."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    labels = [str((i + 1) % 10) for i in range(10)]
    (bundle / "labels.txt").write_text("\n".join(labels) + "\n")
    data = (bundle / "labels.txt").read_bytes()
    manifest.update(labels=labels, metrics={"accuracy": 0.985})
    manifest["files"]["labels.txt"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def cli(*args, env=None, cwd=None):
    base = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env={**base, **(env or {})}, cwd=cwd, timeout=300)


def test_sign_then_verify_with_a_key_and_with_allowed_signers(bundle, keys):
    signed = cli("sign", str(bundle), "--key", str(keys / "publisher"))
    assert signed.returncode == 0 and "signed:" in signed.stdout and (bundle / "manifest.json.sig").is_file()
    by_key = cli("verify", str(bundle), "--key", str(keys / "publisher.pub"))
    assert by_key.returncode == 0 and "signed by the key SHA256:" in by_key.stdout
    by_list = cli("verify", str(bundle), "--allowed-signers", str(keys / "allowed_signers"))
    assert by_list.returncode == 0 and "signed by release@example.org" in by_list.stdout
    unchecked = cli("verify", str(bundle))
    assert unchecked.returncode == 0 and "publisher not checked" in unchecked.stdout


def test_a_consistently_rewritten_signed_bundle_is_refused(bundle, keys, tmp_path):
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import Signers, sign_bundle

    sign_bundle(bundle, keys / "publisher")
    rewrite_consistently(bundle)
    verify_bundle(bundle, signers=None)  # consistent: the sha256 check alone passes it
    np.save(tmp_path / "digit.npy", np.zeros((28, 28, 1), np.uint8))
    for command in (("verify", str(bundle)), ("predict", str(bundle), str(tmp_path / "digit.npy"))):
        result = cli(*command, "--key", str(keys / "publisher.pub"))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
        assert "signature check failed" in lines[0] and "tampered" not in lines[0]
    with pytest.raises(BundleError, match="signature check failed"):
        verify_bundle(bundle, signers=Signers(allowed_signers=keys / "allowed_signers", source="--allowed-signers"))


def test_a_changed_file_under_a_good_signature_is_tampered(bundle, keys):
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import Signers, sign_bundle

    sign_bundle(bundle, keys / "publisher")
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[-1] ^= 0xFF
    (bundle / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model.tflite does not match its sha256 in the manifest \(tampered or corrupted\)"):
        verify_bundle(bundle, signers=Signers(key=keys / "publisher.pub", source="--key"))


def test_other_keys_and_other_namespaces_do_not_count(bundle, keys):
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import SIGNATURE_NAME, Signers, sign_bundle

    sign_bundle(bundle, keys / "stranger")
    with pytest.raises(BundleError, match="signature check failed"):
        verify_bundle(bundle, signers=Signers(key=keys / "publisher.pub", source="--key"))
    git_signature = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", str(keys / "publisher"), "-n", "git"], input=(bundle / "manifest.json").read_bytes(),
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    (bundle / SIGNATURE_NAME).write_bytes(git_signature)  # the right key, signing a git commit
    with pytest.raises(BundleError, match="signature check failed"):
        verify_bundle(bundle, signers=Signers(key=keys / "publisher.pub", source="--key"))


def test_a_device_can_require_signatures(bundle, keys, tmp_path):
    from edgekit.bundle.signing import sign_bundle

    env = {"EDGEKIT_ALLOWED_SIGNERS": str(keys / "allowed_signers")}
    unsigned = cli("verify", str(bundle), env=env)
    assert unsigned.returncode == 2 and "not signed (no manifest.json.sig), and EDGEKIT_ALLOWED_SIGNERS requires" in unsigned.stderr
    sign_bundle(bundle, keys / "publisher")
    assert cli("verify", str(bundle), env=env).returncode == 0
    config = tmp_path / "config"
    (config / "edgekit").mkdir(parents=True)
    shutil.copy(keys / "allowed_signers", config / "edgekit" / "allowed_signers")
    rewrite_consistently(bundle)
    by_config = cli("verify", str(bundle), env={"XDG_CONFIG_HOME": str(config)})
    assert by_config.returncode == 2 and "signature check failed" in by_config.stderr


def test_zipped_signed_bundles_carry_their_signature(bundle, keys, tmp_path):
    from edgekit.bundle.archive import zip_folder
    from edgekit.bundle.manifest import verify_signed_bundle
    from edgekit.bundle.signing import Signers, sign_bundle

    sign_bundle(bundle, keys / "publisher")
    archive = zip_folder(bundle, tmp_path / "digits.zip")
    assert "digits/manifest.json.sig" in zipfile.ZipFile(archive).namelist()
    _, signer = verify_signed_bundle(archive, signers=Signers(key=keys / "publisher.pub", source="--key"))
    assert signer.startswith("the key SHA256:")


def test_bad_keys_are_one_line_errors(bundle, keys):
    from edgekit.bundle.signing import Signers, check_signing_key, read_public_key

    with pytest.raises(InputError, match="no such key file"):
        check_signing_key(keys / "nothere")
    with pytest.raises(InputError, match="not an OpenSSH public key"):
        read_public_key(keys / "publisher")  # the private half
    with pytest.raises(InputError, match="give one"):
        Signers.from_options(keys / "publisher.pub", keys / "allowed_signers")


def test_a_recipe_with_sign_key_signs_every_bundle(tmp_path, keys):
    from edgekit import build
    from edgekit.bundle.manifest import verify_bundle
    from edgekit.bundle.signing import Signers
    from tests.conftest import write_tiny_recipe

    recipe = write_tiny_recipe(tmp_path)
    shutil.copy(keys / "publisher", tmp_path / "publisher")
    shutil.copy(keys / "publisher.pub", tmp_path / "publisher.pub")
    text = recipe.read_text().replace("epochs = 4", "epochs = 1").replace("sparsity = 0.5", "sparsity = 0").replace('mode = "qat"', 'mode = "ptq"')
    recipe.write_text(text.replace('dir = "out"', 'dir = "out"\nzip = true\nsign_key = "publisher"'))
    result = build(recipe, cache=False)
    signers = Signers(key=tmp_path / "publisher.pub", source="--key")
    for artifact in result.report["artifacts"]:
        folder = result.out_dir / artifact["path"]
        verify_bundle(folder, signers=signers)
        verify_bundle(folder.with_name(folder.name + ".zip"), signers=signers)

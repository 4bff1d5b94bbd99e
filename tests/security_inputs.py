"""The hostile half of the bad-input workspace: what an attacker or a careless user hands edgekit.

``tests/bad_inputs.py`` calls :func:`make_security_workspace` from its workspace builder and
lists the cases (one line each) that use these files: user folders an output must not
replace, SavedModels whose graphs write files, signed bundles rewritten after signing,
models, images, arrays and zips built to exhaust memory. Names a case can use are returned.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np

# What a SavedModel's initializer would write (relative: into the folder a case runs in, where
# the debris check would find it) if edgekit ever ran it.
PWNED = "PWNED-by-savedmodel"
HOSTILE_NAME = "b$(touch PWNED)"
_HELD_LOCKS: list[int] = []  # lock files held by this process while the cases run


def make_security_workspace(folder: Path, names: dict, *, tflite: bytes) -> dict:
    """Write the hostile inputs beside the others; returns the extra template names."""
    root = folder
    outputs, keys, busy = root / "outputs", root / "keys", root / "busy"
    for path in (outputs, keys, busy):
        path.mkdir(parents=True, exist_ok=True)
    _user_folders(outputs)
    _hold_lock(busy / ".out.lock")
    _keys(keys)
    bundles, inputs, bad = Path(names["bundles"]), Path(names["inputs"]), Path(names["bad"])
    _signed_bundles(bundles, keys)
    _hostile_bundles(bundles, keys)
    shutil.copytree(bundles / "good", bundles / HOSTILE_NAME)
    _bomb_zips(bundles)
    _images_and_arrays(inputs)
    _memory_bomb_models(bad)
    _runaway_models(bad, bundles, inputs)
    return {"outputs": str(outputs), "keys": str(keys), "busy": str(busy)}


def make_saved_models(keras_dir: Path) -> None:
    """A Keras SavedModel carrying a resource whose initializer writes a file, and a plain
    tf.Module SavedModel doing the same. Saving runs the initializer once: it does so inside
    ``keras_dir``, and the file it writes there is removed."""
    cwd = os.getcwd()
    os.chdir(keras_dir)
    try:
        _save_planted_models(Path(keras_dir).resolve())
    finally:
        os.chdir(cwd)
    (Path(keras_dir) / PWNED).unlink(missing_ok=True)


def _save_planted_models(keras_dir: Path) -> None:
    import tensorflow as tf

    from edgekit._compat import keras

    k = keras()

    class Planted(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            tf.io.write_file(PWNED, "written by a SavedModel's initializer")
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="planted")

        def _initialize(self):
            tf.io.write_file(PWNED, "written by a SavedModel's initializer")

    inputs = k.Input((28, 28, 1))
    model = k.Model(inputs, k.layers.Dense(10, activation="softmax")(k.layers.Flatten()(inputs)))
    model.planted = Planted()
    model.save(keras_dir / "planted_saved_model", save_format="tf")

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.planted = Planted()

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return x * 2.0

    tf.saved_model.save(Module(), str(keras_dir / "module_saved_model"))
    holder = tf.Module()
    holder.weights = tf.Variable([1.0, 2.0])
    tf.saved_model.save(holder, str(keras_dir / "unsigned_saved_model"), signatures={})


def _user_folders(outputs: Path) -> None:
    """A user's folder (a thesis, photos), a previous build output with a user's file added,
    and a link to the folder a case runs in."""
    user = outputs / "userdir"
    (user / "photos").mkdir(parents=True, exist_ok=True)
    (user / "thesis.tex").write_text("\\chapter{Results}\n")
    (user / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    marked = outputs / "marked"
    (marked / "bundles").mkdir(parents=True, exist_ok=True)
    (marked / "report.json").write_text("{}\n")
    (marked / ".edgekit-output").write_text(json.dumps({"format": "edgekit-output", "kind": "build", "entries": ["bundles", "report.json"]}))
    (marked / "notes.txt").write_text("mine\n")
    (outputs / "link_to_cwd").symlink_to(".")
    (outputs / "convert_target" / "good").mkdir(parents=True, exist_ok=True)
    (outputs / "convert_target" / "good" / "mine.txt").write_text("not a bundle\n")


def _hold_lock(path: Path) -> None:
    """A lock the way a running edgekit holds it, by this (the harness's) process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD_LOCKS.append(fd)


def _keys(keys: Path) -> None:
    for name in ("publisher", "stranger"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys / name)], check=True)
    public = (keys / "publisher.pub").read_text().split()
    (keys / "allowed_signers").write_text(f'release@example.org namespaces="edgekit-bundle" {public[0]} {public[1]}\n')
    (keys / "not_a_key").write_text("this is not a key\n")


def _signed_bundles(bundles: Path, keys: Path) -> None:
    """A signed copy of the good bundle, and one whose labels and claims were rewritten after
    signing with every sha256 updated (consistent, but not what was signed)."""
    _signed_copy(bundles, keys / "publisher", "signed")
    shutil.copytree(bundles / "signed", bundles / "signed_rewritten")
    rewritten = bundles / "signed_rewritten"
    manifest = json.loads((rewritten / "manifest.json").read_text())
    labels = [str(9 - i) for i in range(10)]
    (rewritten / "labels.txt").write_text("\n".join(labels) + "\n")
    data = (rewritten / "labels.txt").read_bytes()
    manifest["labels"], manifest["metrics"] = labels, {"accuracy": 0.985}
    manifest["files"]["labels.txt"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (rewritten / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _signed_copy(bundles: Path, key: Path, name: str) -> Path:
    """A copy of the good bundle named ``name`` (folder and manifest: a signature binds the
    name), signed with ``key``."""
    from edgekit.bundle.signing import sign_bundle

    copy = bundles / name
    shutil.copytree(bundles / "good", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["name"] = name
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    sign_bundle(copy, key)
    return copy


def _hostile_bundles(bundles: Path, keys: Path) -> None:
    """Signed bundles holding links and special files, a 64 MB signature, renamed signed
    bundles, a stranger's signature; keys and allowed_signers files that are broken."""
    from edgekit.bundle.archive import zip_folder
    from edgekit.bundle.manifest import dumps, file_entry
    from edgekit.bundle.signing import sign_bundle

    outside = bundles.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (_signed_copy(bundles, keys / "publisher", "link_out") / "extra").symlink_to(outside, target_is_directory=True)
    (_signed_copy(bundles, keys / "publisher", "dangling") / "gone.txt").symlink_to(outside / "no-such-file")
    os.mkfifo(_signed_copy(bundles, keys / "publisher", "fifo") / "pipe")
    manifest_link = _signed_copy(bundles, keys / "publisher", "manifest_link")
    shutil.move(manifest_link / "manifest.json", outside / "manifest.json")
    (manifest_link / "manifest.json").symlink_to(outside / "manifest.json")
    mcu = bundles / "linked_mcu"
    shutil.copytree(bundles / "good", mcu)
    (mcu / "mcu").mkdir()
    (mcu / "mcu" / "model.cc").write_text("const unsigned char model[] = {0};\n")
    manifest = json.loads((mcu / "manifest.json").read_text())
    manifest["name"], manifest["files"]["mcu/model.cc"] = "linked_mcu", file_entry((mcu / "mcu" / "model.cc").read_bytes())
    (mcu / "manifest.json").write_text(dumps(manifest))
    sign_bundle(mcu, keys / "publisher")
    shutil.move(mcu / "mcu", outside / "mcu")
    (mcu / "mcu").symlink_to(outside / "mcu", target_is_directory=True)
    with open(_signed_copy(bundles, keys / "publisher", "huge_sig") / "manifest.json.sig", "r+b") as sig:
        sig.truncate(64 * 1024**2)  # zeros, sparse on disk: ssh-keygen spent over a minute on it
    (_signed_copy(bundles, keys / "publisher", "garbage_sig") / "manifest.json.sig").write_text("not a signature\n")
    shutil.copytree(bundles / "signed", bundles / "renamed_signed")
    zip_folder(bundles / "signed", bundles / "renamed.zip")
    _signed_copy(bundles, keys / "stranger", "stranger_signed")
    kind, blob = (keys / "publisher.pub").read_text().split()[:2]
    (keys / "broken.pub").write_text(f"{kind} {blob[:20]}\n")
    (keys / "empty_signers").write_text("# nobody yet\n")
    (keys / "bad_signers").write_text(f'release namespaces="edgekit-bundle" {kind} {blob[:20]}\n')


def _bomb_zips(bundles: Path) -> None:
    """Zipped bundles that try to write more than their manifest lists."""
    good = bundles / "good"
    members = [(f"b/{p.name}", p.read_bytes()) for p in sorted(good.iterdir())]
    _zip(bundles / "extra_member.zip", members + [("b/payload.bin", bytes(50 << 20))])
    model = next(data for name, data in members if name.endswith("model.tflite"))
    _zip(bundles / "oversize_member.zip", [(n, d + bytes(1 << 20) if n.endswith("model.tflite") else d) for n, d in members])
    lying = _zip(bundles / "lying_member.zip", [(n, d + bytes(8 << 20) if n.endswith("model.tflite") else d) for n, d in members])
    _declare_member_size(lying, "b/model.tflite", len(model))
    manifest = {"format": "edgekit-bundle", "format_version": 1, "model": "model.tflite", "files": {"model.tflite": {"sha256": "0" * 64, "bytes": 3 << 30}}}
    _declare_member_size(_zip(bundles / "bomb.zip", [("b/manifest.json", json.dumps(manifest).encode()), ("b/model.tflite", bytes(1 << 20))]), "b/model.tflite", 3 << 30)


def _zip(path: Path, entries) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def _declare_member_size(archive: Path, member: str, size: int) -> None:
    """Rewrite one member's uncompressed size in its local header and the central directory."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := data.find(signature, start)) != -1:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[at + offset : at + offset + 4] = size.to_bytes(4, "little")
            start = at + 4
    archive.write_bytes(bytes(data))


def _images_and_arrays(inputs: Path) -> None:
    _png_header(inputs / "huge.png", 20000, 20000)
    _png_header(inputs / "big.png", 12000, 12000)
    with open(inputs / "lying_header.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (14_000_000, 14_000_000)})
        handle.write(bytes(64))


def _png_header(path: Path, width: int, height: int) -> None:
    """A small PNG file whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))


def _memory_bomb_models(bad: Path) -> None:
    """A TILE model declaring a 46340 x 46340 float output (8 GiB), and a copy that declares
    [1, 1] while its constant multiples still expand to the same."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 1], tf.float32)])
    def tile(x):
        return tf.tile(x, [46340, 46340])

    converter = tf.lite.TFLiteConverter.from_concrete_functions([tile.get_concrete_function()], tile)
    data = converter.convert()
    (bad / "tile_bomb.tflite").write_bytes(data)
    (bad / "tile_hidden.tflite").write_bytes(_hide_output_shape(data))


def _hide_output_shape(data: bytes) -> bytes:
    from edgekit.tflite.graph import read_tflite

    spans = [span for span in read_tflite(data).buffers if span[1] > span[0]]
    pattern, out, at = struct.pack("<ii", 46340, 46340), bytearray(data), 0
    while (at := out.find(pattern, at)) != -1:
        if not any(start <= at < end for start, end in spans):  # a shape, not the multiples' constant
            out[at : at + 8] = struct.pack("<ii", 1, 1)
        at += 8
    return bytes(out)


def _runaway_models(bad: Path, bundles: Path, inputs: Path) -> None:
    """Issue 22: a WHILE that never ends, a FILL declared [1, 1] that fills 3.4 GiB, a RESHAPE
    reading its own output, and a SignatureDef naming subgraph 7 (its bundle's manifest rehashed,
    so the sha256 check passes)."""
    from tests import runaway_models

    good = (bundles / "good" / "model.tflite").read_bytes()
    paths = runaway_models.write_runaway_models(bad, good)
    shutil.copytree(bundles / "good", bundles / "bad_signature")
    runaway_models.swap_model(bundles / "bad_signature", paths["bad_signature"].read_bytes())
    runaway_models.write_bundle_of(bundles / "while_forever", paths["while_forever"].read_bytes())
    np.save(inputs / "four.npy", np.ones((1, 4), np.float32))

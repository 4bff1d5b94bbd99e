"""Small .tflite files built to run forever, exhaust memory or crash LiteRT (issue 22, findings 1, 2, 12).

Each is a real converter output (TensorFlow here, at test time) or a real model with one
field rewritten, the way an attacker would make one:

- ``while_forever``: one WHILE loop whose condition never becomes false (2 KB);
- ``fill_bomb``: FILL whose dimensions are computed at run time (declared [1, 1]) and come to
  30000 x 30000 floats (3.4 GiB) however small the input;
- ``bad_signature``: a SignatureDef naming subgraph 7 of a one-subgraph model (LiteRT: SIGSEGV);
- ``reshape_cycle``: a RESHAPE whose input is its own output.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bad_signature", "edited", "fill_bomb", "reshape_cycle", "swap_model", "while_calling", "while_forever", "write_bundle_of", "write_runaway_models"]


def _convert(function) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    return converter.convert()


def while_forever() -> bytes:
    """A counter kept in 0..999 by a modulo, looped while it is below 1000: never false."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def spin(x):
        start = tf.cast(tf.reduce_sum(x) * 0.0, tf.int32)
        count = tf.while_loop(lambda c: c < 1000, lambda c: tf.math.floormod(c + 1, 1000), [start])[0]
        return x + tf.cast(count, tf.float32)

    return _convert(spin)


def fill_bomb() -> bytes:
    """FILL to 30000 x 30000 float32 with dimensions that depend on the input (so declared [1, 1])."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def bomb(x):
        side = 30000 + tf.cast(tf.reduce_sum(x) * 0.0, tf.int32)
        return tf.reduce_sum(tf.fill(tf.stack([side, side]), x[0, 0]), keepdims=True)

    return _convert(bomb)


def bad_signature(model: bytes) -> bytes:
    """``model`` with its first SignatureDef pointing at subgraph 7."""

    def edit(m):
        m.signatureDefs[0].subgraphIndex = 7

    return edited(model, edit)


def reshape_cycle(model: bytes) -> bytes:
    """``model`` with its first RESHAPE reading the tensor it writes."""

    def edit(m):
        codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
        op = next(op for op in m.subgraphs[0].operators if codes[op.opcodeIndex] == 22)  # RESHAPE
        op.inputs[0] = op.outputs[0]

    return edited(model, edit)


def edited(model: bytes, edit) -> bytes:
    """``model`` unpacked with LiteRT's flatc object API, changed by ``edit``, packed again."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    edit(m)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_runaway_models(folder: Path, good: bytes) -> dict[str, Path]:
    """Write the four models into ``folder``; ``good`` is a real model with a RESHAPE and a signature."""
    folder.mkdir(parents=True, exist_ok=True)
    models = {
        "while_forever": while_forever(),
        "fill_bomb": fill_bomb(),
        "bad_signature": bad_signature(good),
        "reshape_cycle": reshape_cycle(good),
    }
    paths = {}
    for name, data in models.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


def write_bundle_of(folder: Path, model: bytes, *, described_by: bytes | None = None, image: dict | None = None) -> Path:
    """A bundle holding ``model`` whose manifest (io, sha256) is consistent with it, the way an
    attacker rebuilds the manifest after swapping the model. The io description is read from
    ``described_by`` (a sound model with the same inputs and outputs) when ``model`` cannot be
    opened in this process."""
    from edgekit.bundle.write import write_bundle
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(described_by or model)
    inputs[0].update(normalization={"mean": [0.0], "std": [1.0]}, image=image)
    outputs[0]["kind"] = "probabilities"
    classes = outputs[0]["shape"][-1]
    write_bundle(folder, model_bytes=described_by or model, labels=[f"c{i}" for i in range(classes)], name=folder.name, target="cpu",
                 quantization="float32", inputs=inputs, outputs=outputs, versions={"edgekit": "test"}, recorded_recipe=None, metrics={})  # fmt: skip
    return swap_model(folder, model)


def swap_model(bundle: Path, model: bytes) -> Path:
    """Replace the bundle's model.tflite and update its manifest entry (sha256, bytes)."""
    import json

    from edgekit.bundle.manifest import file_entry

    (bundle / "model.tflite").write_bytes(model)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["model.tflite"].update(file_entry(model))
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def while_calling(model: bytes, *, body: int) -> bytes:
    """``model`` (with a WHILE) whose loop body is subgraph ``body``: past the end, or 0 (itself)."""

    def edit(m):
        for subgraph in m.subgraphs:
            for op in subgraph.operators:
                if hasattr(op.builtinOptions, "bodySubgraphIndex"):
                    op.builtinOptions.bodySubgraphIndex = body

    return edited(model, edit)

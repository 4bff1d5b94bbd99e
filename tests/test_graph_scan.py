"""SavedModels are programs: their graph is checked before any loader sees the folder.

A Keras SavedModel carrying a resource whose initializer calls ``tf.io.write_file``, and a
plain ``tf.Module`` doing the same, are refused without ``--trust-model`` and write nothing;
the ops tf_keras layers save (training and inference traces) are all on the allow-list.
"""

from __future__ import annotations

import subprocess

import pytest

from edgekit.errors import ModelError
from tests.conftest import edgekit_command
from tests.security_inputs import PWNED, make_saved_models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from edgekit._compat import keras

    folder = tmp_path_factory.mktemp("saved-models")
    make_saved_models(folder)
    k = keras()
    inputs = k.Input((8, 8, 1))
    x = k.layers.Conv2D(2, 3, activation="relu")(inputs)
    x = k.layers.BatchNormalization()(k.layers.Dropout(0.1)(x))
    model = k.Model(inputs, k.layers.Dense(3, activation="softmax")(k.layers.GlobalAveragePooling2D()(x)))
    model.save(folder / "plain_saved_model", save_format="tf")
    return folder


def test_a_keras_saved_model_passes_and_loads(saved):
    from edgekit.models.graph_scan import check_saved_model
    from edgekit.models.load import load_model_file

    check_saved_model(saved / "plain_saved_model")
    assert load_model_file(saved / "plain_saved_model").output_shape == (None, 3)


def test_a_planted_initializer_is_refused_before_it_runs(saved, tmp_path, monkeypatch):
    from edgekit.models.load import load_model_file

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="refusing to load: op 'WriteFile'.*loading a SavedModel runs its graph"):
        load_model_file(saved / "planted_saved_model")
    assert not (tmp_path / PWNED).exists()


def test_a_plain_tf_module_is_checked_like_a_keras_model(saved, tmp_path, monkeypatch):
    from edgekit.models.graph_scan import check_saved_model
    from edgekit.models.load import load_model_file

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="refusing to load: op 'WriteFile'"):
        load_model_file(saved / "module_saved_model")
    for trust in (False, True):  # nothing to convert by: refused before anything loads
        with pytest.raises(ModelError, match="neither a tf_keras model nor one with a 'serving_default' signature"):
            load_model_file(saved / "unsigned_saved_model", trust=trust)
    assert not (tmp_path / PWNED).exists()
    assert check_saved_model(saved / "plain_saved_model") is True


def test_convert_refuses_it_as_a_process_and_writes_nothing(saved, tmp_path, cli_env):
    result = subprocess.run(
        edgekit_command("convert", str(saved / "planted_saved_model"), "--target", "cpu:float32", "--out", str(tmp_path / "out")),
        capture_output=True, text=True, env=cli_env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "op 'WriteFile'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _edited(saved, tmp_path, edit):
    """A copy of the plain SavedModel with ``edit(meta_graph)`` applied to its protobuf."""
    import shutil

    from edgekit.models.graph_scan import read_saved_model

    copy = tmp_path / "edited"
    shutil.copytree(saved / "plain_saved_model", copy)
    proto = read_saved_model(copy)
    edit(proto.meta_graphs[0])
    (copy / "saved_model.pb").write_bytes(proto.SerializeToString())
    return copy


def _layer_function(graph):
    return next(f for f in graph.graph_def.library.function if "_traced_" not in f.signature.name and f.node_def)


def test_an_unknown_op_is_refused(saved, tmp_path):
    from edgekit.models.graph_scan import check_saved_model

    copy = _edited(saved, tmp_path, lambda g: _layer_function(g).node_def.add(name="custom", op="MyLoadedCustomOp"))
    with pytest.raises(ModelError, match="op 'MyLoadedCustomOp'"):
        check_saved_model(copy)
    check_saved_model(copy, trust=True)  # --trust-model skips the op check


def test_a_layer_calling_the_checkpoint_saver_is_refused(saved, tmp_path):
    from edgekit.models.graph_scan import check_saved_model, saver_functions

    def call_saver(graph):
        node = _layer_function(graph).node_def.add(name="save_elsewhere", op="StatefulPartitionedCall")
        node.attr["f"].func.name = sorted(saver_functions(graph))[0]

    with pytest.raises(ModelError, match="calls the checkpoint saver"):
        check_saved_model(_edited(saved, tmp_path, call_saver))


def test_file_ops_outside_the_saver_are_refused(saved, tmp_path):
    from edgekit.models.graph_scan import check_saved_model

    copy = _edited(saved, tmp_path, lambda g: _layer_function(g).node_def.add(name="w", op="SaveV2"))
    with pytest.raises(ModelError, match="op 'SaveV2'"):
        check_saved_model(copy)


def test_the_layers_tf_keras_saves_are_all_allowed(tmp_path):
    """A zoo of common layers in one model (training and inference traces), plus TF-MOT's QAT
    wrapper: every op in every function is on the allow-list."""
    from edgekit._compat import keras, tfmot
    from edgekit.models._graph_ops import PURE_OPS, SAVER_OPS
    from edgekit.models.graph_scan import read_saved_model, saver_functions

    k = keras()
    layers = k.layers
    inputs = k.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same")(layers.BatchNormalization()(x))
    x = layers.SeparableConv2D(4, 3, activation="relu6")(x)
    x = layers.UpSampling2D(interpolation="bilinear")(layers.MaxPooling2D()(x))
    x = layers.LayerNormalization()(layers.Dropout(0.2)(x))
    x = layers.LeakyReLU()(layers.Activation("swish")(layers.Activation("gelu")(x)))
    a, b = layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)
    x = layers.Dense(8, activation="softmax")(layers.Concatenate()([layers.Add()([a, b]), layers.Multiply()([a, b])]))
    zoo = k.Model(inputs, layers.Reshape((2, 4))(x))
    quantised = tfmot().quantization.keras.quantize_model(
        k.Sequential([k.Input((8, 8, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(), layers.Dense(3)])
    )
    for index, model in enumerate((zoo, quantised)):
        folder = tmp_path / f"m{index}"
        model.save(folder, save_format="tf")
        graph = read_saved_model(folder).meta_graphs[0]
        savers = saver_functions(graph)
        found = {node.op for node in graph.graph_def.node}
        found |= {n.op for f in graph.graph_def.library.function if f.signature.name not in savers for n in f.node_def}
        saver_ops = {n.op for f in graph.graph_def.library.function if f.signature.name in savers for n in f.node_def}
        assert found - PURE_OPS == set() and saver_ops - PURE_OPS - SAVER_OPS == set()

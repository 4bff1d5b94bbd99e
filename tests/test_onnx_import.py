"""ONNX -> tf_keras of real layers: every mapped op family checked against ONNX Runtime.

Each case is a small PyTorch module in the manner of real ones (``tests/_torch_models.py``),
exported by ``torch.onnx.export`` and imported; the Keras model must give ONNX Runtime's
outputs within 1e-4 of the largest output magnitude, be made of Keras layers (no Lambda), and
keep the source's names on layers with weights. The plain CNN converts without a TRANSPOSE.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'edgekit-tflite[torch]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'edgekit-tflite[onnx]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (torch.onnx.export needs it)")

from edgekit.converters.onnx_keras import UnmappedOps, import_onnx  # noqa: E402
from tests._torch_models import all_cases  # noqa: E402

# Layers an import may hold: Keras' own, weightless slicing for Slice/Split included.
REAL_LAYERS = {
    "InputLayer", "Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Conv2DTranspose", "Dense", "BatchNormalization",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Flatten", "Reshape", "Permute",
    "Concatenate", "Add", "Subtract", "Multiply", "ReLU", "LeakyReLU", "PReLU", "ELU", "Activation", "Softmax", "Rescaling",
    "SlicingOpLambda",
}  # fmt: skip


def export(module, shape) -> "onnx.ModelProto":  # noqa: F821
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.onnx.export(module, (torch.randn(*shape),), dynamo=True, verbose=False).model_proto


@pytest.fixture(scope="module")
def exported():
    return {name: (module, shape, export(module, shape)) for name, (module, shape) in all_cases().items()}


def keras_inputs(x: np.ndarray, layout: str) -> np.ndarray:
    return {"NHWC": lambda a: a.transpose(0, 2, 3, 1), "NWC": lambda a: a.transpose(0, 2, 1)}.get(layout, lambda a: a)(x)


@pytest.mark.parametrize("name", list(all_cases()))
def test_import_matches_onnx_runtime_with_real_layers(exported, name):
    _, shape, model = exported[name]
    imported = import_onnx(model)
    session = ort.InferenceSession(model.SerializeToString())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: x})
    got = imported.model.predict(keras_inputs(x, imported.input_layouts[0]), verbose=0)
    got = got if isinstance(got, list) else [got]
    assert [o.shape for o in got] == [e.shape for e in expected]  # outputs keep the source's layout
    for out, ref in zip(got, expected):
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
    kinds = {type(layer).__name__ for layer in imported.model.layers}
    assert kinds <= REAL_LAYERS, kinds - REAL_LAYERS
    assert sorted(imported.output_names.values()) == sorted(o.name for o in model.graph.output)


def test_the_plain_cnn_keeps_its_names_and_converts_without_a_transpose(exported):
    from edgekit.converters.keras_tflite import convert_keras
    from edgekit.tflite.graph import read_tflite

    imported = import_onnx(exported["simple_cnn"][2])
    assert imported.input_layouts == ("NHWC",)
    assert [layer.name for layer in imported.model.layers if layer.weights] == ["conv1", "conv2", "fc1", "fc2"]
    x = np.random.default_rng(0).standard_normal((32, 32, 32, 3)).astype(np.float32)
    tflite = convert_keras(imported.model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=16)
    ops = {op.name for op in read_tflite(tflite).subgraphs[0].operators}
    assert "TRANSPOSE" not in ops and {"CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D"} <= ops


def test_depthwise_convolutions_and_residual_adds_are_keras_layers_tfmot_trains(exported):
    from edgekit.compression import Prune, QuantizeAware
    from edgekit.compression.run import run_compression
    from edgekit.training.train import TrainData

    imported = import_onnx(exported["mobilenetish"][2])
    kinds = [type(layer).__name__ for layer in imported.model.layers]
    assert kinds.count("DepthwiseConv2D") == 3 and kinds.count("Add") == 2  # batch norm: folded into the convolutions by the exporter
    assert "BatchNormalization" in {type(layer).__name__ for layer in import_onnx(exported["decoder"][2]).model.layers}
    x = np.random.default_rng(0).standard_normal((64, 32, 32, 3)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, 64)
    result = run_compression(imported.model, [Prune(sparsity=0.5, epochs=1), QuantizeAware(epochs=1, preserve_sparsity=True)], TrainData(x, y, batch_size=16, seed=0))
    pruned = result.report["prune"]
    assert pruned["sparsity_after_strip"] == pytest.approx(0.5, abs=0.02)
    # the 1x1 expand and project convolutions of the three blocks (TF-MOT leaves depthwise kernels dense)
    assert sorted(name for name in pruned["pruned_layers"] if "block" in name) == [f"blocks.{i}.block.{j}" for i in range(3) for j in (0, 6)]
    assert result.qat_model is not None


def test_shape_arithmetic_of_the_legacy_exporter_folds_away():
    """``x.view(x.size(0), -1)`` through the TorchScript exporter: Shape, Gather, Unsqueeze and
    Concat on constants become one flatten."""
    import io

    from torch import nn

    class ViewBySize(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 2)

        def forward(self, x):
            y = self.conv(x)
            return self.fc(y.view(y.size(0), -1))

    import onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ViewBySize().eval(), (torch.randn(1, 3, 8, 8),), buffer, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    model = onnx.load_from_string(buffer.getvalue())
    assert {"Shape", "Gather", "Concat"} <= {n.op_type for n in model.graph.node}
    imported = import_onnx(model)
    assert [type(layer).__name__ for layer in imported.model.layers] == ["InputLayer", "Conv2D", "Flatten", "Dense"]
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(buffer.getvalue())
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = imported.model.predict(x.transpose(0, 2, 3, 1), verbose=0)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_ops_outside_the_mapping_are_named_before_anything_is_built():
    from torch import nn

    class Unusual(nn.Module):
        def forward(self, x):
            return torch.exp(x).cumsum(1).argmax(1)

    with pytest.raises(UnmappedOps) as info:
        import_onnx(export(Unusual().eval(), (1, 5)))
    assert set(info.value.ops) == {"CumSum", "ArgMax"}  # Exp has a TensorFlow function
    assert "CumSum" in info.value.message and "ArgMax" in info.value.message and "docs/pytorch-onnx.md" in info.value.hint


class LayerNormAttention(torch.nn.Module):
    """What keeps real models (PP-OCRv4's recogniser, transformers) from Keras layers: a layer
    norm written out (Pow, Sqrt, a mean over channels, a computed divisor), attention's MatMul
    of two tensors, Exp and Abs."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 6)

    def forward(self, x):  # (N, T, 6)
        centred = x - x.mean(-1, keepdim=True)
        normed = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5)
        q = self.proj(normed)
        scores = torch.softmax(q @ normed.transpose(1, 2), -1)
        return (scores @ normed).abs() + torch.exp(-q)


def test_ops_without_a_keras_layer_run_as_tensorflow_functions_and_are_named():
    model = export(LayerNormAttention().eval(), (1, 5, 6))
    imported = import_onnx(model)
    assert set(imported.tf_ops) >= {"Pow", "Sqrt", "Div", "ReduceMean", "MatMul", "Exp", "Abs"}
    session = ort.InferenceSession(model.SerializeToString())
    x = np.random.default_rng(4).standard_normal((1, 5, 6)).astype(np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = imported.model.predict(x, verbose=0)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert "Dense" in {type(layer).__name__ for layer in imported.model.layers}  # the projection stays a layer

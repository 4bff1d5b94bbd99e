"""The models the GPU predictor is cross-checked on, and an independent way to ask LiteRT.

Real third-party models (the five MLPerf Tiny Keras models and their reference int8 files),
Keras applications with ``weights=None``, small models for several outputs (a list, a dict), a
dynamic spatial input, a regression head and an embedding, and the op probes of
``tests._accel_models``. Each Keras model is converted as the gpu target ships it (float16
weights, batch 1) and, for comparison, with the batch left dynamic, as ``edgekit convert`` made
it before the gpu target fixed the batch.

:func:`ask_directly` is deliberately not edgekit's code path: a few lines of LiteRT's own API
in a fresh process, so a bundle's recorded ``fully_accelerated`` can be checked against what
``CompiledModel`` says when asked directly.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.conftest import MLPERF

BATCH_1 = "batch 1"
DYNAMIC = "dynamic batch"
AS_STORED = "as stored"


@dataclass(frozen=True)
class ConformanceModel:
    name: str
    source: str
    keras: Callable[[], object] | None = None
    tflite: Path | None = None
    variants: tuple[str, ...] = (BATCH_1, DYNAMIC)

    def available(self) -> bool:
        return self.tflite.is_file() if self.tflite is not None else True

    def artifact(self, variant: str) -> bytes:
        """The model's bytes in ``variant``: a third-party file as stored, else converted to float16."""
        if self.tflite is not None:
            return self.tflite.read_bytes()
        from edgekit.converters.keras_tflite import convert_keras

        return convert_keras(self.keras(), quantization="float16", batch_size=1 if variant == BATCH_1 else None)


def _mlperf_keras(folder: str, name: str, qat: bool = False) -> Callable[[], object]:
    def load():
        from edgekit.models.load import load_model_file

        if qat:  # TF-MOT QAT wrappers need their custom-object scope to deserialise
            from edgekit._compat import tfmot

            with tfmot().quantization.keras.quantize_scope():
                return load_model_file(MLPERF / folder / name)
        return load_model_file(MLPERF / folder / name)

    return load


def _application(name: str, **kwargs) -> Callable[[], object]:
    def build():
        from edgekit._compat import keras

        return getattr(keras().applications, name)(weights=None, **kwargs)

    return build


def _small(builder: Callable) -> Callable[[], object]:
    def build():
        from edgekit._compat import keras

        return builder(keras())

    return build


def _outputs_list(k):
    inputs = k.Input((32, 32, 3), name="image")
    x = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 3, activation="relu")(inputs))
    return k.Model(inputs, [k.layers.Dense(4, name="bbox")(x), k.layers.Dense(1, activation="sigmoid", name="score")(x)])


def _outputs_dict(k):
    inputs = k.Input((32, 32, 3), name="image")
    x = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 3, activation="relu")(inputs))
    heads = {"logits": k.layers.Dense(5, name="logits")(x), "embedding": k.layers.Dense(16, name="embedding")(x), "box": k.layers.Dense(4, name="box")(x)}
    return k.Model(inputs, heads)


def _dynamic_spatial(k, size: int | None = None):
    inputs = k.Input((size, size, 3), batch_size=1 if size else None, name="image")
    x = k.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    return k.Model(inputs, k.layers.Conv2D(2, 1, name="mask")(x))


def _regression(k):
    inputs = k.Input((16,), name="features")
    return k.Model(inputs, k.layers.Dense(1, name="value")(k.layers.Dense(32, activation="relu")(inputs)))


def _embedding(k):
    inputs = k.Input((32, 32, 3), name="image")
    x = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 3, activation="relu")(inputs))
    return k.Model(inputs, k.layers.UnitNormalization(name="embedding")(k.layers.Dense(16)(x)))


def _probe(name: str) -> Callable[[], object]:
    def build():
        from tests._accel_models import build as build_probe

        return build_probe(name)

    return build


def models() -> list[ConformanceModel]:
    mlperf = [
        ("ic", "pretrainedResnet.h5", "pretrainedResnet_quant.tflite", False),
        ("vww", "vww_96.h5", "vww_96_int8.tflite", False),
        ("kws", "kws_ref_model", "kws_ref_model.tflite", False),
        ("ad", "ad01.h5", "ad01_int8.tflite", False),
        ("sww", "str_ww_ref_model.h5", "str_ww_ref_model.tflite", True),
    ]
    found = [ConformanceModel(f"MLPerf Tiny {f.upper()}", "MLPerf Tiny Keras", keras=_mlperf_keras(f, k, q), tflite=None) for f, k, _, q in mlperf if (MLPERF / f / k).exists()]
    found += [ConformanceModel(f"MLPerf Tiny {f.upper()} reference int8", "MLPerf Tiny .tflite", tflite=MLPERF / f / t, variants=(AS_STORED,)) for f, _, t, _ in mlperf]
    found += [
        ConformanceModel("MobileNetV2 0.35 96 px", "Keras application", keras=_application("MobileNetV2", input_shape=(96, 96, 3), alpha=0.35, classes=10)),
        ConformanceModel("MobileNetV2 1.0 224 px", "Keras application", keras=_application("MobileNetV2", input_shape=(224, 224, 3))),
        ConformanceModel("MobileNetV3Small", "Keras application", keras=_application("MobileNetV3Small", input_shape=(224, 224, 3))),
        ConformanceModel("EfficientNetB0", "Keras application", keras=_application("EfficientNetB0", input_shape=(224, 224, 3))),
        ConformanceModel("outputs: list (bbox, score)", "small model", keras=_small(_outputs_list)),
        ConformanceModel("outputs: dict of three", "small model", keras=_small(_outputs_dict)),
        ConformanceModel("dynamic spatial input, fixed to 32x32", "small model", keras=_small(lambda k: _dynamic_spatial(k, 32)), variants=(BATCH_1,)),
        ConformanceModel("dynamic spatial input (None, None, 3)", "small model", keras=_small(_dynamic_spatial), variants=(DYNAMIC,)),
        ConformanceModel("regression head", "small model", keras=_small(_regression)),
        ConformanceModel("embedding (L2-normalised)", "small model", keras=_small(_embedding)),
    ]
    found += [ConformanceModel(f"op probe: {name}", "edgekit test model", keras=_probe(name)) for name in ("cumsum", "top_k", "where", "five_d", "rfft2d", "l2norm", "leaky_relu")]
    return [m for m in found if m.available()]


DIRECT = """
import os, sys
from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator
try:
    model = CompiledModel.from_file(sys.argv[1], hardware_accel=HardwareAccelerator.GPU | HardwareAccelerator.CPU)
    answer = str(model.is_fully_accelerated())
except RuntimeError:
    answer = "refused"
print(answer, flush=True)
os._exit(0)  # LiteRT 2.3's WebGPU teardown sometimes crashes after the answer
"""


def ask_directly(model_bytes: bytes, driver_name: str | None = None, timeout: float = 300) -> str:
    """``CompiledModel(GPU|CPU).is_fully_accelerated()`` from a fresh process: "True", "False",
    "refused" (LiteRT would not compile it), or "crashed"."""
    import os

    from edgekit.runtime.gpu_driver import vulkan_drivers

    drivers = vulkan_drivers()
    driver = next((d for d in drivers if d.name == driver_name), drivers[0])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(model_bytes)
        runtime_dir = Path(folder) / "xdg"
        runtime_dir.mkdir(mode=0o700)
        env = driver.child_env(os.environ, str(runtime_dir))
        done = subprocess.run([sys.executable, "-c", DIRECT, str(path)], capture_output=True, text=True, env=env, timeout=timeout)
    lines = done.stdout.split()
    return lines[-1] if lines else "crashed"

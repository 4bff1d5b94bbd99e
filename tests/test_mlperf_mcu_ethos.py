"""The five MLPerf Tiny reference models, converted by edgekit for mcu and ethos-u (slow tier).

For each model the Keras file is converted to full int8 with the mcu target's converter
options (batch 1), packaged for TFLM and for Vela, and compared with MLPerf's own reference
int8 file: no more than 5 % larger, no larger a TFLM tensor arena, and agreeing with the float
model at least as well on the same inputs (both run in tflite_micro). The mcu package step
gets the reference's arena as its RAM budget, so LUT compression may only use RAM the reference
needs anyway; its flash, lower bound, TFLM plan, edgekit plan and persistent bytes are printed
(``benchmarks/mcu_fit.py mlperf`` makes the table in docs/microcontrollers.md from the same steps).

The datasets are not available, so inputs of the right shape and range are made here, the way
each benchmark's pipeline makes them: crops of a real photograph (matplotlib's sample image)
for the image models, MFCCs (MLPerf KWS recipe: 30 ms Hann window, 20 ms stride, 40 mel bins
20-4000 Hz, log, first 10 DCT coefficients) of synthetic voiced sounds for KWS, 128-bin log-mel
frames of synthetic machine noise for the AD autoencoder, and the 45 calibration spectrograms
MLPerf ships for SWW. Calibration and evaluation inputs come from different seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from edgekit.converters.keras_tflite import convert_keras
from edgekit.runtime import open_model
from edgekit.runtime.interpreter import dequantize, quantize
from edgekit.target import PackageInput
from edgekit.targets import _tflm
from edgekit.targets.ethos_u import ETHOS_U
from edgekit.targets.mcu import MCU
from tests.conftest import mlperf_path

pytestmark = pytest.mark.slow

CALIBRATION = 200
EVALUATION = 300
SIZE_SLACK = 1.05


# --- inputs of the right shape and range ---------------------------------------------------


def photo_crops(n: int, size: int, seed: int) -> np.ndarray:
    """Random square crops of a real photograph, resized, flipped and colour-jittered: 0..255."""
    from matplotlib import cbook
    from PIL import Image

    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    rng = np.random.default_rng(seed)
    width, height = photo.size
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        side = rng.uniform(0.1, 1.0) * min(width, height)
        left, top = rng.uniform(0, width - side), rng.uniform(0, height - side)
        crop = np.asarray(photo.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR), np.float32)
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        gain = rng.uniform(0.6, 1.3) * rng.uniform(0.85, 1.15, size=3)
        out[i] = np.clip(crop * gain + rng.uniform(-20, 20), 0, 255)
    return out


def voiced_clips(n: int, seed: int, rate: int = 16000) -> np.ndarray:
    """One-second clips: a harmonic 'word' with two formants and a gliding pitch, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rate) / rate
    clips = np.empty((n, rate), np.float32)
    for i in range(n):
        f0 = rng.uniform(90, 260) * (1 + rng.uniform(-0.3, 0.3) * t)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        formants = rng.uniform(300, 900), rng.uniform(900, 2600)
        voice = sum(
            (np.exp(-(((k * f0.mean()) - formants[0]) / 250) ** 2) + 0.6 * np.exp(-(((k * f0.mean()) - formants[1]) / 350) ** 2) + 0.02)
            * np.sin(k * phase)
            for k in range(1, 30)
        )
        start, length = rng.uniform(0.05, 0.5), rng.uniform(0.3, 0.6)
        envelope = np.clip(np.sin(np.pi * (t - start) / length), 0, None) * ((t > start) & (t < start + length))
        noise = rng.normal(0, 10 ** rng.uniform(-5, -1.5), rate)
        clip = (voice * envelope if rng.random() > 0.1 else 0.0) + noise
        clip[int(rate * rng.uniform(0.6, 1.0)) :] = 0.0  # short recordings are zero-padded to 1 s
        clips[i] = clip / np.abs(clip).max()  # MLPerf KWS peak-normalises every clip
    return clips


def kws_features(n: int, seed: int) -> np.ndarray:
    from edgekit._compat import tf

    tf = tf()
    stfts = tf.signal.stft(voiced_clips(n, seed), frame_length=480, frame_step=320, window_fn=tf.signal.hann_window)
    mel = tf.tensordot(tf.abs(stfts), tf.signal.linear_to_mel_weight_matrix(40, stfts.shape[-1], 16000, 20.0, 4000.0), 1)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(mel + 1e-6))[..., :10]
    return mfcc.numpy()[..., None].astype(np.float32)


def machine_frames(n: int, seed: int, rate: int = 16000) -> np.ndarray:
    """5 consecutive 128-bin log-mel (dB) frames of synthetic motor sound: (n, 640)."""
    from edgekit._compat import tf

    tf = tf()
    rng = np.random.default_rng(seed)
    t = np.arange(rate) / rate
    clips = []
    for _ in range(max(1, n // 20)):
        f0 = rng.uniform(30, 200) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        hum = sum(rng.uniform(0, 1) / k * np.sin(k * phase + rng.uniform(0, 6)) for k in range(1, 40))
        whine = 0.1 * np.sin(2 * np.pi * rng.uniform(1000, 5000) * t)
        clip = 10 ** rng.uniform(-4.0, -0.7) * (hum + whine + rng.normal(0, rng.uniform(0.05, 0.5), rate))
        clips.append(clip.astype(np.float32))
    power = tf.abs(tf.signal.stft(np.stack(clips), frame_length=1024, frame_step=512, window_fn=tf.signal.hann_window)) ** 2
    mel = tf.tensordot(power, tf.signal.linear_to_mel_weight_matrix(128, 513, rate, 0.0, rate / 2), 1).numpy()
    log_mel = 10.0 * np.log10(mel + np.finfo(np.float32).eps)  # DCASE baseline: 20/power * log10
    windows = [clip_frames[i : i + 5].reshape(-1) for clip_frames in log_mel for i in range(len(clip_frames) - 4)]
    picks = rng.choice(len(windows), size=n, replace=len(windows) < n)
    return np.stack([windows[i] for i in picks]).astype(np.float32)


def sww_specs(n: int, seed: int) -> np.ndarray:
    """MLPerf's 45 SWW calibration spectrograms, then jittered copies of them in the same range."""
    specs = np.load(mlperf_path("sww", "calibration_samples.npz"))["specs"].astype(np.float32)
    rng = np.random.default_rng(seed)
    picks = specs[rng.integers(0, len(specs), size=n)]
    jittered = picks * rng.uniform(0.8, 1.2, size=(n, 1, 1, 1)) + rng.normal(0, 0.02, size=picks.shape)
    return np.clip(jittered, 0.0, float(specs.max())).astype(np.float32)


# --- the five models ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    keras: tuple[str, ...]
    reference: tuple[str, ...]
    inputs: Callable[[int, int], np.ndarray]
    classifier: bool = True
    qat: bool = False


CASES = {
    "ic": Case(("ic", "pretrainedResnet.h5"), ("ic", "pretrainedResnet_quant.tflite"), lambda n, s: photo_crops(n, 32, s)),
    "vww": Case(("vww", "vww_96.h5"), ("vww", "vww_96_int8.tflite"), lambda n, s: photo_crops(n, 96, s) / 255.0),
    "kws": Case(("kws", "kws_ref_model"), ("kws", "kws_ref_model.tflite"), kws_features),
    "ad": Case(("ad", "ad01.h5"), ("ad", "ad01_int8.tflite"), machine_frames, classifier=False),
    "sww": Case(("sww", "str_ww_ref_model.h5"), ("sww", "str_ww_ref_model.tflite"), sww_specs, qat=True),
}


def load_keras(case: Case):
    from edgekit._compat import tfmot
    from edgekit.models.load import load_model_file

    path = mlperf_path(*case.keras)
    if case.qat:  # TF-MOT QAT wrappers need their custom-object scope to deserialise
        with tfmot().quantization.keras.quantize_scope():
            return load_model_file(path)
    return load_model_file(path)


def tflm_outputs(model_bytes: bytes, x: np.ndarray, like: bytes | None = None) -> np.ndarray:
    """Float outputs of ``model_bytes`` run in tflite_micro (I/O scales read through LiteRT from
    ``like``, the plain model, when ``model_bytes`` has ops LiteRT lacks such as TFLM's DECODE)."""
    runner = open_model(like or model_bytes, default_delegates=False)
    interpreter = _tflm.load(model_bytes, _tflm.measure_arena(model_bytes).total)
    raw = _tflm.run(interpreter, quantize(x, runner.inputs[0]))
    return dequantize(raw, runner.outputs[0])


def fidelity(case: Case, outputs: np.ndarray, reference: np.ndarray) -> float:
    """Higher is better: top-1 agreement, or minus the mean squared reconstruction difference."""
    if case.classifier:
        return float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))
    return -float(np.mean((outputs - reference) ** 2))


@pytest.mark.parametrize("name", list(CASES))
def test_mlperf_model_converts_for_mcu_and_ethos_u(name, tmp_path):
    case = CASES[name]
    reference_bytes = mlperf_path(*case.reference).read_bytes()
    model = load_keras(case)
    calibration, evaluation = case.inputs(CALIBRATION, 1), case.inputs(EVALUATION, 2)
    ours = convert_keras(
        model,
        quantization="int8",
        io_dtype="int8",
        representative_data=calibration,
        calibration_samples=CALIBRATION,
        options=MCU.converter_options,
        batch_size=1,
    )

    assert MCU.check(ours).runnable
    reference_arena = _tflm.measure_arena(reference_bytes)
    target = MCU.variant(ram_kb=reference_arena.total / 1024)
    mcu = target.package(ours, PackageInput(name=f"{name}-mcu-int8", x_test=evaluation, options=target.options))
    shipped = mcu.files.get(f"mcu/{name}-mcu-int8_mcu.tflite", ours)
    float_out = model.predict(evaluation, verbose=0).reshape(len(evaluation), -1)
    ours_fidelity = fidelity(case, tflm_outputs(shipped, evaluation, like=ours), float_out)
    reference_fidelity = fidelity(case, tflm_outputs(reference_bytes, evaluation), float_out)
    ethos = ETHOS_U.package(ours, PackageInput(name=f"{name}-ethos-u-int8", options=ETHOS_U.options))

    figures = {
        "model": name,
        "bytes": len(ours),
        "reference_bytes": len(reference_bytes),
        "arena": mcu.details["arena_bytes"],
        "arena_recorded": mcu.details["arena_recorded_bytes"],
        **{k: mcu.details.get(k) for k in ("flash_bytes", "lut_compressed_tensors", "arena_lower_bound_bytes", "arena_tflm_plan_bytes")},
        **{k: mcu.details.get(k) for k in ("arena_offline_plan_bytes", "arena_plan", "arena_persistent_bytes")},
        "reference_arena": reference_arena.total,
        "reference_arena_recorded": reference_arena.recorded,
        "fidelity": round(ours_fidelity, 6),
        "reference_fidelity": round(reference_fidelity, 6),
        **{k: v for k, v in mcu.details.items() if k.startswith("tflm_") and k != "tflm_version"},
        **{f"vela_{k}": ethos.details[k] for k in ("npu_op_share", "sram_bytes", "flash_bytes", "cycles_total", "inference_time_ms")},
    }
    print("MLPERF", json.dumps(figures))

    assert len(ours) <= SIZE_SLACK * len(reference_bytes)
    assert len(shipped) == mcu.details["flash_bytes"] <= len(ours)
    assert mcu.details["arena_bytes"] <= reference_arena.total
    assert mcu.details["arena_recorded_bytes"] <= reference_arena.recorded
    assert mcu.details["arena_lower_bound_bytes"] <= mcu.details["arena_head_bytes"] <= mcu.details["arena_tflm_plan_bytes"]
    assert mcu.details["tflm_shipped_identical_samples"] == EVALUATION
    if case.classifier:  # 1-LSB rounding differences before SOFTMAX come out magnified
        assert mcu.details["tflm_top1_agreement"] >= 0.99
    else:
        assert mcu.details["tflm_max_diff_lsb"] <= 1
    assert ours_fidelity >= reference_fidelity
    assert ethos.details["npu_op_share"] > 0.9
    assert ethos.details["sram_bytes"] > 0 and ethos.details["inference_time_ms"] > 0

"""The phone flavour: a model an Android app can use without reading edgekit's docs.

Each dressed artifact gets TFLite metadata (name, description, version, author, licence from
the recipe's ``[metadata]``; colour space and normalisation from the data; the label file
packed into the model) and a ``README.md`` whose Kotlin loads the model with the LiteRT
``Interpreter`` and the GPU delegate. The README's numbers are read from the model the same
way the manifest's are, so the two always agree.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgekit.flavours import Dressed, DressInput
from edgekit.registry import get_converter

__all__ = ["dress"]

BYTES = {"float32": 4, "int8": 1, "uint8": 1}
# LiteRT's Android libraries (the TensorFlow Lite ones under their new name).
LITERT_VERSION = "1.0.1"


def dress(model_bytes: bytes, job: DressInput) -> Dressed:
    """Attach metadata, then write the README from the dressed model."""
    from edgekit.measure.evaluate import io_description

    (model_input,), (model_output,) = _single_io(model_bytes)
    keys = signature_keys(model_bytes)
    fields = metadata_fields(job, model_input, model_output, keys)
    dressed = get_converter("tflite_metadata")(model_bytes, fields)
    inputs, outputs = io_description(dressed)
    text = readme(job, fields, inputs[0], outputs[0], keys)
    return Dressed(model_bytes=dressed, files={"README.md": text.encode("utf-8")})


def signature_keys(model_bytes: bytes) -> tuple[str, str] | None:
    """(input key, output key) of a one-input, one-output ``serving_default`` signature."""
    from edgekit.runtime import open_model

    signature = open_model(model_bytes, default_delegates=False).interpreter.get_signature_list().get("serving_default")
    if not signature or len(signature["inputs"]) != 1 or len(signature["outputs"]) != 1:
        return None
    return signature["inputs"][0], signature["outputs"][0]


def metadata_fields(job: DressInput, model_input: Mapping, model_output: Mapping, keys) -> dict[str, Any]:
    """The metadata, as fields of ``edgekit.converters.metadata.ImageClassifierMetadata``."""
    spec = job.metadata
    mean, std = _same_length(job.normalization["mean"], job.normalization["std"])
    image = job.image or {}
    return {
        "name": spec.get("name") or job.model_name,
        "description": spec.get("description") or _model_description(job),
        "version": spec.get("version", ""),
        "author": spec.get("author", ""),
        "license": spec.get("license", ""),
        "labels": tuple(job.labels),
        "mean": mean,
        "std": std,
        "color_space": image.get("color", "unknown"),
        "input_dtype": model_input["dtype"],
        "output_dtype": model_output["dtype"],
        "input_name": keys[0] if keys else "image",
        "output_name": keys[1] if keys else "probabilities",
        "input_description": _input_description(job, model_input, mean, std),
        "output_description": _output_description(job, model_output),
    }


def readme(job: DressInput, fields: Mapping, model_input: Mapping, model_output: Mapping, keys) -> str:
    """The bundle's README: what the model takes and gives, and Kotlin that runs it."""
    rows = [
        ("tensor", f"`{fields['input_name']}`", f"`{fields['output_name']}`"),
        ("shape", _shape(model_input), _shape(model_output)),
        ("dtype", model_input["dtype"], model_output["dtype"]),
        ("quantisation", _quantisation(model_input), _quantisation(model_output)),
        ("normalisation", f"(pixel - {_values(fields['mean'])}) / {_values(fields['std'])}", "none: probabilities"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return f"""# {fields['name']}: {job.target}-{job.quantization} for Android

{fields['description']}

`model.tflite` carries TFLite metadata: its name, description, version, author and licence,
the input's colour space and normalisation, and `labels.txt` packed inside it. Android Studio's
ML model binding, the LiteRT Support and Task libraries and MediaPipe read these from the model
itself. The numbers below are the ones in `manifest.json`.

| | input | output |
| --- | --- | --- |
{table}
{_library_note(model_input)}
## Run it with the LiteRT Interpreter API

Copy `model.tflite` and `labels.txt` into `app/src/main/assets/`, then add to
`app/build.gradle.kts`:

```kotlin
dependencies {{
    implementation("com.google.ai.edge.litert:litert:{LITERT_VERSION}")
    implementation("com.google.ai.edge.litert:litert-gpu:{LITERT_VERSION}")
    implementation("com.google.ai.edge.litert:litert-gpu-api:{LITERT_VERSION}")
    implementation("com.google.ai.edge.litert:litert-support:{LITERT_VERSION}")
}}
```

```kotlin
{kotlin(job, fields, model_input, model_output, keys)}
```
"""


def kotlin(job: DressInput, fields: Mapping, model_input: Mapping, model_output: Mapping, keys) -> str:
    """A classifier class for the LiteRT Interpreter API, GPU delegate where the device has one."""
    pixels = int(np.prod([d for d in model_input["shape"][1:]]))
    classes = int(model_output["shape"][-1])
    use_gpu = "true" if job.target == "gpu" else "false"
    constants = [
        f"const val PIXELS = {pixels}",
        f"const val CLASSES = {classes}",
        f"val MEAN = floatArrayOf({', '.join(_float(v) for v in fields['mean'])})",
        f"val STD = floatArrayOf({', '.join(_float(v) for v in fields['std'])})",
    ]
    for prefix, spec in (("INPUT", model_input), ("OUTPUT", model_output)):
        if spec["quantization"]:
            constants.append(f"const val {prefix}_SCALE = {_float(spec['quantization']['scale'])}")
            constants.append(f"const val {prefix}_ZERO_POINT = {int(spec['quantization']['zero_point'])}")
    run = (
        f'interpreter.runSignature(mapOf("{keys[0]}" to input), mapOf("{keys[1]}" to output))'
        if keys
        else "interpreter.run(input, output)"
    )
    body = KOTLIN.format(
        use_gpu=use_gpu,
        shape="x".join(str(d) for d in model_input["shape"][1:]),
        in_bytes=BYTES[model_input["dtype"]],
        out_bytes=BYTES[model_output["dtype"]],
        put=_put(model_input),
        get=_get(model_output),
        run=run,
        constants="\n        ".join(constants),
        target=f"{job.target}-{job.quantization}",
    )
    return body.strip()


KOTLIN = """
import android.content.Context
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.support.common.FileUtil

/** Classifies one image with model.tflite ({target}); the constants come from manifest.json. */
class Classifier(context: Context, useGpu: Boolean = {use_gpu}) : AutoCloseable {{
    private val compatibility = CompatibilityList()
    private val gpu = if (useGpu && compatibility.isDelegateSupportedOnThisDevice) {{
        GpuDelegate(compatibility.bestOptionsForThisDevice)
    }} else {{
        null
    }}
    private val interpreter = Interpreter(
        FileUtil.loadMappedFile(context, "model.tflite"),
        Interpreter.Options().apply {{ if (gpu != null) addDelegate(gpu) else setNumThreads(4) }},
    )
    val labels: List<String> = FileUtil.loadLabels(context, "labels.txt")

    /** [pixels]: the {shape} raw pixel values (0..255), row by row, channels last. */
    fun classify(pixels: FloatArray): Pair<String, Float> {{
        require(pixels.size == PIXELS) {{ "expected $PIXELS values, got ${{pixels.size}}" }}
        val input = ByteBuffer.allocateDirect(PIXELS * {in_bytes}).order(ByteOrder.nativeOrder())
        pixels.forEachIndexed {{ i, pixel ->
            val x = (pixel - MEAN[i % MEAN.size]) / STD[i % STD.size]
            {put}
        }}
        input.rewind()
        val output = ByteBuffer.allocateDirect(CLASSES * {out_bytes}).order(ByteOrder.nativeOrder())
        {run}
        output.rewind()
        val scores = FloatArray(CLASSES) {{ {get} }}
        var best = 0
        for (i in scores.indices) if (scores[i] > scores[best]) best = i
        return labels[best] to scores[best]
    }}

    override fun close() {{
        interpreter.close()
        gpu?.close()
        compatibility.close()
    }}

    companion object {{
        {constants}
    }}
}}
"""


def _put(spec: Mapping) -> str:
    if spec["dtype"] == "float32":
        return "input.putFloat(x)"
    low, high = (-128, 127) if spec["dtype"] == "int8" else (0, 255)
    return f"input.put((Math.round(x / INPUT_SCALE) + INPUT_ZERO_POINT).coerceIn({low}, {high}).toByte())"


def _get(spec: Mapping) -> str:
    if spec["dtype"] == "float32":
        return "output.getFloat()"
    value = "output.get().toInt()" if spec["dtype"] == "int8" else "(output.get().toInt() and 0xFF)"
    return f"({value} - OUTPUT_ZERO_POINT) * OUTPUT_SCALE"


def _library_note(model_input: Mapping) -> str:
    if model_input["dtype"] != "int8":
        return ""
    return (
        "\nMediaPipe's and the Task Library's image classifiers take uint8 or float32 input tensors;\n"
        "this int8 one runs with the Interpreter API below. For those libraries build the cpu target\n"
        'with `[target.cpu] io_dtype = "uint8"` in the recipe, or use a float artifact.\n'
    )


def _single_io(model_bytes: bytes):
    from edgekit.errors import ModelError
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(model_bytes)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"the phone flavour dresses image classifiers with one input and one output, not {len(inputs)} and {len(outputs)}")
    return inputs, outputs


def _model_description(job: DressInput) -> str:
    image = job.image
    what = f"a {image['height']}x{image['width']} {image['color']} image" if image else "an input"
    return (
        f"Classifies {what} into one of {len(job.labels)} classes. "
        f"{job.quantization} model for the {job.target} target, built by edgekit from recipe {job.model_name!r}."
    )


def _input_description(job: DressInput, spec: Mapping, mean, std) -> str:
    text = f"Raw pixels normalised as (pixel - {_values(mean)}) / {_values(std)}"
    if spec["quantization"]:
        q = spec["quantization"]
        text += f", then quantised to {spec['dtype']} with scale {_number(q['scale'])} and zero point {q['zero_point']}"
    return text + "."


def _output_description(job: DressInput, spec: Mapping) -> str:
    text = f"Probabilities of the {len(job.labels)} labels in labels.txt, in order"
    if spec["quantization"]:
        q = spec["quantization"]
        shift = f"+ {-q['zero_point']}" if q["zero_point"] < 0 else f"- {q['zero_point']}"
        text += f" ({spec['dtype']}: probability = (value {shift}) * {_number(q['scale'])})"
    return text + "."


def _same_length(mean, std) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of equal length, as TFLite metadata wants them."""
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) == 1 and len(std) > 1:
        mean = mean * len(std)
    if len(std) == 1 and len(mean) > 1:
        std = std * len(mean)
    return tuple(mean), tuple(std)


def _shape(spec: Mapping) -> str:
    return "x".join("N" if d == -1 else str(d) for d in spec["shape"])


def _quantisation(spec: Mapping) -> str:
    q = spec["quantization"]
    return f"scale {_number(q['scale'])}, zero point {q['zero_point']}" if q else "none (float)"


def _values(values) -> str:
    return _number(values[0]) if len(values) == 1 else "[" + ", ".join(_number(v) for v in values) + "]"


def _number(value: float) -> str:
    """Shortest text that reads back as the same float32."""
    return np.format_float_positional(np.float32(value), unique=True, trim="0")


def _float(value: float) -> str:
    """The same, as a Kotlin Float literal."""
    return _number(value) + "f"

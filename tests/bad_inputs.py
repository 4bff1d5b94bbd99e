"""The bad-input table: every command, fed broken files, recipes, data and options.

Each :class:`Case` is one ``edgekit`` command line run in a folder of its own, with the exit
code and a fragment of the one-line error it must give. ``tests/test_bad_inputs.py`` runs
them as real CLI processes; ``benchmarks/reliability_table.py`` runs them and prints the
the table in docs/reliability.md. A command that lands later adds its cases with one line, for example::

    CASES += file_cases("verify", "verify {file}", ".zip") + [Case("verify", "...", "verify {dir}", 2, "...")]

Templates are formatted with the workspace's names (``{good_tflite}``, ``{recipes}``, ...)
plus ``{out}``, a folder that must not exist after the run, and split like a shell line. A
case whose command may write into its input (``report`` writes beside report.json) names
that input in ``stage``: a copy of it is made in the case's own folder as ``{staged}``.

Each case runs in an empty folder of its own, with ``TMPDIR`` inside it: after the run, any
file added, changed or removed there (output, a ``.partial-`` staging folder, a temporary
folder left behind) counts as debris.
"""

from __future__ import annotations

import json
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.security_inputs import HOSTILE_NAME, PWNED, make_saved_models, make_security_workspace

BAD_FILE_KINDS = ("missing", "empty", "truncated", "random-bytes", "text")


@dataclass(frozen=True)
class Case:
    command: str
    what: str
    argv: str  # a template, e.g. "inspect {bad}/empty.tflite"
    code: int  # 2: usage or input error, 1: a failure of a well-formed run
    fragment: str  # the error line must contain this (formatted like argv)
    heavy: bool = False  # loads TensorFlow: run with the other heavy cases in one process
    stage: str = ""  # a workspace path copied into the case's folder first, named {staged}
    env: tuple[tuple[str, str], ...] = ()  # extra environment (templates), for light cases

    def environment(self, names: dict) -> dict:
        return {key: value.format(**names) for key, value in self.env}

    def args(self, names: dict) -> list[str]:
        return shlex.split(self.argv.format(**names))

    def expected(self, names: dict) -> str:
        return self.fragment.format(**names)


def file_cases(command: str, template: str, suffix: str, *, heavy: bool = False, code: int = 2) -> list[Case]:
    """Missing, empty, truncated, random-byte and text files of one kind for a file argument.

    ``template`` contains ``{file}``; the error must name the file.
    """
    cases = []
    for kind in BAD_FILE_KINDS:
        path = f"{{bad}}/{kind}{suffix}"
        cases.append(Case(command, f"{kind} {suffix} file", template.replace("{file}", path), code, path, heavy))
    return cases


def generic_cases(command: str, *, takes_arguments: bool) -> list[Case]:
    """Cases every command gets: an unknown option, and a missing argument where one is required."""
    cases = [Case(command, "unknown option", f"{command} --no-such-option", 2, "No such option '--no-such-option'")]
    if takes_arguments:
        cases.append(Case(command, "missing argument", command, 2, "Missing argument"))
    return cases


RECIPE_HEAD = 'name = "bad"\n[model]\nfactory = "simple_cnn.py:build"\nkwargs = { input_shape = [28, 28, 1], num_classes = 10, width = 0.25 }\n'
DATA_LIMITS = "limit_train = 64\nlimit_test = 32\n"
# recipe file name -> text; the build cases below refer to them as {recipes}/NAME
RECIPES = {
    "empty.toml": "",
    "no_model.toml": 'name = "x"\n',
    "not_toml.toml": "[model\nfactory = 1\n",
    "binary.toml": None,  # random bytes, written by make_workspace
    "unknown_key.toml": RECIPE_HEAD + "[train]\nepoch = 3\n",
    "unknown_section.toml": RECIPE_HEAD + "[trainer]\nepochs = 3\n",
    "wrong_type.toml": RECIPE_HEAD + '[train]\nepochs = "ten"\n',
    "sparsity.toml": RECIPE_HEAD + "[prune]\nsparsity = 1.5\n",
    "zero_epochs.toml": RECIPE_HEAD + "[train]\nepochs = 0\n",
    "negative_lr.toml": RECIPE_HEAD + "[train]\nlearning_rate = -0.1\n",
    "zero_std.toml": RECIPE_HEAD + "[data]\nstd = 0\n",
    "bad_mode.toml": RECIPE_HEAD + '[quantize]\nmode = "int4"\n',
    "unknown_target.toml": 'targets = ["npu"]\n' + RECIPE_HEAD,
    "both_sources.toml": '[model]\nfactory = "simple_cnn.py:build"\nfile = "m.keras"\n',
    "escape_file.toml": '[model]\nfile = "../keras/good.keras"\n',
    "escape_factory.toml": '[model]\nfactory = "../simple_cnn.py:build"\n',
    "escape_data.toml": RECIPE_HEAD + '[data]\nsource = "../data/good.npz"\n',
    "escape_out.toml": RECIPE_HEAD + '[output]\ndir = "/tmp/edgekit-escape"\n',
    "missing_factory_file.toml": '[model]\nfactory = "nothere.py:build"\n[data]\n' + DATA_LIMITS,
    "missing_function.toml": '[model]\nfactory = "simple_cnn.py:nothere"\n[data]\n' + DATA_LIMITS,
    "bad_kwargs.toml": '[model]\nfactory = "simple_cnn.py:build"\nkwargs = { colour = 3 }\n[data]\n' + DATA_LIMITS,
    "missing_model_file.toml": '[model]\nfile = "nothere.keras"\n[data]\n' + DATA_LIMITS,
    "corrupt_model_file.toml": '[model]\nfile = "truncated.keras"\n[data]\n' + DATA_LIMITS,
    "lambda_model_file.toml": '[model]\nfile = "lambda.keras"\n[data]\n' + DATA_LIMITS,
    "missing_data.toml": RECIPE_HEAD + '[data]\nsource = "nothere.npz"\n',
    "corrupt_data.toml": RECIPE_HEAD + '[data]\nsource = "random.npz"\n',
    "pickled_data.toml": RECIPE_HEAD + '[data]\nsource = "pickled.npz"\n',
    "no_arrays.toml": RECIPE_HEAD + '[data]\nsource = "no_x.npz"\n',
    "string_data.toml": RECIPE_HEAD + '[data]\nsource = "strings.npz"\n',
    "negative_labels.toml": RECIPE_HEAD + '[data]\nsource = "negative_labels.npz"\n',
    "few_label_names.toml": RECIPE_HEAD + '[data]\nsource = "mnist"\nlabels = ["a", "b"]\n' + DATA_LIMITS,
    "length_mismatch.toml": RECIPE_HEAD + '[data]\nsource = "length_mismatch.npz"\n',
    "empty_images.toml": RECIPE_HEAD + '[data]\nsource = "empty_images"\n',
    "no_class_folders.toml": RECIPE_HEAD + '[data]\nsource = "flat_images"\n',
    "corrupt_image.toml": RECIPE_HEAD + '[data]\nsource = "corrupt_images"\nimage_size = [28, 28]\n',
    "wrong_shape.toml": RECIPE_HEAD + '[data]\nsource = "rgb32.npz"\n',
    "wrong_classes.toml": RECIPE_HEAD.replace("num_classes = 10", "num_classes = 3") + "[data]\n" + DATA_LIMITS,
    "regression_with_training.toml": 'task = "regression"\n' + RECIPE_HEAD + "[data]\n" + DATA_LIMITS,
    "unknown_task.toml": 'task = "segmentation"\n' + RECIPE_HEAD + "[data]\n" + DATA_LIMITS,
    # a good recipe, for sweep and analyze options that are wrong on their own
    "tiny.toml": RECIPE_HEAD + "[data]\n" + DATA_LIMITS,
    "threshold_high.toml": RECIPE_HEAD + "[analyze]\nthreshold = 1.5\n",
    "threshold_negative.toml": RECIPE_HEAD + "[analyze]\nthreshold = -0.01\n",
    "analyze_no_samples.toml": RECIPE_HEAD + "[analyze]\nsamples = 0\n",
    "analyze_unknown_key.toml": RECIPE_HEAD + "[analyze]\nthresh = 0.1\n",
    "distributed_unknown_key.toml": RECIPE_HEAD + "[distributed]\nworkers = 2\n",
    "distributed_remote.toml": RECIPE_HEAD + '[distributed]\nscheduler = "tcp://10.1.2.3:8786"\n',
    # output safety and signing keys (all before TensorFlow loads), a SavedModel that writes a file
    "dot_out.toml": RECIPE_HEAD + '[output]\ndir = "."\n',
    "sign_missing.toml": RECIPE_HEAD + '[output]\nsign_key = "nokey"\n',
    "sign_outside.toml": RECIPE_HEAD + '[output]\nsign_key = "/etc/hostname"\n',
    "sign_not_key.toml": RECIPE_HEAD + '[output]\nsign_key = "tiny.toml"\n',
    "planted_model.toml": '[model]\nfile = "planted_saved_model"\n[data]\n' + DATA_LIMITS,
}


def _build(recipe: str, what: str, fragment: str, *, code: int = 2, heavy: bool = False, extra: str = "") -> Case:
    return Case("build", what, f"build {{recipes}}/{recipe} --out {{out}} {extra}".strip(), code, fragment, heavy)


CASES: list[Case] = [
    # ---- targets
    Case("targets", "extra argument", "targets cpu", 2, "Got unexpected extra argument (cpu)"),
    # ---- inspect
    *file_cases("inspect", "inspect {file}", ".tflite"),
    Case("inspect", "a folder", "inspect {bad}", 2, "is a directory"),
    Case("inspect", "valid header, random body", "inspect {bad}/header_only.tflite", 2, "{bad}/header_only.tflite: malformed TFLite flatbuffer"),
    Case("inspect", "root offset past the end", "inspect {bad}/root_offset.tflite", 2, "{bad}/root_offset.tflite: malformed TFLite flatbuffer"),
    Case("inspect", "a .keras file", "inspect {keras}/good.keras", 2, "not a TFLite model"),
    Case("inspect", "unknown target", "inspect {good_tflite} --target npu", 2, "valid targets: cpu, gpu, edgetpu"),
    Case("inspect", "corrupt model for the cpu check", "inspect {bad}/inconsistent.tflite --target cpu", 2, "{bad}/inconsistent.tflite: inconsistent TFLite model"),
    Case("inspect", "bad quantisation spec", "inspect {good_tflite} --target cpu:int3", 2, "int3"),
    # ---- convert (file checks happen before TensorFlow loads)
    *file_cases("convert", "convert {file} --target cpu --out {out}", ".keras"),
    *file_cases("convert", "convert {file} --target cpu --out {out}", ".h5"),
    Case("convert", "unsupported model type", "convert {bad}/model.caffemodel --target cpu --out {out}", 2, "unsupported model file type"),
    Case("convert", "corrupt .onnx", "convert {bad}/model.onnx --target cpu --out {out}", 2, "not an ONNX model"),
    Case("convert", "pickled .pth", "convert {bad}/model.pth --target cpu --out {out}", 2, "pickle that runs code when it is loaded"),
    Case("convert", "pickled .pt", "convert {bad}/model.pt --target cpu --out {out}", 2, "torch.export.save"),
    Case("convert", "not a SavedModel folder", "convert {bad} --target cpu --out {out}", 2, "{bad}"),
    Case("convert", "Lambda in .keras", "convert {keras}/lambda.keras --target cpu --out {out}", 2, "Lambda layer 'code' would run code"),
    Case("convert", "Lambda in .h5", "convert {keras}/lambda.h5 --target cpu --out {out}", 2, "Lambda layer 'code' would run code"),
    Case("convert", "unknown target", "convert {keras}/good.keras --target npu --out {out}", 2, "unknown target 'npu'"),
    Case("convert", "zero std", "convert {keras}/good.keras --target cpu --std 0 --out {out}", 2, "--std must be non-zero"),
    Case("convert", "calibration samples 0", "convert {keras}/good.keras --target cpu --calibration-samples 0 --out {out}", 2, "--calibration-samples"),
    Case("convert", "labels file missing", "convert {keras}/good.keras --target cpu --labels {bad}/missing.txt --out {out}", 2, "{bad}/missing.txt"),
    Case("convert", "labels file binary", "convert {keras}/good.keras --target cpu --labels {bad}/random-bytes.npz --out {out}", 2, "{bad}/random-bytes.npz: not a UTF-8 text file"),
    Case("convert", "int8 without data", "convert {keras}/good.keras --target cpu --out {out}", 2, "needs representative data", heavy=True),
    Case("convert", "data missing", "convert {keras}/good.keras --target cpu --data {bad}/missing.npz --out {out}", 2, "{bad}/missing.npz", heavy=True),
    Case("convert", "data random bytes", "convert {keras}/good.keras --target cpu --data {bad}/random-bytes.npz --out {out}", 2, "{bad}/random-bytes.npz", heavy=True),
    Case("convert", "data pickled", "convert {keras}/good.keras --target cpu --data {data}/pickled.npz --out {out}", 2, "{data}/pickled.npz", heavy=True),
    Case("convert", "data without x", "convert {keras}/good.keras --target cpu --data {data}/no_x.npz --out {out}", 2, "no array named 'x'", heavy=True),
    Case("convert", "data wrong shape", "convert {keras}/good.keras --target cpu --data {data}/rgb32.npz --out {out}", 2, "samples have shape (32, 32, 3) but the model takes (28, 28, 1)", heavy=True),
    Case("convert", "data wrong dtype", "convert {keras}/good.keras --target cpu --data {data}/strings.npz --out {out}", 2, "{data}/strings.npz", heavy=True),
    Case("convert", "empty image folder", "convert {keras}/good.keras --target cpu --data {data}/empty_images --out {out}", 2, "no images", heavy=True),
    Case("convert", "corrupt image", "convert {keras}/good.keras --target cpu --data {data}/corrupt_images --out {out}", 2, "cannot read image", heavy=True),
    Case("convert", "dynamic shape, nothing fixes it", "convert {keras}/dynamic.keras --target cpu:float32 --out {out}", 2, "has dynamic dimensions ((None, None, 1), dimension 1, 2) and nothing fixes them", heavy=True),
    Case("convert", "--input-shape does not fit", "convert {keras}/good.keras --target cpu:float32 --input-shape 32x32x3 --out {out}", 2, "--input-shape 32x32x3 does not fit", heavy=True),
    Case("convert", "--input-shape not a shape", "convert {keras}/good.keras --target cpu:float32 --input-shape big --out {out}", 2, "--input-shape 'big': expected positive whole numbers like 96x96x3"),
    Case("convert", "flash of 1e300 KiB", "convert {keras}/good.keras --target mcu --flash-kb 1e300 --out {out}", 2, "--flash-kb 1e+300: a budget must be a positive number of KiB up to 1,073,741,824"),
    Case("convert", "--input-shape with an empty dimension", "convert {keras}/dynamic.keras --target cpu:float32 --input-shape 16xx1 --out {out}", 2, "--input-shape '16xx1': expected positive whole numbers"),
    Case("convert", "--input-shape beyond int64", "convert {keras}/dynamic.keras --target cpu:float32 --input-shape 99999999999999999999x2x1 --out {out}", 2, "more than the 2,147,483,648 an interpreter can index"),
    Case("convert", "--input-shape of 10^10 elements", "convert {keras}/dynamic.keras --target cpu:float32 --input-shape 100000x100000x1 --out {out}", 2, "--input-shape 100000x100000x1: one sample has 10,000,000,000 elements"),
    Case("convert", "--input-shape too small for a 3x3 conv", "convert {keras}/dynamic.keras --target cpu:float32 --input-shape 1x1x1 --out {out}", 2, "--input-shape 1x1x1 does not fit layer 'conv2d", heavy=True),
    Case("convert", "--input-shape whose activations overflow", "convert {keras}/dynamic.keras --target cpu:float32 --input-shape 30000x30000x1 --out {out}", 2, "would hold 3,599,520,016 elements", heavy=True),
    Case("convert", "unknown task", "convert {keras}/good.keras --target cpu --task segmentation --out {out}", 2, "--task 'segmentation' is not a task"),
    Case("convert", "two inputs", "convert {keras}/two_inputs.keras --target cpu:float32 --out {out}", 2, "models with 2 inputs are not supported", heavy=True),
    # ---- build: the recipe (all before TensorFlow loads)
    _build("missing.toml", "missing recipe", "recipe not found"),
    _build("empty.toml", "empty recipe", "missing [model] section"),
    _build("no_model.toml", "no [model]", "missing [model] section"),
    _build("not_toml.toml", "invalid TOML", "not valid TOML"),
    _build("binary.toml", "random bytes", "not a text file"),
    _build("unknown_key.toml", "unknown key", "unknown key 'epoch' in [train]"),
    _build("unknown_section.toml", "unknown section", "unknown key 'trainer'"),
    _build("wrong_type.toml", "wrong type", "train.epochs must be an integer, got str 'ten'"),
    _build("sparsity.toml", "sparsity 1.5", "prune.sparsity = 1.5 must be in [0, 1)"),
    _build("zero_epochs.toml", "zero epochs", "train.epochs = 0 must be at least 1"),
    _build("negative_lr.toml", "negative learning rate", "train.learning_rate = -0.1 must be positive"),
    _build("zero_std.toml", "zero std", "data.std must be non-zero"),
    _build("bad_mode.toml", "unknown quantize mode", "quantize.mode = 'int4' is not valid"),
    _build("unknown_target.toml", "unknown target", "unknown target 'npu'"),
    _build("both_sources.toml", "factory and file", "needs exactly one of factory or file"),
    _build("escape_file.toml", "model.file outside", "model.file = '../keras/good.keras' points outside the recipe's folder"),
    _build("escape_factory.toml", "factory outside", "model.factory = '../simple_cnn.py:build' points outside"),
    _build("escape_data.toml", "data.source outside", "data.source = '../data/good.npz' points outside"),
    Case("build", "output.dir outside", "build {recipes}/escape_out.toml", 2, "output.dir = '/tmp/edgekit-escape' points outside"),
    _build("sparsity.toml", "bad --set value", "train.epochs = -1 must be at least 1", extra="--set train.epochs=-1"),
    _build("sparsity.toml", "malformed --set", "expected section.key=value", extra="--set nonsense"),
    _build("sparsity.toml", "unknown --set key", "unknown key 'nope' in [train]", extra="--set train.nope=1"),
    # ---- build: model and data (TensorFlow loads; one process runs them all)
    _build("missing_factory_file.toml", "factory file missing", "model factory file not found", heavy=True),
    _build("missing_function.toml", "factory function missing", "has no function 'nothere'", heavy=True),
    _build("bad_kwargs.toml", "factory rejects kwargs", "rejected its arguments", heavy=True),
    _build("missing_model_file.toml", "model file missing", "model file not found", heavy=True),
    _build("corrupt_model_file.toml", "model file truncated", "truncated.keras", heavy=True),
    _build("lambda_model_file.toml", "Lambda without --trust-model", "Lambda layer 'code' would run code", heavy=True),
    _build("missing_data.toml", "data missing", "data source 'nothere.npz' not found or not supported", heavy=True),
    _build("corrupt_data.toml", "data random bytes", "random.npz: cannot read as .npz", heavy=True),
    _build("pickled_data.toml", "pickled data", "pickled.npz: cannot read as .npz", heavy=True),
    _build("no_arrays.toml", "npz without x/y", "expected arrays 'x' and 'y'", heavy=True),
    _build("string_data.toml", "string dtype", "inputs must be numeric", heavy=True),
    _build("negative_labels.toml", "labels out of range", "labels must be integers in 0..", heavy=True),
    _build("few_label_names.toml", "fewer label names than classes", "labels must be integers in 0..1", heavy=True),
    _build("length_mismatch.toml", "inputs and labels differ", "inputs but 9 labels", heavy=True),
    _build("empty_images.toml", "empty image folder", "no class subfolders", heavy=True),
    _build("no_class_folders.toml", "images without class folders", "no class subfolders", heavy=True),
    _build("corrupt_image.toml", "corrupt image", "cannot read image", heavy=True),
    _build("wrong_shape.toml", "data shape vs model", "the model takes inputs of shape (28, 28, 1) but the data has (32, 32, 3)", heavy=True),
    _build("wrong_classes.toml", "classes vs outputs", "the model has 3 outputs but the data has 10 classes", heavy=True),
    _build("regression_with_training.toml", "regression task with training", "task = 'regression' with training on: edgekit trains classifiers"),
    _build("unknown_task.toml", "unknown task", "task = 'segmentation' is not valid"),
    Case("build", "--out under a file", "build {recipes}/tiny.toml --out {good_tflite}/out", 2, "{good_tflite} is a file, not a folder"),
    Case("convert", "--out under a file", "convert {keras}/good.keras --target cpu --out {good_tflite}/out", 2, "{good_tflite} is a file, not a folder"),
    # ---- verify: a bundle folder or .zip, every file against the manifest's sha256
    *file_cases("verify", "verify {file}", ".zip"),
    Case("verify", "folder missing", "verify {bundles}/nothere", 2, "{bundles}/nothere: no such bundle folder or .zip"),
    Case("verify", "folder without manifest", "verify {bundles}/no_manifest", 2, "{bundles}/no_manifest: not a bundle (no manifest.json)"),
    Case("verify", "model bytes changed", "verify {bundles}/tampered", 2, "{bundles}/tampered: model.tflite does not match its sha256"),
    Case("verify", "a file missing", "verify {bundles}/missing_file", 2, "{bundles}/missing_file: labels.txt is missing"),
    Case("verify", "an unknown extra file", "verify {bundles}/extra_file", 2, "{bundles}/extra_file: files not in the manifest: payload.sh"),
    Case("verify", "a file is a symlink", "verify {bundles}/symlink", 2, "{bundles}/symlink: labels.txt is a symbolic link"),
    Case("verify", "manifest not JSON", "verify {bundles}/manifest_not_json", 2, "{bundles}/manifest_not_json/manifest.json: manifest is not valid JSON"),
    Case("verify", "manifest not an object", "verify {bundles}/manifest_list", 2, "{bundles}/manifest_list/manifest.json: not an edgekit manifest"),
    Case("verify", "manifest format version 2", "verify {bundles}/manifest_v2", 2, "{bundles}/manifest_v2/manifest.json: manifest format version 2 is not supported"),
    Case("verify", "sha256 edited in the manifest", "verify {bundles}/manifest_sha", 2, "{bundles}/manifest_sha: labels.txt does not match its sha256"),
    Case("verify", "manifest names ../", "verify {bundles}/manifest_unsafe_path", 2, "{bundles}/manifest_unsafe_path: manifest names an unsafe path '../labels.txt'"),
    Case("verify", "manifest model not listed", "verify {bundles}/model_not_listed", 2, "manifest key 'model' = 'nothere.tflite' is not one of its listed files"),
    Case("verify", "good bundle, then a tampered one", "verify {bundle} {bundles}/tampered", 2, "{bundles}/tampered: model.tflite does not match"),
    Case("verify", "tampered zip", "verify {bundles}/tampered.zip", 2, "{bundles}/tampered.zip: model.tflite does not match its sha256"),
    Case("verify", "zip with a ../ member", "verify {bundles}/dotdot.zip", 2, "{bundles}/dotdot.zip: member '../evil.sh' would be written outside the bundle"),
    Case("verify", "zip with an absolute member", "verify {bundles}/absolute.zip", 2, "{bundles}/absolute.zip: member '/tmp/evil.sh' would be written outside"),
    Case("verify", "zip with a symlink", "verify {bundles}/symlink.zip", 2, "{bundles}/symlink.zip: member 'b/labels.txt' is a symbolic link"),
    Case("verify", "zip bomb (declares 3 GiB)", "verify {bundles}/bomb.zip", 2, "{bundles}/bomb.zip: declares 3,221,225,472 bytes unpacked"),
    Case("verify", "zip with 1001 members", "verify {bundles}/many.zip", 2, "{bundles}/many.zip: 1001 members, more than the limit of 1000"),
    # ---- predict: the bundle is verified and checked against its model, then every input
    Case("predict", "bundle missing", "predict {bundles}/nothere {inputs}/good.npy", 2, "{bundles}/nothere: no such bundle folder or .zip"),
    Case("predict", "a .tflite, not a bundle", "predict {good_tflite} {inputs}/good.npy", 2, "{good_tflite}: not a bundle (no manifest.json)"),
    Case("predict", "tampered bundle", "predict {bundles}/tampered {inputs}/good.npy", 2, "{bundles}/tampered: model.tflite does not match its sha256"),
    Case("predict", "tampered zip", "predict {bundles}/tampered.zip {inputs}/good.npy", 2, "{bundles}/tampered.zip: model.tflite does not match its sha256"),
    Case("predict", "zip with a ../ member", "predict {bundles}/dotdot.zip {inputs}/good.npy", 2, "{bundles}/dotdot.zip: member '../evil.sh' would be written outside"),
    Case("predict", "manifest model is labels.txt", "predict {bundles}/model_is_labels {inputs}/good.npy", 2, "{bundles}/model_is_labels/labels.txt: not a TFLite model"),
    Case("predict", "manifest I/O edited", "predict {bundles}/io_mismatch {inputs}/good.npy", 2, "{bundles}/io_mismatch: manifest input (dtype, scale, zero point)"),
    Case("predict", "manifest scale as text", "predict {bundles}/scale_text {inputs}/good.npy", 2, "{bundles}/scale_text: manifest inputs[0].quantization needs a numeric 'scale'"),
    Case("predict", "manifest std 0", "predict {bundles}/std_zero {inputs}/good.npy", 2, "{bundles}/std_zero: manifest inputs[0].normalization needs"),
    Case("predict", "manifest image height as text", "predict {bundles}/bad_image {inputs}/digit.png", 2, "{bundles}/bad_image: manifest inputs[0].image needs"),
    Case("predict", "input missing", "predict {bundle} {inputs}/nothere.npy", 2, "{inputs}/nothere.npy: no such input file"),
    Case("predict", "input is an empty folder", "predict {bundle} {inputs}/empty_folder", 2, "{inputs}/empty_folder: is a folder"),
    Case("predict", ".npy of the wrong shape", "predict {bundle} {inputs}/wrong_shape.npy", 2, "{inputs}/wrong_shape.npy: shape (32, 32, 3) does not fit the model's input (28, 28, 1)"),
    Case("predict", ".npy of strings", "predict {bundle} {inputs}/good.npy {inputs}/strings.npy", 2, "{inputs}/strings.npy: array of dtype <U1 is not numeric"),
    Case("predict", ".npy of pickled objects", "predict {bundle} {inputs}/objects.npy", 2, "{inputs}/objects.npy: not a readable .npy array"),
    Case("predict", ".npz named .npy", "predict {bundle} {inputs}/archive.npy", 2, "{inputs}/archive.npy: an .npz archive, not a .npy array"),
    Case("predict", ".npy truncated", "predict {bundle} {inputs}/truncated.npy", 2, "{inputs}/truncated.npy: not a readable .npy array"),
    Case("predict", ".npy with no samples", "predict {bundle} {inputs}/no_samples.npy", 2, "{inputs}/no_samples.npy: holds no samples"),
    Case("predict", ".npy of NaN", "predict {bundle} {inputs}/nan.npy", 2, "{inputs}/nan.npy: contains NaN or infinite values"),
    Case("predict", "corrupt image", "predict {bundle} {inputs}/corrupt.png", 2, "{inputs}/corrupt.png: cannot read image"),
    Case("predict", "image for a model without image spec", "predict {bundles}/no_image {inputs}/digit.png", 2, "{inputs}/digit.png: this model does not take images"),
    Case("predict", "unsupported input type", "predict {bundle} {inputs}/notes.txt", 2, "{inputs}/notes.txt: unsupported input type '.txt'"),
    Case("predict", "-k 0", "predict {bundle} {inputs}/good.npy -k 0", 2, "Invalid value for '-k' / '--top-k': 0"),
    Case("predict", "--threads 0", "predict {bundle} {inputs}/good.npy --threads 0", 2, "Invalid value for '--threads': 0"),
    Case("predict", "unknown --runtime", "predict {bundle} {inputs}/good.npy --runtime tflite", 2, "Invalid value for '--runtime': 'tflite'"),
    # ---- bench: models and options are checked before anything is measured
    *file_cases("bench", "bench {file}", ".tflite"),
    Case("bench", "tampered bundle", "bench {bundles}/tampered", 2, "{bundles}/tampered: model.tflite does not match its sha256"),
    Case("bench", "folder that is not a bundle", "bench {bundles}/no_manifest", 2, "{bundles}/no_manifest: not a bundle (no manifest.json)"),
    Case("bench", "zip bomb", "bench {bundles}/bomb.zip", 2, "{bundles}/bomb.zip: declares 3,221,225,472 bytes unpacked"),
    Case("bench", "a .npy, not a model", "bench {inputs}/good.npy", 2, "{inputs}/good.npy: not a TFLite model"),
    Case("bench", "--threads 0", "bench {good_tflite} --threads 0", 2, "Invalid value for --threads: '0'"),
    Case("bench", "--threads with a negative", "bench {good_tflite} --threads 1,-2", 2, "Invalid value for --threads: '1,-2'"),
    Case("bench", "--threads as a word", "bench {good_tflite} --threads four", 2, "Invalid value for --threads: 'four'"),
    Case("bench", "--runs 0", "bench {good_tflite} --runs 0", 2, "Invalid value for '--runs': 0"),
    Case("bench", "--warmup -1", "bench {good_tflite} --warmup -1", 2, "Invalid value for '--warmup': -1"),
    Case("bench", "--min-time nan", "bench {good_tflite} --min-time nan", 2, "--min-time nan: must be a finite number of seconds"),
    Case("bench", "--min-time inf", "bench {good_tflite} --min-time inf", 2, "--min-time inf: must be a finite number of seconds"),
    Case("bench", "unknown --delegate", "bench {good_tflite} --delegate tpu", 2, "unknown delegate 'tpu'"),
    Case("bench", "--delegate .so missing", "bench {good_tflite} --delegate {bad}/libnothere.so", 2, "--delegate {bad}/libnothere.so: no such delegate library"),
    Case("bench", "--delegate not a library", "bench {good_tflite} --delegate {bad}/not-a-delegate.so", 2, "cannot load delegate library {bad}/not-a-delegate.so"),
    Case("bench", "unknown --runtime", "bench {good_tflite} --runtime tflite", 2, "Invalid value for '--runtime': 'tflite'"),
    Case("bench", "--json in a missing folder", "bench {good_tflite} --json {out}/results.json", 2, "--json {out}/results.json: the folder {out} does not exist"),
    Case("bench", "--json under a file", "bench {good_tflite} --json {good_tflite}/results.json", 2, "{good_tflite} is a file, not a folder"),
    Case("bench", "--host unreachable", "bench {good_tflite} --host ssh://127.0.0.1:1 {ssh}", 1, "ssh://127.0.0.1:1: connection refused"),
    Case("bench", "--host host:port", "bench {good_tflite} --host 127.0.0.1:22 {ssh}", 2, "invalid host '127.0.0.1:22': ssh does not take host:port"),
    Case("bench", "--path with ..", "bench {good_tflite} --host ssh://127.0.0.1:1 --path ../x {ssh}", 2, "remote path '../x' is not allowed"),
    # ---- deploy: the bundle and the options are checked before connecting; a dead host fails fast
    Case("deploy", "bundle missing", "deploy {bundles}/nothere --host ssh://127.0.0.1:1 {ssh}", 2, "Directory '{bundles}/nothere' does not exist"),
    Case("deploy", "a zip, not a folder", "deploy {bundles}/tampered.zip --host ssh://127.0.0.1:1 {ssh}", 2, "Directory '{bundles}/tampered.zip' is a file"),
    Case("deploy", "folder that is not a bundle", "deploy {bundles}/no_manifest --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/no_manifest: not a bundle"),
    Case("deploy", "tampered bundle", "deploy {bundles}/tampered --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/tampered: model.tflite does not match its sha256"),
    Case("deploy", "unknown extra file", "deploy {bundles}/extra_file --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/extra_file: files not in the manifest: payload.sh"),
    Case("deploy", "no --host", "deploy {bundle}", 2, "Missing option '--host'"),
    Case("deploy", "closed port", "deploy {bundle} --host ssh://127.0.0.1:1 {ssh}", 1, "ssh://127.0.0.1:1: connection refused (no SSH server on that port) while connecting"),
    Case("deploy", "unknown host name", "deploy {bundle} --host pi@edgekit-no-such-host.invalid {ssh}", 1, "pi@edgekit-no-such-host.invalid: cannot resolve the host name"),
    Case("deploy", "host:port", "deploy {bundle} --host 127.0.0.1:22 {ssh}", 2, "invalid host '127.0.0.1:22': ssh does not take host:port"),
    Case("deploy", "host that is an ssh option", "deploy {bundle} --host -oProxyCommand=sh {ssh}", 2, "invalid host '-oProxyCommand=sh'"),
    Case("deploy", "port out of range", "deploy {bundle} --host ssh://127.0.0.1:99999 {ssh}", 2, "invalid host 'ssh://127.0.0.1:99999': Port out of range"),
    Case("deploy", "URI without a host", "deploy {bundle} --host ssh://:22 {ssh}", 2, "invalid host 'ssh://:22': no host name"),
    Case("deploy", "--path with ..", "deploy {bundle} --host ssh://127.0.0.1:1 --path ../x {ssh}", 2, "remote path '../x' is not allowed"),
    Case("deploy", "--path with a shell command", "deploy {bundle} --host ssh://127.0.0.1:1 --path '$(reboot)' {ssh}", 2, "remote path '$(reboot)' is not allowed"),
    Case("deploy", "--ssh-config missing", "deploy {bundle} --host ssh://127.0.0.1:1 --ssh-config {bad}/nothere.config", 2, "File '{bad}/nothere.config' does not exist"),
    Case("deploy", "--remote-python empty", "deploy {bundle} --host ssh://127.0.0.1:1 --remote-python '' {ssh}", 2, "--remote-python is empty"),
    Case("deploy", "--connect-timeout 0", "deploy {bundle} --host ssh://127.0.0.1:1 {ssh} --connect-timeout 0", 2, "Invalid value for '--connect-timeout': 0"),
    # ---- sweep: the recipe, the grid and the output are checked before anything trains
    Case("sweep", "recipe missing", "sweep {recipes}/missing.toml --out {out}", 2, "recipe not found"),
    Case("sweep", "recipe random bytes", "sweep {recipes}/binary.toml --out {out}", 2, "{recipes}/binary.toml: not a text file"),
    Case("sweep", "unknown recipe key", "sweep {recipes}/unknown_key.toml --out {out}", 2, "unknown key 'epoch' in [train]"),
    Case("sweep", "sparsity 1.5", "sweep {recipes}/tiny.toml --sparsity 0,1.5 --out {out}", 2, "sparsity 1.5 must be in [0, 1)"),
    Case("sweep", "negative sparsity", "sweep {recipes}/tiny.toml --sparsity -0.1 --out {out}", 2, "sparsity -0.1 must be in [0, 1)"),
    Case("sweep", "sparsity NaN", "sweep {recipes}/tiny.toml --sparsity nan --out {out}", 2, "sparsity nan must be in [0, 1)"),
    Case("sweep", "sparsity as a word", "sweep {recipes}/tiny.toml --sparsity half --out {out}", 2, "--sparsity 'half': expected comma-separated numbers"),
    Case("sweep", "unknown quantize mode", "sweep {recipes}/tiny.toml --quantize int8,int4 --out {out}", 2, "unknown quantize mode 'int4'"),
    Case("sweep", "empty --quantize", "sweep {recipes}/tiny.toml --quantize , --out {out}", 2, "--quantize ',': names nothing"),
    Case("sweep", "empty --targets", "sweep {recipes}/tiny.toml --targets , --out {out}", 2, "--targets ',': names nothing"),
    Case("sweep", "unknown target", "sweep {recipes}/tiny.toml --targets cpu,npu --out {out}", 2, "--targets: unknown target 'npu'"),
    Case("sweep", "no target has the mode", "sweep {recipes}/tiny.toml --targets edgetpu --quantize float16 --out {out}", 2, "the sweep grid is empty"),
    Case("sweep", "bad --set", "sweep {recipes}/tiny.toml --set prune.sparsity=2 --out {out}", 2, "prune.sparsity = 2.0 must be in [0, 1)"),
    Case("sweep", "--out under a file", "sweep {recipes}/tiny.toml --out {good_tflite}/sweep", 2, "--out {good_tflite}/sweep: {good_tflite} is a file, not a folder"),
    # ---- sweep and fit on Dask: decided before anything is imported, trained or connected
    Case("sweep", "--workers 0", "sweep {recipes}/tiny.toml --workers 0 --out {out}", 2, "--workers 0: at least 1 worker"),
    Case("sweep", "--workers -2", "sweep {recipes}/tiny.toml --workers -2 --out {out}", 2, "--workers -2: at least 1 worker"),
    Case("sweep", "--workers 999", "sweep {recipes}/tiny.toml --workers 999 --out {out}", 2, "--workers 999: each TensorFlow worker needs about"),
    Case("sweep", "--workers with --scheduler", "sweep {recipes}/tiny.toml --workers 2 --scheduler tcp://127.0.0.1:8786 --out {out}", 2, "give one"),
    Case("sweep", "plain tcp:// off loopback", "sweep {recipes}/tiny.toml --scheduler tcp://10.1.2.3:8786 --out {out}", 2, "--scheduler tcp://10.1.2.3:8786: a plain tcp:// scheduler off this machine"),
    Case("sweep", "recipe's plain tcp:// off loopback", "sweep {recipes}/distributed_remote.toml --out {out}", 2, "[distributed] scheduler tcp://10.1.2.3:8786: a plain tcp:// scheduler off this machine"),
    Case("sweep", "malformed scheduler", "sweep {recipes}/tiny.toml --scheduler 10.1.2.3 --out {out}", 2, "--scheduler '10.1.2.3': not a scheduler address"),
    Case("sweep", "tls:// without files", "sweep {recipes}/tiny.toml --scheduler tls://10.1.2.3:8786 --out {out}", 2, "tls:// needs --tls-ca, --tls-cert and --tls-key"),
    Case("sweep", "unknown [distributed] key", "sweep {recipes}/distributed_unknown_key.toml --out {out}", 2, "unknown key 'workers' in [distributed]"),
    Case("fit", "--workers 0", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --workers 0 --out {out}", 2, "--workers 0: at least 1 worker"),
    Case("fit", "plain tcp:// off loopback", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --scheduler tcp://10.1.2.3:8786 --out {out}", 2, "a plain tcp:// scheduler off this machine"),
    Case("sweep", "--cache is a file", "sweep {recipes}/tiny.toml --cache {good_tflite} --out {out}", 2, "Directory '{good_tflite}' is a file"),
    Case("sweep", "factory file missing", "sweep {recipes}/missing_factory_file.toml --sparsity 0 --quantize float32 --targets cpu --out {out}", 2, "model factory file not found", heavy=True),
    Case("sweep", "data shape vs model", "sweep {recipes}/wrong_shape.toml --sparsity 0 --quantize float32 --targets cpu --out {out}", 2, "the model takes inputs of shape (28, 28, 1) but the data has (32, 32, 3)", heavy=True),
    # ---- fit: the recipe, the target and every budget are checked before anything trains
    Case("fit", "recipe missing", "fit {recipes}/missing.toml --target mcu --flash-kb 32 --out {out}", 2, "recipe not found"),
    Case("fit", "unknown recipe key", "fit {recipes}/unknown_key.toml --target mcu --flash-kb 32 --out {out}", 2, "unknown key 'epoch' in [train]"),
    Case("fit", "no budget", "fit {recipes}/tiny.toml --target mcu --out {out}", 2, "edgekit fit needs a budget"),
    Case("fit", "negative flash", "fit {recipes}/tiny.toml --target mcu --flash-kb -4 --out {out}", 2, "--flash-kb -4: a budget must be a positive number of KiB"),
    Case("fit", "flash of 1e300 KiB", "fit {recipes}/tiny.toml --target mcu --flash-kb 1e300 --out {out}", 2, "--flash-kb 1e+300: a budget must be a positive number of KiB up to 1,073,741,824"),
    Case("fit", "cluster.layers names a pooling layer", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --set cluster.clusters=16 --set cluster.layers={{pool1=4}} --out {out}", 2, "cluster.layers: layer 'pool1' (MaxPooling2D) has no kernel to cluster", heavy=True),
    Case("fit", "cluster.layers names no layer", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --set cluster.clusters=16 --set cluster.layers={{nosuch=4}} --out {out}", 2, "cluster.layers: the model has no layer 'nosuch'", heavy=True),
    Case("fit", "validation holds out nearly all", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --set fit.validation=0.999 --out {out}", 2, "fit.validation"),
    Case("fit", "zero RAM", "fit {recipes}/tiny.toml --target mcu --ram-kb 0 --out {out}", 2, "--ram-kb 0: a budget must be a positive"),
    Case("fit", "NaN latency", "fit {recipes}/tiny.toml --target cpu --latency-ms nan --out {out}", 2, "--latency-ms nan"),
    Case("fit", "unknown board", "fit {recipes}/tiny.toml --target mcu --board nrf99 --out {out}", 2, "nrf99"),
    Case("fit", "latency on mcu", "fit {recipes}/tiny.toml --target mcu --latency-ms 5 --out {out}", 2, "--latency-ms: edgekit cannot time the mcu target here"),
    Case("fit", "RAM on cpu", "fit {recipes}/tiny.toml --target cpu --ram-kb 64 --out {out}", 2, "--ram-kb: the cpu target has no RAM figure"),
    Case("fit", "unknown target", "fit {recipes}/tiny.toml --target npu --flash-kb 32 --out {out}", 2, "--target: unknown target 'npu'"),
    Case("fit", "accuracy as a percentage", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --min-accuracy 97 --out {out}", 2, "--min-accuracy 97: must be in (0, 1]"),
    Case("fit", "bad [fit] value", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --set fit.halving=1 --out {out}", 2, "fit.halving"),
    Case("fit", "--out under a file", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --out {good_tflite}/fit", 2, "--out {good_tflite}/fit: {good_tflite} is a file, not a folder"),
    # ---- report: only an edgekit report.json is re-rendered, and nothing is written otherwise
    Case("report", "folder missing", "report {reports}/nothere", 2, "{reports}/nothere: no such folder"),
    Case("report", "a file, not a folder", "report {good_tflite}", 2, "Directory '{good_tflite}' is a file"),
    Case("report", "no report.json", "report {staged}", 2, "no report.json in {staged}", stage="reports/no_report"),
    Case("report", "a bundle folder", "report {bundle}", 2, "no report.json in {bundle}"),
    Case("report", "report.json not JSON", "report {staged}", 2, "{staged}/report.json: not valid JSON", stage="reports/not_json"),
    Case("report", "report.json random bytes", "report {staged}", 2, "{staged}/report.json: not valid JSON", stage="reports/binary"),
    Case("report", "report.json nested 100,000 deep", "report {staged}", 2, "{staged}/report.json: not valid JSON", stage="reports/nested"),
    Case("report", "report.json a list", "report {staged}", 2, "{staged}/report.json: not an edgekit report", stage="reports/list"),
    Case("report", "no float_model", "report {staged}", 2, "{staged}/report.json: not an edgekit report (needs 'artifacts' and 'float_model')", stage="reports/no_float_model"),
    Case("report", "artifact without latency", "report {staged}", 2, "{staged}/report.json: artifacts[0].latency_us is missing", stage="reports/no_latency"),
    Case("report", "latency without p90", "report {staged}", 2, "{staged}/report.json: artifacts[0].latency_us.p90 is missing", stage="reports/no_p90"),
    Case("report", "accuracy as text", "report {staged}", 2, '{staged}/report.json: artifacts[0].accuracy = "high" has the wrong type', stage="reports/text_accuracy"),
    Case("report", "artifact not an object", "report {staged}", 2, "{staged}/report.json: artifacts[1] is not an object", stage="reports/artifact_not_object"),
    Case("report", "params null", "report {staged}", 2, "{staged}/report.json: float_model.params = null has the wrong type", stage="reports/float_model_params"),
    # ---- analyze: the recipe (with its [analyze] section) and --out, before TensorFlow trains
    Case("analyze", "recipe missing", "analyze {recipes}/missing.toml", 2, "recipe not found"),
    Case("analyze", "invalid TOML", "analyze {recipes}/not_toml.toml", 2, "not valid TOML"),
    Case("analyze", "threshold 1.5", "analyze {recipes}/threshold_high.toml", 2, "analyze.threshold = 1.5 must be in [0, 1)"),
    Case("analyze", "negative threshold", "analyze {recipes}/threshold_negative.toml", 2, "analyze.threshold = -0.01 must be in [0, 1)"),
    Case("analyze", "samples 0", "analyze {recipes}/analyze_no_samples.toml", 2, "analyze.samples = 0 must be at least 1"),
    Case("analyze", "unknown [analyze] key", "analyze {recipes}/analyze_unknown_key.toml", 2, "unknown key 'thresh' in [analyze]"),
    Case("analyze", "--set threshold 2", "analyze {recipes}/tiny.toml --set analyze.threshold=2", 2, "analyze.threshold = 2"),
    Case("analyze", "prune sparsity 1.5", "analyze {recipes}/sparsity.toml", 2, "prune.sparsity = 1.5 must be in [0, 1)"),
    Case("analyze", "--out is a folder", "analyze {recipes}/tiny.toml --out {data}", 2, "File '{data}' is a directory"),
    Case("analyze", "--out in a missing folder", "analyze {recipes}/tiny.toml --out {out}/analysis.json", 2, "the folder {out} does not exist"),
    Case("analyze", "--out under a file", "analyze {recipes}/tiny.toml --out {good_tflite}/analysis.json", 2, "{good_tflite} is a file, not a folder"),
    Case("analyze", "factory function missing", "analyze {recipes}/missing_function.toml", 2, "has no function 'nothere'", heavy=True),
    Case("analyze", "classes vs outputs", "analyze {recipes}/wrong_classes.toml", 2, "the model has 3 outputs but the data has 10 classes", heavy=True),
    # ---- trust boundaries: never delete what edgekit did not make (the folders are staged copies: untouched)
    Case("build", "--out a user's folder", "build {recipes}/tiny.toml --out {staged}", 2, "--out {staged}: is not empty and was not written by edgekit (holds photos, thesis.tex)", stage="outputs/userdir"),
    Case("build", "--out an output with a user's file", "build {recipes}/tiny.toml --out {staged}", 2, "--out {staged}: holds files edgekit did not write (notes.txt)", stage="outputs/marked"),
    Case("build", "--out the current folder", "build {recipes}/tiny.toml --out .", 2, "is the current folder; edgekit will not replace it"),
    Case("build", "--out a link to the current folder", "build {recipes}/tiny.toml --out {staged}", 2, "is the current folder", stage="outputs/link_to_cwd"),
    Case("build", "--out the recipe's folder", "build {recipes}/tiny.toml --out {recipes}", 2, "--out {recipes}: is the recipe's folder"),
    Case("build", "--out a parent of the current folder", "build {recipes}/tiny.toml --out {root}", 2, "--out {root}: holds the current folder"),
    Case("build", "output.dir = '.' in the recipe", "build {recipes}/dot_out.toml", 2, "dot_out.toml: output.dir {recipes}: is the recipe's folder"),
    Case("build", "--out being written by another edgekit", "build {recipes}/tiny.toml --out {busy}/out", 1, "--out {busy}/out: another edgekit process (PID"),
    Case("build", "output.sign_key missing", "build {recipes}/sign_missing.toml --out {out}", 2, "output.sign_key {recipes}/nokey: no such key file"),
    Case("build", "output.sign_key outside the recipe", "build {recipes}/sign_outside.toml --out {out}", 2, "output.sign_key = '/etc/hostname' points outside"),
    Case("build", "output.sign_key not a key", "build {recipes}/sign_not_key.toml --out {out}", 2, "output.sign_key {recipes}/tiny.toml: not an OpenSSH key"),
    Case("sweep", "--out a user's folder", "sweep {recipes}/tiny.toml --out {staged}", 2, "--out {staged}: is not empty and was not written by edgekit", stage="outputs/userdir"),
    Case("sweep", "--out the current folder", "sweep {recipes}/tiny.toml --out .", 2, "is the current folder"),
    Case("convert", "--out/MODEL a user's folder", "convert {keras}/good.keras --target cpu --out {staged}", 2, "/good exists and is not an edgekit bundle (holds mine.txt)", stage="outputs/convert_target"),
    # ---- a user's files inside edgekit's own bundles/: refused before any work, --force too (the stamp names edgekit's files)
    Case("build", "a user's README in bundles/", "build {recipes}/tiny.toml --out {staged}", 2, "--out {staged}: holds files edgekit did not write inside bundles/ (bundles/README.txt)", stage="outputs/bundles_readme"),
    Case("build", "--force and a user's README in bundles/", "build {recipes}/tiny.toml --out {staged} --force", 2, "(bundles/README.txt); edgekit replaces that folder and will not delete them, --force neither", stage="outputs/bundles_readme"),
    Case("fit", "a user's NOTES.txt in edgekit's bundle", "fit {recipes}/tiny.toml --target mcu --flash-kb 32 --out {staged}", 2, "--out {staged}: holds files edgekit did not write inside bundles/ (bundles/tiny-mcu/NOTES.txt)", stage="outputs/bundle_notes"),
    Case("sweep", "a signed bundle copied into bundles/", "sweep {recipes}/tiny.toml --out {staged}", 2, "--out {staged}: holds files edgekit did not write inside bundles/ (bundles/signed-copy/manifest.json", stage="outputs/bundle_copied"),
    # ---- models are programs: a SavedModel's graph is checked before anything loads it ({PWNED} would be debris)
    Case("convert", "SavedModel whose initializer writes a file", "convert {keras}/planted_saved_model --target cpu --out {out}", 2, "refusing to load: op 'WriteFile'", heavy=True),
    Case("convert", "plain tf.Module SavedModel whose initializer writes a file", "convert {keras}/module_saved_model --target cpu --out {out}", 2, "refusing to load: op 'WriteFile'", heavy=True),
    Case("convert", "SavedModel neither Keras nor signed, trusted", "convert {keras}/unsigned_saved_model --target cpu --out {out} --trust-model", 2, "neither a tf_keras model nor one with a 'serving_default' signature", heavy=True),
    _build("planted_model.toml", "SavedModel model.file whose initializer writes a file", "refusing to load: op 'WriteFile'", heavy=True),
    # ---- SSH: names and options are checked before connecting
    Case("deploy", "bundle named with a shell command", "deploy '{bundles}/" + HOSTILE_NAME + "' --host ssh://127.0.0.1:1 {ssh}", 2, "is not safe on a device's shell"),
    Case("deploy", "--path=-x (an option)", "deploy {bundle} --host ssh://127.0.0.1:1 --path=-x {ssh}", 2, "remote path '-x' is not allowed"),
    Case("deploy", "--path smuggling -oProxyCommand", "deploy {bundle} --host ssh://127.0.0.1:1 --path=-oProxyCommand=sh {ssh}", 2, "remote path '-oProxyCommand=sh' is not allowed"),
    Case("deploy", "host with a shell character", "deploy {bundle} --host 'pi@host;reboot' {ssh}", 2, "invalid host 'pi@host;reboot': the host name 'host;reboot' holds a character"),
    Case("deploy", "user with a shell character", "deploy {bundle} --host 'pi`id`@host' {ssh}", 2, "the user name 'pi`id`' holds a character"),
    Case("deploy", "unsigned bundle with --key", "deploy {bundle} --host ssh://127.0.0.1:1 --key {keys}/publisher.pub {ssh}", 2, "{bundle}: not signed (no manifest.json.sig), and --key requires"),
    Case("deploy", "rewritten signed bundle with --key", "deploy {bundles}/signed_rewritten --host ssh://127.0.0.1:1 --key {keys}/publisher.pub {ssh}", 2, "{bundles}/signed_rewritten: signature check failed"),
    # ---- signed bundles: consistency is not authenticity
    Case("verify", "rewritten signed bundle, --key", "verify {bundles}/signed_rewritten --key {keys}/publisher.pub", 2, "{bundles}/signed_rewritten: signature check failed: manifest.json.sig is not a signature of this manifest.json"),
    Case("verify", "rewritten signed bundle, --allowed-signers", "verify {bundles}/signed_rewritten --allowed-signers {keys}/allowed_signers", 2, "signature check failed"),
    Case("verify", "signed by another key", "verify {bundles}/signed --key {keys}/stranger.pub", 2, "{bundles}/signed: signature check failed"),
    Case("verify", "unsigned bundle, --key", "verify {bundle} --key {keys}/publisher.pub", 2, "{bundle}: not signed (no manifest.json.sig)"),
    Case("verify", "unsigned bundle on a device that requires signatures", "verify {bundle}", 2, "not signed (no manifest.json.sig), and EDGEKIT_ALLOWED_SIGNERS requires", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/allowed_signers"),)),
    Case("verify", "EDGEKIT_ALLOWED_SIGNERS names no file", "verify {bundle}", 2, "EDGEKIT_ALLOWED_SIGNERS={keys}/nothere: no such allowed_signers file", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/nothere"),)),
    Case("verify", "--key not a public key", "verify {bundles}/signed --key {keys}/not_a_key", 2, "--key {keys}/not_a_key: not an OpenSSH public key"),
    Case("verify", "--key and --allowed-signers", "verify {bundles}/signed --key {keys}/publisher.pub --allowed-signers {keys}/allowed_signers", 2, "--key and --allowed-signers both name who signs"),
    # ---- hostile bundles: links and special files, a huge signature, renamed bundles, signer policy
    Case("verify", "signed, a link to a folder outside", "verify {bundles}/link_out --key {keys}/publisher.pub", 2, "{bundles}/link_out: extra is a symbolic link (to {root}/outside)"),
    Case("verify", "a dangling link", "verify {bundles}/dangling", 2, "{bundles}/dangling: gone.txt is a symbolic link"),
    Case("verify", "signed, a FIFO inside", "verify {bundles}/fifo --key {keys}/publisher.pub", 2, "{bundles}/fifo: pipe is a FIFO (named pipe)"),
    Case("verify", "manifest.json a link", "verify {bundles}/manifest_link --key {keys}/publisher.pub", 2, "{bundles}/manifest_link: manifest.json is a symbolic link"),
    Case("verify", "listed files through a linked mcu/", "verify {bundles}/linked_mcu --key {keys}/publisher.pub", 2, "{bundles}/linked_mcu: mcu is a symbolic link"),
    Case("verify", "64 MB manifest.json.sig", "verify {bundles}/huge_sig --key {keys}/publisher.pub", 2, "{bundles}/huge_sig: manifest.json.sig is 67,108,864 bytes, more than a signature can be (65,536)"),
    Case("verify", "manifest.json.sig not a signature", "verify {bundles}/garbage_sig --key {keys}/publisher.pub", 2, "{bundles}/garbage_sig: manifest.json.sig is not an SSH signature"),
    Case("verify", "signed bundle renamed", "verify {bundles}/renamed_signed --key {keys}/publisher.pub", 2, "{bundles}/renamed_signed: signed as 'signed' but the folder is named 'renamed_signed'"),
    Case("verify", "signed zip renamed", "verify {bundles}/renamed.zip --allowed-signers {keys}/allowed_signers", 2, "{bundles}/renamed.zip: signed as 'signed' but the zip is named 'renamed'"),
    Case("verify", "--key a key the device does not allow", "verify {bundles}/stranger_signed --key {keys}/stranger.pub", 2, "--key can only narrow the signers a device allows", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/allowed_signers"),)),
    Case("verify", "--key truncated", "verify {bundles}/signed --key {keys}/broken.pub", 2, "--key {keys}/broken.pub: not a valid OpenSSH public key"),
    Case("verify", "--allowed-signers lists no one", "verify {bundles}/signed --allowed-signers {keys}/empty_signers", 2, "--allowed-signers {keys}/empty_signers: the allowed_signers file lists no signers"),
    Case("verify", "--allowed-signers with a broken line", "verify {bundles}/signed --allowed-signers {keys}/bad_signers", 2, "--allowed-signers {keys}/bad_signers: line 1 is not a signer ssh-keygen can read"),
    Case("verify", "EDGEKIT_ALLOWED_SIGNERS lists no one", "verify {bundles}/signed", 2, "EDGEKIT_ALLOWED_SIGNERS={keys}/empty_signers: the allowed_signers file lists no signers", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/empty_signers"),)),
    Case("predict", "a link to a folder outside", "predict {bundles}/link_out {inputs}/good.npy", 2, "{bundles}/link_out: extra is a symbolic link"),
    Case("predict", "a FIFO inside", "predict {bundles}/fifo {inputs}/good.npy", 2, "{bundles}/fifo: pipe is a FIFO (named pipe)"),
    Case("predict", "64 MB manifest.json.sig", "predict {bundles}/huge_sig {inputs}/good.npy --key {keys}/publisher.pub", 2, "{bundles}/huge_sig: manifest.json.sig is 67,108,864 bytes"),
    Case("predict", "signed bundle renamed", "predict {bundles}/renamed_signed {inputs}/good.npy --key {keys}/publisher.pub", 2, "{bundles}/renamed_signed: signed as 'signed' but the folder is named 'renamed_signed'"),
    Case("predict", "--key a key the device does not allow", "predict {bundles}/stranger_signed {inputs}/good.npy --key {keys}/stranger.pub", 2, "--key can only narrow the signers a device allows", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/allowed_signers"),)),
    Case("sign", "a link to a folder outside", "sign {bundles}/link_out --key {keys}/publisher", 2, "{bundles}/link_out: extra is a symbolic link"),
    Case("sign", "a FIFO inside", "sign {bundles}/fifo --key {keys}/publisher", 2, "{bundles}/fifo: pipe is a FIFO (named pipe)"),
    Case("sign", "folder not called by its manifest's name", "sign {bundles}/renamed_signed --key {keys}/publisher", 2, "{bundles}/renamed_signed: the folder is named 'renamed_signed' but its manifest names the bundle 'signed'"),
    Case("deploy", "a link to a folder outside", "deploy {bundles}/link_out --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/link_out: extra is a symbolic link"),
    Case("deploy", "listed files through a linked mcu/", "deploy {bundles}/linked_mcu --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/linked_mcu: mcu is a symbolic link"),
    Case("deploy", "a FIFO inside", "deploy {bundles}/fifo --host ssh://127.0.0.1:1 {ssh}", 2, "{bundles}/fifo: pipe is a FIFO (named pipe)"),
    Case("deploy", "signed bundle renamed, --key", "deploy {bundles}/renamed_signed --host ssh://127.0.0.1:1 --key {keys}/publisher.pub {ssh}", 2, "{bundles}/renamed_signed: signed as 'signed' but the folder is named 'renamed_signed'"),
    Case("deploy", "--key a key the device does not allow", "deploy {bundles}/stranger_signed --host ssh://127.0.0.1:1 --key {keys}/stranger.pub {ssh}", 2, "--key can only narrow", env=(("EDGEKIT_ALLOWED_SIGNERS", "{keys}/allowed_signers"),)),
    Case("verify", "zip with an extra 50 MB member", "verify {bundles}/extra_member.zip", 2, "{bundles}/extra_member.zip: files not in the manifest: payload.bin"),
    Case("verify", "zip member larger than listed", "verify {bundles}/oversize_member.zip", 2, "{bundles}/oversize_member.zip: model.tflite does not match its size in the manifest"),
    Case("verify", "zip member unpacking past its declared size", "verify {bundles}/lying_member.zip", 2, "{bundles}/lying_member.zip"),
    Case("predict", "rewritten signed bundle, --key", "predict {bundles}/signed_rewritten {inputs}/good.npy --key {keys}/publisher.pub", 2, "{bundles}/signed_rewritten: signature check failed"),
    Case("predict", "unsigned bundle, --allowed-signers", "predict {bundle} {inputs}/good.npy --allowed-signers {keys}/allowed_signers", 2, "not signed (no manifest.json.sig)"),
    Case("sign", "tampered bundle", "sign {staged} --key {keys}/publisher", 2, "{staged}: model.tflite does not match its sha256", stage="bundles/tampered"),
    Case("sign", "key missing", "sign {staged} --key {keys}/nothere", 2, "--key {keys}/nothere: no such key file", stage="bundles/good"),
    Case("sign", "key not a key", "sign {staged} --key {keys}/not_a_key", 2, "--key {keys}/not_a_key: not an OpenSSH key", stage="bundles/good"),
    Case("sign", "a zip", "sign {bundles}/tampered.zip --key {keys}/publisher", 2, "{bundles}/tampered.zip: edgekit sign signs bundle folders"),
    Case("sign", "bundle missing", "sign {bundles}/nothere --key {keys}/publisher", 2, "{bundles}/nothere: no such bundle folder or .zip"),
    Case("sign", "folder that is not a bundle", "sign {staged} --key {keys}/publisher", 2, "{staged}: not a bundle (no manifest.json)", stage="bundles/no_manifest"),
    # ---- resource budgets: checked from what the file declares, before anything is allocated
    Case("bench", "TILE to 2^31 floats, declared", "bench {bad}/tile_bomb.tflite", 2, "{bad}/tile_bomb.tflite: its tensors need 8.0 GiB, more than the memory budget"),
    Case("bench", "TILE to 2^31 floats, declared [1, 1]", "bench {bad}/tile_hidden.tflite", 2, "{bad}/tile_hidden.tflite: the interpreter (ai_edge_litert) cannot prepare this model: it needs more memory than"),
    Case("predict", "20000 x 20000 PNG (decompression bomb)", "predict {bundle} {inputs}/huge.png", 2, "{inputs}/huge.png: refused as a possible decompression bomb"),
    Case("predict", "12000 x 12000 PNG for a 28 x 28 model", "predict {bundle} {inputs}/big.png", 2, "{inputs}/big.png: 12000 x 12000 pixels (144,000,000) is more than the limit"),
    Case("predict", ".npy header claiming 713 TiB", "predict {bundle} {inputs}/lying_header.npy", 2, "{inputs}/lying_header.npy: its header declares 713.0 TiB of data but the file holds 64 bytes"),
    Case("predict", "EDGEKIT_MAX_MEMORY not a size", "predict {bundle} {inputs}/good.npy", 2, "EDGEKIT_MAX_MEMORY='lots': not a size", env=(("EDGEKIT_MAX_MEMORY", "lots"),)),
    # ---- runaway models (issue 22): checked before they run, then bounded in a watched child
    Case("predict", "signature naming subgraph 7, manifest rehashed", "predict {bundles}/bad_signature {inputs}/good.npy", 2, "{bundles}/bad_signature/model.tflite: inconsistent TFLite model: signature 0 (serving_default) runs subgraph 7, but the model has 1"),
    Case("verify", "signature naming subgraph 7, manifest rehashed", "verify {bundles}/bad_signature", 2, "{bundles}/bad_signature/model.tflite: inconsistent TFLite model: signature 0 (serving_default) runs subgraph 7"),
    Case("bench", "RESHAPE reading its own output", "bench {bad}/reshape_cycle.tflite", 2, "{bad}/reshape_cycle.tflite: inconsistent TFLite model: subgraph 0: operator 4 (RESHAPE) reads tensor"),
    Case("bench", "WHILE that never ends", "bench {bad}/while_forever.tflite --invoke-timeout 2", 2, "{bad}/while_forever.tflite: still running one inference after 2 s; edgekit stopped it"),
    Case("predict", "WHILE that never ends", "predict {bundles}/while_forever {inputs}/four.npy", 2, "{bundles}/while_forever/model.tflite: still running one inference after 2 s", env=(("EDGEKIT_INVOKE_TIMEOUT", "2"),)),
    Case("bench", "FILL declared [1, 1] filling 3.4 GiB", "bench {bad}/fill_bomb.tflite", 2, "{bad}/fill_bomb.tflite: the interpreter (ai_edge_litert) failed to run this model: Node number 2 (FILL) failed to invoke: most likely it asked for more memory than"),
    Case("bench", "--invoke-timeout negative", "bench {bad}/fill_bomb.tflite --invoke-timeout -1", 2, "Invalid value for '--invoke-timeout'"),
    Case("predict", "EDGEKIT_INVOKE_TIMEOUT not a number", "predict {bundle} {inputs}/good.npy", 2, "Invalid value for '--invoke-timeout'", env=(("EDGEKIT_INVOKE_TIMEOUT", "soon"),)),
]


def make_workspace(folder: Path, *, tflite: bytes, keras_model, lambda_model, dynamic_model, two_input_model) -> dict:
    """Write every bad (and the few good) inputs the cases name; returns the template names."""
    rng = np.random.default_rng(0)
    names = {key: folder / key for key in ("bad", "keras", "data", "recipes", "runs", "bundles", "inputs", "reports")}
    for path in names.values():
        path.mkdir(parents=True, exist_ok=True)
    bad, keras_dir, data, recipes = names["bad"], names["keras"], names["data"], names["recipes"]
    keras_model.save(keras_dir / "good.keras")
    keras_model.save(keras_dir / "good.h5")
    lambda_model.save(keras_dir / "lambda.keras")
    lambda_model.save(keras_dir / "lambda.h5")
    dynamic_model.save(keras_dir / "dynamic.keras")
    two_input_model.save(keras_dir / "two_inputs.keras")
    (keras_dir / "good.tflite").write_bytes(tflite)
    goods = {".tflite": tflite, ".keras": (keras_dir / "good.keras").read_bytes(), ".h5": (keras_dir / "good.h5").read_bytes()}
    _bad_files(bad, goods, rng)
    _data_files(data, rng)
    _recipes(recipes, keras_dir, data, rng)
    _bundles(names["bundles"], tflite)
    _inputs(names["inputs"], rng)
    _reports(names["reports"], rng)
    (folder / "ssh_config").write_text("# empty: the machine's own ~/.ssh/config must not matter here\n")
    found = {
        **{k: str(v) for k, v in names.items()},
        "root": str(folder), "good_tflite": str(keras_dir / "good.tflite"), "bundle": str(names["bundles"] / "good"),
        "ssh": f"--ssh-config {folder / 'ssh_config'} --connect-timeout 5",
    }
    security = make_security_workspace(folder, found, tflite=tflite)
    _owned_outputs(Path(security["outputs"]))
    return {**found, **security}


def _owned_outputs(outputs: Path) -> None:
    """Stamped outputs whose ``bundles/`` holds a user's file: a README beside the bundles, notes
    inside edgekit's own bundle, a signed bundle copied in."""
    for name, kind, extra in (
        ("bundles_readme", "build", {"bundles/README.txt": "how to flash these\n"}),
        ("bundle_notes", "fit", {"bundles/tiny-mcu/NOTES.txt": "measured on my board\n"}),
        ("bundle_copied", "sweep", {f"bundles/signed-copy/{f}": "mine\n" for f in ("model.tflite", "manifest.json", "manifest.json.sig")}),
    ):
        bundle = "tiny-mcu" if kind == "fit" else "tiny-cpu"
        owned = {f"bundles/{bundle}/model.tflite": "model", f"bundles/{bundle}/manifest.json": "{}"}
        for path, text in {**owned, "report.json": "{}\n", **extra}.items():
            (outputs / name / path).parent.mkdir(parents=True, exist_ok=True)
            (outputs / name / path).write_text(text)
        stamp = {"format": "edgekit-output", "kind": kind, "entries": ["bundles", "report.json"], "files": sorted(owned)}
        (outputs / name / ".edgekit-output").write_text(json.dumps(stamp))


def _bad_files(bad: Path, goods: dict, rng) -> None:
    for suffix, good in {**goods, ".npz": _npz_bytes(x=np.zeros((4, 28, 28, 1), np.uint8), y=np.zeros(4, np.int64)),
                         ".toml": b'[model]\nfactory = "simple_cnn.py:build"\n', ".zip": _zip_bytes()}.items():
        (bad / f"empty{suffix}").write_bytes(b"")
        (bad / f"truncated{suffix}").write_bytes(good[: len(good) // 2])
        (bad / f"random-bytes{suffix}").write_bytes(rng.bytes(4096))
        (bad / f"text{suffix}").write_text("this is not what you think it is\n")
    (bad / "header_only.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + rng.bytes(2000))
    (bad / "root_offset.tflite").write_bytes(b"\xff\xff\xff\x7fTFL3" + bytes(64))
    (bad / "model.onnx").write_bytes(b"\x08\x07onnx")
    (bad / "model.caffemodel").write_bytes(rng.bytes(256))
    (bad / "model.pth").write_bytes(b"\x80\x02c__builtin__\neval\nq\x00.")  # a pickle: never opened
    (bad / "model.pt").write_bytes(b"PK\x03\x04" + rng.bytes(256))
    (bad / "not-a-delegate.so").write_bytes(rng.bytes(4096))
    (bad / "inconsistent.tflite").write_bytes(_inconsistent(goods[".tflite"]))


def _inconsistent(tflite: bytes) -> bytes:
    """A model whose flatbuffer parses but one op writes a tensor another op also writes."""
    from edgekit.errors import ModelError
    from edgekit.tflite.graph import read_tflite
    from edgekit.tflite.verify import verify_tflite
    from tests._mutate import mutations

    for _, data in mutations(tflite, 5000, seed=7):
        try:
            read_tflite(data)
        except ModelError:
            continue
        try:
            verify_tflite(data)
        except ModelError as exc:
            if "inconsistent" in str(exc):
                return data
    raise AssertionError("no inconsistent mutation found")


def _npz_bytes(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _zip_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bundle/manifest.json", json.dumps({"format": "edgekit-bundle"}))
    return buffer.getvalue()


def _data_files(data: Path, rng) -> None:
    digits = rng.integers(0, 255, (40, 28, 28, 1), dtype=np.uint8)
    labels = np.arange(40) % 10
    np.savez(data / "good.npz", x=digits.astype(np.float32), y=labels)
    np.savez(data / "rgb32.npz", x=rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), y=labels)
    np.savez(data / "strings.npz", x=np.array([["a"] * 28] * 40), y=labels)
    np.savez(data / "negative_labels.npz", x=digits, y=labels - 3)
    np.savez(data / "length_mismatch.npz", x=digits[:10], y=labels[:9])
    np.savez(data / "no_x.npz", inputs=digits)
    np.savez(data / "pickled.npz", x=np.array([{"a": 1}] * 4, dtype=object), y=labels[:4])
    (data / "empty_images").mkdir(exist_ok=True)
    (data / "flat_images").mkdir(exist_ok=True)
    _png(data / "flat_images" / "one.png", rng)
    (data / "corrupt_images" / "cats").mkdir(parents=True, exist_ok=True)
    (data / "corrupt_images" / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(100))
    (data / "corrupt_images" / "dogs").mkdir(exist_ok=True)
    _png(data / "corrupt_images" / "dogs" / "ok.png", rng)


def _png(path: Path, rng) -> None:
    from PIL import Image

    Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(path)


def _recipes(recipes: Path, keras_dir: Path, data: Path, rng) -> None:
    import shutil

    from tests.conftest import SAMPLES

    shutil.copyfile(SAMPLES / "simple_cnn.py", recipes / "simple_cnn.py")
    shutil.copyfile(SAMPLES / "simple_cnn.py", recipes.parent / "simple_cnn.py")
    for name in ("lambda.keras", "dynamic.keras"):
        shutil.copyfile(keras_dir / name, recipes / name)
    if (keras_dir / "planted_saved_model").is_dir():
        shutil.copytree(keras_dir / "planted_saved_model", recipes / "planted_saved_model")
    (recipes / "truncated.keras").write_bytes((keras_dir / "good.keras").read_bytes()[:3000])
    for name in ("random.npz", "pickled.npz", "no_x.npz", "strings.npz", "negative_labels.npz", "length_mismatch.npz", "rgb32.npz"):
        source = data / name
        (recipes / name).write_bytes(source.read_bytes() if source.exists() else rng.bytes(4096))
    for folder in ("empty_images", "flat_images", "corrupt_images"):
        shutil.copytree(data / folder, recipes / folder, dirs_exist_ok=True)
    for name, text in RECIPES.items():
        (recipes / name).write_bytes(rng.bytes(512) if text is None else text.encode())


def _manifest_edit(change):
    """A bundle mutation that rewrites manifest.json with ``change(manifest)`` applied."""

    def apply(bundle: Path) -> None:
        manifest = json.loads((bundle / "manifest.json").read_text())
        change(manifest)
        (bundle / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


# bundle folder name -> what is done to a copy of a good bundle
BUNDLES = {
    "tampered": lambda b: _flip_last_byte(b / "model.tflite"),
    "missing_file": lambda b: (b / "labels.txt").unlink(),
    "extra_file": lambda b: (b / "payload.sh").write_text("echo hi\n"),
    "symlink": lambda b: ((b / "labels.txt").unlink(), (b / "labels.txt").symlink_to("/etc/hostname")),
    "no_manifest": lambda b: (b / "manifest.json").unlink(),
    "manifest_not_json": lambda b: (b / "manifest.json").write_text('{"format": "edgekit-bundle",'),
    "manifest_list": lambda b: (b / "manifest.json").write_text("[]"),
    "manifest_v2": _manifest_edit(lambda m: m.update(format_version=2)),
    "manifest_sha": _manifest_edit(lambda m: m["files"]["labels.txt"].update(sha256="0" * 64)),
    "manifest_unsafe_path": _manifest_edit(lambda m: m["files"].update({"../labels.txt": m["files"].pop("labels.txt")})),
    "model_not_listed": _manifest_edit(lambda m: m.update(model="nothere.tflite")),
    "model_is_labels": _manifest_edit(lambda m: m.update(model="labels.txt")),
    "io_mismatch": _manifest_edit(lambda m: m["inputs"][0].update(dtype="float32")),
    "scale_text": _manifest_edit(lambda m: m["inputs"][0]["quantization"].update(scale="small")),
    "std_zero": _manifest_edit(lambda m: m["inputs"][0]["normalization"].update(std=[0.0])),
    "bad_image": _manifest_edit(lambda m: m["inputs"][0].update(image={"height": "28", "width": 28})),
    "no_image": _manifest_edit(lambda m: m["inputs"][0].update(image=None)),
}


def _bundles(folder: Path, tflite: bytes) -> None:
    """A good bundle of the tiny int8 model, a copy of it per mutation, and hostile zips."""
    import shutil

    from edgekit.bundle.archive import zip_folder
    from edgekit.bundle.write import write_bundle
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(tflite)
    inputs[0].update(normalization={"mean": [0.0], "std": [255.0], "raw_dtype": "uint8"}, image={"height": 28, "width": 28, "channels": 1, "color": "grayscale"})
    outputs[0]["kind"] = "probabilities"
    write_bundle(
        folder / "good", model_bytes=tflite, labels=[str(i) for i in range(10)], name="tiny-int8", target="cpu", quantization="int8",
        inputs=inputs, outputs=outputs, versions={"edgekit": "test"}, recorded_recipe=None, metrics={},
    )  # fmt: skip
    for name, mutate in BUNDLES.items():
        shutil.copytree(folder / "good", folder / name)
        mutate(folder / name)
    zip_folder(folder / "tampered", folder / "tampered.zip")
    _zip(folder / "dotdot.zip", [("b/manifest.json", b"{}"), ("../evil.sh", b"echo\n")])
    _zip(folder / "absolute.zip", [("/tmp/evil.sh", b"echo\n")])
    link = zipfile.ZipInfo("b/labels.txt")
    link.create_system, link.external_attr = 3, (0o120777 << 16)
    _zip(folder / "symlink.zip", [(link, b"/etc/passwd")])
    _zip(folder / "many.zip", [(f"b/f{i}", b"") for i in range(1001)])
    _declare_size(_zip(folder / "bomb.zip", [("b/model.tflite", bytes(1 << 20))]), 3 << 30)


def _zip(path: Path, entries) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def _declare_size(archive: Path, size: int) -> None:
    """Make the only member declare ``size`` bytes unpacked, as a zip bomb's header does."""
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def _inputs(folder: Path, rng) -> None:
    """Inputs for ``predict``: one good array, and arrays and images that must be refused."""
    np.save(folder / "good.npy", rng.integers(0, 255, (28, 28), dtype=np.uint8))
    np.save(folder / "wrong_shape.npy", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    np.save(folder / "strings.npy", np.array([["a"] * 28] * 28))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "no_samples.npy", np.zeros((0, 28, 28, 1), np.uint8))
    np.save(folder / "nan.npy", np.full((28, 28, 1), np.nan, np.float32))
    (folder / "truncated.npy").write_bytes((folder / "good.npy").read_bytes()[:100])
    np.savez(folder / "archive.npz", x=np.zeros((28, 28), np.uint8))
    (folder / "archive.npz").rename(folder / "archive.npy")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(100))
    (folder / "notes.txt").write_text("a digit\n")
    (folder / "empty_folder").mkdir()
    _png(folder / "digit.png", rng)


def _good_report() -> dict:
    artifact = {
        "name": "m-cpu-int8", "target": "cpu", "quantization": "int8", "path": "bundles/m-cpu-int8", "accuracy": 0.9,
        "agreement": 0.99, "bytes": 20_000, "gzip_bytes": 15_000, "sparsity": 0.0,
        "latency_us": {"p50": 50.0, "p90": 60.0, "p99": 70.0, "threads": 1, "runs": 50},
    }  # fmt: skip
    return {"recipe": "m", "float_model": {"accuracy": 0.91, "params": 1000}, "compression": {}, "artifacts": [artifact]}


def _reports(folder: Path, rng) -> None:
    """Folders with a report.json that ``report`` must refuse (each is copied before a run)."""
    def broken(change):
        report = _good_report()
        change(report)
        return json.dumps(report)

    texts = {
        "not_json": '{"recipe": "m", ',
        "binary": rng.bytes(256),
        "list": "[]",
        "nested": "[" * 100_000 + "]" * 100_000,
        "no_float_model": json.dumps({"artifacts": []}),
        "no_latency": broken(lambda r: r["artifacts"][0].pop("latency_us")),
        "no_p90": broken(lambda r: r["artifacts"][0]["latency_us"].pop("p90")),
        "text_accuracy": broken(lambda r: r["artifacts"][0].update(accuracy="high")),
        "artifact_not_object": broken(lambda r: r["artifacts"].append("m-cpu-float32")),
        "float_model_params": broken(lambda r: r["float_model"].update(params=None)),
    }
    for name, text in texts.items():
        (folder / name).mkdir()
        (folder / name / "report.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    (folder / "no_report").mkdir()
    (folder / "no_report" / "report.md").write_text("# a report without its report.json\n")


def case_id(case: Case) -> str:
    return f"{case.command}: {case.what}"


@dataclass
class Outcome:
    case: Case
    code: int
    stderr: str
    leftovers: list[str]
    seconds: float
    names: dict  # the template names the case ran with ({out}, {staged} included)

    def problems(self) -> list[str]:
        """What is wrong with how the command failed; empty when it failed cleanly."""
        names = self.names
        found = []
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        if self.code != self.case.code:
            found.append(f"exit code {self.code}, expected {self.case.code}")
        if "Traceback" in self.stderr:
            found.append("a Python traceback")
        if len(errors) != 1 or lines[-1] != errors[0]:
            found.append(f"not exactly one 'error:' line at the end of stderr: {lines[-3:]}")
        elif self.case.expected(names) not in errors[0]:
            found.append(f"message lacks {self.case.expected(names)!r}: {errors[0]}")
        if self.leftovers:
            found.append(f"left files behind: {self.leftovers}")
        return found


@dataclass(frozen=True)
class Slot:
    """The folder a case runs in, and what it held before the run."""

    folder: Path
    before: dict

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"


def run_cases(cases: list[Case], names: dict, env: dict, *, workers: int = 3) -> list[Outcome]:
    """Run ``cases`` as ``edgekit`` processes, each in a folder of its own."""
    import concurrent.futures

    slots = [_prepare(names, case) for case in cases]
    light = [(case, slot) for case, slot in zip(cases, slots) if not case.heavy]
    heavy = [(case, slot) for case, slot in zip(cases, slots) if case.heavy]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(lambda pair: _run_one(*pair, names, env), light))
    if heavy:
        outcomes += _run_batch(heavy, names, env)
    order = {id(case): i for i, case in enumerate(cases)}
    return sorted(outcomes, key=lambda outcome: order[id(outcome.case)])


def _prepare(names: dict, case: Case) -> Slot:
    import shutil

    runs = Path(names["runs"])
    folder = runs / f"{len(list(runs.iterdir())):03d}-{case.command}"
    (folder / "tmp").mkdir(parents=True)
    if case.stage:
        source = Path(names["root"]) / case.stage
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, folder / source.name, symlinks=True)
        else:
            shutil.copy2(source, folder / source.name, follow_symlinks=False)
    return Slot(folder, _snapshot(folder))


def _case_names(names: dict, case: Case, slot: Slot) -> dict:
    staged = {"staged": str(slot.folder / Path(case.stage).name)} if case.stage else {}
    return {**names, **staged, "out": str(slot.folder / "out")}


def _run_one(case: Case, slot: Slot, names: dict, env: dict) -> Outcome:
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "edgekit", *case.args(_case_names(names, case, slot))],
        cwd=slot.folder, env=dict(env, TMPDIR=str(slot.tmp), **case.environment(names)), capture_output=True, text=True, timeout=300,
    )
    return Outcome(case, done.returncode, done.stderr, _leftovers(slot), time.perf_counter() - started, _case_names(names, case, slot))


def _run_batch(pairs, names: dict, env: dict) -> list[Outcome]:
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    request = [{"argv": case.args(_case_names(names, case, slot)), "cwd": str(slot.folder), "tmp": str(slot.tmp)} for case, slot in pairs]
    done = subprocess.run(
        [sys.executable, "-m", "tests._cli_batch"], input=json.dumps(request), cwd=names["runs"],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the batch process died with {done.returncode}: {done.stderr[-3000:]}")
    seconds = (time.perf_counter() - started) / len(pairs)
    results = json.loads(done.stdout)
    return [
        Outcome(case, r["code"], r["stderr"], _leftovers(slot), seconds, _case_names(names, case, slot)) for (case, slot), r in zip(pairs, results)
    ]


def _snapshot(folder: Path) -> dict:
    """{relative path: (size, mtime) for files, None for folders} (a folder's time changes
    whenever a temporary file comes and goes, so only its presence counts)."""
    found = {}
    for path in folder.rglob("*"):
        info = path.lstat()
        found[str(path.relative_to(folder))] = None if path.is_dir() and not path.is_symlink() else (info.st_size, info.st_mtime_ns)
    return found


def _leftovers(slot: Slot) -> list[str]:
    after = _snapshot(slot.folder)
    added = [name for name in after if name not in slot.before]
    changed = [f"{name} (changed)" for name in after if name in slot.before and after[name] != slot.before[name]]
    removed = [f"{name} (removed)" for name in slot.before if name not in after]
    return sorted(added + changed + removed)


def all_cases() -> list[Case]:
    """The generic cases of every registered command, then the table above."""
    import click

    from edgekit.cli import COMMANDS
    from edgekit.registry import load_object

    generic = []
    for name in sorted(COMMANDS):
        command = load_object(COMMANDS[name][0])
        takes = any(isinstance(p, click.Argument) and p.required for p in command.params)
        generic += generic_cases(name, takes_arguments=takes)
    return generic + CASES


def build_workspace(folder: Path, tflite: bytes) -> dict:
    """``make_workspace`` with the tiny models it needs (TensorFlow loads here)."""
    from edgekit._compat import keras
    from tests.conftest import tiny_cnn

    k = keras()
    model = tiny_cnn()
    inputs = k.Input((28, 28, 1))
    code = k.layers.Lambda(lambda t: t * 2.0, name="code")(inputs)
    lambda_model = k.Model(inputs, k.layers.Dense(10)(k.layers.Flatten()(code)))
    free = k.Input((None, None, 1))
    pooled = k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(4, 3)(free))
    dynamic = k.Model(free, k.layers.Dense(10, activation="softmax")(pooled))
    a, b = k.Input((4,)), k.Input((4,))
    two = k.Model([a, b], k.layers.Dense(2)(k.layers.Concatenate()([a, b])))
    (folder / "keras").mkdir(parents=True, exist_ok=True)
    make_saved_models(folder / "keras")
    return make_workspace(folder, tflite=tflite, keras_model=model, lambda_model=lambda_model, dynamic_model=dynamic, two_input_model=two)

"""The bad-input table: every command, fed broken files, recipes, data and options.

Each :class:`Case` is one ``edgekit`` command line run in a folder of its own, with the exit
code and a fragment of the one-line error it must give. ``tests/test_bad_inputs.py`` runs
them as real CLI processes; ``benchmarks/reliability_table.py`` runs them and prints the
README's table. A command that lands later adds its cases with one line, for example::

    CASES += file_cases("verify", "verify {file}", ".zip") + [Case("verify", "...", "verify {dir}", 2, "...")]

Templates are formatted with the workspace's names (``{good_tflite}``, ``{recipes}``, ...)
plus ``{out}``, a folder that must not exist after the run, and split like a shell line.
"""

from __future__ import annotations

import json
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BAD_FILE_KINDS = ("missing", "empty", "truncated", "random-bytes", "text")


@dataclass(frozen=True)
class Case:
    command: str
    what: str
    argv: str  # a template, e.g. "inspect {bad}/empty.tflite"
    code: int  # 2: usage or input error, 1: a failure of a well-formed run
    fragment: str  # the error line must contain this (formatted like argv)
    heavy: bool = False  # loads TensorFlow: run with the other heavy cases in one process

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
    "dynamic_for_edgetpu.toml": 'targets = ["edgetpu"]\n[model]\nfile = "dynamic.keras"\n[data]\n' + DATA_LIMITS,
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
    Case("convert", "unsupported model type", "convert {bad}/model.onnx --target cpu --out {out}", 2, "unsupported model file type"),
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
    Case("convert", "dynamic shape for edgetpu", "convert {keras}/dynamic.keras --target edgetpu --data {data}/good.npz --out {out}", 2, "has dynamic dimensions but target edgetpu needs static shapes", heavy=True),
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
    _build("dynamic_for_edgetpu.toml", "dynamic shape for edgetpu", "needs static shapes", heavy=True),
]


def make_workspace(folder: Path, *, tflite: bytes, keras_model, lambda_model, dynamic_model, two_input_model) -> dict:
    """Write every bad (and the few good) inputs the cases name; returns the template names."""
    rng = np.random.default_rng(0)
    names = {key: folder / key for key in ("bad", "keras", "data", "recipes", "runs")}
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
    return {**{k: str(v) for k, v in names.items()}, "good_tflite": str(keras_dir / "good.tflite")}


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
    (bad / "inconsistent.tflite").write_bytes(_inconsistent(goods[".tflite"]))


def _inconsistent(tflite: bytes) -> bytes:
    """A model whose flatbuffer parses but one op writes a tensor another op also writes."""
    from edgekit.errors import ModelError
    from edgekit.tflite_graph import read_tflite
    from edgekit.tflite_verify import verify_tflite
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
    (recipes / "truncated.keras").write_bytes((keras_dir / "good.keras").read_bytes()[:3000])
    for name in ("random.npz", "pickled.npz", "no_x.npz", "strings.npz", "negative_labels.npz", "length_mismatch.npz", "rgb32.npz"):
        source = data / name
        (recipes / name).write_bytes(source.read_bytes() if source.exists() else rng.bytes(4096))
    for folder in ("empty_images", "flat_images", "corrupt_images"):
        shutil.copytree(data / folder, recipes / folder, dirs_exist_ok=True)
    for name, text in RECIPES.items():
        (recipes / name).write_bytes(rng.bytes(512) if text is None else text.encode())


def case_id(case: Case) -> str:
    return f"{case.command}: {case.what}"


@dataclass
class Outcome:
    case: Case
    code: int
    stderr: str
    leftovers: list[str]
    seconds: float

    def problems(self, names: dict) -> list[str]:
        """What is wrong with how the command failed; empty when it failed cleanly."""
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


def run_cases(cases: list[Case], names: dict, env: dict, *, workers: int = 3) -> list[Outcome]:
    """Run ``cases`` as ``edgekit`` processes, each in an empty folder of its own."""
    import concurrent.futures

    slots = [_run_dir(names, case) for case in cases]
    light = [(case, slot) for case, slot in zip(cases, slots) if not case.heavy]
    heavy = [(case, slot) for case, slot in zip(cases, slots) if case.heavy]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(lambda pair: _run_one(*pair, names, env), light))
    if heavy:
        outcomes += _run_batch(heavy, names, env)
    order = {id(case): i for i, case in enumerate(cases)}
    return sorted(outcomes, key=lambda outcome: order[id(outcome.case)])


def _run_dir(names: dict, case: Case) -> Path:
    runs = Path(names["runs"])
    index = len(list(runs.iterdir()))
    folder = runs / f"{index:03d}-{case.command}"
    folder.mkdir()
    return folder


def _case_names(names: dict, folder: Path) -> dict:
    return {**names, "out": str(folder / "out")}


def _run_one(case: Case, folder: Path, names: dict, env: dict) -> Outcome:
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "edgekit", *case.args(_case_names(names, folder))],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )
    return Outcome(case, done.returncode, done.stderr, _leftovers(folder), time.perf_counter() - started)


def _run_batch(pairs, names: dict, env: dict) -> list[Outcome]:
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    request = [{"argv": case.args(_case_names(names, folder)), "cwd": str(folder)} for case, folder in pairs]
    done = subprocess.run(
        [sys.executable, "-m", "tests._cli_batch"], input=json.dumps(request), cwd=names["runs"],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the batch process died with {done.returncode}: {done.stderr[-3000:]}")
    seconds = (time.perf_counter() - started) / len(pairs)
    results = json.loads(done.stdout)
    return [Outcome(case, r["code"], r["stderr"], _leftovers(folder), seconds) for (case, folder), r in zip(pairs, results)]


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


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
    return make_workspace(folder, tflite=tflite, keras_model=model, lambda_model=lambda_model, dynamic_model=dynamic, two_input_model=two)

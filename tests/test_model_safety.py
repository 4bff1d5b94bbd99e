"""Model files run no code unless the user says --trust-model, and nothing unpickles anything.

tf_keras runs a Lambda layer's stored bytecode while loading ``.h5`` and SavedModel files
(safe mode covers only ``.keras``), so each Lambda here writes a marker file: the marker
proves the code really would have run, and its absence proves edgekit did not run it.
"""

from __future__ import annotations

import ast

import pytest

from edgekit.errors import ModelError
from edgekit.models.load import load_model_file
from edgekit.models.scan import unsafe_parts
from tests.conftest import REPO

FORMATS = ["lambda.keras", "lambda.h5", "lambda_savedmodel"]


@pytest.fixture(scope="module")
def lambda_models(tmp_path_factory):
    """A tiny model with a Lambda that writes ``MARKER`` when it runs, in all three formats."""
    from edgekit._compat import keras

    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "MARKER"
    k = keras()
    inputs = k.Input((4,))
    code = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), t)[1]")
    model = k.Model(inputs, k.layers.Dense(2)(k.layers.Lambda(code, name="lambda")(inputs)))  # named: test order must not matter
    for name in FORMATS:
        model.save(folder / name)
    marker.unlink()
    return folder, marker


@pytest.mark.parametrize("name", FORMATS)
def test_lambda_is_refused_without_trust_and_runs_nothing(lambda_models, name):
    folder, marker = lambda_models
    with pytest.raises(ModelError, match=r"refusing to load: Lambda layer 'lambda' would run code.*--trust-model"):
        load_model_file(folder / name)
    assert not marker.exists()


@pytest.mark.parametrize("name", FORMATS)
def test_trust_model_loads_it(lambda_models, name):
    folder, marker = lambda_models
    model = load_model_file(folder / name, trust=True)
    assert model.output_shape == (None, 2)
    if name != "lambda.keras":  # tf_keras rebuilds these by calling the layer: the code ran
        assert marker.exists()
    marker.unlink(missing_ok=True)


def test_build_passes_trust_to_the_recipe_model(lambda_models, tmp_path):
    from edgekit.flows.stages import model_from_spec
    from edgekit.recipe import load_recipe

    folder, marker = lambda_models
    (tmp_path / "lambda.keras").write_bytes((folder / "lambda.keras").read_bytes())
    (tmp_path / "r.toml").write_text('[model]\nfile = "lambda.keras"\n')
    recipe = load_recipe(tmp_path / "r.toml")
    with pytest.raises(ModelError, match="Lambda"):
        model_from_spec(recipe.model, base_dir=recipe.base_dir, changes=False)
    assert model_from_spec(recipe.model, base_dir=recipe.base_dir, changes=False, trust=True).count_params() == 10


@pytest.mark.parametrize(
    "config, found",
    [
        ({"class_name": "Dense", "module": "keras.layers"}, []),
        ({"class_name": "system", "module": "os"}, ["'system' from module 'os'"]),
        ({"class_name": "exec", "module": "builtins"}, ["'exec' from module 'builtins'"]),
        ({"class_name": "TFOpLambda", "config": {"name": "op", "function": "math.add"}}, []),
        ({"class_name": "TFOpLambda", "config": {"name": "op", "function": "reshape"}}, []),
        ({"class_name": "TFOpLambda", "config": {"name": "w", "function": "io.write_file"}}, ["TFOpLambda layer 'w' calling tf.io.write_file"]),
        ({"class_name": "TFOpLambda", "config": {"name": "p", "function": "py_function"}}, ["TFOpLambda layer 'p' calling tf.py_function"]),
        ({"layers": [{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {"name": "deep"}}]}}]}, ["Lambda layer 'deep'"]),
    ],
)
def test_config_scan(config, found):
    assert list(unsafe_parts([config])) == found


def test_a_config_nested_too_deeply_is_refused():
    config: dict = {}
    for _ in range(300):
        config = {"config": config}
    with pytest.raises(ModelError, match="nested too deeply"):
        list(unsafe_parts([config]))


def _python_files():
    for package in ("edgekit", "targets", "converters"):
        yield from sorted((REPO / package).rglob("*.py"))


# The one module that imports torch: it exports modules and opens .pt2 programs with every
# torch.load held to weights_only=True (tests/test_foreign_models.py tries a pickling payload).
TORCH_ALLOWED = ("edgekit/models/torch_model.py",)


def test_nothing_unpickles():
    """No pickle, marshal or joblib, every np.load says allow_pickle=False, and torch only where
    its loads are held to the restricted unpickler."""
    banned_modules = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "torch"}
    problems = []
    for path in _python_files():
        banned = banned_modules - ({"torch"} if path.relative_to(REPO).as_posix() in TORCH_ALLOWED else set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                problems += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in banned]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in banned:
                problems.append(f"{where} imports from {node.module}")
            elif isinstance(node, ast.Call) and _is_np_load(node) and not _pickle_off(node):
                problems.append(f"{where} calls np.load without allow_pickle=False")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" and getattr(node.func.value, "id", "") == "torch":
                problems.append(f"{where} calls torch.load")
    assert not problems, "\n".join(problems)


def _is_np_load(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "load" and isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy")


def _pickle_off(call: ast.Call) -> bool:
    return any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False for k in call.keywords)


def test_the_check_finds_an_np_load_without_the_flag(tmp_path):
    call = ast.parse("np.load(path)").body[0].value
    assert _is_np_load(call) and not _pickle_off(call)
    assert _pickle_off(ast.parse("np.load(path, allow_pickle=False)").body[0].value)


def test_build_and_convert_offer_trust_model():
    from click.testing import CliRunner

    from edgekit.cli import cli

    for command in ("build", "convert"):
        assert "--trust-model" in CliRunner().invoke(cli, [command, "--help"]).output

"""Recipe validation: good recipes load, bad ones name the key, file, line and the fix."""

from pathlib import Path

import pytest

from edgekit.errors import RecipeError
from edgekit.recipe import load_recipe, parse_override, recipe_from_dict

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

MINIMAL = """
name = "r"
[model]
factory = "simple_cnn.py:build"
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_sample_recipe_loads():
    recipe = load_recipe(SAMPLES / "mnist_cnn.toml")
    assert recipe.name == "mnist_cnn"
    assert recipe.prune.sparsity == 0.8
    assert recipe.quantize.mode == "qat"
    assert recipe.targets == ("cpu", "gpu", "edgetpu", "mcu", "ethos-u")
    assert recipe.resolve("simple_cnn.py") == SAMPLES.resolve() / "simple_cnn.py"


def test_defaults_fill_missing_sections(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.data.source == "mnist"
    assert recipe.train.epochs >= 1
    assert recipe.prune.sparsity == 0.0


def test_unknown_key_names_key_file_line_and_choices(tmp_path):
    path = write(tmp_path, MINIMAL + "\n[prune]\nsparsty = 0.5\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert "'sparsty'" in message and f"{path}:7" in message and "sparsity" in message


def test_unknown_section(tmp_path):
    with pytest.raises(RecipeError, match="unknown key 'trainer'.*valid keys"):
        load_recipe(write(tmp_path, MINIMAL + "\n[trainer]\nepochs = 1\n"))


def test_wrong_type_names_expected_type(tmp_path):
    path = write(tmp_path, MINIMAL + '\n[train]\nepochs = "ten"\n')
    with pytest.raises(RecipeError, match=r"recipe.toml:7: train.epochs must be an integer, got str 'ten'"):
        load_recipe(path)


def test_int_accepted_for_float(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL + "\n[train]\nlearning_rate = 1\n"))
    assert recipe.train.learning_rate == 1.0 and isinstance(recipe.train.learning_rate, float)


@pytest.mark.parametrize(
    "section, line, fragment",
    [
        ("prune", "sparsity = 1.5", "prune.sparsity = 1.5 must be in [0, 1)"),
        ("train", "epochs = 0", "train.epochs = 0 must be at least 1"),
        ("quantize", 'mode = "int4"', "quantize.mode = 'int4' is not valid"),
        ("data", "std = 0", "data.std must be non-zero"),
    ],
)
def test_impossible_values(tmp_path, section, line, fragment):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, MINIMAL + f"\n[{section}]\n{line}\n"))
    assert fragment in str(info.value)


def test_unknown_target_lists_valid_ones(tmp_path):
    with pytest.raises(RecipeError, match="unknown target 'tpu'.*valid targets: cpu"):
        load_recipe(write(tmp_path, 'targets = ["tpu"]\n' + MINIMAL))


def test_unknown_target_setting(tmp_path):
    with pytest.raises(RecipeError, match=r"\[target.cpu\].*no setting 'flash'"):
        load_recipe(write(tmp_path, MINIMAL + "\n[target.cpu]\nflash = 3\n"))


def test_model_needs_factory_or_file(tmp_path):
    with pytest.raises(RecipeError, match="exactly one of factory or file"):
        load_recipe(write(tmp_path, 'name = "x"\n[model]\nkwargs = {}\n'))


def test_missing_model_section():
    with pytest.raises(RecipeError, match=r"missing \[model\]"):
        recipe_from_dict({"name": "x"})


def test_invalid_toml(tmp_path):
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(write(tmp_path, "name = \n"))


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe not found"):
        load_recipe(tmp_path / "nope.toml")


def test_overrides_apply_and_validate(tmp_path):
    path = write(tmp_path, MINIMAL)
    recipe = load_recipe(path, overrides=dict([parse_override("train.epochs=3"), parse_override("prune.sparsity=0.5")]))
    assert recipe.train.epochs == 3 and recipe.prune.sparsity == 0.5
    with pytest.raises(RecipeError, match="prune.sparsity = 2.0"):
        load_recipe(path, overrides={"prune.sparsity": 2.0})


def test_override_syntax_error():
    with pytest.raises(RecipeError, match="expected section.key=value"):
        parse_override("epochs")


def test_to_dict_is_plain_data():
    data = load_recipe(SAMPLES / "mnist_cnn.toml").to_dict()
    assert "base_dir" not in data and data["targets"] == ["cpu", "gpu", "edgetpu", "mcu", "ethos-u"]
    assert data["prune"]["sparsity"] == 0.8

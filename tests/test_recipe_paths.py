"""Paths written in a recipe stay inside the recipe's folder; the command line may point anywhere."""

import os

import pytest

from edgekit.errors import RecipeError
from edgekit.recipe import load_recipe

BASE = '[model]\nfactory = "simple_cnn.py:build"\n'


def write(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "r.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key",
    [
        ('[model]\nfile = "../model.keras"\n', "model.file"),
        ('[model]\nfile = "/etc/passwd.keras"\n', "model.file"),
        ('[model]\nfactory = "../evil.py:build"\n', "model.factory"),
        ('[model]\nfactory = "sub/../../evil.py:build"\n', "model.factory"),
        (BASE + '[data]\nsource = "../data.npz"\n', "data.source"),
        (BASE + '[data]\nsource = "~/data.npz"\n', "data.source"),
        (BASE + '[output]\ndir = "../../elsewhere"\n', "output.dir"),
        (BASE + '[output]\ndir = "/tmp/out"\n', "output.dir"),
    ],
)
def test_escaping_paths_are_refused_with_key_and_line(tmp_path, text, key):
    path = write(tmp_path / "recipe", text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    message = str(info.value)
    assert f"{key} = " in message and "points outside the recipe's folder" in message
    assert f"{path}:" in message  # the line of the key
    assert ("--out" if key == "output.dir" else f"--set {key}=") in message


def test_paths_inside_the_folder_are_fine(tmp_path):
    path = write(
        tmp_path,
        '[model]\nfactory = "models/net.py:build"\n[data]\nsource = "data/../data/x.npz"\n[output]\ndir = "out/run1"\n',
    )
    recipe = load_recipe(path)
    assert recipe.resolve(recipe.output.dir) == tmp_path.resolve() / "out/run1"


def test_module_factories_and_builtin_data_have_no_path(tmp_path):
    load_recipe(write(tmp_path, '[model]\nfactory = "some.package:build"\n[data]\nsource = "mnist"\n'))


def test_command_line_overrides_may_point_anywhere(tmp_path):
    path = write(tmp_path / "recipe", BASE + '[output]\ndir = "../elsewhere"\n')
    outside = str(tmp_path / "data.npz")
    recipe = load_recipe(path, overrides={"data.source": outside, "output.dir": str(tmp_path / "o")})
    assert recipe.data.source == outside
    assert load_recipe(path, trusted=("output.dir",)).output.dir == "../elsewhere"  # e.g. build --out
    load_recipe(path, overrides={"output": {"dir": "../x"}})  # a whole section from the command line


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "secret").mkdir()
    folder = tmp_path / "recipe"
    folder.mkdir()
    os.symlink(tmp_path / "secret", folder / "data")
    path = write(folder, BASE + '[data]\nsource = "data/x.npz"\n')
    with pytest.raises(RecipeError, match="data.source = 'data/x.npz' points outside"):
        load_recipe(path)


def test_sample_recipe_stays_inside(tmp_path):
    from tests.conftest import SAMPLES

    recipe = load_recipe(SAMPLES / "mnist_cnn.toml")
    assert recipe.resolve(recipe.output.dir).is_relative_to(SAMPLES.resolve())

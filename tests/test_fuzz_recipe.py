"""Property-based: whatever a recipe file holds, the parser answers with a Recipe or a RecipeError."""

import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.errors import RecipeError
from edgekit.recipe import Recipe, recipe_from_dict

SECTIONS = ["model", "data", "train", "prune", "quantize", "output", "target", "name", "targets", "bogus"]
KEYS = ["factory", "file", "kwargs", "source", "mean", "std", "epochs", "batch_size", "learning_rate", "seed",
        "sparsity", "schedule", "mode", "dir", "cpu", "limit_train", "enabled", "labels", "typo"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=6)
recipes = st.dictionaries(st.sampled_from(SECTIONS), st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values, max_size=5)), max_size=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipes)
def test_random_recipes_parse_or_raise_recipe_error(raw):
    try:
        result = recipe_from_dict(raw)
    except RecipeError:
        return
    assert isinstance(result, Recipe)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_as_recipe_file(tmp_path_factory, data):
    from edgekit.recipe import load_recipe

    path = tmp_path_factory.mktemp("fuzz") / "r.toml"
    path.write_bytes(data)
    try:
        load_recipe(path)
    except RecipeError:
        pass


def test_valid_toml_values_round_trip():
    raw = tomllib.loads('[model]\nfactory = "m:build"\n[prune]\nsparsity = 0.5\n')
    assert recipe_from_dict(raw).prune.sparsity == 0.5

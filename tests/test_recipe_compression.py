"""Recipe keys for distillation, clustering, structured pruning, excludes, analysis and strategies."""

import pytest

from edgekit.compression import Cluster, Distill, Prune, QuantizeAware
from edgekit.errors import RecipeError
from edgekit.flows.from_recipe import steps_from_recipe
from edgekit.recipe import load_recipe, parse_m_by_n, recipe_from_dict
from tests.conftest import SAMPLES

MINIMAL = 'name = "r"\n[model]\nfactory = "simple_cnn.py:build"\n'


def write(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(MINIMAL + text)
    return path


def test_full_chain_from_the_recipe(tmp_path):
    recipe = load_recipe(write(tmp_path, """
[distill]
width = 0.25
alpha = 0.2
temperature = 6
epochs = 3
[prune]
sparsity = 0.7
exclude = ["conv1"]
[cluster]
clusters = 16
[quantize]
mode = "qat"
exclude = ["Flatten"]
[train]
strategy = "mirrored"
[analyze]
threshold = 0.01
"""))
    steps = steps_from_recipe(recipe, exclude={"prune": ["dense1"], "quantize": ["conv2"]})
    assert [type(s) for s in steps] == [Distill, Prune, Cluster, QuantizeAware]
    distill, prune, cluster, qat = steps
    assert (distill.width, distill.alpha, distill.temperature, distill.epochs, distill.guide) == (0.25, 0.2, 6.0, 3, True)
    assert prune.exclude == ("conv1", "dense1") and prune.target_sparsity == 0.7
    assert cluster.clusters == 16 and cluster.preserve_sparsity
    assert qat.name == "pcqat" and qat.exclude == ("Flatten", "conv2")
    assert recipe.train.strategy == "mirrored" and recipe.analyze.threshold == 0.01


def test_m_by_n_turns_pruning_on():
    recipe = recipe_from_dict({"model": {"factory": "f.py:b"}, "prune": {"m_by_n": "2:4"}})
    (prune,) = steps_from_recipe(recipe)
    assert prune.m_by_n == (2, 4) and prune.target_sparsity == 0.5
    assert parse_m_by_n(" 1 : 8 ") == (1, 8)


def test_the_sample_recipes_load():
    tiny = load_recipe(SAMPLES / "mnist_tiny_mcu.toml")
    assert tiny.distill.enabled and tiny.quantize.mode == "qat"
    full = load_recipe(SAMPLES / "mnist_cnn.toml")
    assert full.cluster.clusters > 0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('[prune]\nm_by_n = "4:2"', 'prune.m_by_n = \'4:2\' must look like "2:4"'),
        ('[prune]\nm_by_n = "2:4"\nsparsity = 0.5', "prune.sparsity and prune.m_by_n both set"),
        ('[prune]\npolicy = "fast"', "prune.policy = 'fast' is not valid"),
        ('[distill]\nwidth = 0.5\nstudent = "s.py:b"', "distill.student and distill.width both set"),
        ("[distill]\nwidth = 2", "distill.width = 2.0 must be in (0, 1)"),
        ("[distill]\nalpha = 1.5", "distill.alpha = 1.5 must be in [0, 1]"),
        ("[distill]\nstudent_kwargs = { width = 1 }", "distill.student_kwargs needs distill.student"),
        ("[cluster]\nclusters = 1", "cluster.clusters = 1 must be 0 (off) or at least 2"),
        ('[cluster]\ninit = "kmeans"', "cluster.init = 'kmeans' is not valid"),
        ('[train]\nstrategy = "horovod"', "train.strategy = 'horovod' is not valid"),
        ("[analyze]\nthreshold = 5", "analyze.threshold = 5.0 must be in [0, 1)"),
        ('[quantize]\nexclude = "conv1"', "quantize.exclude must be a list of a string"),
    ],
)
def test_bad_compression_keys_name_the_key_and_line(tmp_path, text, fragment):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, "\n" + text + "\n"))
    message = str(info.value)
    assert fragment in message and "recipe.toml:" in message


def test_self_distillation_needs_no_student(tmp_path):
    recipe = load_recipe(write(tmp_path, "\n[distill]\nself_distill = true\n"))
    (distill,) = steps_from_recipe(recipe)
    assert isinstance(distill, Distill) and distill.student is None and distill.width is None
    with pytest.raises(RecipeError, match="self_distill trains no student"):
        load_recipe(write(tmp_path, "\n[distill]\nself_distill = true\nwidth = 0.5\n"))


def test_a_target_can_ask_for_the_xnnpack_pruning_policy(tmp_path):
    recipe = load_recipe(write(tmp_path, '\n[prune]\nsparsity = 0.5\n[target.cpu]\npruning_policy = "xnnpack"\n'))
    from edgekit.flows.from_recipe import recipe_targets

    assert steps_from_recipe(recipe)[0].policy == "none"  # the policy comes with the targets
    (prune,) = steps_from_recipe(recipe, recipe_targets(recipe))
    assert prune.policy == "xnnpack"
    plain = load_recipe(write(tmp_path, "\n[prune]\nsparsity = 0.5\n"))
    assert steps_from_recipe(plain)[0].policy == "none"

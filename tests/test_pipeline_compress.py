"""A build with every compression step: the report shows what each artifact kept and what was left out."""

import json
import shutil

import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.flows.build import build
from edgekit.report.text import format_table
from tests.conftest import SAMPLES

RECIPE = """
name = "chain"
targets = ["cpu", "cpu:float32"]

[model]
factory = "{factory}"
kwargs = {{ input_shape = [28, 28, 1], num_classes = 10, width = 0.5 }}

[data]
source = "mnist"
limit_train = 384
limit_test = 100

[train]
epochs = 3
batch_size = 32
learning_rate = 0.003

[distill]
width = 0.5
epochs = 2
learning_rate = 0.003

[prune]
sparsity = 0.6
epochs = 2
learning_rate = 0.001
exclude = ["conv1"]
sparse_encoding = true

[cluster]
clusters = 8
epochs = 1

[quantize]
mode = "qat"
epochs = 1

[analyze]
threshold = 0.5
samples = 60

[output]
dir = "out"
latency_runs = 5
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chain")
    recipe = folder / "chain.toml"
    shutil.copyfile(SAMPLES / "simple_cnn.py", folder / "simple_cnn.py")  # recipes reach only their own folder
    recipe.write_text(RECIPE.format(factory="simple_cnn.py:build"))
    return build(recipe, out=folder / "out")


def test_report_shows_each_step(built):
    compression = built.report["compression"]
    assert list(compression)[:4] == ["distill", "prune", "cluster", "pcqat"]
    assert compression["distill"]["params_ratio"] < 0.3
    assert compression["prune"]["pruned_layers"] == ["conv2", "dense1", "probabilities"]
    assert max(compression["cluster"]["unique_weights_per_kernel"].values()) <= 8


def test_every_artifact_reports_sparsity_unique_weights_and_skipped_layers(built):
    reference, int8, float32 = built.report["artifacts"]
    for artifact in built.report["artifacts"]:
        assert {"sparsity", "unique_weights_per_kernel", "skipped_layers"} <= set(artifact)
    assert reference["skipped_layers"] == [] and max(reference["unique_weights_per_kernel"].values()) > 100
    # conv1 was excluded from pruning: named, with its type and the reason
    assert {"layer": "conv1", "type": "Conv2D", "step": "prune", "reason": "excluded by the recipe (prune.exclude)"} in int8["skipped_layers"]
    # pruning (60 % of the pruned kernels) and 8 clusters survived into both shipped files
    assert 0.5 < int8["sparsity"] < 0.62 and 0.5 < float32["sparsity"] < 0.62
    assert max(v for k, v in int8["unique_weights_per_kernel"].items() if k != "conv1") <= 8
    assert max(float32["unique_weights_per_kernel"].values()) <= 8


def test_sparse_encoding_is_measured_and_reported(built):
    _, int8, float32 = built.report["artifacts"]
    assert int8["sparse_encoding"]["runs"] is False and int8["sparse_encoding"]["shipped"] is False
    assert "fails under XNNPACK" in int8["sparse_encoding"]["note"]
    assert float32["sparse_encoding"]["runs"] is True
    if float32["sparse_encoding"]["shipped"]:
        assert float32["bytes"] == float32["sparse_encoding"]["bytes_sparse"]


def test_sensitivity_table_is_in_the_report(built):
    sensitivity = built.report["sensitivity"]
    assert [row["layer"] for row in sensitivity["layers"]][:2] == ["conv1", "pool1"]
    assert sensitivity["threshold"] == 0.5 and set(sensitivity["excluded"]) == {"prune", "quantize"}
    text = format_table(built.report)
    assert "Sensitivity" in text and "fails under XNNPACK" in text and "conv1 (Conv2D, prune)" in text
    markdown = (built.out_dir / "report.md").read_text()
    assert "| layer | type | params |" in markdown and "Distillation:" in markdown and "Clustering:" in markdown


def test_manifests_carry_the_same_facts(built):
    report = json.loads((built.out_dir / "report.json").read_text())
    for artifact in report["artifacts"]:
        manifest = verify_bundle(built.out_dir / artifact["path"])
        assert manifest["metrics"]["unique_weights_per_kernel"] == artifact["unique_weights_per_kernel"]
        assert manifest["metrics"]["skipped_layers"] == artifact["skipped_layers"]

"""Pruning: the derived schedule really reaches the target, and sparsity survives strip + PQAT."""

import numpy as np
import pytest

from edgekit.compression import Prune, QuantizeAware, kernel_sparsity
from edgekit.compression.prune import derive_schedule
from edgekit.compression.run import run_compression
from edgekit.errors import EdgekitError
from edgekit.training.train import TrainData


@pytest.mark.parametrize("total_steps, ramp", [(16, 0.6), (250, 0.3), (1501, 0.6), (7, 1.0), (2, 0.5)])
def test_schedule_ends_on_a_pruning_turn_inside_training(total_steps, ramp):
    schedule = derive_schedule(kind="polynomial", sparsity=0.8, total_steps=total_steps, ramp_fraction=ramp)
    assert 0 < schedule.end_step < total_steps
    assert (schedule.end_step - schedule.begin_step) % schedule.frequency == 0


def test_default_tfmot_frequency_would_stop_short():
    """The bug the derived schedule avoids: frequency 100 never reaches end_step 250."""
    end_step, frequency = 250, 100
    last_turn = max(step for step in range(end_step + 1) if step % frequency == 0)
    assert last_turn < end_step
    schedule = derive_schedule(kind="polynomial", sparsity=0.8, total_steps=300, ramp_fraction=0.83)
    assert schedule.end_step % schedule.frequency == 0


def test_too_few_steps():
    with pytest.raises(EdgekitError, match="at least 2 training steps"):
        derive_schedule(kind="polynomial", sparsity=0.5, total_steps=1, ramp_fraction=0.5)


def test_pruning_reaches_target_and_pqat_keeps_it(tiny_model, mnist_small):
    x, y, _, _ = mnist_small
    data = TrainData(x, y, batch_size=32)
    steps = [Prune(sparsity=0.7, epochs=2, learning_rate=1e-3), QuantizeAware(epochs=1, preserve_sparsity=True, name="pqat")]
    result = run_compression(tiny_model, steps, data)
    assert result.report["prune"]["sparsity_after_strip"] == pytest.approx(0.7, abs=0.01)
    assert kernel_sparsity(result.float_model)["overall"] == pytest.approx(0.7, abs=0.01)
    assert result.report["pqat"]["scheme"] == "Default8BitPrunePreserveQuantizeScheme"
    # the float reference is untouched by compression
    assert kernel_sparsity(tiny_model)["overall"] < 0.05
    # PQAT kept the zeros: the QAT model's kernels are still 70 % sparse
    kernels = [w.numpy() for w in result.qat_model.weights if w.name.endswith("kernel:0")]
    zeros = sum(np.count_nonzero(k == 0) for k in kernels) / sum(k.size for k in kernels)
    assert zeros == pytest.approx(0.7, abs=0.01)

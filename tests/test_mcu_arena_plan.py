"""The tensor arena at its lower bound: lifetimes as TFLM marks them, and an offline plan
(``OfflineMemoryAllocation``) that the real tflite_micro interpreter honours."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import ToolError
from edgekit.runtime import open_model
from edgekit.target import PackageInput
from edgekit.targets import _arena_plan, _tflm
from edgekit.targets.mcu import MCU
from edgekit.tflite.graph import read_tflite


@pytest.fixture(scope="module")
def branching():
    """conv 2 -> conv 7 -> conv 5 -> concat(conv 5, conv 2) -> conv 8 -> conv 3, int8 at 16x16.

    The skip keeps conv 2's output alive across conv 7 and conv 5. TFLM's planner places the
    largest maps first, each at the lowest offset free for its lifetime: conv 8's and conv 7's
    outputs both at 0 (never alive together), the concat's above conv 8's; conv 5's output,
    alive with conv 7's and with the concat's, fits between neither and goes on top.
    """
    from edgekit._compat import keras
    from edgekit.converters.keras_tflite import convert_keras

    layers = keras().layers
    image = layers.Input((16, 16, 2))
    a = layers.Conv2D(2, 1, activation="relu")(image)
    b = layers.Conv2D(7, 1, activation="relu")(a)
    c = layers.Conv2D(5, 1, activation="relu")(b)
    d = layers.Conv2D(8, 1, activation="relu")(layers.Concatenate()([c, a]))
    model = keras().Model(image, layers.Conv2D(3, 1)(d))
    x = np.random.default_rng(0).normal(size=(16, 16, 16, 2)).astype(np.float32)
    return convert_keras(model, quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=16, options=MCU.converter_options)


@pytest.fixture(scope="module")
def built(branching):
    return MCU.package(branching, PackageInput(name="branching", options=MCU.options))


def test_lower_bound_is_what_tflm_plans_for_a_chain(tiny_tflite):
    model = tiny_tflite["int8"]
    arena = _tflm.measure_arena(model)
    assert _arena_plan.lower_bound(_arena_plan.buffers(read_tflite(model))) == arena.head


def test_branching_model_ships_an_offline_plan_smaller_than_tflms(built, branching):
    details = built.details
    assert details["arena_plan"] == "offline"
    assert details["arena_offline_head_bytes"] == details["arena_offline_plan_bytes"] == details["arena_lower_bound_bytes"]
    assert details["arena_lower_bound_bytes"] < details["arena_tflm_plan_bytes"]
    assert details["arena_bytes"] < details["arena_tflm_arena_bytes"] == _tflm.measure_arena(branching).total
    assert details["arena_head_bytes"] == details["arena_lower_bound_bytes"]  # TFLM honours the plan: measured again
    assert details["arena_persistent_bytes"] == details["arena_tail_bytes"] > 0


def test_the_planned_model_runs_bit_identically_within_its_arena(built, branching):
    shipped = built.files["mcu/branching_mcu.tflite"]
    assert _arena_plan.read_plan(shipped) and _arena_plan.read_plan(branching) is None
    x = np.random.default_rng(1).integers(-128, 128, size=(20, 16, 16, 2)).astype(np.int8)
    expected = _tflm.run(_tflm.load(branching, _tflm.measure_arena(branching).total), x)
    np.testing.assert_array_equal(_tflm.run(_tflm.load(shipped, built.details["arena_bytes"]), x), expected)
    assert not _tflm.works(shipped, built.details["arena_bytes"] - 16)
    assert f"kTensorArenaSize = {built.details['arena_bytes']};" in built.files["mcu/README.md"].decode()


def test_the_plan_leaves_the_graph_alone(branching):
    """Tensors keep their indices (the plan is indexed by them); LiteRT still runs the model."""
    graph = read_tflite(branching)
    offsets = _arena_plan.pack(_arena_plan.buffers(graph)).offsets
    planned = _arena_plan.with_plan(branching, offsets)
    again = read_tflite(planned)
    assert [(t.name, t.shape, t.dtype) for t in again.main.tensors] == [(t.name, t.shape, t.dtype) for t in graph.main.tensors]
    assert _arena_plan.read_plan(planned) == offsets
    x = np.random.default_rng(2).integers(-128, 128, size=(1, 16, 16, 2)).astype(np.int8)
    outputs = []
    for model in (branching, planned):
        runner = open_model(model, default_delegates=False)
        runner.set_raw_input(x)
        runner.invoke()
        outputs.append(runner.raw_output())
    np.testing.assert_array_equal(*outputs)


def test_a_plan_with_clashing_buffers_is_refused():
    buffers = [_arena_plan.Buffer(tensor=0, bytes=32, first=0, last=2), _arena_plan.Buffer(tensor=1, bytes=16, first=1, last=3)]
    _arena_plan.check_plan(buffers, {0: 0, 1: 32})
    with pytest.raises(ToolError, match="overlaps tensors 0 and 1"):
        _arena_plan.check_plan(buffers, {0: 0, 1: 16})
    with pytest.raises(ToolError, match="misaligned"):
        _arena_plan.check_plan(buffers, {0: 0, 1: 40})


def test_no_offline_plan_where_tflm_is_at_the_bound(tiny_tflite):
    result = MCU.package(tiny_tflite["int8"], PackageInput(name="tiny", options=MCU.options))
    assert result.details["arena_plan"] == "tflm"
    assert result.details["arena_tflm_plan_bytes"] <= 1.05 * result.details["arena_lower_bound_bytes"]
    assert "arena_offline_plan_bytes" not in result.details

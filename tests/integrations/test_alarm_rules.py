"""The alarm rules on hand-made readings: where each threshold fires, and the line it tells."""

import math
from functools import partial

import numpy as np
import pytest

from vanishing.integrations.alarms import ALARMS, Reading, exploding, nonfinite, vanishing, zero_gradient
from vanishing.results import LayerInfo

pytestmark = pytest.mark.integrations

LAYERS = [LayerInfo(n, "Linear", (2, 2), 6) for n in ("fc1", "fc2", "fc3", "out")]


def reading(grad, **more):
    values = {"grad_norm": np.array(grad, float), **{k: np.array(v, float) for k, v in more.items()}}
    return Reading(7, values, {q: np.ones(len(LAYERS), bool) for q in values}, LAYERS)


def test_vanishing_fires_strictly_below_the_ratio_and_names_the_worst_layer():
    assert vanishing(reading([1e-8, 1.0, 1.0, 1.0])) is None  # exactly the ratio
    a = vanishing(reading([4e-10, 2e-9, 1.0, 2.0]))
    assert (a.rule, a.step) == ("vanishing", 7)
    assert a.message == ("layer 1 (fc1)'s weight gradient ‖∂L/∂W‖ 4.00e-10 fell below 1e-08 of the last layer's "
                         "(2.00e+00): 2.0e-10; layers 1–2 are all below")
    assert str(a).startswith("step 7: layer 1 (fc1)")


def test_a_variant_is_a_partial():
    assert vanishing(reading([1e-3, 1.0, 1.0, 1.0])) is None
    assert partial(vanishing, ratio=1e-2)(reading([1e-3, 1.0, 1.0, 1.0])).message.startswith("layer 1 (fc1)")


def test_exploding_fires_above_the_ratio():
    assert exploding(reading([1e8, 1.0, 1.0, 1.0])) is None
    a = exploding(reading([1.0, 3e8, 1.0, 1.0]))
    assert a.message.startswith("layer 2 (fc2)'s weight gradient ‖∂L/∂W‖ 3.00e+08 rose above 1e+08 times")


def test_no_comparison_without_a_finite_positive_last_layer():
    for last in (0.0, math.nan, math.inf):
        assert vanishing(reading([1e-20, 1.0, 1.0, last])) is None
        assert exploding(reading([1e20, 1.0, 1.0, last])) is None


def test_zero_gradient_names_the_layers_or_the_whole_network():
    assert zero_gradient(reading([1e-30, 1.0, 1.0, 1.0])) is None
    assert zero_gradient(reading([0.0, 0.0, 0.0, 0.0])).message == (
        "the weight gradient ‖∂L/∂W‖ of every layer (layers 1–4) is exactly 0")
    a = zero_gradient(reading([0.0, 0.0, 0.5, 1.0]))
    assert a.message == "the weight gradient ‖∂L/∂W‖ of layers 1–2 is exactly 0 (largest elsewhere 1.00e+00)"


def test_nonfinite_reads_counted_layers_and_gradient_entries():
    r = reading([math.inf, 1.0, math.nan, 1.0], nonfinite_grads=[3, 0, 5, 0], bias_grad_norm=[1, math.nan, 1, 1])
    r.counted["bias_grad_norm"][1] = False  # fc2 has no bias: its NaN is not a reading
    a = nonfinite(r)
    assert a.message == ("non-finite values: 8 NaN/Inf gradient entries in layers 1, 3; "
                         "grad_norm NaN/Inf in layers 1, 3")
    assert nonfinite(reading([1.0, 1.0, 1.0, 1.0], nonfinite_grads=[0, 0, 0, 0])) is None


def test_nonfinite_tells_the_sign_and_leaves_derived_logs_of_zero_alone():
    r = reading([1.0, 1.0, 1.0, 1.0], param_norm=[math.inf, -math.inf, 1, 1],
                attribution_activation=[math.nan, -math.inf, 0.1, 0.2])
    assert nonfinite(r).message == "non-finite values: param_norm Inf/-Inf in layers 1–2"


def test_the_default_rules_are_quiet_on_a_healthy_step():
    r = reading([0.3, 0.5, 0.8, 1.0], nonfinite_grads=[0, 0, 0, 0])
    assert [rule(r) for rule in ALARMS] == [None] * len(ALARMS)

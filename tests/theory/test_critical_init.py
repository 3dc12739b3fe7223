import math

import pytest
import torch

from vanishing.errors import ConfigError
from vanishing.nets.inits import INITS, critical_, get_init
from vanishing.nets.mlp import build_mlp
from vanishing.theory import critical_sigma_w2
from vanishing.theory.meanfield import _critical


def test_registered_and_in_place():
    assert "critical" in INITS
    w = torch.empty(400, 300, dtype=torch.float64)
    torch.manual_seed(0)
    assert critical_(w, activation="relu") is w
    assert 300 * w.pow(2).mean().item() == pytest.approx(2.0, rel=0.02)


def test_build_mlp_passes_the_activation_and_solves_once():
    before = _critical.cache_info().misses
    torch.manual_seed(0)
    net = build_mlp(64, 10, depth=12, width=512, activation="tanh", init="critical:sigma_b2=0.0517",
                    bias_init=f"normal:std={math.sqrt(0.0517)}")
    assert _critical.cache_info().misses - before <= 1  # one root finding for twelve layers
    w = net.weight_layers()[3].weight.double()
    assert 512 * w.pow(2).mean().item() == pytest.approx(critical_sigma_w2("tanh", 0.0517), rel=0.02)
    assert critical_sigma_w2("tanh", 0.0517) == pytest.approx(1.77, abs=0.02)


@pytest.mark.parametrize("spec,activation,match", [
    ("critical:sigma_b2=0.1", "relu", "invalid init critical sigma_b2 0.1; 0 for relu"),
    ("critical:sigma_b2=-1", "tanh", "invalid init critical sigma_b2 -1"),
    ("critical:gain=2", "tanh", "parameters allowed: sigma_b2"),
])
def test_bad_parameters_fail_at_the_boundary(spec, activation, match):
    with pytest.raises(ConfigError, match=match):
        get_init(spec, activation=activation)

"""The edge-of-chaos init: kept as written in the config, resolved there into a spec the networks draw."""

import math

import pytest
import torch

from vanishing.config import RunConfig, resolve_init
from vanishing.errors import ConfigError
from vanishing.experiments.run import setup
from vanishing.inits import INITS
from vanishing.nets import build_mlp, weight_layers
from vanishing.spec import parse_spec
from vanishing.theory import critical_sigma_w2, sigma_w2_of_init
from vanishing.theory.meanfield import _critical


def test_not_a_drawable_init_but_a_config_spec():
    assert "critical" not in INITS
    with pytest.raises(ConfigError, match=r"^invalid init 'critical'; .*vanishing\.config\.resolve_init"):
        build_mlp(4, 2, init="critical")


def test_resolves_to_n_0_sigma_w2_over_fan_in():
    spec = resolve_init("critical:sigma_b2=0.0517", "tanh")
    parsed = parse_spec(spec)
    assert parsed.name == "variance_scaling"
    assert parsed.params == {"scale": critical_sigma_w2("tanh", 0.0517), "mode": "fan_in", "distribution": "normal"}
    assert sigma_w2_of_init(spec, 64) == sigma_w2_of_init("critical:sigma_b2=0.0517", 64, activation="tanh")
    assert resolve_init("he_normal", "tanh") == "he_normal"  # anything else as written
    assert critical_sigma_w2("tanh", 0.0517) == pytest.approx(1.77, abs=0.02)


def test_a_run_builds_the_critical_network_and_solves_once():
    cfg = RunConfig.make(depth=12, width=512, activation="tanh", init="critical:sigma_b2=0.0517",
                         bias_init=f"normal:std={math.sqrt(0.0517)}", dataset="spirals:n=50")
    assert cfg.init == "critical:sigma_b2=0.0517"  # the config keeps what the user wrote
    before = _critical.cache_info().misses
    _, net, _ = setup(cfg)
    assert _critical.cache_info().misses - before <= 1  # at most one root finding for twelve layers
    w = weight_layers(net)[3].weight.double()
    want = critical_sigma_w2("tanh", 0.0517)
    assert 512 * w.pow(2).mean().item() == pytest.approx(want, rel=0.02)
    g = torch.Generator().manual_seed(cfg.seed)  # drawn as N(0, σ_w²/fan_in) from the run's seed
    first = torch.empty(512, 2).normal_(0.0, math.sqrt(want / 2), generator=g)
    assert torch.equal(weight_layers(net)[0].weight, first)


@pytest.mark.parametrize("spec,activation,match", [
    ("critical:sigma_b2=0.1", "relu", "invalid init critical sigma_b2 0.1; 0 for relu"),
    ("critical:sigma_b2=-1", "tanh", "invalid init critical sigma_b2 -1"),
    ("critical:gain=2", "tanh", "parameters allowed: sigma_b2"),
])
def test_bad_parameters_fail_at_the_boundary(spec, activation, match):
    with pytest.raises(ConfigError, match=match):
        resolve_init(spec, activation)
    with pytest.raises(ConfigError, match=match):
        RunConfig.make(init=spec, activation=activation)

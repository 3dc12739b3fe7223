import math

import pytest
import torch

from vanishing.errors import ConfigError
from vanishing.inits import INITS, get_init
from vanishing.theory import critical_sigma_w2, sigma_b2_of_init, sigma_w2_of_init

FAN_OUT, FAN_IN = 300, 200

# the table: spec, fan_in, fan_out → σ_w²
STATED = [
    ("he_normal", 64, 64, 2.0),
    ("xavier_normal", 64, 64, 1.0),
    ("normal:std=0.1", 50, 50, 50 * 0.01),
    ("glorot_standard", 64, 32, 1 / 3),
    ("lecun_normal", 64, 10, 1.0),
    ("orthogonal:gain=1.5", 64, 64, 2.25),
    ("variance_scaling:scale=3,mode=fan_in", 64, 16, 3.0),
    ("xavier_uniform", 100, 300, 100 * 2 / 400),
]


@pytest.mark.parametrize("spec,fi,fo,want", STATED)
def test_stated_values(spec, fi, fo, want):
    assert sigma_w2_of_init(spec, fi, fo) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", list(INITS))
def test_every_registered_init_matches_its_samples(name):
    """fan_in · mean(W²) of the initialiser itself: the theory reads what inits.py draws."""
    w = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    spec = {"constant": "constant:value=0.03", "normal": "normal:std=0.05,mean=0.02"}.get(name, name)
    get_init(spec)(w, generator=torch.Generator().manual_seed(0))
    measured = FAN_IN * w.pow(2).mean().item()
    want = sigma_w2_of_init(spec, FAN_IN, FAN_OUT)
    assert measured == pytest.approx(want, rel=0.03, abs=1e-12)


def test_critical_uses_the_activation():
    assert sigma_w2_of_init("critical:sigma_b2=0.05", 128, activation="tanh") == pytest.approx(
        critical_sigma_w2("tanh", 0.05))
    with pytest.raises(ConfigError, match="invalid activation None; an activation spec"):
        sigma_w2_of_init("critical", 128)


def test_bias_variances():
    assert sigma_b2_of_init("zeros") == 0.0
    assert sigma_b2_of_init("normal:std=0.2") == pytest.approx(0.04)
    assert sigma_b2_of_init("constant:value=0.1") == pytest.approx(0.01)
    assert sigma_b2_of_init("uniform:a=0.3") == pytest.approx(0.03)


@pytest.mark.parametrize("call,match", [
    (lambda: sigma_b2_of_init("he_normal"), "invalid bias_init 'he_normal'; a bias init: zeros"),
    (lambda: sigma_w2_of_init("gaussian", 10), "invalid init 'gaussian'; one of: zeros, .*, critical$"),
    (lambda: sigma_w2_of_init("normal:std=-1", 10), "std -1"),
    (lambda: sigma_w2_of_init("he_normal", 0), "invalid fan_in 0; an integer >= 1"),
])
def test_bad_specs(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_orthogonal_is_exact_on_norms():
    # a square orthogonal matrix times g scales every vector's squared norm by exactly g² = σ_w²
    w = torch.empty(64, 64, dtype=torch.float64)
    get_init("orthogonal:gain=1.5")(w, generator=torch.Generator().manual_seed(0))
    x = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert (w @ x).pow(2).sum().item() == pytest.approx(sigma_w2_of_init("orthogonal:gain=1.5", 64)
                                                        * x.pow(2).sum().item(), rel=1e-10)
    assert math.isfinite(sigma_w2_of_init("orthogonal", 64, 10))


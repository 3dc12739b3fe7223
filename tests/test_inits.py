import math

import pytest
import torch

from vanishing.errors import ConfigError
from vanishing.spec import parse_spec
from vanishing.inits import INITS, get_init

FAN_OUT, FAN_IN = 300, 200  # weight shape (out, in)

# spec -> expected variance of the entries (independent of the code: the formulas of the papers)
EXPECTED = {
    "normal:std=0.05": 0.05**2,
    "uniform:a=0.3": 0.3**2 / 3,
    "glorot_standard": 1 / (3 * FAN_IN),
    "xavier_normal": 2 / (FAN_IN + FAN_OUT),
    "xavier_uniform": 2 / (FAN_IN + FAN_OUT),
    "xavier_normal:gain=2": 4 * 2 / (FAN_IN + FAN_OUT),
    "he_normal": 2 / FAN_IN,
    "he_uniform": 2 / FAN_IN,
    "he_normal:a=0.2": 2 / ((1 + 0.04) * FAN_IN),
    "lecun_normal": 1 / FAN_IN,
    "lecun_uniform": 1 / FAN_IN,
    "variance_scaling:scale=2,mode=fan_in": 2 / FAN_IN,
    "variance_scaling:scale=1,mode=fan_out": 1 / FAN_OUT,
    "variance_scaling:scale=3,mode=fan_avg,distribution=uniform": 3 / ((FAN_IN + FAN_OUT) / 2),
    "variance_scaling:scale=1,mode=fan_in,distribution=truncated_normal": 1 / FAN_IN,
}


@pytest.mark.parametrize("spec", list(EXPECTED))
def test_stated_variance(spec):
    torch.manual_seed(0)
    w = torch.empty(FAN_OUT, FAN_IN)
    out = get_init(spec)(w)
    assert out is w  # in place, returns the tensor
    n = w.numel()
    var = w.double().var().item()
    # sample variance of n draws has relative std sqrt(2/n) for a normal; allow 5 sigma (kurtosis of uniform is lower)
    assert var == pytest.approx(EXPECTED[spec], rel=5 * math.sqrt(2 / n))
    assert abs(w.double().mean().item()) < 5 * math.sqrt(EXPECTED[spec] / n)


def test_uniform_bounds_and_truncation():
    torch.manual_seed(0)
    w = get_init("glorot_standard")(torch.empty(FAN_OUT, FAN_IN))
    assert w.abs().max() <= 1 / math.sqrt(FAN_IN)
    w = get_init("variance_scaling:scale=1,distribution=truncated_normal")(torch.empty(FAN_OUT, FAN_IN))
    std = math.sqrt(1 / FAN_IN) / 0.87962566103423978
    assert w.abs().max() <= 2 * std + 1e-6


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(gain):
    w = get_init(f"orthogonal:gain={gain}")(torch.empty(FAN_IN, FAN_OUT))  # wide: rows orthonormal
    torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(FAN_IN), atol=1e-4, rtol=0)


def test_zeros_and_constant():
    assert get_init("zeros")(torch.ones(3)).eq(0).all()
    assert get_init("constant:value=0.5")(torch.ones(3, 2)).eq(0.5).all()


def test_bias_spec_uses_the_same_grammar():
    torch.manual_seed(0)
    b = get_init("normal:std=0.2236", field="bias_init")(torch.empty(100_000))
    assert b.var().item() == pytest.approx(0.05, rel=0.02)


@pytest.mark.parametrize("name", list(INITS))
def test_every_registered_init_fills_a_weight_from_its_generator(name):
    state = torch.random.get_rng_state()
    w, again = (get_init(name)(torch.full((8, 6), float("nan")), generator=torch.Generator().manual_seed(2))
                for _ in range(2))
    assert torch.isfinite(w).all()
    assert torch.equal(w, again)
    assert torch.equal(state, torch.random.get_rng_state())  # nothing drawn from the global generator


@pytest.mark.parametrize("name", list(INITS))
def test_every_registered_init_states_its_second_moment(name):
    """E[W²] declared next to the initialiser against the initialiser's own draws."""
    spec = {"constant": "constant:value=0.03", "normal": "normal:std=0.05,mean=0.02"}.get(name, name)
    w = get_init(spec)(torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    init = INITS.get(name)
    want = init.second_moment(FAN_IN, FAN_OUT, **init.bind(dict(parse_spec(spec).params)))
    assert w.pow(2).mean().item() == pytest.approx(want, rel=0.03, abs=1e-12)


def test_validation_draws_nothing():
    state = torch.random.get_rng_state()
    for name in INITS:
        get_init(name)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("spec,match", [
    ("normal:std=-1", "std -1"),
    ("gaussian", "one of: zeros"),
    ("normal:sd=1", "parameters allowed: std, mean"),
    ("normal:std", "bad part"),
    ("variance_scaling:mode=fan_sideways", "fan_in, fan_out, fan_avg"),
    ("variance_scaling:distribution=cauchy", "truncated_normal"),
    ("normal:generator=1", "parameters allowed: std, mean"),
    ("gaussian", "he_normal, he_uniform, lecun_normal, lecun_uniform, orthogonal, variance_scaling, critical"),
    ("critical", r"invalid init 'critical'; .* resolve it first with vanishing\.config\.resolve_init"),
])
def test_bad_init_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        get_init(spec)


def test_fan_init_on_a_bias_is_refused_clearly():
    with pytest.raises(ConfigError, match="bias_init 'he_normal'"):
        get_init("he_normal", field="bias_init")

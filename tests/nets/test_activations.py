import math

import pytest
import torch
from scipy.optimize import minimize_scalar

from vanishing.errors import ConfigError
from vanishing.activations import ACTIVATIONS, activation_from_module, get_activation

SPECS = list(ACTIVATIONS) + ["leaky_relu:negative_slope=0.2", "elu:alpha=0.5", "softplus:beta=2"]


@pytest.mark.parametrize("spec", SPECS)
def test_derivative_matches_autograd(spec):
    act = get_activation(spec)
    # avoid the kinks of relu/hardtanh, where autograd picks a one-sided value
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    x = x[(x.abs() > 1e-6) & ((x.abs() - 1).abs() > 1e-6)].requires_grad_(True)
    (grad,) = torch.autograd.grad(act(x).sum(), x)
    torch.testing.assert_close(act.derivative(x.detach()), grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS)
def test_module_computes_the_same_function(spec):
    act = get_activation(spec)
    x = torch.randn(500, dtype=torch.float64) * 3
    torch.testing.assert_close(act.module().double()(x), act(x), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("spec", SPECS)
def test_max_derivative_is_the_supremum(spec):
    act = get_activation(spec)
    res = minimize_scalar(lambda v: -float(act.derivative(torch.tensor(v, dtype=torch.float64))),
                          bounds=(-8, 8), method="bounded", options={"xatol": 1e-10})
    grid = act.derivative(torch.linspace(-40, 40, 80001, dtype=torch.float64)).max().item()
    assert act.max_derivative() == pytest.approx(max(-res.fun, grid), rel=1e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_module_round_trip(spec):
    act = get_activation(spec)
    back = activation_from_module(act.module())
    if act.name == "linear":
        assert back is None  # nn.Identity doubles as "no op"
    else:
        assert back is not None and back.spec == act.spec


def test_sigmoid_derivative_at_most_a_quarter():
    assert get_activation("sigmoid").max_derivative() == 0.25


@pytest.mark.parametrize("bad,match", [
    ("swish", "one of: sigmoid"),
    ("relu:alpha=1", "parameters allowed: none"),
    ("elu:alpha=-1", "alpha"),
    ("leaky_relu:slope=0.1", "negative_slope"),
    ("", "spec"),
])
def test_bad_specs_name_the_problem(bad, match):
    with pytest.raises(ConfigError, match=match):
        get_activation(bad)

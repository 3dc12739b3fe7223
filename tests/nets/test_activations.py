import math
import warnings

import pytest
import torch
from scipy.optimize import minimize_scalar

from vanishing.errors import ConfigError
from vanishing.activations import ACTIVATIONS, PARAMETER_LIMITS, activation_from_module, get_activation

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


# every parameter at both ends of its allowed range
EDGES = [f"{name}:{key}={value!r}" for name in ACTIVATIONS for key in ACTIVATIONS.get(name).defaults
         for value in (PARAMETER_LIMITS[key].lo if not PARAMETER_LIMITS[key].lo_open else 1e-3,
                       PARAMETER_LIMITS[key].hi)]


def test_every_parameter_has_limits():
    assert EDGES and all(set(ACTIVATIONS.get(n).defaults) <= set(ACTIVATIONS.get(n).limits) for n in ACTIVATIONS)


@pytest.mark.parametrize("spec", EDGES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_phi_and_derivative_finite_at_the_limits(spec, dtype):
    """Within PARAMETER_LIMITS, φ and φ′ stay finite for pre-activations up to 1e30, in float32 too,
    and computing them warns about nothing."""
    act = get_activation(spec)
    x = torch.tensor([-1e30, -1e6, -20.0, -1.0, 0.0, 1.0, 20.0, 1e6, 1e30], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [act(x), act.derivative(x), act.module()(x)]
    assert all(bool(torch.isfinite(v).all()) for v in values), spec
    assert math.isfinite(act.max_derivative())


@pytest.mark.parametrize("spec,field,allowed", [
    ("elu:alpha=1e300", "activation elu parameter alpha", "a finite number > 0 and <= 100"),
    ("elu:alpha=0", "activation elu parameter alpha", "> 0"),
    ("softplus:beta=1e-320", "activation softplus parameter beta", "a finite number >= 0.001 and <= 1000"),
    ("leaky_relu:negative_slope=1e308", "activation leaky_relu parameter negative_slope",
     "a finite number >= -100 and <= 100"),
    ("leaky_relu:negative_slope=" + "9" * 400, "activation leaky_relu parameter negative_slope", "<= 100"),
    ("elu:alpha=nan", "activation elu parameter alpha", "a finite number"),
    ("elu:alpha=abc", "activation elu parameter alpha", "a finite number"),
    ("elu:alpha=true", "activation elu parameter alpha", "a finite number"),
])
def test_parameters_out_of_range_are_refused_before_any_warning(spec, field, allowed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning raised first would fail the test with a RuntimeWarning
        with pytest.raises(ConfigError) as err:
            get_activation(spec)
    assert err.value.field == field and allowed in err.value.allowed
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_module_outside_the_limits_is_not_a_known_activation():
    assert activation_from_module(torch.nn.ELU(alpha=1e6)) is None
    assert activation_from_module(torch.nn.ELU(alpha=2.0)).params == {"alpha": 2.0}

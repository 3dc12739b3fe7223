import math

import numpy as np
import pytest
import torch

from meanfield_reference import expect, functions
from vanishing.activations import ACTIVATIONS, get_activation
from vanishing.theory import gaussian_expectation
from vanishing.theory._activation import mean_field_activation

SPECS = list(ACTIVATIONS) + ["leaky_relu:negative_slope=0.2", "elu:alpha=0.5", "softplus:beta=3"]


@pytest.mark.parametrize("spec", SPECS)
def test_reference_activations_are_the_registered_ones(spec):
    phi, dphi = functions(spec)
    act = get_activation(spec)
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    x = x[x != 0]  # the one-sided derivatives at a kink may differ by convention
    np.testing.assert_allclose(act(x).numpy(), [phi(v) for v in x.tolist()], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.derivative(x).numpy(), [dphi(v) for v in x.tolist()], rtol=1e-12, atol=1e-14)


def _check_against_quad(spec, qs):
    a = mean_field_activation(spec)
    phi, dphi = functions(spec)
    for q in qs:
        for f_ref, f in ((lambda x: phi(x) ** 2, lambda x: a.phi(x) ** 2),
                         (lambda x: dphi(x) ** 2, lambda x: a.dphi(x) ** 2)):
            ref = expect(f_ref, q)
            got = float(gaussian_expectation(f, 0.0, math.sqrt(q), a.kinks, a.scale))
            assert got == pytest.approx(ref, rel=1e-9, abs=1e-300), (spec, q)


@pytest.mark.parametrize("spec", SPECS)
def test_matches_adaptive_quadrature(spec):
    _check_against_quad(spec, (1e-4, 0.3, 2.0, 30.0, 200.0) if spec.startswith("softplus") else
                        (1e-4, 0.3, 2.0, 30.0, 1e4))


def test_softplus_large_variance():
    _check_against_quad("softplus", (1e4,))


@pytest.mark.parametrize("spec", ["tanh", "relu", "gelu"])
def test_shifted_mean_and_vectorised_shapes(spec):
    a = mean_field_activation(spec)
    phi, _ = functions(spec)
    means = np.array([[-3.0, 0.5], [2.0, 0.0]])
    stds = np.array([0.1, 5.0])
    got = gaussian_expectation(a.phi, means, stds, a.kinks, a.scale)
    assert got.shape == (2, 2)
    for idx in np.ndindex(2, 2):
        assert got[idx] == pytest.approx(expect(phi, stds[idx[1]] ** 2, means[idx]), rel=1e-9, abs=1e-12)


def test_exact_on_polynomials_and_zero_variance():
    assert gaussian_expectation(lambda x: x ** 4, 0.0, 2.0) == pytest.approx(3 * 16, rel=1e-13)
    assert gaussian_expectation(lambda x: x ** 2, 1.5, 0.0) == pytest.approx(2.25, rel=1e-13)
    # one-sided limit at a kink: E[relu'(0⁺ z)²] = 1/2
    a = mean_field_activation("relu")
    assert gaussian_expectation(lambda x: a.dphi(x) ** 2, 0.0, 0.0, a.kinks) == pytest.approx(0.5)

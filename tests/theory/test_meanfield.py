import math

import numpy as np
import pytest

import meanfield_reference as ref
from vanishing.errors import ConfigError
from vanishing.activations import ACTIVATIONS
from vanishing.theory import (
    c_star,
    chi1,
    chi_c,
    correlation_map,
    critical_sigma_w2,
    depth_scale,
    mean_field,
    phase,
    q_star,
    variance_map,
)

SPECS = list(ACTIVATIONS) + ["leaky_relu:negative_slope=0.2", "elu:alpha=0.5", "softplus:beta=3"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("sw", [0.7, 1.5, 1.9])
@pytest.mark.parametrize("sb", [0.05, 0.5])
def test_q_star_and_chi1_match_adaptive_quadrature(spec, sw, sb):
    want_q = ref.q_star(spec, sw, sb)
    got_q = q_star(spec, sw, sb)
    if math.isinf(want_q):
        assert got_q > 1e6
    else:
        assert got_q == pytest.approx(want_q, rel=1e-6)
    assert chi1(spec, sw, sb) == pytest.approx(ref.chi1(spec, sw, want_q), rel=1e-6)


@pytest.mark.parametrize("spec,slopes", [("linear", (1, 1)), ("relu", (1, 0)),
                                         ("leaky_relu:negative_slope=0.2", (1, 0.2))])
def test_closed_forms_agree_with_quadrature(spec, slopes):
    phi, dphi = ref.functions(spec)
    m2 = (slopes[0] ** 2 + slopes[1] ** 2) / 2
    for q in (0.01, 1.0, 50.0):
        assert variance_map(spec, 1.3, 0.2, q) == pytest.approx(1.3 * ref.expect(lambda x: phi(x) ** 2, q) + 0.2,
                                                                rel=1e-9)
        assert chi1(spec, 1.3, 0.2, q=q) == pytest.approx(1.3 * ref.expect(lambda x: dphi(x) ** 2, q), rel=1e-9)
    assert q_star(spec, 1.3, 0.2) == pytest.approx(0.2 / (1 - 1.3 * m2), rel=1e-12) if 1.3 * m2 < 1 else True


def test_vectorised_over_sigmas():
    sw = np.array([[0.5, 1.5], [2.5, 3.5]])
    got = q_star("tanh", sw, 0.1)
    assert got.shape == (2, 2)
    for idx in np.ndindex(2, 2):
        assert got[idx] == pytest.approx(q_star("tanh", float(sw[idx]), 0.1), rel=1e-12)
    assert chi1("tanh", sw, 0.1).shape == (2, 2)


def test_known_values():
    # Poole et al. (2016), Schoenholz et al. (2017): tanh, σ_b² = 0.05 → critical σ_w² ≈ 1.76
    assert critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.005)
    assert critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, rel=1e-9)
    assert critical_sigma_w2("relu") == 2.0  # He et al. (2015)
    assert critical_sigma_w2("leaky_relu:negative_slope=0.2") == pytest.approx(2 / 1.04)
    assert critical_sigma_w2("linear") == 1.0
    # SELU is built to keep unit variance at σ_w² = 1, σ_b² = 0 (Klambauer et al. 2017)
    assert q_star("selu", 1.0, 0.0) == pytest.approx(1.0, rel=1e-9)
    assert chi1("relu", 2.0, 0.0) == 1.0


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("sb", [0.0, 0.05, 0.3, 1.0])
def test_critical_sigma_gives_chi1_one(spec, sb):
    try:
        sw = critical_sigma_w2(spec, sb)
    except ConfigError as e:
        assert "sigma_b2" in str(e) and "critical point" in str(e)
        return
    assert chi1(spec, sw, sb) == pytest.approx(1.0, rel=1e-9)
    q = ref.q_star(spec, sw, sb)
    if 0 < q < math.inf:  # an independent check where the reference can resolve it
        assert ref.chi1(spec, sw, q) == pytest.approx(1.0, rel=1e-6)
    assert phase(chi1(spec, sw, sb)) == "critical"


def test_no_critical_point_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"invalid sigma_b2 0\.1; 0 for relu"):
        critical_sigma_w2("relu", 0.1)
    with pytest.raises(ConfigError, match="softplus has a critical point"):
        critical_sigma_w2("softplus", 0.1)


def test_critical_is_cached():
    critical_sigma_w2("tanh", 0.123)
    from vanishing.theory.meanfield import _critical

    hits = _critical.cache_info().hits
    critical_sigma_w2("tanh", 0.123)
    assert _critical.cache_info().hits == hits + 1


def test_depth_scale_and_phase():
    assert depth_scale(1.0) == math.inf
    assert depth_scale(math.exp(-0.5)) == pytest.approx(2.0)
    assert depth_scale(math.exp(0.25)) == pytest.approx(-4.0)
    assert phase(0.5) == "ordered" and phase(2.0) == "chaotic" and phase(1.0005) == "critical"
    assert phase(0.0) == "ordered"


def test_fixed_point_edges():
    assert q_star("tanh", 0.8, 0.0) == 0.0  # the signal dies out
    assert q_star("relu", 3.0, 0.1) == math.inf  # grows without bound
    assert q_star("relu", 2.0, 0.0, q0=0.7) == 0.7  # every q is fixed
    assert chi1("elu", 3.0, 0.1) == pytest.approx(1.5)  # at q* = ∞ only φ'(±∞) count


def test_correlation_map_and_c_star():
    # ordered: c* = 1, χ_c = χ₁
    mf = mean_field("tanh", 1.5, 0.05)
    assert mf.phase == "ordered" and mf.c_star == 1.0 and mf.chi_c == mf.chi1 and mf.xi_c == mf.depth_scale
    # chaotic: c* < 1 is a stable fixed point of the map
    mf = mean_field("tanh", 2.5, 0.05)
    assert mf.phase == "chaotic" and 0 < mf.c_star < 1
    assert correlation_map("tanh", 2.5, 0.05, mf.c_star) == pytest.approx(mf.c_star, abs=1e-10)
    assert mf.chi_c < 1 and mf.xi_c > 0
    assert c_star("tanh", 2.5, 0.05) == mf.c_star and chi_c("tanh", 2.5, 0.05) == mf.chi_c
    # odd φ without bias: uncorrelated inputs stay uncorrelated
    assert c_star("tanh", 2.5, 0.0) == 0.0
    assert correlation_map("hardtanh", 2.0, 0.3, 1.0) == pytest.approx(1.0, rel=1e-12)


def test_correlation_map_against_adaptive_quadrature():
    # E[φ(u₁)φ(u₂)] = E_{u₁}[φ(u₁) E[φ(c u₁ + √(q(1-c²)) z₂)]] by nested quad
    sw, sb, c = 2.5, 0.05, 0.4
    q = ref.q_star("tanh", sw, sb)
    phi, dphi = ref.functions("tanh")
    r = math.sqrt(q * (1 - c * c))

    def nested(f):
        return ref.expect(lambda x1: f(x1) * ref.expect(f, r * r, mean=c * x1), q)

    assert correlation_map("tanh", sw, sb, c) == pytest.approx((sw * nested(phi) + sb) / q, rel=1e-7)
    # relu: the arc-cosine kernel (Cho & Saul 2009) against the same nested quadrature
    sw, sb = 1.5, 0.2
    q = sb / (1 - sw / 2)
    phi, _ = ref.functions("relu")
    r = math.sqrt(q * (1 - c * c))
    assert correlation_map("relu", sw, sb, c) == pytest.approx((sw * nested(phi) + sb) / q, rel=1e-7)


@pytest.mark.parametrize("call", [
    lambda: q_star("tanh", -1.0, 0.0),
    lambda: q_star("tanh", 1.0, float("nan")),
    lambda: chi1("tanh", "big", 0.0),
    lambda: critical_sigma_w2("tanh", -0.1),
    lambda: correlation_map("tanh", 2.0, 0.1, 1.5),
])
def test_bad_numbers_name_the_field(call):
    with pytest.raises(ConfigError, match=r"invalid (sigma_w2|sigma_b2|c) .*; (a number from 0 to 1e6|a correlation)"):
        call()


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="invalid activation 'swish'; one of: sigmoid, tanh"):
        q_star("swish", 1.0, 0.0)

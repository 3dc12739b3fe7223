"""fit_decay against references: an exact exponential, scipy's Theil–Sen, hand-counted reach."""

import math

import numpy as np
import pytest
from scipy import stats

from vanishing.errors import ConfigError
from vanishing.results.timeaxis import MAX_PAIRS, fit_decay, fit_decays


def _decay(T: int, xi: float, last: float = 1.0) -> np.ndarray:
    d = np.arange(T)[::-1]  # distance from the last step
    return last * np.exp(-d / xi)


@pytest.mark.parametrize("xi", [0.5, 3.0, 40.0])
def test_exact_exponential(xi):
    d = fit_decay(_decay(60, xi, last=2.5))
    assert d.xi == pytest.approx(xi, rel=1e-9)
    assert d.slope == pytest.approx(-math.log10(math.e) / xi, rel=1e-9)
    assert d.r2 == pytest.approx(1.0) and d.spread == pytest.approx(0.0, abs=1e-9)
    assert d.orders_through_time == pytest.approx(59 / xi * math.log10(math.e), rel=1e-9)
    assert d.n == d.length == 60


def test_slope_matches_scipy_theilslopes():
    rng = np.random.default_rng(0)
    g = _decay(80, 7.0) * np.exp(rng.normal(0, 0.5, 80))
    d = fit_decay(g)
    dist = np.arange(80)[::-1].astype(float)
    ref = stats.theilslopes(np.log10(g), dist, method="joint")  # intercept: median(y − slope·x)
    assert d.slope == pytest.approx(ref.slope, rel=1e-12)
    resid = np.log10(g) - (ref.intercept + ref.slope * dist)
    assert d.spread == pytest.approx(np.median(np.abs(resid)), rel=1e-9)


def test_a_few_spikes_do_not_move_the_fit():
    g = _decay(100, 5.0)
    g[[10, 40, 70]] *= 1e4  # a loss or an input adding gradient at three steps
    assert fit_decay(g).xi == pytest.approx(5.0, rel=0.05)


def test_reach_counted_by_hand():
    g = np.array([1e-9, 1e-3, 1e-8, 1e-5, 1e-2, 1.0])  # distances 5 4 3 2 1 0
    # back from the last: 1 (d0), 1e-2, 1e-5, then 1e-8 < 1e-6 ends it at d = 2
    assert fit_decay(g, threshold=1e-6).reach == 2
    assert fit_decay(g, threshold=1e-9).reach == 5
    assert fit_decay(g, threshold=1.0).reach == 0
    assert fit_decay(np.array([np.nan, 1.0, 1.0])).reach == 1  # an unreadable step ends it
    assert fit_decay(np.array([1.0, 0.0])).reach == 0  # nothing to compare with


def test_no_decay_and_degenerate_rows():
    assert fit_decay(np.ones(10)).xi == math.inf
    assert math.isnan(fit_decay(np.ones(10)).r2)  # constant: r² undefined
    growing = fit_decay(_decay(20, 4.0)[::-1].copy())
    assert growing.xi == math.inf and growing.slope > 0 and growing.orders_through_time < 0
    d = fit_decay(np.array([0.0, np.nan, np.inf, 1.0]))
    assert d.n == 1 and math.isnan(d.xi) and math.isnan(d.slope)
    assert math.isnan(fit_decay(np.array([])).xi)
    assert fit_decay(np.array([0.0, 1.0])).orders_through_time == math.inf  # nothing reaches the first step


def test_long_rows_subsample_points_evenly():
    T = 2000  # more than MAX_PAIRS pairs
    assert T * (T - 1) // 2 > MAX_PAIRS
    d = fit_decay(_decay(T, 300.0))
    assert d.xi == pytest.approx(300.0, rel=1e-9)


def test_rows_of_a_trace_array_and_bad_threshold():
    a = np.stack([_decay(30, 2.0), _decay(30, 8.0)])
    assert [round(d.xi, 9) for d in fit_decays(a)] == [2.0, 8.0]
    for bad in (0, -1, 2, float("nan"), "x"):
        with pytest.raises(ConfigError, match="threshold"):
            fit_decay(a[0], threshold=bad)

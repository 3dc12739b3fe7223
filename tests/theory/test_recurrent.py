"""Mean-field theory through time against a wide random vanilla RNN at init (unrolled nn.RNNCell, float64)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from vanishing.errors import ConfigError, VanishingError
from vanishing.theory import chi1, depth_scale, q_star
from vanishing.theory.recurrent import predict_recurrent, predict_rnn_config, time_scale

HIDDEN, N_IN, BATCH, T = 512, 128, 32, 60


def _unrolled(activation, sigma_w2, sigma_u2, input_q, seed=0):
    """(per-step ‖∂L/∂h_t‖ over the batch (T,), per-step mean z_t² (T,), the inputs' mean square) of a
    random RNN, L = v·h_{T-1}."""
    g = torch.Generator().manual_seed(seed)
    cell = nn.RNNCell(N_IN, HIDDEN, nonlinearity=activation).double()
    with torch.no_grad():
        cell.weight_hh.normal_(0, math.sqrt(sigma_w2 / HIDDEN), generator=g)
        cell.weight_ih.normal_(0, math.sqrt(sigma_u2 / N_IN), generator=g)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    x = torch.randn(T, BATCH, N_IN, generator=g, dtype=torch.float64) * math.sqrt(input_q)
    h = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    hs, q = [], []
    for t in range(T):
        z = x[t] @ cell.weight_ih.T + h @ cell.weight_hh.T  # what the cell applies φ to
        q.append(float(z.detach().pow(2).mean()))
        h = cell(x[t], h)
        hs.append(h)
    v = torch.randn(HIDDEN, generator=g, dtype=torch.float64)
    loss = (hs[-1] @ v).sum()
    grads = torch.autograd.grad(loss, hs)
    return np.array([float(gr.norm()) for gr in grads]), np.array(q), float(x.pow(2).mean())


# q_rtol: the measured q_t is one network's average over 512 units × 32 sequences; ReLU's h_t ≥ 0 has a
# mean, which a finite W turns into a shared shift of every unit (up to 10 % at this width, over 3 seeds)
@pytest.mark.slow
@pytest.mark.parametrize("activation, sigma_w2, input_q, q_rtol", [("tanh", 1.1, 0.05, 0.08), ("tanh", 0.8, 0.5, 0.08),
                                                                   ("relu", 1.0, 0.5, 0.15)])
def test_predicted_time_scale_matches_a_wide_random_rnn(activation, sigma_w2, input_q, q_rtol):
    norms, q, measured_q = _unrolled(activation, sigma_w2, 1.0, input_q)
    p = predict_recurrent(activation, sigma_w2, 0.0, 1.0, measured_q, length=T)
    # after the transient (q_t settled at q*): ln‖∂L/∂h_t‖ against the distance from the last step
    distance = (T - 1) - np.arange(T)
    keep = (np.arange(T) >= 10) & (norms > 0)
    slope = stats.theilslopes(np.log(norms[keep]), distance[keep])[0]
    xi_measured = -1.0 / slope
    assert xi_measured == pytest.approx(p.xi, rel=0.10)
    # the forward variance map, step by step from h_0 = 0
    assert q == pytest.approx(p.q, rel=q_rtol)
    # and the whole predicted profile, in orders of magnitude over the fitted span
    measured = np.log10(norms / norms[-1])
    assert np.abs(measured[10:] - p.log10_grad_norm[10:]).max() < 0.1 * abs(p.log10_grad_norm[10]) + 0.15


def test_the_input_acts_as_bias_variance():
    p = predict_recurrent("tanh", 1.2, sigma_b2=0.01, sigma_u2=2.0, input_q=0.1, length=5)
    eff = 0.01 + 2.0 * 0.1
    assert p.sigma_b2_effective == pytest.approx(eff)
    assert p.q_star == pytest.approx(q_star("tanh", 1.2, eff, q0=eff), rel=1e-9)
    assert p.chi1 == pytest.approx(chi1("tanh", 1.2, eff), rel=1e-6)
    assert p.xi == pytest.approx(2 * depth_scale(p.chi1))
    assert p.q[0] == pytest.approx(eff)
    assert p.log10_grad_norm[-1] == 0.0 and p.log10_grad_norm.shape == (5,)


def test_relu_closed_form_and_reach():
    # relu: χ₁ = σ_w²/2 whatever q is (a hand computation)
    p = predict_recurrent("relu", 1.0, 0.0, 1.0, 1.0)
    assert p.chi1 == pytest.approx(0.5) and p.xi == pytest.approx(-2 / math.log(0.5))
    assert p.reach(1e-6) == pytest.approx(p.xi * math.log(1e6))
    assert p.orders_through_time(11) == pytest.approx(10 * math.log10(2) / 2)
    assert time_scale(1.0) == math.inf
    assert predict_recurrent("relu", 2.0, 0.0, 0.0, 0.0).reach() == math.inf


def test_config_reading_and_refusals():
    cfg = {"model": "rnn", "hidden": 128, "rnn_activation": "tanh", "recurrent_init": "normal:std=0.0884",
           "input_init": "xavier_normal"}
    p = predict_rnn_config(cfg, input_q=0.25, in_features=2)
    assert p.sigma_w2 == pytest.approx(128 * 0.0884 ** 2)
    assert p.sigma_u2 == pytest.approx(2 * 2 / (2 + 128))
    # PyTorch's own cell init, U(-1/sqrt(H), 1/sqrt(H)) on every parameter: variance 1/(3H) per entry
    p = predict_rnn_config({"model": "rnn", "hidden": 64}, input_q=0.25, in_features=2)
    assert (p.sigma_w2, p.sigma_u2, p.sigma_b2) == pytest.approx((64 / (3 * 64), 2 / (3 * 64), 2 / (3 * 64)))
    assert predict_rnn_config({"model": "irnn", "hidden": 64, "recurrent_init": "orthogonal"}, 0.25, 2).sigma_b2 == 0
    with pytest.raises(VanishingError, match="gates"):
        predict_rnn_config({**cfg, "model": "lstm"}, 0.25, 2)
    with pytest.raises(VanishingError, match="identity"):
        predict_rnn_config({**cfg, "recurrent_init": "identity"}, 0.25, 2)
    with pytest.raises(VanishingError, match="identity"):
        predict_rnn_config({"model": "irnn", "hidden": 8}, 0.25, 2)
    with pytest.raises(ConfigError, match="sigma_w2"):
        predict_recurrent("tanh", -1.0)
    with pytest.raises(ConfigError, match="length"):
        predict_recurrent("tanh", 1.0, length=0)


def test_theory_cli_through_time():
    import json

    from typer.testing import CliRunner

    from vanishing.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["theory", "--rnn", "--sigma-w2", "1", "--input-var", "0.05", "--length", "100", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    p = predict_recurrent("tanh", 1.0, 0.0, 1.0, 0.05)
    assert d["xi"] == pytest.approx(p.xi) and d["orders_through_time"] == pytest.approx(99 * -math.log10(p.chi1) / 2)
    res = runner.invoke(app, ["theory", "--rnn", "--sigma-w2", "1", "--length", "50"])
    assert res.exit_code == 0 and "time steps per e-fold" in res.output and "orders lost (50 steps)" in res.output
    res = runner.invoke(app, ["theory", "--sigma-w2", "1", "--length", "50"])
    assert res.exit_code == 2 and "only with --rnn" in res.output

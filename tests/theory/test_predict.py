import math

import numpy as np
import pytest
import torch

from vanishing.errors import ConfigError
from vanishing.nets.mlp import build_mlp
from vanishing.theory import chi1, critical_sigma_w2, predict, predict_gains, q_star, variance_map


def test_layer_by_layer_from_the_input_q():
    p = predict_gains("tanh", "normal:std=0.1", "normal:std=0.2", depth=6, width=100, in_features=50, q0=2.0)
    sw, sb = 100 * 0.01, 0.04
    assert p.sigma_w2 == pytest.approx(sw) and p.sigma_b2 == pytest.approx(sb)
    assert p.sigma_w2_first == pytest.approx(50 * 0.01)
    assert p.q[0] == pytest.approx(0.5 * 2.0 + sb)
    for l in range(5):
        assert p.q[l + 1] == pytest.approx(variance_map("tanh", sw, sb, p.q[l]), rel=1e-12)
        assert p.chi[l] == pytest.approx(chi1("tanh", sw, sb, q=p.q[l]), rel=1e-12)
    assert p.q.shape == (6,) and p.chi.shape == (5,) and p.log10_grad_norm.shape == (6,)
    assert p.log10_grad_norm[-1] == 0.0
    assert p.orders_lost == pytest.approx(-0.5 * np.log10(p.chi).sum())
    assert np.allclose(p.gain, np.sqrt(p.chi))
    assert p.q_star == pytest.approx(q_star("tanh", sw, sb)) and p.phase == "ordered"
    assert p.critical_sigma_w2 == pytest.approx(critical_sigma_w2("tanh", sb))


def test_he_relu_loses_nothing_and_sigmoid_loses_a_lot():
    p = predict_gains("relu", "he_normal", "zeros", depth=30, width=64, in_features=64)
    assert p.orders_lost == pytest.approx(0.0, abs=1e-12) and p.phase == "critical"
    p = predict_gains("sigmoid", "xavier_normal", "zeros", depth=20, width=64, in_features=64)
    assert p.phase == "ordered" and p.orders_lost > 10
    assert p.to_dict()["chi"] == p.chi.tolist()


def test_readout_uses_its_own_fans():
    p = predict_gains("tanh", "xavier_normal", "zeros", depth=4, width=100, in_features=100, out_features=10)
    assert p.sigma_w2_readout == pytest.approx(100 * 2 / 110)
    assert p.chi[-1] == pytest.approx(chi1("tanh", 100 * 2 / 110, 0.0, q=p.q[-2]))


def test_predict_reads_mappings_and_objects():
    cfg = dict(activation="tanh", init="he_normal", bias_init="zeros", depth=5, width=32, in_features=16)
    a = predict(cfg)
    b = predict(type("Cfg", (), cfg)())
    assert np.array_equal(a.chi, b.chi)
    assert predict({**cfg, "in_features": None}, in_features=16).orders_lost == a.orders_lost
    with pytest.raises(ConfigError, match="invalid config 'missing in_features'"):
        predict({k: v for k, v in cfg.items() if k != "in_features"})


@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=0), "invalid depth 0; an integer >= 1"),
    (dict(q0=-1.0), "invalid q0 -1.0"),
    (dict(activation="swish"), "invalid activation 'swish'"),
    (dict(bias_init="he_normal"), "invalid bias_init"),
])
def test_bad_config(kwargs, match):
    args = dict(activation="tanh", init="he_normal", bias_init="zeros", depth=5, width=32, in_features=16)
    with pytest.raises(ConfigError, match=match):
        predict_gains(**{**args, **kwargs})


def test_depth_one_has_no_gains():
    p = predict_gains("tanh", "he_normal", "zeros", depth=1, width=8, in_features=8)
    assert p.chi.shape == (0,) and p.orders_lost == 0.0


def _measured_squared_gains(net, x: torch.Tensor, seed: int) -> np.ndarray:
    """‖∂L/∂z_l‖² / ‖∂L/∂z_{l+1}‖² by autograd, for a random linear read of the output."""
    zs, h = [], x
    for module in net:  # Linear, activation, ..., Linear
        h = module(h)
        if isinstance(module, torch.nn.Linear):
            zs.append(h)
    r = torch.randn(zs[-1].shape, generator=torch.Generator().manual_seed(seed + 1000), dtype=x.dtype)
    grads = torch.autograd.grad((zs[-1] * r).sum(), zs)
    sq = np.array([g.pow(2).sum().item() for g in grads])
    return sq[:-1] / sq[1:]


@pytest.mark.parametrize("activation,sw,sb", [("tanh", 1.5, 0.05), ("relu", 2.0, 0.0), ("linear", 0.5, 0.0)])
def test_finite_width_net_matches_the_prediction(activation, sw, sb):
    width, depth, batch = 512, 10, 256
    qs = q_star(activation, sw, sb)
    qx = (qs - sb) / sw if 0 < qs < math.inf else 1.0  # inputs with q₀ ≈ q*
    init, bias = f"normal:std={math.sqrt(sw / width)}", f"normal:std={math.sqrt(sb)}" if sb else "zeros"
    pred = predict_gains(activation, init, bias, depth, width, in_features=width, q0=qx)
    ratios = []
    for seed in range(3):
        torch.manual_seed(seed)  # the inputs below
        net = build_mlp(width, width, depth=depth, width=width, activation=activation, init=init, bias_init=bias,
                        seed=seed)
        x = torch.randn(batch, width) * math.sqrt(qx)
        ratios.append(_measured_squared_gains(net, x, seed) / pred.chi)
    ratios = np.array(ratios)  # (seeds, L-1)
    assert ratios.mean() == pytest.approx(1.0, abs=0.03)
    assert np.abs(ratios.mean(axis=0) - 1).max() < 0.1  # and no layer far off


def test_predict_accepts_a_run_config():
    from vanishing.config import RunConfig

    cfg = RunConfig()
    p = predict(cfg, in_features=64, out_features=10)
    assert p.activation == cfg.activation and p.depth == cfg.depth

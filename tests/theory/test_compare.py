import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vanishing.errors import VanishingError
from vanishing.nets.mlp import build_mlp
from vanishing.theory import compare_with_measurement, predict

CONFIG = dict(activation="tanh", init="normal:std=0.0625", bias_init="normal:std=0.2236", depth=6,
              width=256, in_features=256)  # σ_w² = 256/256 = 1, σ_b² ≈ 0.05


def _fake_trace(config=CONFIG, factor=1.0, steps=(0, 10), **meta):
    """A trace whose step-0 gradients follow the prediction exactly, times ``factor`` per layer."""
    pred = predict(config, q0=meta.get("input_q", 1.0))
    sq = np.append(np.cumprod((pred.chi * factor)[::-1])[::-1], 1.0)  # ‖g_l‖² relative to the read-out
    g = np.stack([np.sqrt(sq), np.full(len(sq), np.nan)])[: len(steps)]
    return SimpleNamespace(steps=np.array(steps), data={"signal_grad_norm": g}, meta={"config": config, **meta})


def test_exact_trace_gives_ratio_one():
    c = compare_with_measurement(_fake_trace())
    assert c.step == 0 and c.measured.shape == (CONFIG["depth"] - 2,)
    np.testing.assert_allclose(c.measured, c.predicted, rtol=1e-12)
    assert c.ratio == pytest.approx(1.0) and c.orders_error == pytest.approx(0.0, abs=1e-12)


def test_ratio_is_the_geometric_mean_and_input_q_is_read():
    c = compare_with_measurement(_fake_trace(factor=0.5, input_q=3.0))
    assert c.ratio == pytest.approx(0.5)
    assert c.prediction.q[0] == pytest.approx(1.0 * 3.0 + 0.05, rel=1e-6)
    assert c.orders_error == pytest.approx(0.5 * 4 * math.log10(0.5))


def test_steps_without_the_quantity_are_skipped():
    t = _fake_trace(steps=(0, 10))
    t.data["signal_grad_norm"] = t.data["signal_grad_norm"][::-1].copy()  # step 0 not recorded
    assert compare_with_measurement(t).step == 10


@pytest.mark.parametrize("change,match", [
    (lambda t: t.data.clear(), "trace has no 'signal_grad_norm'"),
    (lambda t: t.meta.clear(), "trace.meta has no 'config'"),
    (lambda t: t.meta.update(config={k: v for k, v in CONFIG.items() if k != "in_features"}),
     "missing in_features"),
    (lambda t: t.meta.update(config={**CONFIG, "depth": 7}), "config depth 7 but the trace has 6 layers"),
])
def test_unusable_traces_say_why(change, match):
    t = _fake_trace()
    change(t)
    with pytest.raises(VanishingError, match=match):
        compare_with_measurement(t)


def test_real_trace_from_the_probe():
    watch = pytest.importorskip("vanishing.probe").watch
    torch.manual_seed(0)
    cfg = dict(CONFIG, depth=8)
    net = build_mlp(cfg["in_features"], 10, depth=cfg["depth"], width=cfg["width"], activation=cfg["activation"],
                    init=cfg["init"], bias_init=cfg["bias_init"])
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(512, cfg["in_features"]), torch.randint(0, 10, (512,))
    with watch(net, opt, every=1, quantities=["signal_grad_norm"]) as probe:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    trace = probe.trace
    trace.meta["config"] = cfg
    c = compare_with_measurement(trace, q0=1.0)
    assert c.step == 0 and len(c.measured) == cfg["depth"] - 2
    assert c.ratio == pytest.approx(1.0, abs=0.05)

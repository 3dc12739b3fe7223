"""Correct under real training: GradScaler, gradient accumulation, flushing."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.nets import build_mlp, weight_layers
from vanishing.probe import QUANTITIES, watch

SIGNALS = ("signal_grad_norm", "input_grad_norm", "grad_norm", "bias_grad_norm", "update_ratio")


def _net():
    torch.manual_seed(0)
    return build_mlp(6, 3, depth=4, width=10, activation="tanh")


def _batches(n):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(n)]


def _plain_run(net, batches):
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, every=1) as probe:
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return probe.trace


def test_grad_scaler_readings_are_unscaled():
    net = _net()
    ref = _plain_run(copy.deepcopy(net), _batches(3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
    with watch(net, opt, every=1, scaler=scaler) as probe:
        for x, y in _batches(3):
            opt.zero_grad()
            scaler.scale(F.cross_entropy(net(x), y)).backward()
            scaler.step(opt)
            scaler.update()
    t = probe.trace
    assert t.steps.tolist() == [0, 1, 2]
    for q in SIGNALS:
        np.testing.assert_allclose(t[q], ref[q], rtol=1e-5, err_msg=q)


def test_any_scaler_with_get_scale_works():
    class FakeScaler:
        def get_scale(self):
            return 64.0

    net = _net()
    ref = _plain_run(copy.deepcopy(net), _batches(2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, every=1, scaler=FakeScaler()) as probe:
        for x, y in _batches(2):
            opt.zero_grad()
            (F.cross_entropy(net(x), y) * 64.0).backward()
            for p in net.parameters():
                p.grad /= 64.0
            opt.step()
    for q in SIGNALS:
        np.testing.assert_allclose(probe.trace[q], ref[q], rtol=1e-5, err_msg=q)


def test_gradient_accumulation_is_one_step_per_optimizer_step(fp32_rtol):
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    micro = _batches(6)
    expected_signal, expected_grad, expected_sat = [], [], []
    with watch(net, opt, every=1) as probe:
        for step in range(2):
            opt.zero_grad()
            sq = np.zeros(4)
            derivs = []
            for x, y in micro[3 * step:3 * step + 3]:
                # reference: functional forward (no hooks) for ∂L/∂z of each micro-batch
                zs, h = [], x
                *hidden, out = weight_layers(net)
                for lin in hidden:
                    zs.append(F.linear(h, lin.weight, lin.bias))
                    h = torch.tanh(zs[-1])
                    derivs.append(1 - h.detach() ** 2)
                zs.append(F.linear(h, out.weight, out.bias))
                grads = torch.autograd.grad(F.cross_entropy(zs[-1], y) / 3, zs)
                sq += np.array([float(g.double().norm()) ** 2 for g in grads])
                (F.cross_entropy(net(x), y) / 3).backward()
            expected_signal.append(np.sqrt(sq))
            expected_grad.append([float(m.weight.grad.double().norm()) for m in weight_layers(net)])
            # saturation over all entries of all micro-batches (tanh: φ' < 0.1)
            expected_sat.append([float(torch.cat(derivs[i::3]).lt(0.1).double().mean()) for i in range(3)])
            opt.step()
    t = probe.trace
    assert probe.step_index == 2 and t.steps.tolist() == [0, 1]
    n = max(max(p.numel() for p in net.parameters()), 3 * 8 * 10)  # a weight, or a step's ∂L/∂z entries
    np.testing.assert_allclose(t["signal_grad_norm"], expected_signal, rtol=fp32_rtol(n))
    np.testing.assert_allclose(t["grad_norm"], expected_grad, rtol=fp32_rtol(n))
    np.testing.assert_allclose(t["saturation"][:, :3], expected_sat, rtol=1e-12)


def test_buffers_flush_by_themselves_and_trace_stays_complete():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    probe = watch(net, opt, every=1, quantities=["grad_norm"])
    probe.flush_every = 4
    for x, y in _batches(10):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        assert len(probe.recorder.pending) < 4
    probe.detach()
    assert probe.trace.steps.tolist() == list(range(10))
    assert np.isfinite(probe.trace["grad_norm"]).all()


def test_manual_stepping_without_optimizer():
    net = _net()
    with watch(net, every=2) as probe:
        for x, y in _batches(5):
            net.zero_grad()
            F.cross_entropy(net(x), y).backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= 0.1 * p.grad
            probe.step()
    t = probe.trace
    assert probe.step_index == 5 and t.steps.tolist() == [0, 2, 4]
    assert np.isnan(t["update_ratio"]).all()  # needs an optimizer
    assert np.isfinite(t["grad_norm"]).all()


def test_dead_units_pool_over_micro_batches():
    torch.manual_seed(0)
    net = build_mlp(6, 3, depth=2, width=16, activation="relu")
    with torch.no_grad():
        net[0].bias -= 1.0  # many units inactive on small batches
    micro = [(x[:3], y[:3]) for x, y in _batches(2)]
    with watch(net, every=1, quantities=["dead_fraction"]) as probe:
        for x, y in micro:
            F.cross_entropy(net(x), y).backward()
        probe.step()
    lin = net[0]
    z = torch.cat([F.linear(x, lin.weight, lin.bias) for x, _ in micro])  # (16, 16)
    expected = float((z <= 0).all(0).double().mean())
    each = [float((F.linear(x, lin.weight, lin.bias) <= 0).all(0).double().mean()) for x, _ in micro]
    assert probe.trace["dead_fraction"][0, 0] == pytest.approx(expected)
    assert expected < min(each)  # pooling differs from any single micro-batch


def test_asking_for_an_attribution_term_records_both_signal_norms():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, quantities={"attribution_weights": 2}) as probe:
        for x, y in _batches(4):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    t = probe.trace
    assert set(t.data) == {"attribution_weights", "signal_grad_norm", "input_grad_norm"}
    assert t.recorded("attribution_weights")[0].tolist() == [0, 2]


def test_hot_path_never_reads_values_back_on_an_accelerator():
    """On the meta device any host read (.item(), float(), bool()) raises: so this proves the
    accelerator code path keeps every reading on the device until the flush."""

    class MetaScaler:  # a GradScaler-like object whose scale lives on the device
        _scale = torch.full((), 1024.0, device="meta")

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Linear(8, 3)).to("meta")
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    probe = watch(net, opt, every=1, scaler=MetaScaler())
    for _ in range(3):
        opt.zero_grad()
        loss = F.relu(net(torch.empty(4, 6, device="meta"))).sum()  # a functional activation too
        loss.backward()
        probe.log(loss=loss.detach())
        opt.step()
    assert probe.step_index == 3 and len(probe.recorder.pending) == 3
    row = probe.recorder.pending[2]
    assert set(row) == {q for q in QUANTITIES.names() if not q.startswith("attribution")}
    assert all(t.device.type == "meta" and t.shape == (3,) for t in row.values())
    probe.detach()

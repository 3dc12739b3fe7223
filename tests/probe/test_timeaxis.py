"""Time-axis norms against references: torch.autograd.grad in float64 on an unrolled net, and the
fused nn.LSTM's own gradients where the two coincide."""

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.nets.rnn import build_rnn
from vanishing.probe import watch

B, T, F_IN, H = 4, 9, 3, 5


def _x(dtype=torch.float64):
    return torch.randn(B, T, F_IN, dtype=dtype, generator=torch.Generator().manual_seed(1))


def _one_step(model, x, loss_fn, **kw):
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    probe = watch(model, opt, every=1, **kw)
    opt.zero_grad()
    loss_fn(model(x)).backward()
    opt.step()
    trace = probe.trace
    probe.detach()
    return trace


def _reference(net, x, loss_fn):
    """Unroll the same cells by hand and ask autograd for ∂L/∂h_t, ∂L/∂c_t (every layer) and ∂L/∂x."""
    x = x.clone().requires_grad_()
    L = len(net.cells)
    h = [x.new_zeros(B, H)] * L
    c = [x.new_zeros(B, H)] * L
    hs, cs, tops = [[] for _ in range(L)], [[] for _ in range(L)], []
    for t in range(T):
        inp = x[:, t]
        for k, cell in enumerate(net.cells):
            if net.kind == "lstm":
                h[k], c[k] = cell(inp, (h[k], c[k]))
                cs[k].append(c[k])
            else:
                h[k] = cell(inp, h[k])
            hs[k].append(h[k])
            inp = h[k]
        tops.append(inp)
    out = net.readout(torch.stack(tops, 1)) if net.per_step else net.readout(h[-1])
    flat = [t for layer in hs for t in layer] + [t for layer in cs for t in layer] + [x]
    grads = torch.autograd.grad(loss_fn(out), flat)
    norms = [g.norm().item() for g in grads[:-1]]
    gh = np.array(norms[:L * T]).reshape(L, T)
    gc = np.array(norms[L * T:]).reshape(L, T) if cs[0] else None
    return gh, gc, grads[-1], [[t.detach() for t in layer] for layer in hs]


def _mse(out):
    return out.pow(2).mean()


@pytest.mark.parametrize("kind", ["rnn", "irnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_hidden_and_cell_norms_match_autograd(kind, layers):
    net = build_rnn(kind, F_IN, 2, hidden=H, layers=layers, seed=0).double()
    if kind == "irnn":  # identity recurrent weights at init: move off them so every step differs
        with torch.no_grad():
            for cell in net.cells:
                cell.weight_hh.add_(0.3 * torch.randn(H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(2)))
    x = _x()
    trace = _one_step(net, x, _mse, time_axis=1)
    gh, gc, gx, _ = _reference(net, x, _mse)
    np.testing.assert_allclose(trace.time["hidden_grad_norm"][0], gh[-1], rtol=1e-12)
    if layers > 1:
        for k in range(layers):
            np.testing.assert_allclose(trace.time[f"hidden_grad_norm/l{k}"][0], gh[k], rtol=1e-12)
    else:
        assert "hidden_grad_norm/l0" not in trace.time
    if kind == "lstm":
        np.testing.assert_allclose(trace.time["cell_grad_norm"][0], gc[-1], rtol=1e-12)
    else:
        assert "cell_grad_norm" not in trace.time
    np.testing.assert_allclose(trace.time["input_grad_norm_t"][0], gx.norm(dim=(0, 2)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "irnn"])
def test_rnn_attribution_is_exact(kind):
    """activation + recurrent = log10 ‖∂L/∂h_{t-1}‖/‖∂L/∂h_t‖ on a one-layer net with a loss at the last step,
    and each part matches φ' and W_hh computed here from the hidden states."""
    net = build_rnn(kind, F_IN, 1, hidden=H, seed=0).double()
    if kind == "irnn":
        with torch.no_grad():
            net.cells[0].weight_hh.add_(0.3 * torch.randn(H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    x = _x()
    trace = _one_step(net, x, _mse)
    act, rec = trace.time["time_attr_activation"][0], trace.time["time_attr_recurrent"][0]
    h = trace.time["hidden_grad_norm"][0]
    assert np.isnan(act[0]) and np.isnan(rec[0])
    np.testing.assert_allclose(act[1:] + rec[1:], np.log10(h[:-1] / h[1:]), rtol=1e-10, atol=1e-12)
    # each part by hand, from autograd's ∂L/∂h_t and the recorded states
    xg = x.clone().requires_grad_()
    hs, state = [], xg.new_zeros(B, H)
    for t in range(T):
        state = net.cells[0](xg[:, t], state)
        hs.append(state)
    grads = torch.autograd.grad(_mse(net.readout(state)), hs)
    for t in range(1, T):
        hv = hs[t].detach()
        dphi = 1 - hv ** 2 if kind == "rnn" else (hv > 0).double()
        delta = dphi * grads[t]
        assert act[t] == pytest.approx(np.log10(delta.norm().item() / grads[t].norm().item()), rel=1e-10, abs=1e-12)
        back = delta @ net.cells[0].weight_hh
        assert rec[t] == pytest.approx(np.log10(back.norm().item() / delta.norm().item()), rel=1e-10, abs=1e-12)


def _lstm_pair(layers=1):
    net = build_rnn("lstm", F_IN, 1, hidden=H, layers=layers, seed=0).double()
    fused = nn.LSTM(F_IN, H, num_layers=layers, batch_first=True).double()
    with torch.no_grad():
        for k, cell in enumerate(net.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(fused, f"{name}_l{k}").copy_(getattr(cell, name))
    return net, fused


class _Fused(nn.Module):
    """A user's sequence model: a fused LSTM and a readout of its last output."""

    def __init__(self, lstm, readout):
        super().__init__()
        self.lstm, self.readout = lstm, readout

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.readout(out[:, -1])


@pytest.mark.parametrize("layers", [1, 2])
def test_against_the_fused_lstm_where_they_coincide(layers):
    net, fused = _lstm_pair(layers)
    x = _x()
    trace = _one_step(net, x, _mse, time_axis=1)
    # the fused model's own gradients: of its input, and of its output at the last step (the only
    # step whose h_t gradient is all in `output`: nothing comes back through time to it)
    xf = x.clone().requires_grad_()
    out, _ = fused(xf)
    out.retain_grad()
    _mse(net.readout(out[:, -1])).backward()
    np.testing.assert_allclose(trace.time["input_grad_norm_t"][0], xf.grad.norm(dim=(0, 2)).numpy(), rtol=1e-12)
    assert trace.time["hidden_grad_norm"][0, -1] == pytest.approx(out.grad[:, -1].norm().item(), rel=1e-12)
    # and earlier steps: the fused output carries none of the gradient that flows back through time
    assert np.all(out.grad[:, :-1].norm(dim=(0, 2)).numpy() == 0)
    assert np.all(trace.time["hidden_grad_norm"][0, :-1] > 0)
    # the same model watched as a user's fused model: ∂L/∂x_t at its input
    user = _Fused(fused, net.readout)
    t2 = _one_step(user, x, _mse, time_axis=1)
    np.testing.assert_allclose(t2.time["input_grad_norm_t"][0], xf.grad.norm(dim=(0, 2)).numpy(), rtol=1e-12)
    assert set(t2.time) == {"input_grad_norm_t"}  # no cells: no hidden-state rows


def test_time_axis_at_the_embedding_of_token_ids():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.emb = nn.Embedding(11, 6)
            self.gru = nn.GRU(6, 4)  # sequence first: (T, B, E)
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=g))
            self.seen = None

        def forward(self, ids):
            e = self.emb(ids)
            self.seen = e
            e.retain_grad()
            out, _ = self.gru(e)
            return out[-1].sum(1)

    m = Tokens()
    ids = torch.randint(0, 11, (T, B), generator=torch.Generator().manual_seed(4))
    trace = _one_step(m, ids, lambda o: o.pow(2).mean(), time_axis=0)
    np.testing.assert_allclose(trace.time["input_grad_norm_t"][0],
                               m.seen.grad.double().norm(dim=(1, 2)).numpy(), rtol=1e-5)


def test_rows_only_on_due_steps_and_no_hooks_left():
    net = build_rnn("rnn", F_IN, 1, hidden=H, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = _x(torch.float32)
    with watch(net, opt, every=[0, 2], time_axis=1) as probe:
        for step in range(4):
            if step == 1:  # not due: the time-axis recorder has no hook on the model
                assert not probe.time._handles
            opt.zero_grad()
            _mse(net(x)).backward()
            with torch.no_grad():  # evaluation between steps is not recorded
                net(x)
            opt.step()
        trace = probe.trace
    assert trace.steps.tolist() == [0, 2]
    assert trace.time["hidden_grad_norm"].shape == (2, T) and np.isfinite(trace.time["hidden_grad_norm"]).all()
    for m in net.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_mlp_gets_no_time_axis():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    probe = watch(net, every=1)
    assert probe.time is None
    net(torch.randn(2, 3)).sum().backward()
    probe.step()
    assert probe.trace.time == {}
    probe.detach()


def test_micro_batches_pool_as_root_sum_square():
    net = build_rnn("gru", F_IN, 1, hidden=H, seed=0).double()
    x = _x()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    probe = watch(net, opt, every=1)
    opt.zero_grad()
    _mse(net(x[:2])).backward()
    _mse(net(x[2:])).backward()
    opt.step()
    got = probe.trace.time["hidden_grad_norm"][0]
    probe.detach()
    a, _, _, _ = _reference_part(net, x[:2])
    b, _, _, _ = _reference_part(net, x[2:])
    np.testing.assert_allclose(got, np.sqrt(a ** 2 + b ** 2), rtol=1e-12)


def _reference_part(net, x):
    global B
    old, B = B, x.shape[0]
    try:
        gh, gc, gx, hs = _reference(net, x, _mse)
    finally:
        B = old
    return gh[-1], gc, gx, hs


def test_a_list_of_quantities_records_no_time_axis_unless_asked():
    net = build_rnn("rnn", F_IN, 1, hidden=H, seed=0)
    for kw, recorded in (({}, True), ({"quantities": ["grad_norm"]}, False),
                         ({"quantities": ["grad_norm"], "time_axis": 1}, True)):
        probe = watch(net, **kw)
        assert (probe.time is not None) is recorded
        probe.detach()

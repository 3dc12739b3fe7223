"""Gradients are read where they are final for the step, whatever drives it; checked against autograd
in float64 at the same weights."""

import copy
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.probe import watch


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 3))


def _batches(n, size=8):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 6, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def reference(net, batches):
    """Per-layer ‖∂L/∂W‖, ‖∂L/∂b‖, ‖∂L/∂z‖ of the summed loss over ``batches`` at ``net``'s weights, float64."""
    ref = copy.deepcopy(net).double()
    linears = [m for m in ref if isinstance(m, nn.Linear)]
    outs: list[list[torch.Tensor]] = [[] for _ in linears]
    def keep(i, module, args, out):
        out.retain_grad()
        outs[i].append(out)

    handles = [m.register_forward_hook(partial(keep, i)) for i, m in enumerate(linears)]
    for x, y in batches:
        (F.cross_entropy(ref(x.double()), y) / len(batches)).backward()
    for h in handles:
        h.remove()
    sig = [float(sum(o.grad.pow(2).sum() for o in os) ** 0.5) for os in outs]
    return (np.array([float(m.weight.grad.norm()) for m in linears]),
            np.array([float(m.bias.grad.norm()) for m in linears]), np.array(sig))


def _check(trace, k, refs, rtol):
    w, b, s = refs
    np.testing.assert_allclose(trace["grad_norm"][k], w, rtol=rtol, err_msg=f"grad_norm step {k}")
    np.testing.assert_allclose(trace["bias_grad_norm"][k], b, rtol=rtol, err_msg=f"bias_grad_norm step {k}")
    np.testing.assert_allclose(trace["signal_grad_norm"][k], s, rtol=rtol, err_msg=f"signal_grad_norm step {k}")


QS = ["grad_norm", "bias_grad_norm", "signal_grad_norm", "update_ratio"]
OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "lbfgs": lambda p: torch.optim.LBFGS(p, lr=0.5, max_iter=4, history_size=3),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("as_keyword", [False, True])
def test_step_with_closure_reads_its_first_evaluation(name, as_keyword, fp32_rtol):
    """Step k holds the gradient at the weights step k starts from (not step k-1's, not NaN at step 0)."""
    net = _net()
    opt = OPTIMIZERS[name](net.parameters())
    refs, calls = [], []
    with watch(net, opt, every=1, quantities=QS) as probe:
        for x, y in _batches(3):
            refs.append(reference(net, [(x, y)]))

            def closure():
                calls.append(1)
                opt.zero_grad()
                loss = F.cross_entropy(net(x), y)
                loss.backward()
                return loss

            opt.step(closure=closure) if as_keyword else opt.step(closure)
    t = probe.trace
    assert t.steps.tolist() == [0, 1, 2]
    if name == "lbfgs":
        assert len(calls) > 3  # several evaluations per step: only the first is read
    for k, r in enumerate(refs):
        _check(t, k, r, fp32_rtol(10 * 8))
    assert np.isfinite(t["update_ratio"]).all() and (t["update_ratio"] > 0).all()


def test_gradient_accumulation_reads_the_summed_gradient(fp32_rtol):
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    batches = _batches(6, size=4)
    refs = []
    with watch(net, opt, every=1, quantities=QS) as probe:
        for k in range(3):
            micro = batches[2 * k:2 * k + 2]
            refs.append(reference(net, micro))
            opt.zero_grad()
            for x, y in micro:
                (F.cross_entropy(net(x), y) / 2).backward()
            opt.step()
    for k, r in enumerate(refs):
        _check(probe.trace, k, r, fp32_rtol(10 * 8))


def test_grad_scaler_readings_equal_float64_autograd(fp32_rtol):
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 14)
    refs = []
    with watch(net, opt, every=1, quantities=QS, scaler=scaler) as probe:
        for x, y in _batches(3):
            refs.append(reference(net, [(x, y)]))
            opt.zero_grad()
            scaler.scale(F.cross_entropy(net(x), y)).backward()
            scaler.step(opt)
            scaler.update()
    for k, r in enumerate(refs):
        _check(probe.trace, k, r, fp32_rtol(10 * 8))


def test_read_with_params_fills_only_that_optimizers_layers(fp32_rtol):
    """Two optimizers stepping in turn (a GAN's pattern): each reading fills the layers it owns."""
    net = _net()
    first, rest = list(net[0].parameters()), [p for m in (net[2], net[4]) for p in m.parameters()]
    opts = [torch.optim.SGD(first, lr=0.1), torch.optim.SGD(rest, lr=0.1)]
    refs = []
    with watch(net, every=1, quantities=["grad_norm", "update_ratio"]) as probe:
        for x, y in _batches(2):
            refs.append(reference(net, [(x, y)])[0])
            net.zero_grad()
            F.cross_entropy(net(x), y).backward()
            for opt in opts:
                probe.read([p for g in opt.param_groups for p in g["params"]])
                opt.step()
                net[0].weight.grad.mul_(1e6)  # what the first reading must not see again
            probe.advance()
    t = probe.trace
    for k, w in enumerate(refs):
        np.testing.assert_allclose(t["grad_norm"][k], w, rtol=fp32_rtol(80))
    assert np.isfinite(t["update_ratio"]).all()


class TinyViT(nn.Module):
    """Patch embedding, a class token and position embedding on the root, one block, a head."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(4, 8)
        self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, 8) * 0.1)
        self.block = nn.Sequential(nn.Linear(8, 8), nn.GELU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # x: (B, 4 patches, 4)
        t = self.patch(x)
        t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), t], 1) + self.pos_embed
        return self.head(self.block(t)[:, 0])


def test_stray_params_are_rows_of_their_own_where_first_used(fp32_rtol):
    net = TinyViT()
    x = torch.randn(3, 4, 4)
    with watch(net, every=1, stray_params=True) as probe:
        net(x).pow(2).sum().backward()
        probe.step()
    t = probe.trace
    assert t.layer_names == ["patch", "cls_token", "pos_embed", "block.0", "head"]
    assert [layer.type for layer in t.layers][1:3] == ["Parameter", "Parameter"]
    ref = copy.deepcopy(net).double()
    ref(x.double()).pow(2).sum().backward()
    for i, name in ((1, "cls_token"), (2, "pos_embed")):
        g = ref.get_parameter(name).grad
        assert t["grad_norm"][0, i] == pytest.approx(float(g.norm()), rel=fp32_rtol(g.numel()))
        assert np.isnan(t["signal_grad_norm"][0, i])
    without = watch(copy.deepcopy(net), every=1)
    try:
        net2 = without.model
        net2(x).pow(2).sum().backward()
        without.step()
    finally:
        without.detach()
    assert without.trace.layer_names == ["patch", "block.0", "head"]


@pytest.mark.parametrize("kind", [nn.GRU, nn.RNN, nn.LSTM])
def test_stacked_bidirectional_rnn_rows(kind, fp32_rtol):
    torch.manual_seed(0)
    rnn = kind(3, 5, num_layers=3, bidirectional=True, batch_first=True)
    head = nn.Linear(10, 2)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    net = Net()
    x = torch.randn(2, 4, 3)
    with watch(net, every=1) as probe:
        net(x).pow(2).sum().backward()
        probe.step()
    t = probe.trace
    assert t.layer_names == ["rnn.l0", "rnn.l1", "rnn.l2", "head"]
    ref = copy.deepcopy(net).double()
    ref(x.double()).pow(2).sum().backward()
    for k in range(3):
        w = [p.grad for n, p in ref.rnn.named_parameters() if "weight" in n and f"_l{k}" in n]
        assert len(w) == 4  # ih, hh, and their reverse
        expect = float(sum(g.pow(2).sum() for g in w) ** 0.5)
        assert t["grad_norm"][0, k] == pytest.approx(expect, rel=fp32_rtol(4 * 15 * 10))
    # the fused module's boundary: the output signal on the top row, the input gradient on the bottom one
    assert np.isfinite(t["signal_grad_norm"][0, 2]) and np.isnan(t["signal_grad_norm"][0, :2]).all()
    assert np.isnan(t["input_grad_norm"][0, 1:3]).all()

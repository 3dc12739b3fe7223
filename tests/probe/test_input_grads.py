"""input_grad_norm is the gradient sent to a layer's input through that layer only, whichever way the
probe reads it: one hook on the output's node (Linear on 2-D input, Conv) or an alias of the input."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vanishing.probe import watch


class _Branches(nn.Module):
    """x → a → (b(h) + c(h)) → d over a 3-D (sequence) input → conv; h feeds two layers."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.d = nn.Linear(8, 8)
        self.conv = nn.Conv1d(2, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.a(x))
        u = self.b(h) + self.c(h)
        v = self.d(u.view(-1, 4, 8))  # 3-D input: not a single node (a view around the product)
        return self.conv(v.reshape(-1, 2, 16)).sum(dim=(1, 2))


def _reference(net: _Branches, x: torch.Tensor) -> list[float]:
    """‖∂L/∂(input)‖ through each layer only: ∂L/∂z · W for the linear layers, conv's input gradient."""
    x = x.detach().requires_grad_()
    z_a = nn.functional.linear(x, net.a.weight, net.a.bias)
    h = torch.tanh(z_a)
    z_b = nn.functional.linear(h, net.b.weight, net.b.bias)
    z_c = nn.functional.linear(h, net.c.weight, net.c.bias)
    w = (z_b + z_c).view(-1, 4, 8)
    z_d = nn.functional.linear(w, net.d.weight, net.d.bias)
    r = z_d.reshape(-1, 2, 16)
    z_conv = nn.functional.conv1d(r, net.conv.weight, net.conv.bias)
    loss = z_conv.sum(dim=(1, 2)).pow(2).mean()
    g_a, g_b, g_c, g_d, g_r = torch.autograd.grad(loss, [z_a, z_b, z_c, z_d, r])
    through = [g_a @ net.a.weight, g_b @ net.b.weight, g_c @ net.c.weight, g_d @ net.d.weight, g_r]
    return [t.double().norm().item() for t in through]


def test_input_gradients_through_each_layer_only() -> None:
    torch.manual_seed(0)
    net = _Branches()
    x = torch.randn(8, 6, requires_grad=True)  # a leaf that needs its gradient: the first layer is aliased
    expected = _reference(net, x)
    with watch(net, every=1, quantities=["input_grad_norm", "signal_grad_norm"]) as probe:
        for _ in range(2):  # the discovery step and a later one
            net.zero_grad()
            net(x).pow(2).mean().backward()
            probe.step()
    t = probe.trace
    assert t.layer_names == ["a", "b", "c", "d", "conv"]
    np.testing.assert_allclose(t["input_grad_norm"], np.array([expected, expected]), rtol=1e-5)
    assert np.isfinite(t["signal_grad_norm"]).all()


def test_data_input_has_no_input_gradient() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 2))
    with watch(net, every=1) as probe:
        for _ in range(2):
            net.zero_grad()
            net(torch.randn(3, 4)).sum().backward()
            probe.step()
    t = probe.trace
    assert np.isnan(t["input_grad_norm"][:, 0]).all() and np.isfinite(t["input_grad_norm"][:, 1]).all()

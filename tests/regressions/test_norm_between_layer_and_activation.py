"""A normalisation between a layer and its activation (Linear → LayerNorm → sigmoid) that is not a
probed layer itself: the activation still belongs to the Linear, and its φ' statistics are those of
its real input (the normalised output), as autograd gives them."""

import pytest
import torch
from torch import nn

import vanishing
from vanishing.nets import build_mlp, weight_layers


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_activation_after_a_norm_belongs_to_the_layer(norm: str) -> None:
    net = build_mlp(4, 3, depth=3, width=8, activation="sigmoid", norm=norm, seed=0).double()
    x = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # reference: φ'(u) = σ(u)(1 − σ(u)) at the activation's input u, from a hand-run forward pass
    refs, h = [], x
    for m in net:
        if isinstance(m, nn.Sigmoid):
            u = h.detach().requires_grad_()
            (g,) = torch.autograd.grad(torch.sigmoid(u).sum(), u)
            refs.append(g.mean().item())
        h = m(h)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    with vanishing.watch(net, opt, every=1, layers=weight_layers(net)) as probe:
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()
    t = probe.trace
    assert [l.activation for l in t.layers] == ["sigmoid", "sigmoid", None]
    got = t["act_derivative_mean"][0][:2]
    assert got == pytest.approx(refs, rel=1e-12)

"""fast_tanh (numpy's vectorised tanh on the CPU) against torch.tanh, float64 and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.nets.activations import Tanh, activation_from_module, fast_tanh, get_activation


def _ulps(a: torch.Tensor, exact: torch.Tensor) -> np.ndarray:
    """Distance of float32 ``a`` from float64 ``exact`` in units of float32 spacing at ``exact``."""
    e = exact.numpy()
    return np.abs(a.double().numpy() - e) / np.spacing(np.abs(e).astype(np.float32)).astype(np.float64)


def test_values_within_two_ulp_of_the_exact_tanh() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(100_000, generator=g) * s for s in (1e-6, 1e-3, 0.1, 1.0, 3.0, 10.0)])
    x = torch.cat([x, torch.tensor([0.0, -0.0, 1e-38, -1e-38, 1e-45, 9.0, 20.0, -20.0, 88.0, 1e30])])
    y = fast_tanh(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert _ulps(y, torch.tanh(x.double())).max() <= 2.0
    assert torch.equal(torch.signbit(y), torch.signbit(x))  # odd, and -0 stays -0


def test_special_values() -> None:
    x = torch.tensor([float("inf"), float("-inf"), float("nan")])
    y = fast_tanh(x)
    assert y[0] == 1 and y[1] == -1 and torch.isnan(y[2])


def test_gradient_is_torch_tanh_backward_on_the_output() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(64, 33, generator=g) * 2).requires_grad_()
    up = torch.randn(64, 33, generator=g)
    (gx,) = torch.autograd.grad(Tanh()(x), x, up)
    x64 = x.detach().double().requires_grad_()
    (ref,) = torch.autograd.grad(torch.tanh(x64), x64, up.double())
    # 1 − y² loses digits where |y| → 1 in float32 (torch.tanh's gradient alike): absolute error,
    # a few float32 ulps of 1 times the upstream gradient
    assert ((gx.double() - ref).abs() <= 3e-7 * up.abs().double() + 1e-12).all()
    x32 = x.detach().clone().requires_grad_()
    (torch_grad,) = torch.autograd.grad(torch.tanh(x32), x32, up)
    assert ((gx - torch_grad).abs() <= 3e-7 * up.abs()).all()


@pytest.mark.parametrize("make", [
    lambda: torch.randn(8, 6, dtype=torch.float64),
    lambda: torch.randn(6, 8).t(),  # not contiguous
    lambda: torch.randn(8, 6, dtype=torch.bfloat16),
])
def test_other_dtypes_and_layouts_are_torch_tanh(make) -> None:
    x = make()
    assert torch.equal(fast_tanh(x), torch.tanh(x))


def test_no_grad_and_module_identity() -> None:
    x = torch.randn(5, 7, requires_grad=True)
    with torch.no_grad():
        y = Tanh()(x)
    assert not y.requires_grad
    assert isinstance(get_activation("tanh").module(), Tanh)
    for m in (Tanh(), nn.Tanh()):
        act = activation_from_module(m)
        assert act is not None and act.spec == "tanh"


def test_torch_func_transforms_fall_back_to_torch_tanh() -> None:
    x = torch.randn(4, 3)
    torch.testing.assert_close(torch.func.vmap(fast_tanh)(x), torch.tanh(x))
    torch.testing.assert_close(torch.func.grad(lambda t: fast_tanh(t).sum())(x), 1 - torch.tanh(x) ** 2)


def test_double_backward() -> None:
    x = torch.randn(6, 5, requires_grad=True)
    (g,) = torch.autograd.grad(fast_tanh(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), x)
    x2 = x.detach().double().requires_grad_()
    (r,) = torch.autograd.grad(torch.tanh(x2).sum(), x2, create_graph=True)
    (r2,) = torch.autograd.grad(r.sum(), x2)
    torch.testing.assert_close(g2.double(), r2, rtol=1e-4, atol=1e-6)

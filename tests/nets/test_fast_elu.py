"""fast_elu (numpy's vectorised expm1 on the CPU) against F.elu, float64 and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.nets.activations import ELU, activation_from_module, fast_elu, get_activation


def _ulps(a: torch.Tensor, exact: torch.Tensor) -> np.ndarray:
    """Distance of float32 ``a`` from float64 ``exact`` in units of float32 spacing at ``exact``."""
    e = exact.numpy()
    return np.abs(a.double().numpy() - e) / np.spacing(np.abs(e).astype(np.float32)).astype(np.float64)


def _exact(x: torch.Tensor, alpha: float) -> torch.Tensor:
    x64 = x.double()
    return torch.where(x64 > 0, x64, alpha * torch.expm1(x64))


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_values_within_three_ulp_of_the_exact_elu(alpha: float) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(100_000, generator=g) * s for s in (1e-6, 1e-3, 0.1, 1.0, 3.0, 30.0)])
    x = torch.cat([x, torch.tensor([0.0, -0.0, 1e-38, -1e-38, -1e-45, -9.0, -88.0, -104.0, 88.0, 1e30, -1e30])])
    y = fast_elu(x, alpha)
    assert y.dtype == torch.float32 and y.shape == x.shape
    exact = _exact(x, alpha)
    nonzero = exact != 0
    assert _ulps(y[nonzero], exact[nonzero]).max() <= 3.0
    assert (y[~nonzero] == 0).all()
    assert torch.equal(y[x > 0], x[x > 0])  # the positive half is the input itself


def test_special_values() -> None:
    x = torch.tensor([float("inf"), float("-inf"), float("nan")])
    y = fast_elu(x)
    assert y[0] == float("inf") and y[1] == -1 and torch.isnan(y[2])


def test_gradient_is_torch_elu_backward() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(64, 33, generator=g) * 2).requires_grad_()
    up = torch.randn(64, 33, generator=g)
    for alpha in (1.0, 0.3):
        (gx,) = torch.autograd.grad(ELU(alpha)(x), x, up)
        x32 = x.detach().clone().requires_grad_()
        (torch_grad,) = torch.autograd.grad(F.elu(x32, alpha), x32, up)
        assert torch.equal(gx, torch_grad)  # the same kernel on the same input


@pytest.mark.parametrize("make,alpha", [
    (lambda: torch.randn(8, 6, dtype=torch.float64), 1.0),
    (lambda: torch.randn(6, 8).t(), 1.0),  # not contiguous
    (lambda: torch.randn(8, 6, dtype=torch.bfloat16), 1.0),
    (lambda: torch.randn(8, 6), 1.5),  # α > 1: max(x, α·expm1) would not be ELU
    (lambda: torch.randn(8, 6), -0.5),
])
def test_other_dtypes_layouts_and_alphas_are_torch_elu(make, alpha) -> None:
    x = make()
    assert torch.equal(fast_elu(x, alpha), F.elu(x, alpha))


def test_no_grad_inplace_and_module_identity() -> None:
    x = torch.randn(5, 7, requires_grad=True)
    with torch.no_grad():
        y = ELU()(x)
    assert not y.requires_grad
    z = torch.randn(4, 4)
    ref = F.elu(z)
    out = ELU(inplace=True)(z)
    assert out.data_ptr() == z.data_ptr() and torch.equal(out, ref)
    assert isinstance(get_activation("elu").module(), ELU)
    for m in (ELU(0.5), nn.ELU(0.5)):
        act = activation_from_module(m)
        assert act is not None and act.spec == "elu:alpha=0.5"


def test_torch_func_transforms_fall_back_to_torch_elu() -> None:
    x = torch.randn(4, 3)
    torch.testing.assert_close(torch.func.vmap(fast_elu)(x), F.elu(x))
    torch.testing.assert_close(torch.func.grad(lambda t: fast_elu(t).sum())(x), torch.where(x > 0, 1.0, torch.exp(x)))


def test_double_backward() -> None:
    x = torch.randn(6, 5, requires_grad=True)
    (g,) = torch.autograd.grad(fast_elu(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), x)
    x2 = x.detach().double().requires_grad_()
    (r,) = torch.autograd.grad(F.elu(x2).sum(), x2, create_graph=True)
    (r2,) = torch.autograd.grad(r.sum(), x2)
    torch.testing.assert_close(g2.double(), r2, rtol=1e-4, atol=1e-6)

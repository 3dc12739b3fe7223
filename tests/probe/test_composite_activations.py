"""An activation is named only when it is one: composites are recognised as modules or functions, their
mean φ' equals autograd's on an independently written formula; a transformed copy is not an activation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.probe import watch
from vanishing.probe.composite import _KINDS, MeasuredActivation, is_elementwise

C = math.sqrt(2 / math.pi)

# reference formulas, written out here
REF = {
    "gelu_tanh": lambda z: 0.5 * z * (1 + torch.tanh(C * (z + 0.044715 * z ** 3))),
    "gelu": lambda z: 0.5 * z * (1 + torch.erf(z / math.sqrt(2))),
    "mish": lambda z: z * torch.tanh(torch.log1p(torch.exp(z))),
    "hardswish": lambda z: z * torch.clamp(z + 3, 0, 6) / 6,
    "hardsigmoid": lambda z: torch.clamp(z / 6 + 0.5, 0, 1),
    "quick_gelu": lambda z: z * torch.sigmoid(1.702 * z),
    "hard_mish": lambda z: 0.5 * z * torch.clamp(z + 2, 0, 2),
    "silu": lambda z: z / (1 + torch.exp(-z)),
}


def _timm(name, forward):
    """A class as timm documents it (timm.layers.activations), without timm installed."""
    cls = type(name, (nn.Module,), {"forward": lambda self, x: forward(x)})
    cls.__module__ = "timm.layers.activations"
    return cls()


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.lin, self.fn, self.out = nn.Linear(5, 7), fn, nn.Linear(7, 2)

    def forward(self, x):
        return self.out(self.fn(self.lin(x)))


def _transformers(name):
    acts = pytest.importorskip("transformers.activations")
    return getattr(acts, name)()


FORMS = {
    "nn.GELU(tanh)": (lambda: nn.GELU(approximate="tanh"), "gelu_tanh"),
    "F.gelu(tanh)": (lambda: (lambda z: F.gelu(z, approximate="tanh")), "gelu_tanh"),
    "NewGELUActivation": (lambda: _transformers("NewGELUActivation"), "gelu_tanh"),
    "FastGELUActivation": (lambda: _transformers("FastGELUActivation"), "gelu_tanh"),
    "GELUTanh": (lambda: _transformers("GELUTanh"), "gelu_tanh"),
    "GELUActivation": (lambda: _transformers("GELUActivation"), "gelu"),
    "QuickGELUActivation": (lambda: _transformers("QuickGELUActivation"), "quick_gelu"),
    "nn.Mish": (nn.Mish, "mish"),
    "F.mish": (lambda: F.mish, "mish"),
    "nn.Hardswish": (nn.Hardswish, "hardswish"),
    "F.hardswish": (lambda: F.hardswish, "hardswish"),
    "nn.Hardsigmoid": (nn.Hardsigmoid, "hardsigmoid"),
    "timm.Swish": (lambda: _timm("Swish", lambda x: x * torch.sigmoid(x)), "silu"),
    "timm.HardMish": (lambda: _timm("HardMish", lambda x: 0.5 * x * (x + 2).clamp(0, 2)), "hard_mish"),
    "timm.GELUTanh": (lambda: _timm("GELUTanh", lambda x: F.gelu(x, approximate="tanh")), "gelu_tanh"),
}


def _measure(fn):
    torch.manual_seed(0)
    net = Fn(fn)
    x = torch.randn(64, 5) * 2
    with watch(net, every=1, quantities=["act_derivative_mean"]) as probe:
        net(x).pow(2).sum().backward()
        probe.step()
    return net, x, probe.trace


@pytest.mark.parametrize("form", list(FORMS))
def test_recognised_form_reports_autograds_mean_derivative(form):
    make, name = FORMS[form]
    net, x, t = _measure(make())
    assert t.layers[0].activation == name
    z = F.linear(x.double(), net.lin.weight.double(), net.lin.bias.double()).requires_grad_(True)
    (d,) = torch.autograd.grad(REF[name](z).sum(), z)
    # φ' from autograd in float32 of 64·7 entries, summed in float32
    assert t["act_derivative_mean"][0, 0] == pytest.approx(float(d.mean()), rel=1e-5, abs=1e-6)


def test_tanh_on_a_transformed_copy_is_not_the_layers_activation():
    """GPT-2's gelu_new written out as functions: its tanh sees C·(z + 0.044715 z³), not z."""
    net, x, t = _measure(REF["gelu_tanh"])
    assert t.layers[0].activation is None and np.isnan(t["act_derivative_mean"][0, 0])


class Unknown(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(2.5 * x) + 0.1 * x


def test_unknown_elementwise_module_is_measured_through_autograd():
    net, x, t = _measure(Unknown())
    assert t.layers[0].activation == "unknown:Unknown"
    z = F.linear(x.double(), net.lin.weight.double(), net.lin.bias.double()).requires_grad_(True)
    (d,) = torch.autograd.grad(Unknown()(z).sum(), z)
    assert t["act_derivative_mean"][0, 0] == pytest.approx(float(d.mean()), rel=1e-5)


@pytest.mark.parametrize("module", [nn.Softmax(-1), nn.Dropout(0.5), nn.LayerNorm(7, elementwise_affine=False)])
def test_modules_that_are_not_elementwise_are_not_activations(module):
    _, _, t = _measure(module)
    assert t.layers[0].activation is None and np.isnan(t["act_derivative_mean"][0, 0])


def test_elementwise_check_leaves_the_global_generator_as_it_was():
    x = torch.randn(4, 3)
    state = torch.get_rng_state()
    assert not is_elementwise(nn.Dropout(0.5), x)
    assert is_elementwise(torch.tanh, x)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", [n for n in _KINDS])
def test_sup_derivative_of_composites(name):
    x = torch.linspace(-8, 8, 160001, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(REF[name](x).sum(), x)
    assert _KINDS[name][2] == pytest.approx(float(d.max()), rel=1e-4)


def test_measured_derivative_equals_autograd_in_float64():
    act = MeasuredActivation("mish", F.mish)
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    xi = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(REF["mish"](xi).sum(), xi)
    torch.testing.assert_close(act.derivative(x), ref)

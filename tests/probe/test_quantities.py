"""Every quantity against an independent computation on a plain MLP."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.nets import build_mlp
from vanishing.activations import ACTIVATIONS, get_activation
from vanishing.probe import quantities as Q
from vanishing.probe import watch

BATCH, IN, OUT = 16, 6, 3


FN = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def _reference_backward(net, x, y, activation="sigmoid"):
    """Functional forward (no module hooks) keeping z_l and the inputs h_{l-1};
    autograd.grad gives ∂L/∂z and ∂L/∂h."""
    zs, hs = [], []
    h = x
    for block in net.blocks:
        hs.append(h)
        z = nn.functional.linear(h, block.linear.weight, block.linear.bias)
        zs.append(z)
        h = FN[activation](z)
    hs.append(h)
    zs.append(nn.functional.linear(h, net.out.weight, net.out.bias))
    loss = nn.functional.cross_entropy(zs[-1], y)
    grads = torch.autograd.grad(loss, zs + hs[1:])  # hs[0] is the data
    dz = [g.double().norm().item() for g in grads[:len(zs)]]
    dh = [math.nan] + [g.double().norm().item() for g in grads[len(zs):]]
    return zs, dz, dh


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, IN, generator=g), torch.randint(0, OUT, (BATCH,), generator=g)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_quantities_match_independent_references(activation):
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=4, width=12, activation=activation)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    probe = watch(net, opt, every=1)
    layers = net.weight_layers()
    ref = []
    for step in range(3):
        x, y = _data(step)
        zs, dz, dh = _reference_backward(net, x, y, activation)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        before = [m.weight.detach().clone() for m in layers]
        r = {
            "grad_norm": [m.weight.grad.double().norm().item() for m in layers],
            "bias_grad_norm": [m.bias.grad.double().norm().item() for m in layers],
            "param_norm": [w.double().norm().item() for w in before],
            "signal_grad_norm": dz,
            "input_grad_norm": dh,
        }
        # activation statistics from autograd's φ', counted by hand
        act = FN[activation]
        sat, dead, mean = [], [], []
        for z in zs[:-1]:
            zz = z.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(act(zz).sum(), zz)
            low = d < 0.1 * (0.25 if activation == "sigmoid" else 1.0)
            sat.append(low.double().mean().item())
            dead.append(low.all(0).double().mean().item())
            mean.append(d.double().mean().item())
        nan = [math.nan]
        r["saturation"] = (sat if activation != "relu" else [math.nan] * 3) + nan
        r["dead_fraction"] = (dead if activation == "relu" else [math.nan] * 3) + nan
        r["act_derivative_mean"] = mean + nan
        opt.step()
        r["update_ratio"] = [(m.weight.detach().double() - b.double()).norm().item() / b.double().norm().item()
                             for m, b in zip(layers, before)]
        ref.append(r)
    probe.detach()
    trace = probe.trace
    assert trace.layer_names == ["blocks.0.linear", "blocks.1.linear", "blocks.2.linear", "out"]
    assert [layer.activation for layer in trace.layers] == [activation] * 3 + [None]
    assert trace.steps.tolist() == [0, 1, 2]
    for q in ref[0]:
        expected = np.array([r[q] for r in ref])
        np.testing.assert_allclose(trace[q], expected, rtol=1e-5, atol=1e-12, err_msg=q)
    np.testing.assert_array_equal(trace["nonfinite_grads"], np.zeros((3, 4)))


def test_attribution_sums_to_the_measured_gain_and_matches_manual_logs():
    torch.manual_seed(1)
    net = build_mlp(IN, OUT, depth=5, width=10, activation="sigmoid", init="normal:std=0.3")
    x, y = _data()
    _, dz, dh = _reference_backward(net, x, y)
    with watch(net, every=1) as probe:
        nn.functional.cross_entropy(net(x), y).backward()
        probe.step()
    t = probe.trace
    act, w = t["attribution_activation"][0], t["attribution_weights"][0]
    s = t["signal_grad_norm"][0]
    gain = np.log10(s[:-1] / s[1:])
    np.testing.assert_allclose(act[1:] + w[1:], gain, rtol=1e-12)
    np.testing.assert_allclose(w[1:], [math.log10(dh[i] / dz[i]) for i in range(1, 5)], rtol=1e-6)
    np.testing.assert_allclose(act[1:], [math.log10(dz[i - 1] / dh[i]) for i in range(1, 5)], rtol=1e-6)
    assert math.isnan(act[0]) and math.isnan(w[0])  # the first layer's input does not require grad
    # in a plain MLP the activation term is the activation's own backward gain (sigmoid: φ' ≤ 1/4)
    assert (act[1:] < math.log10(0.25) + 1e-9).all()


def test_tiny_gradients_are_not_rounded_to_zero():
    # a sigmoid net with std=0.01 weights: early gradients ~1e-30, below float32's squared range
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=20, width=16, activation="sigmoid", init="normal:std=0.01")
    x, y = _data()
    with watch(net, every=1) as probe:
        nn.functional.cross_entropy(net(x), y).backward()
        probe.step()
    g = probe.trace["grad_norm"][0]
    ref = np.array([m.weight.grad.double().norm().item() for m in net.weight_layers()])
    assert ref[0] < 1e-25 and ref[0] > 0
    np.testing.assert_allclose(g, ref, rtol=1e-6)
    s = probe.trace["signal_grad_norm"][0]
    assert (s > 0).all() and s[0] < 1e-25


def test_nonfinite_gradients_are_counted_not_raised():
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=3, width=8, activation="tanh")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = _data()
    with watch(net, opt, every=1) as probe:
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        w = net.weight_layers()[1]
        w.weight.grad[0, :3] = torch.tensor([math.inf, -math.inf, math.nan])
        w.bias.grad[2] = math.inf
        opt.step()
    t = probe.trace
    np.testing.assert_array_equal(t["nonfinite_grads"][0], [0, 4, 0])
    assert math.isnan(t["grad_norm"][0, 1]) and math.isinf(t["bias_grad_norm"][0, 1])
    assert np.isfinite(t["grad_norm"][0, [0, 2]]).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes(dtype):
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=3, width=8, activation="tanh").to(dtype)
    x, y = _data()
    with watch(net, every=1) as probe:
        nn.functional.cross_entropy(net(x.to(dtype)), y).backward()
        probe.step()
    ref = [m.weight.grad.double().norm().item() for m in net.weight_layers()]
    np.testing.assert_allclose(probe.trace["grad_norm"][0], ref, rtol=1e-6)
    assert np.isfinite(probe.trace["signal_grad_norm"]).all()


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if ACTIVATIONS.get(n).derivative_of_output is not None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_derivative_of_output_is_the_derivative_exactly(name, dtype):
    act = get_activation(name)
    x = torch.linspace(-30, 30, 4001, dtype=dtype)
    torch.testing.assert_close(act.derivative_of_output(act(x)), act.derivative(x), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_count_below_counts_like_a_comparison(dtype):
    d = torch.tensor([0.0, -0.0, 0.05, 0.1, 0.2, -1.0, math.nan, math.inf, -math.inf, 0.1 - 1e-9, 1e-45]).to(dtype)
    d = torch.cat([d, torch.rand(1000, dtype=torch.float64).to(dtype) * 0.2])
    for threshold in (0.1, 0.025, 0.0, -2.0):
        n = Q.count_below_(d.clone(), threshold).item()
        assert n == (d < threshold).sum().item() and math.copysign(1, n) == 1  # no −0.0


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_derivatives_return_a_new_tensor(name):
    # ActivationStats overwrites the derivative as scratch space: it must not alias the input
    act = get_activation(name)
    x = torch.linspace(-3, 3, 101)
    assert act.derivative(x).untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    if act.has_output_derivative:
        y = act(x)
        assert act.derivative_of_output(y).untyped_storage().data_ptr() != y.untyped_storage().data_ptr()


class _FunctionalNet(nn.Module):
    """The Sequential of _sequential_net() with activations called as functions."""

    def __init__(self, seq):
        super().__init__()
        self.l0, self.l1, self.l2 = seq[0], seq[2], seq[4]

    def forward(self, x):
        return self.l2(self.l1(torch.sigmoid(self.l0(x))).tanh())


def _sequential_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(IN, 9), nn.Sigmoid(), nn.Linear(9, 9), nn.Tanh(), nn.Linear(9, OUT))


def test_functional_and_module_activations_give_the_same_statistics():
    traces = []
    for net in (_sequential_net(), _FunctionalNet(_sequential_net())):
        x, y = _data()
        with watch(net, every=1, quantities=["saturation", "act_derivative_mean"]) as probe:
            for _ in range(2):  # the discovery step, then a step with the discovered hooks only
                nn.functional.cross_entropy(net(4 * x), y).backward()
                probe.step()
        traces.append(probe.trace)
    module, functional = traces
    assert [x.activation for x in functional.layers] == ["sigmoid", "tanh", None]
    for q in ("saturation", "act_derivative_mean"):
        assert np.isfinite(module[q][:, :2]).all()
        np.testing.assert_array_equal(functional[q], module[q])


def test_activation_rows_on_the_host_and_on_a_device_agree():
    # the accelerator path (no value read) is exercised on the CPU against the host path
    stats = [Q.ActivationStats() for _ in range(3)] + [None]
    g = torch.Generator().manual_seed(0)
    for s, name in zip(stats, ["sigmoid", "relu", "gelu"]):
        act = get_activation(name)
        for _ in range(2):
            s.update(act, 3 * torch.randn(8, 5, generator=g))
    names = ("saturation", "dead_fraction", "act_derivative_mean")
    host = {q: row.numpy() for q, row in Q.activation_rows(stats, names, torch.device("cpu")).items()}
    counts = [1 if s is None else s.count for s in stats]
    device = {"saturation": Q._device_row([s and s.low_sum for s in stats], counts, torch.device("cpu")),
              "act_derivative_mean": Q._device_row([s and s.deriv_sum for s in stats], counts, torch.device("cpu"))}
    for q, row in device.items():
        np.testing.assert_array_equal(row.numpy(), host[q], err_msg=q)
    assert np.isfinite(host["saturation"][0]) and np.isnan(host["saturation"][1:]).all()
    assert np.isfinite(host["dead_fraction"][1]) and np.isnan(host["dead_fraction"][[0, 2, 3]]).all()
    assert np.isfinite(host["act_derivative_mean"][:3]).all() and np.isnan(host["act_derivative_mean"][3])

"""Every quantity against an independent computation on a plain MLP."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.nets import build_mlp, weight_layers
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
    *hidden, out = weight_layers(net)
    for lin in hidden:
        hs.append(h)
        z = nn.functional.linear(h, lin.weight, lin.bias)
        zs.append(z)
        h = FN[activation](z)
    hs.append(h)
    zs.append(nn.functional.linear(h, out.weight, out.bias))
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
    layers = weight_layers(net)
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
    assert trace.layer_names == ["0", "2", "4", "6"]
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
    # logs of norms equal to float32 rounding (rtol 1e-6 on the norms): compare them absolutely
    np.testing.assert_allclose(w[1:], [math.log10(dh[i] / dz[i]) for i in range(1, 5)], rtol=0, atol=1e-6)
    np.testing.assert_allclose(act[1:], [math.log10(dz[i - 1] / dh[i]) for i in range(1, 5)], rtol=0, atol=1e-6)
    assert math.isnan(act[0]) and math.isnan(w[0])  # the first layer's input does not require grad
    # in a plain MLP the activation term is the activation's own backward gain (sigmoid: φ' ≤ 1/4)
    assert (act[1:] < math.log10(0.25) + 1e-9).all()


def test_tiny_gradients_are_not_rounded_to_zero(fp32_rtol):
    # a sigmoid net with std=0.01 weights: early gradients ~1e-30, below float32's squared range
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=20, width=16, activation="sigmoid", init="normal:std=0.01")
    x, y = _data()
    with watch(net, every=1) as probe:
        nn.functional.cross_entropy(net(x), y).backward()
        probe.step()
    g = probe.trace["grad_norm"][0]
    ref = np.array([m.weight.grad.double().norm().item() for m in weight_layers(net)])
    assert ref[0] < 1e-25 and ref[0] > 0
    n = max(m.weight.numel() for m in weight_layers(net))
    np.testing.assert_allclose(g, ref, rtol=fp32_rtol(n))
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
        w = weight_layers(net)[1]
        w.weight.grad[0, :3] = torch.tensor([math.inf, -math.inf, math.nan])
        w.bias.grad[2] = math.inf
        opt.step()
    t = probe.trace
    np.testing.assert_array_equal(t["nonfinite_grads"][0], [0, 4, 0])
    assert math.isnan(t["grad_norm"][0, 1]) and math.isinf(t["bias_grad_norm"][0, 1])
    assert np.isfinite(t["grad_norm"][0, [0, 2]]).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes(dtype, fp32_rtol):
    torch.manual_seed(0)
    net = build_mlp(IN, OUT, depth=3, width=8, activation="tanh").to(dtype)
    x, y = _data()
    with watch(net, every=1) as probe:
        nn.functional.cross_entropy(net(x.to(dtype)), y).backward()
        probe.step()
    ref = [m.weight.grad.double().norm().item() for m in weight_layers(net)]
    # bfloat16 entries and their squares are exact in float32: the float32 sum's bound applies
    n = max(m.weight.numel() for m in weight_layers(net))
    np.testing.assert_allclose(probe.trace["grad_norm"][0], ref, rtol=fp32_rtol(n))
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
        n = Q.count_below(d, threshold).item()
        assert n == (d < threshold).sum().item() and math.copysign(1, n) == 1  # no −0.0


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_derivatives_return_a_new_tensor(name):
    # quantities are pure functions of φ': the derivative must not alias the activation's input or output
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


@pytest.mark.parametrize("name", [q for q in Q.QUANTITIES if Q.QUANTITIES.get(q).stage in ("signal", "input", "activation")])
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "gelu"])
def test_a_member_axis_gives_each_members_value(name, activation, fp32_rtol):
    """The batched executor calls each quantity with a leading member axis (M, ...), the probe without:
    member m's value must be the value of its slice."""
    q, act = Q.QUANTITIES.get(name), get_activation(activation)
    g = torch.Generator().manual_seed(0)
    t = 3 * torch.randn(4, 8, 5, generator=g)  # (M, N, units)
    if q.stage == "activation":
        d = act.derivative(t)
        r = q.compute(d, act, True)
        if r is None:
            assert q.compute(d[0], act) is None
            return
        stacked = q.finish(q.combine(r, r), True)
        each = [float(q.finish(q.combine(q.compute(d[m], act), q.compute(d[m], act)))) for m in range(4)]
    else:
        stacked = q.compute(t, True)
        each = [float(q.compute(t[m])) for m in range(4)]
    # float32 sums of one member's 40 entries, in two orders
    np.testing.assert_allclose(stacked.double().numpy(), each, rtol=fp32_rtol(t[0].numel(), 2))


def test_grad_quantities_with_a_member_axis_give_each_members_rows(fp32_rtol):
    g = torch.Generator().manual_seed(0)
    w = [torch.randn(3, 5, 4, generator=g), torch.randn(3, 2, 5, generator=g)]  # (M, out, in) per layer
    gw = [torch.randn_like(x) for x in w]
    gb = [torch.randn(3, 5, generator=g), torch.randn(3, 2, generator=g)]
    gw[1][2, 0, 0] = math.nan

    def reading(ws, gws, gbs, members):
        return Q.GradReading(Q.Group(ws, (0, 1), members), Q.Group(gws, (0, 1), members),
                             Q.Group(gbs, (0, 1), members), 2, members)

    stacked = reading(w, gw, gb, True)
    for name in [q for q in Q.QUANTITIES if Q.QUANTITIES.get(q).stage == "grad"]:
        q = Q.QUANTITIES.get(name)
        rows = q.compute(stacked)
        assert rows.shape == (3, 2)
        for m in range(3):
            one = q.compute(reading([x[m] for x in w], [x[m] for x in gw], [x[m] for x in gb], False))
            # two float32 summations in different orders (per-member reductions vs _foreach_norm)
            n = max(x[0].numel() for x in w + gw + gb)
            np.testing.assert_allclose(rows[m].numpy(), one.numpy(), rtol=fp32_rtol(n, 2), equal_nan=True,
                                       err_msg=name)

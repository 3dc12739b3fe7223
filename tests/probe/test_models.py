"""Layer discovery and sensible readings on the five model kinds, plus unused and shared modules."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.nets import build_mlp
from vanishing.probe import watch


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.head = nn.Linear(8 * 4 * 4, 3)
        self.act = nn.Tanh()

    def forward(self, x):
        x = F.max_pool2d(self.act(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))  # a functional activation
        return self.head(x.flatten(1))


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)  # shared by two calls, as in torchvision
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.down is None else self.down(x)
        return self.relu(out + skip)


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.block1 = Block(4, 4, 1)
        self.block2 = Block(4, 8, 2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(x.mean((2, 3)))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 8)
        self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.fc(h[-1])


class SmallTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=24, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens):
        return self.fc(self.encoder(self.embed(tokens)).mean(1))


def _tf_layers(i):
    p = f"encoder.layers.{i}."
    return [p + "self_attn", p + "norm1", p + "linear1", p + "linear2", p + "norm2"]


MODELS = {
    "mlp": (lambda: build_mlp(12, 3, depth=4, width=16, activation="tanh"), lambda g: torch.randn(8, 12, generator=g),
            ["0", "2", "4", "6"]),
    "cnn": (SmallCNN, lambda g: torch.randn(8, 1, 8, 8, generator=g), ["conv1", "conv2", "head"]),
    "resnet": (SmallResNet, lambda g: torch.randn(8, 1, 8, 8, generator=g),
               ["stem", "bn", "block1.conv1", "block1.bn1", "block1.conv2", "block1.bn2",
                "block2.conv1", "block2.bn1", "block2.conv2", "block2.bn2", "block2.down.0", "block2.down.1", "fc"]),
    "lstm": (LSTMClassifier, lambda g: torch.randint(0, 11, (8, 5), generator=g), ["embed", "lstm.l0", "lstm.l1", "fc"]),
    "transformer": (SmallTransformer, lambda g: torch.randint(0, 11, (8, 5), generator=g),
                    ["embed", *_tf_layers(0), *_tf_layers(1), "fc"]),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_model_kinds_train_with_finite_sensible_readings(kind):
    make, data, expected = MODELS[kind]
    torch.manual_seed(0)
    net = make()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    with watch(net, opt, every=1) as probe:
        for _ in range(3):
            x, y = data(g), torch.randint(0, 3, (8,), generator=g)
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            probe.log(loss=loss.detach())
            opt.step()
    t = probe.trace
    assert t.layer_names == expected
    assert t.steps.tolist() == [0, 1, 2]
    # a stacked LSTM's inner boundaries are inside one fused call: its signal is seen at the top row,
    # its input gradient at the bottom row
    no_signal = [i for i, n in enumerate(t.layer_names) if n == "lstm.l0"]
    no_input = [0] + [i for i, n in enumerate(t.layer_names) if n == "lstm.l1"]
    for q in ("grad_norm", "param_norm", "signal_grad_norm", "update_ratio"):
        v = np.delete(t[q], no_signal, axis=1) if q == "signal_grad_norm" else t[q]
        assert np.isfinite(v).all() and (v > 0).all(), (q, v)
    assert np.isnan(t["signal_grad_norm"][:, no_signal]).all()
    np.testing.assert_array_equal(t["nonfinite_grads"], 0)
    # every layer but the first receives a backpropagated input signal (embeddings take integer input)
    assert np.isfinite(np.delete(t["input_grad_norm"], no_input, axis=1)).all()
    assert np.isnan(t["input_grad_norm"][:, no_input]).all()
    inner = [i for i, n in enumerate(t.layer_names) if n.startswith("lstm.")]  # their boundaries are fused
    assert np.isfinite(np.delete(t["attribution_weights"], [0, *inner], axis=1)).all()
    assert np.isfinite(t.scalars["loss"]).all()
    for layer in t.layers:
        assert layer.n_params > 0 and layer.shape


def test_layer_types_and_activations_are_recorded():
    t = _one_step(SmallCNN(), torch.randn(4, 1, 8, 8))
    assert [(x.type, x.activation) for x in t.layers] == [("Conv2d", "tanh"), ("Conv2d", "relu"), ("Linear", None)]
    assert t.layers[0].shape == (4, 1, 3, 3) and t.layers[0].n_params == 40
    # the functional relu after conv2 is seen: its dead fraction and mean derivative are recorded
    assert np.isfinite(t["dead_fraction"][0, 1]) and np.isfinite(t["act_derivative_mean"][0, 1])
    assert np.isfinite(t["saturation"][0, 0]) and np.isnan(t["saturation"][0, 1])


def test_transformer_functional_relu_follows_linear1():
    t = _one_step(SmallTransformer(), torch.randint(0, 11, (4, 5)))
    acts = dict(zip(t.layer_names, (x.activation for x in t.layers)))
    assert acts["encoder.layers.0.linear1"] == "relu" and acts["encoder.layers.0.self_attn"] is None


def test_stacked_lstm_has_one_row_per_layer_with_its_weight_matrices(fp32_rtol):
    net = LSTMClassifier()
    t = _one_step(net, torch.randint(0, 11, (4, 5)))
    for k in (0, 1):
        i = t.layer_names.index(f"lstm.l{k}")
        w = [p.grad for n, p in net.lstm.named_parameters() if n in (f"weight_ih_l{k}", f"weight_hh_l{k}")]
        b = [p.grad for n, p in net.lstm.named_parameters() if n in (f"bias_ih_l{k}", f"bias_hh_l{k}")]
        ref = math.sqrt(sum(float(x.double().norm()) ** 2 for x in w))
        assert t["grad_norm"][0, i] == pytest.approx(ref, rel=fp32_rtol(sum(x.numel() for x in w)))
        ref_b = math.sqrt(sum(float(x.double().norm()) ** 2 for x in b))
        assert t["bias_grad_norm"][0, i] == pytest.approx(ref_b, rel=fp32_rtol(sum(x.numel() for x in b)))
        assert t.layers[i].type == "LSTM" and t.layers[i].shape == tuple(net.lstm.get_parameter(f"weight_ih_l{k}").shape)


def _one_step(net, x):
    with watch(net, every=1) as probe:
        net(x).pow(2).mean().backward()
        probe.step()
    return probe.trace


class Unordered(nn.Module):
    """Registration order b, unused, a; execution order a, b, a (a is shared)."""

    def __init__(self):
        super().__init__()
        self.b = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(torch.sigmoid(self.b(torch.tanh(self.a(x)))))


def test_execution_order_unused_skipped_shared_once(fp32_rtol):
    torch.manual_seed(0)
    net = Unordered()
    x = torch.randn(6, 4)
    with watch(net, every=1) as probe:
        net(x).pow(2).sum().backward()
        probe.step()
    t = probe.trace
    assert t.layer_names == ["a", "b"]
    assert t.meta["probe"]["unused_layers"] == ["unused"]
    # the shared layer: gradient norm of its accumulated .grad, signal norm = root-sum-square over its calls
    assert t["grad_norm"][0, 0] == pytest.approx(float(net.a.weight.grad.double().norm()))
    z1 = F.linear(x, net.a.weight, net.a.bias)
    z2 = F.linear(torch.tanh(z1), net.b.weight, net.b.bias)
    z3 = F.linear(torch.sigmoid(z2), net.a.weight, net.a.bias)
    g1, g2, g3 = torch.autograd.grad(z3.pow(2).sum(), [z1, z2, z3])
    # the reference norms are float32 sums too: two computations of at most g.numel() squares
    rtol = fp32_rtol(max(g1.numel(), g2.numel()), 2)
    assert t["signal_grad_norm"][0, 0] == pytest.approx(math.hypot(float(g1.norm()), float(g3.norm())), rel=rtol)
    assert t["signal_grad_norm"][0, 1] == pytest.approx(float(g2.norm()), rel=rtol)
    assert t.layers[0].activation == "tanh" and t.layers[1].activation == "sigmoid"


@pytest.mark.parametrize("layers", [["6", "0"], "modules", lambda name, m: isinstance(m, nn.Linear)])
def test_explicit_layers_keep_execution_order(layers):
    torch.manual_seed(0)
    net = build_mlp(5, 2, depth=3, width=6, norm="batch", activation="sigmoid")
    if layers == "modules":
        layers = [net[6], net[0]]
    with watch(net, every=1, layers=layers) as probe:
        net(torch.randn(4, 5)).sum().backward()
        probe.step()
    t = probe.trace
    names = t.layer_names
    assert names[0] == "0" and all(isinstance(net.get_submodule(n), nn.Linear) for n in names)
    # the BatchNorm between is not probed: the layer's output passes through it to the sigmoid, which
    # belongs to the linear layer
    assert t.layers[0].activation == "sigmoid"


def test_bad_layer_names_are_config_errors():
    from vanishing.errors import ConfigError
    with pytest.raises(ConfigError, match="layers"):
        watch(nn.Sequential(nn.Linear(2, 2)), layers=["nope"])


def test_models_without_probed_layers_record_nothing_per_layer():
    x = torch.randn(4, 3, requires_grad=True)
    net = nn.Sequential(nn.ReLU())
    with watch(net, every=1) as probe:
        net(x).sum().backward()
        probe.log(loss=1.0)
        probe.step()
    t = probe.trace
    assert t.layers == [] and t.steps.tolist() == [0] and t["grad_norm"].shape == (1, 0)
    lin = nn.Linear(3, 3)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    with watch(lin, opt, every=1, layers=lambda name, m: False) as probe:
        opt.zero_grad()
        lin(x).sum().backward()
        opt.step()
    assert probe.trace.layers == [] and probe.step_index == 1


def test_a_single_module_can_be_watched():
    lin = nn.Linear(3, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    with watch(lin, opt, every=1) as probe:
        opt.zero_grad()
        torch.sigmoid(lin(x)).sum().backward()
        opt.step()
    t = probe.trace
    assert t.layer_names == ["Linear"] and np.isfinite(t["grad_norm"]).all()
    # the sigmoid runs outside the watched module's forward: not its activation
    assert t.layers[0].activation is None and np.isnan(t["saturation"]).all()
    assert np.isnan(t["input_grad_norm"]).all()

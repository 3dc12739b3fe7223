import pytest
import torch
from torch import nn

from vanishing.errors import ConfigError
from vanishing.nets import ACTIVATIONS, build_mlp, get_activation


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_depth_counts_weight_layers(depth):
    net = build_mlp(5, 3, depth=depth, width=4)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth == len(net.weight_layers())
    assert net.weight_layers() == linears  # input side first
    assert net(torch.randn(2, 5)).shape == (2, 3)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_forward_matches_a_hand_written_network(activation, norm):
    torch.manual_seed(0)
    net = build_mlp(6, 2, depth=4, width=5, activation=activation, init="xavier_normal",
                    bias_init="normal:std=0.1", norm=norm, residual=True).double()
    act = get_activation(activation)
    x = torch.randn(8, 6, dtype=torch.float64)
    h = x
    for i, layer in enumerate(net.weight_layers()[:-1]):
        z = h @ layer.weight.T + layer.bias
        if norm != "none":
            dims = 0 if norm == "batch" else 1
            mean = z.mean(dims, keepdim=True)
            var = z.var(dims, unbiased=False, keepdim=True)
            z = (z - mean) / torch.sqrt(var + 1e-5)
        out = act(z)
        h = h + out if i > 0 else out  # first block changes width, so no skip there
    last = net.weight_layers()[-1]
    torch.testing.assert_close(net(x), h @ last.weight.T + last.bias)


def test_init_and_bias_init_are_applied():
    torch.manual_seed(0)
    net = build_mlp(400, 10, depth=3, width=400, init="normal:std=0.01", bias_init="constant:value=0.3")
    w = net.weight_layers()[1].weight
    assert w.std().item() == pytest.approx(0.01, rel=0.02)
    assert all(layer.bias.eq(0.3).all() for layer in net.weight_layers())


def test_same_seed_same_weights():
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        nets.append(build_mlp(4, 2, depth=3, width=8, activation="tanh", init="orthogonal"))
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=0), "depth 0"),
    (dict(width=-2), "width -2"),
    (dict(norm="group"), "none, batch, layer"),
    (dict(activation="swish"), "activation 'swish'"),
    (dict(init="normal:std=-1"), "std -1"),
    (dict(bias_init="xavier_normal"), "bias_init"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mlp(4, 2, **kwargs)

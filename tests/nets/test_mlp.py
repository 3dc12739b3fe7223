"""build_mlp against hand-written torch models: plain modules, torch's own initialisation calls, torch tooling."""

import io
import math
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

from vanishing.errors import ConfigError
from vanishing.nets import ACTIVATIONS, Residual, build_mlp, get_activation, weight_layers

# each registered activation's torch module, written out by hand (default parameters)
TORCH_MODULES = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "hardtanh": nn.Hardtanh, "softsign": nn.Softsign,
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": lambda: nn.ELU(1.0), "selu": nn.SELU,
    "gelu": nn.GELU, "silu": nn.SiLU, "softplus": lambda: nn.Softplus(beta=1.0), "linear": nn.Identity,
}
IN, OUT, WIDTH, DEPTH = 5, 3, 7, 6


def hand_written(activation: str, depth: int = DEPTH) -> nn.Sequential:
    """The network build_mlp(IN, OUT, depth, WIDTH, activation) is documented to be."""
    layers: list[nn.Module] = []
    n_in = IN
    for _ in range(depth - 1):
        layers += [nn.Linear(n_in, WIDTH), TORCH_MODULES[activation]()]
        n_in = WIDTH
    return nn.Sequential(*layers, nn.Linear(n_in, OUT))


def test_every_activation_has_a_hand_written_module():
    assert set(TORCH_MODULES) == set(ACTIVATIONS)


@pytest.mark.parametrize("depth", [1, 2, 7])
def test_depth_counts_weight_layers(depth):
    net = build_mlp(5, 3, depth=depth, width=4, seed=0)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth == len(weight_layers(net))
    assert weight_layers(net) == linears  # input side first
    assert net(torch.randn(2, 5)).shape == (2, 3)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_layout_is_a_flat_sequential_of_torch_modules(activation):
    net = build_mlp(IN, OUT, depth=DEPTH, width=WIDTH, activation=activation, seed=0)
    ref = hand_written(activation)
    assert type(net) is nn.Sequential
    assert [type(m) for m in net] == [type(m) for m in ref]
    assert all(type(m).__module__.startswith("torch.") for m in net.modules())
    assert repr(net) == repr(ref)  # same modules with the same settings (slopes, alphas, betas)


@pytest.mark.parametrize("norm,norm_type", [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_norm_and_residual_layout(norm, norm_type):
    net = build_mlp(IN, OUT, depth=4, width=WIDTH, activation="tanh", norm=norm, residual=True, seed=0)
    # the first block changes the width: no skip there
    assert [type(m) for m in net] == [nn.Linear, norm_type, nn.Tanh, Residual, Residual, nn.Linear]
    for block in net[3:5]:
        assert [type(m) for m in block.body] == [nn.Linear, norm_type, nn.Tanh]
    assert all(type(m).__module__.startswith("torch.") for m in net.modules() if not isinstance(m, Residual))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_forward_matches_a_hand_written_computation(activation, norm):
    net = build_mlp(6, 2, depth=4, width=5, activation=activation, init="xavier_normal",
                    bias_init="normal:std=0.1", norm=norm, residual=True, seed=0).double()
    act = get_activation(activation)
    x = torch.randn(8, 6, dtype=torch.float64)
    h = x
    for i, layer in enumerate(weight_layers(net)[:-1]):
        z = h @ layer.weight.T + layer.bias
        if norm != "none":
            dims = 0 if norm == "batch" else 1
            mean = z.mean(dims, keepdim=True)
            var = z.var(dims, unbiased=False, keepdim=True)
            z = (z - mean) / torch.sqrt(var + 1e-5)
        out = act(z)
        h = h + out if i > 0 else out  # first block changes width, so no skip there
    last = weight_layers(net)[-1]
    torch.testing.assert_close(net(x), h @ last.weight.T + last.bias)


def test_init_and_bias_init_are_applied():
    net = build_mlp(400, 10, depth=3, width=400, init="normal:std=0.01", bias_init="constant:value=0.3", seed=0)
    w = weight_layers(net)[1].weight
    assert w.std().item() == pytest.approx(0.01, rel=0.02)
    assert all(layer.bias.eq(0.3).all() for layer in weight_layers(net))


# --- seeds: torch's own calls on a hand-written model, one generator ---------------------------------

@pytest.mark.parametrize("seed", [0, 7])
def test_seed_equals_torch_init_calls_on_one_generator(seed):
    net = build_mlp(IN, OUT, depth=4, width=WIDTH, activation="tanh", init="he_normal",
                    bias_init="normal:std=0.1", seed=seed)
    ref = hand_written("tanh", depth=4)
    g = torch.Generator().manual_seed(seed)
    for layer in weight_layers(ref):  # input side first, weight then bias
        nn.init.normal_(layer.weight, 0.0, math.sqrt(2 / layer.in_features), generator=g)
        nn.init.normal_(layer.bias, 0.0, 0.1, generator=g)
    for a, b in zip(net.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_seed_with_uniform_norm_and_residual():
    net = build_mlp(WIDTH, OUT, depth=3, width=WIDTH, activation="relu", init="xavier_uniform",
                    norm="layer", residual=True, seed=3)
    g = torch.Generator().manual_seed(3)
    ref = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU(),
                        nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH), nn.ReLU(), nn.Linear(WIDTH, OUT))
    for layer in weight_layers(ref):
        a = math.sqrt(3 * 2 / (layer.in_features + layer.out_features))
        nn.init.uniform_(layer.weight, -a, a, generator=g)
        nn.init.zeros_(layer.bias)
    want = list(ref.state_dict().values())
    assert [k.split(".")[-1] for k in net.state_dict()] == [k.split(".")[-1] for k in ref.state_dict()]
    for a, b in zip(net.state_dict().values(), want, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("init,torch_init", [
    ("xavier_normal", nn.init.xavier_normal_),
    ("xavier_uniform", nn.init.xavier_uniform_),
    ("he_normal", lambda w, generator: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=generator)),
    ("he_uniform", lambda w, generator: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=generator)),
    ("orthogonal", nn.init.orthogonal_),
])
def test_named_inits_draw_what_torch_draws(init, torch_init):
    """Same generator, same draws as torch's function of the same name (up to rounding of the scale)."""
    net = build_mlp(IN, OUT, depth=3, width=WIDTH, init=init, seed=5)
    g = torch.Generator().manual_seed(5)
    for layer in weight_layers(net):
        w = torch.empty_like(layer.weight)
        torch_init(w, generator=g)
        torch.testing.assert_close(layer.weight, w, rtol=1e-6, atol=0)


def test_seed_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    for init in ("he_normal", "orthogonal", "variance_scaling:distribution=truncated_normal"):
        build_mlp(IN, OUT, depth=4, width=WIDTH, init=init, bias_init="uniform:a=0.1", norm="batch", seed=1)
    assert torch.equal(state, torch.random.get_rng_state())


def test_same_seed_same_weights_and_no_seed_draws_from_the_global_generator():
    a, b = (build_mlp(4, 2, depth=3, width=8, activation="tanh", init="orthogonal", seed=3) for _ in range(2))
    c = build_mlp(4, 2, depth=3, width=8, activation="tanh", init="orthogonal", seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)
    torch.manual_seed(3)
    d = build_mlp(4, 2, depth=3, width=8, activation="tanh", init="orthogonal")
    torch.manual_seed(3)
    e = build_mlp(4, 2, depth=3, width=8, activation="tanh", init="orthogonal")
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), e.parameters()))


# --- torch tooling: export, jit, state_dict, pickling ------------------------------------------------

def _check_tooling(net: nn.Module, x: torch.Tensor) -> None:
    net.eval()
    want = net(x)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), want, rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is in maintenance; it must still work
        traced = torch.jit.trace(net, (x,))
        scripted = torch.jit.script(net)
    torch.testing.assert_close(traced(x), want, rtol=0, atol=0)
    torch.testing.assert_close(scripted(x), want, rtol=0, atol=0)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_export_trace_script_and_state_dict(activation):
    net = build_mlp(IN, OUT, depth=DEPTH, width=WIDTH, activation=activation, seed=0)
    x = torch.randn(4, IN, generator=torch.Generator().manual_seed(1))
    _check_tooling(net, x)
    ref = hand_written(activation)
    ref.load_state_dict(net.state_dict(), strict=True)
    torch.testing.assert_close(ref(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
@pytest.mark.parametrize("activation", ["tanh", "elu"])
def test_export_trace_script_with_norm_and_residual(norm, activation):
    net = build_mlp(IN, OUT, depth=5, width=WIDTH, activation=activation, norm=norm, residual=True, seed=0)
    _check_tooling(net, torch.randn(4, IN, generator=torch.Generator().manual_seed(1)))


def test_unpickles_where_vanishing_cannot_be_imported(tmp_path):
    """A saved whole module loads in a process that never imports vanishing."""
    x = torch.randn(4, IN, generator=torch.Generator().manual_seed(1))
    for name in ACTIVATIONS:
        net = build_mlp(IN, OUT, depth=DEPTH, width=WIDTH, activation=name, norm="layer", seed=0)
        torch.save({"net": net, "x": x, "y": net(x).detach()}, tmp_path / f"{name}.pt")
    code = (
        "import sys, pathlib, torch\n"
        "sys.modules['vanishing'] = None  # any import of it fails\n"
        f"for p in sorted(pathlib.Path({str(tmp_path)!r}).glob('*.pt')):\n"
        "    d = torch.load(p, weights_only=False)\n"
        "    assert torch.equal(d['net'](d['x']), d['y']), p\n"
        "assert 'vanishing.nets' not in sys.modules\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_residual_model_round_trips_through_torch_save():
    net = build_mlp(WIDTH, OUT, depth=4, width=WIDTH, norm="layer", residual=True, seed=0)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    x = torch.randn(3, WIDTH)
    torch.testing.assert_close(back(x), net(x), rtol=0, atol=0)


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=0), "depth 0"),
    (dict(width=-2), "width -2"),
    (dict(norm="group"), "none, batch, layer"),
    (dict(activation="swish"), "activation 'swish'"),
    (dict(init="normal:std=-1"), "std -1"),
    (dict(bias_init="xavier_normal"), "bias_init"),
    (dict(seed=1.5), "invalid seed 1.5; an integer or None"),
    (dict(init="critical:sigma_b2=0.05"), r"resolve it first with vanishing\.config\.resolve_init"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mlp(4, 2, **kwargs)


def test_critical_resolved_by_the_config_builds():
    from vanishing.config import resolve_init
    from vanishing.theory import critical_sigma_w2

    net = build_mlp(64, 10, depth=4, width=512, activation="tanh", init=resolve_init("critical:sigma_b2=0.05", "tanh"),
                    seed=0)
    w = weight_layers(net)[2].weight.double()
    assert 512 * w.pow(2).mean().item() == pytest.approx(critical_sigma_w2("tanh", 0.05), rel=0.02)

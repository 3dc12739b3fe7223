"""Recurrent nets unrolled from cells: seeded inits, the init options, and the unrolled forward
pass against PyTorch's fused modules with the same weights."""

import math

import pytest
import torch
from torch import nn

from vanishing.errors import ConfigError
from vanishing.nets.rnn import GATES, build_rnn

KINDS = ["rnn", "irnn", "lstm", "gru"]


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_and_global_generator_untouched(kind):
    state = torch.random.get_rng_state()
    a, b = build_rnn(kind, 3, 2, hidden=6, layers=2, seed=4), build_rnn(kind, 3, 2, hidden=6, layers=2, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n
    c = build_rnn(kind, 3, 2, hidden=6, layers=2, seed=5)
    assert not torch.equal(a.cells[0].weight_hh, c.cells[0].weight_hh) or kind == "irnn"


@pytest.mark.parametrize("kind,fused", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_unrolled_equals_the_fused_module(kind, fused):
    net = build_rnn(kind, 3, 2, hidden=5, layers=2, seed=0).double()
    ref = fused(3, 5, num_layers=2, batch_first=True).double()
    with torch.no_grad():
        for k, cell in enumerate(net.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, f"{name}_l{k}").copy_(getattr(cell, name))
    x = torch.randn(4, 9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out, _ = ref(x)
    torch.testing.assert_close(net(x), net.readout(out[:, -1]), rtol=1e-12, atol=1e-12)


def test_per_step_readout_shape():
    net = build_rnn("gru", 3, 10, hidden=4, per_step=True, seed=0)
    assert net(torch.zeros(2, 7, 3)).shape == (2, 7, 10)


def test_irnn_is_identity_relu_zero_bias():
    net = build_rnn("irnn", 3, 1, hidden=6, seed=0)
    cell = net.cells[0]
    assert cell.nonlinearity == "relu" and torch.equal(cell.weight_hh, torch.eye(6))
    assert (cell.bias_ih == 0).all() and (cell.bias_hh == 0).all()
    assert cell.weight_ih.std() < 0.01  # N(0, 0.001²), Le et al.


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_inits_per_gate_block(kind):
    H = 8
    net = build_rnn(kind, 3, 1, hidden=H, recurrent_init="orthogonal:gain=1", seed=0)
    w = net.cells[0].weight_hh.detach().double()
    for b in range(GATES[kind]):
        block = w[b * H:(b + 1) * H]
        torch.testing.assert_close(block @ block.T, torch.eye(H, dtype=torch.float64), atol=1e-6, rtol=0)
    net = build_rnn(kind, 3, 1, hidden=H, recurrent_init="identity:gain=0.5", seed=0)
    w = net.cells[0].weight_hh.detach()
    for b in range(GATES[kind]):
        assert torch.equal(w[b * H:(b + 1) * H], 0.5 * torch.eye(H))


def test_lstm_forget_bias_and_chrono():
    H = 16
    net = build_rnn("lstm", 3, 1, hidden=H, forget_bias=2.0, seed=0)
    c = net.cells[0]
    assert torch.equal((c.bias_ih + c.bias_hh)[H:2 * H], torch.full((H,), 2.0))
    net = build_rnn("lstm", 3, 1, hidden=H, chrono=50, seed=0)
    c = net.cells[0]
    b = (c.bias_ih + c.bias_hh).detach()
    bf, bi = b[H:2 * H], b[:H]
    # Tallec & Ollivier: b_f = log U[1, T_max - 1], b_i = -b_f
    assert (bf >= 0).all() and (bf <= math.log(49) + 1e-6).all() and torch.equal(bi, -bf)


def test_bad_settings_are_one_line_errors():
    for kwargs, match in ((dict(kind="lstm", chrono=10), None), (dict(kind="irnn", activation="tanh"), "relu"),
                          (dict(kind="rnn", activation="sigmoid"), "tanh"), (dict(kind="cnn"), "one of"),
                          (dict(kind="rnn", recurrent_init="eye"), "identity"),
                          (dict(kind="rnn", recurrent_init="identity:gain=-1"), "gain"),
                          (dict(kind="gru", chrono=10), "lstm")):
        if match is None:
            build_rnn(**kwargs, in_features=2, out_features=1)
            continue
        with pytest.raises(ConfigError, match=match) as info:
            build_rnn(**kwargs, in_features=2, out_features=1)
        assert "\n" not in str(info.value)

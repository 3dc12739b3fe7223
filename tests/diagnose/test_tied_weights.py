"""A tied language model (a small GPT-2 from a config, random init, no download): the diagnosis does not
compare a weight gradient with itself, and the MLP's activation is GELU's tanh form, not its inner tanh."""

import math

import numpy as np
import pytest
import torch

from vanishing.diagnose import diagnose
from vanishing.diagnose.rules import flow
from vanishing.probe import watch

transformers = pytest.importorskip("transformers")


def _gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(config)


@pytest.fixture(scope="module")
def run():
    model = _gpt2()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    fc_out = []
    hook = model.transformer.h[0].mlp.c_fc.register_forward_hook(lambda m, a, o: fc_out.append(o.detach()))
    with watch(model, opt, every=1) as probe:
        for _ in range(2):
            ids = torch.randint(0, 50, (4, 12), generator=g)
            opt.zero_grad()
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
    hook.remove()
    return model, probe.trace, fc_out


def test_tied_embedding_and_head_are_recorded_as_shared(run):
    model, t, _ = run
    assert model.lm_head.weight is model.transformer.wte.weight
    names = t.layer_names
    assert names[0] == "transformer.wte" and names[-1] == "lm_head"
    assert [0, len(names) - 1] in t.meta["probe"]["shared_weights"]
    assert t["grad_norm"][0, 0] == t["grad_norm"][0, -1]  # one tensor: 0 orders by construction


def test_diagnosis_uses_signal_norms_and_says_so(run):
    _, t, _ = run
    fl = flow(t)
    assert math.isnan(fl["vanishing_orders"]) and math.isnan(fl["vanishing_orders_final"])
    assert fl["tied"] == ["transformer.wte", "lm_head"]
    assert fl["worst"] == "signal_vanishing_orders" and math.isfinite(fl["signal_vanishing_orders"])
    d = diagnose(t)
    tied = [f for f in d.findings if f.kind == "tied_weights"]
    assert len(tied) == 1 and tied[0].severity == "info"
    assert "signal" in tied[0].reason and "transformer.wte" in tied[0].cause


def test_gpt2_mlp_activation_is_gelu_tanh_with_autograds_mean(run):
    model, t, fc_out = run
    i = t.layer_names.index("transformer.h.0.mlp.c_fc")
    assert t.layers[i].activation == "gelu_tanh"
    z = fc_out[0].double().requires_grad_(True)
    c = math.sqrt(2 / math.pi)
    (d,) = torch.autograd.grad((0.5 * z * (1 + torch.tanh(c * (z + 0.044715 * z ** 3)))).sum(), z)
    assert t["act_derivative_mean"][0, i] == pytest.approx(float(d.mean()), rel=1e-5)
    assert 0.4 < t["act_derivative_mean"][0, i] < 0.7  # GELU's, not the inner tanh's (≈ 0.98)
    assert np.isfinite(t["signal_grad_norm"]).all()

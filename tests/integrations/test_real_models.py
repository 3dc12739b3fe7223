"""The probe on the models people train: every parameter in exactly one reported layer, per-layer
gradient norms equal to ``p.grad`` norms computed by hand in float64, and a diagnosis that tells a
fresh ResNet-18 (healthy) from a deep plain sigmoid CNN (vanishing).

The models are small hand-written versions of torchvision's ResNet-18 and VGG-11, a timm-style ViT
(``cls_token`` and ``pos_embed`` owned by the model itself), a transformers GPT-2 with tied
``wte``/``lm_head``, an LSTM classifier with two stacked layers, and a model with a tied weight and a
module called twice (tests/integrations/models.py).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import vanishing
from vanishing.probe import watch
from vanishing.probe.layers import ATOMIC

from models import CASES, plain_sigmoid_cnn, resnet18

pytestmark = pytest.mark.integrations

STEPS = 2
EPS64 = torch.finfo(torch.float64).eps
_RNN_ROW = re.compile(r"^(?P<module>.*)\.l(?P<k>\d+)$")


def _case(name: str):
    if name == "gpt2":
        pytest.importorskip("transformers")
    torch.manual_seed(0)
    return CASES[name]()


def _options(name: str) -> dict:
    return {"stray_params": True} if name == "vit" else {}


def layer_params(model: nn.Module, layer: str) -> dict[str, nn.Parameter]:
    """The parameters a reported layer must cover, by the probe's documented rules (written out
    here independently of its code): a module's own parameters and, for a module without
    parameterised children (or an atomic one), those of its children; ``"<rnn>.l<k>"`` — the
    ``*_l<k>`` (and ``*_l<k>_reverse``) parameters of a stacked recurrent module; a parameter that
    no such module holds (``stray_params=True``) — a row of its own, named after it."""
    modules = dict(model.named_modules())
    params = dict(model.named_parameters())
    if layer in params and layer not in modules:
        return {layer.rsplit(".", 1)[-1]: params[layer]}
    m = _RNN_ROW.match(layer)
    if m and isinstance(modules.get(m["module"]), nn.RNNBase):
        rnn, k = modules[m["module"]], m["k"]
        return {n: p for n, p in rnn.named_parameters() if re.search(rf"_l{k}(_reverse)?$", n)}
    module = modules.get(layer)
    if module is None and layer == type(model).__name__:  # the model itself, unnamed
        module = model
    assert module is not None, f"the probe reports a layer {layer!r} that is no module of the model"
    nested = any(next(c.parameters(), None) is not None for c in module.children())
    own = dict(module.named_parameters(recurse=False))
    if nested and own and not isinstance(module, ATOMIC):
        return own
    return dict(module.named_parameters())


def _is_bias(name: str) -> bool:
    return "bias" in name.rsplit(".", 1)[-1]


def run_probed(name: str):
    """Two SGD steps under ``watch(every=1)``; the float64 norms of every ``p.grad`` just before each
    step, by parameter identity."""
    model, batch, loss_fn = _case(name)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    reference: list[dict[int, float]] = []
    with watch(model, opt, every=1, **_options(name)) as probe:
        for _ in range(STEPS):
            opt.zero_grad()
            loss_fn(model, batch(g)).backward()
            reference.append({id(p): torch.linalg.vector_norm(p.grad.double()).item()
                              for p in model.parameters() if p.grad is not None})
            opt.step()
    return model, probe.trace, reference


@pytest.fixture(scope="module", params=list(CASES))
def probed(request):
    return (request.param, *run_probed(request.param))


def test_every_parameter_belongs_to_exactly_one_reported_layer(probed):
    name, model, trace, _ = probed
    owners: dict[int, list[str]] = {}
    for layer in trace.layer_names:
        for p in layer_params(model, layer).values():
            owners.setdefault(id(p), []).append(layer)
    named = dict(model.named_parameters(remove_duplicate=False))
    missing = [n for n, p in named.items() if id(p) not in owners]
    assert not missing, f"{name}: parameters in no reported layer: {missing}"
    # a tied parameter is owned by each module that holds it: only those may share it
    holders: dict[int, set[str]] = {}
    for mod_name, mod in model.named_modules(remove_duplicate=False):
        for p in mod.parameters(recurse=False):
            holders.setdefault(id(p), set()).add(mod_name)
    for n, p in named.items():
        if len(owners[id(p)]) > 1:
            assert len(holders[id(p)]) > 1 and set(owners[id(p)]) <= holders[id(p)], \
                f"{name}: {n} is reported in {owners[id(p)]} but only held by {sorted(holders[id(p)])}"


def test_the_layers_people_look_for_are_found(probed):
    name, model, trace, _ = probed
    layers = set(trace.layer_names)
    expected = {
        "resnet18": {"conv1", "bn1", "layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample.0",
                     "layer4.1.conv2", "fc"},
        "vgg11": {"features.0", "features.3", "features.18", "classifier.0", "classifier.6"},
        "vit": {"patch_embed.proj", "blocks.0.attn.qkv", "blocks.1.attn.proj", "blocks.0.norm1", "blocks.1.mlp.fc2",
                "norm", "head"},
        "gpt2": {"transformer.wte", "transformer.wpe", "transformer.h.0.ln_1", "transformer.h.0.attn.c_attn",
                 "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_fc", "transformer.ln_f", "lm_head"},
        "lstm": {"embed", "lstm.l0", "lstm.l1", "fc"},
        "tied_twice": {"embed", "hidden", "norm", "out"},
    }[name]
    assert expected <= layers, f"{name}: missing {sorted(expected - layers)}"
    if name == "vit":  # cls_token and pos_embed: rows of their own, on the input side of the blocks
        names = trace.layer_names
        assert {"cls_token", "pos_embed"} <= layers
        assert max(names.index("cls_token"), names.index("pos_embed")) < names.index("blocks.0.norm1"), names
    if name == "tied_twice":  # called twice, reported once
        assert trace.layer_names.count("hidden") == 1


def _rtol(fp32_rtol, tensors: list[nn.Parameter]) -> float:
    """Probe (float32 sums on the CPU, float64 where tiny) vs float64: the float32 bound of the
    largest tensor, plus float64 rounding of the root-sum-square over the layer's tensors."""
    return fp32_rtol(max(p.numel() for p in tensors)) + 8 * len(tensors) * EPS64


@pytest.mark.parametrize("quantity, keep", [("grad_norm", lambda n: not _is_bias(n)),
                                            ("bias_grad_norm", _is_bias)])
def test_per_layer_gradient_norms_equal_hand_computed_norms(probed, quantity, keep, fp32_rtol):
    name, model, trace, reference = probed
    got = trace[quantity]
    assert got.shape == (STEPS, len(trace.layers))
    checked = 0
    for li, layer in enumerate(trace.layer_names):
        params = [p for n, p in layer_params(model, layer).items() if keep(n)]
        for k in range(STEPS):
            with_grad = [p for p in params if id(p) in reference[k]]
            if not with_grad:
                assert math.isnan(got[k, li]), f"{name} {layer} step {k}: {quantity} without a gradient"
                continue
            want = math.sqrt(sum(reference[k][id(p)] ** 2 for p in with_grad))
            assert got[k, li] == pytest.approx(want, rel=_rtol(fp32_rtol, with_grad), abs=0), \
                f"{name} {layer} step {k}: {quantity} {got[k, li]!r} vs p.grad {want!r}"
            checked += 1
    assert checked > 0 or quantity == "bias_grad_norm"


def _no_output(trace, i: int) -> bool:
    """Rows without an output of their own, whose ∂L/∂z cannot be observed: a stray parameter, and a
    stacked layer of a fused RNN below its last (torch returns the last layer's outputs only)."""
    info = trace.layers[i]
    m = _RNN_ROW.match(info.name)
    last = m and not any(n.startswith(m["module"] + ".l") and int(n.rsplit(".l", 1)[1]) > int(m["k"])
                         for n in trace.layer_names)
    return info.type == "Parameter" or bool(m and info.type in ("LSTM", "GRU", "RNN") and not last)


def test_nothing_nonfinite_and_every_observable_signal_recorded(probed):
    name, model, trace, _ = probed
    assert np.all(trace["nonfinite_grads"] == 0)
    sig = trace["signal_grad_norm"]
    seen = [i for i in range(len(trace.layers)) if not _no_output(trace, i)]
    unseen = sorted(set(range(len(trace.layers))) - set(seen))
    assert np.isfinite(sig[:, seen]).all() and (sig[:, seen] > 0).all(), \
        f"{name}: {dict(zip(trace.layer_names, sig[0]))}"
    assert np.isnan(sig[:, unseen]).all(), f"{name}: {dict(zip(trace.layer_names, sig[0]))}"
    if name in ("vit", "lstm"):
        assert unseen == [trace.layer_names.index(n) for n in
                          {"vit": ["cls_token", "pos_embed"], "lstm": ["lstm.l0"]}[name]]


def _diagnosed(case, steps: int = 3):
    model, batch, loss_fn = case
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(2)
    with watch(model, opt, every=1) as probe:
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(model, batch(g)).backward()
            opt.step()
    return vanishing.diagnose(probe.trace)


def test_a_fresh_resnet18_is_healthy_and_a_deep_plain_sigmoid_cnn_is_vanishing():
    torch.manual_seed(0)
    healthy = _diagnosed(resnet18())
    assert healthy.healthy, [f"{f.kind}: {f.effect}" for f in healthy.problems]
    torch.manual_seed(0)
    sick = _diagnosed(plain_sigmoid_cnn())
    assert sick.verdict == "vanishing_gradients", [f"{f.kind}: {f.effect}" for f in sick.problems]
    assert sick.numbers["signal_vanishing_orders"] >= 2.5


def test_a_module_called_twice_reports_the_signal_of_both_calls(fp32_rtol):
    """‖∂L/∂z‖ of a layer called twice is the root-sum-square over its two outputs' gradients."""
    model, batch, loss_fn = _case("tied_twice")
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    outputs: list[torch.Tensor] = []
    hook = model.hidden.register_forward_hook(lambda m, a, out: out.retain_grad() or outputs.append(out))
    want = []
    with watch(model, opt, every=1, quantities=["signal_grad_norm"]) as probe:
        for batch_ in [batch(torch.Generator().manual_seed(k)) for k in range(STEPS)]:
            outputs.clear()
            opt.zero_grad()
            loss_fn(model, batch_).backward()
            assert len(outputs) == 2
            want.append(math.sqrt(sum(torch.linalg.vector_norm(z.grad.double()).item() ** 2 for z in outputs)))
            opt.step()
    hook.remove()
    got = probe.trace["signal_grad_norm"][:, probe.trace.layer_names.index("hidden")]
    assert got == pytest.approx(np.array(want), rel=_rtol(fp32_rtol, outputs), abs=0)

"""The probe's readings on every available device (CPU always, CUDA where present): weight and bias
gradient norms against float64 ``p.grad`` norms, backpropagated signals against the gradients
autograd leaves on the layer outputs, and AMP with a GradScaler (readings unscaled).

On the CPU the probe sums norms in float32 (float64 where a norm is tiny); on an accelerator it sums
in float64 on the device. The float32 bound covers both. ``benchmarks/gpu_check.py`` runs this file
on CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vanishing.probe import NORMS, watch

DEVICES = [pytest.param("cpu"),
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
EPS64 = torch.finfo(torch.float64).eps


def _net(device: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 5)).to(device)


LAYERS = ["0", "3", "5", "7"]


def _batches(device: str, n: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 3, 6, 6, generator=g).to(device), torch.randint(0, 5, (8,), generator=g).to(device))
            for _ in range(n)]


def _rtol(fp32_rtol, tensors) -> float:
    return fp32_rtol(max(t.numel() for t in tensors)) + 8 * len(tensors) * EPS64


def _norm64(t: torch.Tensor) -> float:
    return torch.linalg.vector_norm(t.double()).item()


@pytest.mark.parametrize("device", DEVICES)
def test_norms_equal_float64_norms_of_p_grad(device, fp32_rtol):
    net = _net(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    mods = [net[int(i)] for i in LAYERS]
    want = {"grad_norm": [], "bias_grad_norm": [], "param_norm": []}
    with watch(net, opt, every=1, quantities=list(NORMS)) as probe:
        for x, y in _batches(device):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            want["grad_norm"].append([_norm64(m.weight.grad) for m in mods])
            want["bias_grad_norm"].append([_norm64(m.bias.grad) for m in mods])
            want["param_norm"].append([_norm64(m.weight) for m in mods])
            opt.step()
    t = probe.trace
    assert t.layer_names == LAYERS
    rtol = _rtol(fp32_rtol, [m.weight for m in mods])
    for q, rows in want.items():
        assert t[q] == pytest.approx(np.array(rows), rel=rtol, abs=0), q
    assert (t["nonfinite_grads"] == 0).all()


@pytest.mark.parametrize("device", DEVICES)
def test_signals_equal_the_gradients_autograd_leaves_on_layer_outputs(device, fp32_rtol):
    net = _net(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    outputs: list[torch.Tensor] = []
    keep = [net[int(i)].register_forward_hook(lambda m, a, out: out.retain_grad() or outputs.append(out))
            for i in LAYERS]
    want = []
    with watch(net, opt, every=1, quantities=["signal_grad_norm"]) as probe:
        for x, y in _batches(device):
            outputs.clear()
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            want.append([_norm64(z.grad) for z in outputs])
            opt.step()
    for h in keep:
        h.remove()
    got = probe.trace["signal_grad_norm"]
    assert got == pytest.approx(np.array(want), rel=_rtol(fp32_rtol, outputs), abs=0)


@pytest.mark.parametrize("device", DEVICES)
def test_amp_with_a_grad_scaler_gives_unscaled_readings(device, fp32_rtol):
    """Mixed precision (float16 on CUDA, bfloat16 on the CPU) with a GradScaler whose scale is far from 1:
    gradient norms are those of the unscaled ``p.grad`` that ``optimizer.step()`` sees, signals those of
    the scaled output gradients divided by the scale."""
    net = _net(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler(device, init_scale=2.0 ** 12)
    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    mods = [net[int(i)] for i in LAYERS]
    outputs: list[torch.Tensor] = []
    keep = [m.register_forward_hook(lambda m, a, out: out.retain_grad() or outputs.append(out)) for m in mods]
    want_w, want_s = [], []
    with watch(net, opt, every=1, quantities=["grad_norm", "signal_grad_norm"], scaler=scaler) as probe:
        for x, y in _batches(device):
            outputs.clear()
            opt.zero_grad()
            with torch.autocast(device, dtype=dtype):
                loss = F.cross_entropy(net(x), y)
            scale = scaler.get_scale()
            scaler.scale(loss).backward()
            want_s.append([_norm64(z.grad) / scale for z in outputs])
            scaler.unscale_(opt)
            want_w.append([_norm64(m.weight.grad) for m in mods])
            scaler.step(opt)
            scaler.update()
    for h in keep:
        h.remove()
    t = probe.trace
    assert scale != 1.0
    assert t["grad_norm"] == pytest.approx(np.array(want_w), rel=_rtol(fp32_rtol, [m.weight for m in mods]), abs=0)
    # the signal hooks see half-precision gradients: their float32/64 norms, and a division by the scale
    assert t["signal_grad_norm"] == pytest.approx(np.array(want_s), rel=_rtol(fp32_rtol, outputs), abs=0)

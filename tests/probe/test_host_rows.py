"""The CPU path of the gradient norms (float32, float64 only where tiny or not finite) equals the
accelerator path (float64 sums) to float32 rounding, per layer, whatever the layout of the parameters."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vanishing.probe import NORMS, Probe, watch


LARGEST = 4 * 7 * 7 + 4 * 7 * 5  # entries of the LSTM's weights (one layer row), the most any row sums


class _Net(nn.Module):
    """An LSTM (two weights and two biases per layer) and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(5, 7, batch_first=True)
        self.head = nn.Linear(7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _trace(host: bool, poison: bool) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    net = _Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    probe = watch(net, opt, every=1, quantities=list(NORMS))
    probe.host_norms = host
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        opt.zero_grad()
        net(torch.randn(4, 6, 5, generator=g)).pow(2).mean().backward()
        if poison and step == 1:
            net.rnn.weight_hh_l0.grad[0, :3] = float("nan")
            net.head.bias.grad[1] = float("inf")
        opt.step()
    return dict(probe.trace.data)


def test_host_rows_equal_the_device_path(fp32_rtol) -> None:
    for poison in (False, True):
        a, b = _trace(True, poison), _trace(False, poison)
        assert set(a) == set(b)
        for q in a:
            # float32 sums (host) against float64 sums (device) of the largest layer's entries
            np.testing.assert_allclose(a[q], b[q], rtol=fp32_rtol(LARGEST), equal_nan=True, err_msg=q)
        if poison:
            assert a["nonfinite_grads"][1].tolist() == [3.0, 1.0]


class _Switch(nn.Module):
    """Two heads used on alternate steps: the set of parameters with gradients changes step to step."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(5, 6)
        self.a, self.b = nn.Linear(6, 2), nn.Linear(6, 2)
        self.use_b = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(self.body(x))
        return self.b(h) if self.use_b else self.a(h) + 0 * self.b(h).detach()


def _switch_trace(host: bool, flush_every: int) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    net = _Switch()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    probe = Probe(net, opt, quantities={"grad_norm": 1, "param_norm": 2, "bias_grad_norm": 1,
                                        "nonfinite_grads": 1, "update_ratio": 3}, flush_every=flush_every).attach()
    probe.host_norms = host
    g = torch.Generator().manual_seed(1)
    for step in range(7):
        net.use_b = step % 2 == 1
        opt.zero_grad(set_to_none=True)
        net(torch.randn(4, 5, generator=g)).pow(2).mean().backward()
        opt.step()
    return dict(probe.trace.data)


def test_deferred_rows_across_flushes_and_changing_gradients(fp32_rtol) -> None:
    """Rows grouped by which parameters had gradients, flushed every 2 steps or once: the device
    path's numbers."""
    ref = _switch_trace(False, 256)
    for flush_every in (2, 256):
        got = _switch_trace(True, flush_every)
        assert set(got) == set(ref)
        for q in ref:
            np.testing.assert_allclose(got[q], ref[q], rtol=fp32_rtol(LARGEST), equal_nan=True,
                                       err_msg=(q, flush_every))
    # head b has no gradient on even steps, head a none on odd ones
    assert np.isnan(ref["grad_norm"][0::2, 2]).all() and np.isfinite(ref["grad_norm"][1::2, 2]).all()
    assert np.isnan(ref["grad_norm"][1::2, 1]).all() and np.isfinite(ref["grad_norm"][0::2, 1]).all()
    assert np.isfinite(ref["update_ratio"][[0, 3, 6]]).any() and np.isnan(ref["update_ratio"][[1, 2, 4, 5]]).all()

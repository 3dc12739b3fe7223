"""The CPU path of the gradient-norm rows (host floats) equals the device path (tensor ops)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vanishing.probe import NORMS, watch


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
    probe._host_rows = host
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        opt.zero_grad()
        net(torch.randn(4, 6, 5, generator=g)).pow(2).mean().backward()
        if poison and step == 1:
            net.rnn.weight_hh_l0.grad[0, :3] = float("nan")
            net.head.bias.grad[1] = float("inf")
        opt.step()
    return dict(probe.trace.data)


def test_host_rows_equal_the_device_path() -> None:
    for poison in (False, True):
        a, b = _trace(True, poison), _trace(False, poison)
        assert set(a) == set(b)
        for q in a:
            np.testing.assert_allclose(a[q], b[q], rtol=1e-12, equal_nan=True, err_msg=q)
        if poison:
            assert a["nonfinite_grads"][1].tolist() == [3.0, 1.0]

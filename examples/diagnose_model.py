"""Diagnose your own model: a small CNN on the 8×8 digits, with and without the classic mistake.

From the command line (in this folder)::

    vanishing diagnose diagnose_model:deep_sigmoid_cnn --steps 60
    vanishing diagnose diagnose_model:relu_cnn --steps 60 --json diagnosis.json

Inside your own training loop::

    with vanishing.watch(model, optimizer) as probe:
        ...                                   # your loop
    print(vanishing.diagnose(probe.trace).to_markdown())
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vanishing.data import load_dataset


def _digits_loader(batch_size: int = 64) -> DataLoader:
    data = load_dataset("digits", seed=0)
    x = data.x_train.reshape(-1, 1, 8, 8)  # (N, C, H, W)
    return DataLoader(TensorDataset(x, data.y_train), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def _cnn(act: type[nn.Module], depth: int, std: float | None) -> nn.Sequential:
    """``std=None``: He init (σ_w² = 2, right for ReLU); else N(0, std²) weights."""
    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, padding=1), act()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(16, 16, 3, padding=1), act()]
    layers += [nn.Flatten(), nn.Linear(16 * 8 * 8, 10)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if std is None:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)
    return net


def deep_sigmoid_cnn():
    """Six sigmoid conv layers with a small init: the gradient vanishes before it reaches the first."""
    torch.manual_seed(0)
    return _cnn(nn.Sigmoid, depth=6, std=0.05), _digits_loader()


def relu_cnn():
    """The same CNN with ReLU and He init (PyTorch's default init is too small for deep ReLU nets:
    σ_w² = 1/3 loses ~0.4 orders per layer), and an explicit loss."""
    torch.manual_seed(0)
    return _cnn(nn.ReLU, depth=4, std=None), _digits_loader(), nn.CrossEntropyLoss()


if __name__ == "__main__":
    from vanishing.diagnose.model import diagnose_model, resolve_factory

    for factory in (deep_sigmoid_cnn, relu_cnn):
        diagnosis, _ = diagnose_model(resolve_factory(factory()), steps=60)
        print(diagnosis.to_markdown())

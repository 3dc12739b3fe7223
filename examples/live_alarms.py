"""Live logging with alarms: three small networks made to fail on purpose, each trained a few steps
under a LiveLogger; prints the alarms and, when tensorboard is installed, writes runs/live-alarms/.

    python examples/live_alarms.py
    tensorboard --logdir runs/live-alarms      # vanishing/nonfinite/* and the vanishing/alarm text
"""

from __future__ import annotations

import importlib.util
import math

import torch
from torch import nn

import vanishing
from vanishing.integrations import LiveLogger, MemorySink, TensorBoardSink


class Net(nn.Module):
    """fc1 → tanh → ×scale → fc2 → tanh/ReLU → fc3."""

    def __init__(self, scale: float = 1.0, dead: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 1)
        self.scale, self.act = scale, (torch.relu if dead else torch.tanh)
        if dead:  # every ReLU unit below 0 for every input: no gradient flows below fc3
            with torch.no_grad():
                self.fc2.bias.fill_(-100.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.act(self.fc2(self.scale * torch.tanh(self.fc1(x)))))


CASES = {  # name → (network, step at which one input entry is +inf)
    "vanishing: fc1's output scaled by 1e-10": (lambda: Net(scale=1e-10), None),
    "dead ReLU layer: fc2's bias -100": (lambda: Net(dead=True), None),
    "an Inf in the input at step 3": (lambda: Net(), 3),
}


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, bad_step: int | None = None,
          probe: vanishing.Probe | None = None) -> None:
    """``steps`` SGD steps on random inputs (seeded), loss mean(y²); at ``bad_step`` one input entry is +inf."""
    g = torch.Generator().manual_seed(1)
    for k in range(steps):
        x = torch.randn(16, 4, generator=g)
        if k == bad_step:
            x[0, 0] = math.inf
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        if probe is not None:
            probe.log(loss=loss.detach())
        opt.step()


def main() -> None:
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    for i, (name, (make, bad_step)) in enumerate(CASES.items()):
        model = make()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        probe = vanishing.watch(model, opt, every=1)
        sink = TensorBoardSink(f"runs/live-alarms/{i}") if tensorboard else MemorySink()
        with LiveLogger(probe, sink, every=10) as live:
            train(model, opt, 6, bad_step, probe)
        print(f"{name}:")
        for alarm in live.alarms:
            print(f"  {alarm}")


if __name__ == "__main__":
    main()

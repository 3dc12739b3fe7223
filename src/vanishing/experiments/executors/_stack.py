"""The members of a stacked group as one network: :func:`~vanishing.nets.build_mlp`'s own modules,
their parameters stacked along a leading member axis.

The forward pass walks the very ``nn.Sequential`` a single run trains, module by module: an
``nn.Linear`` becomes one ``torch.baddbmm`` over the members, ``nn.LayerNorm`` normalises each
member's rows with its own affine parameters, an activation module runs as it is (elementwise, on
all members at once) and ``Residual`` adds its input back. Any other module (batch norm: running
statistics per member) cannot be stacked and raises, and the group runs as single runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...activations import BoundActivation, activation_from_module
from ...errors import VanishingError
from ...nets import Residual
from ...probe.layers import layer_info
from ...probe.trace import LayerInfo

__all__ = ["StackedNet", "Kept"]


@dataclass
class Kept:
    """What a recorded step keeps of a forward pass, per weight layer ``l``: its output z (retaining
    its gradient ∂L/∂z), a view of its input (whose gradient is the part sent through this layer
    only; None for the data) and its activation ``(act, x, y)`` (None where none follows)."""

    zs: list[Tensor] = field(default_factory=list)
    xs: list[Tensor | None] = field(default_factory=list)
    acts: list[tuple[BoundActivation, Tensor, Tensor] | None] = field(default_factory=list)


class StackedNet:
    """``models`` (same architecture) as one stacked computation on ``device``.

    ``weights[l]`` is layer ``l``'s weight stacked and transposed, (m, in, out): every product is a
    plain ``bmm`` (a transposed view costs 10-25 % more per layer on the reference shapes);
    ``weight_views()`` gives them in ``nn.Linear``'s layout (m, out, in) for the quantities.
    """

    def __init__(self, models: list[nn.Module], device: torch.device):
        self.root = models[0]
        named = [dict(m.named_modules()) for m in models]

        def leaf(ts: list[Tensor]) -> Tensor:
            return torch.stack([t.detach() for t in ts]).to(device).contiguous().requires_grad_()

        self.weights: list[Tensor] = []
        self.biases: list[Tensor] = []
        self.norm_params: dict[str, tuple[Tensor, Tensor]] = {}
        self.layer_of: dict[str, int] = {}
        self.layers: list[LayerInfo] = []
        acts: dict[int, str] = {}
        self.act_modules: dict[nn.Module, BoundActivation] = {}
        for name, m in self.root.named_modules():
            if isinstance(m, nn.Linear):
                self.layer_of[name] = len(self.weights)
                self.weights.append(leaf([n[name].weight.t() for n in named]))
                self.biases.append(leaf([n[name].bias for n in named]))
            elif isinstance(m, nn.LayerNorm):
                self.norm_params[name] = (leaf([n[name].weight for n in named]), leaf([n[name].bias for n in named]))
            elif (act := activation_from_module(m)) is not None:
                self.act_modules[m] = act
                if self.weights:
                    acts.setdefault(len(self.weights) - 1, act.spec)  # the first activation after a layer
            elif not isinstance(m, (nn.Sequential, Residual, nn.Identity)):
                raise VanishingError(f"cannot stack {type(m).__name__} modules")
        self.layers = [layer_info(name, named[0][name], acts.get(l)) for name, l in self.layer_of.items()]
        self._kept: Kept | None = None
        self._cursor: int | None = None

    def parameters(self) -> list[Tensor]:
        return self.weights + self.biases + [p for pair in self.norm_params.values() for p in pair]

    def weight_views(self) -> list[Tensor]:
        """(m, out, in) views of the weights: ``nn.Linear``'s layout."""
        return [w.transpose(1, 2) for w in self.weights]

    def forward(self, x: Tensor, keep: bool = False) -> tuple[Tensor, Kept | None]:
        """Outputs (m, N, C) from ``x`` (m, N, F); with ``keep`` what the quantities read (see :class:`Kept`)."""
        self._kept = Kept() if keep else None
        self._cursor = None
        out = self._run(self.root, "", x)
        kept, self._kept = self._kept, None
        return out, kept

    def _run(self, m: nn.Module, name: str, h: Tensor) -> Tensor:
        kept = self._kept
        if isinstance(m, nn.Sequential):
            for child, sub in m.named_children():
                h = self._run(sub, f"{name}.{child}" if name else child, h)
            return h
        if isinstance(m, Residual):
            return h + self._run(m.body, f"{name}.body", h)
        if isinstance(m, nn.Linear):
            l = self.layer_of[name]
            if kept is not None:
                x = h.view_as(h) if h.requires_grad else None
                if x is not None:
                    x.retain_grad()
                    h = x
                kept.xs.append(x)
            z = torch.baddbmm(self.biases[l].unsqueeze(1), h, self.weights[l])
            if kept is not None:
                z.retain_grad()
                kept.zs.append(z)
                kept.acts.append(None)
            self._cursor = l
            return z
        if isinstance(m, nn.LayerNorm):
            gamma, beta = self.norm_params[name]
            return F.layer_norm(h, m.normalized_shape, eps=m.eps) * gamma.unsqueeze(1) + beta.unsqueeze(1)
        y = m(h)
        act = self.act_modules.get(m)
        if act is not None and self._cursor is not None:
            if kept is not None:
                kept.acts[self._cursor] = (act, h, y)
            self._cursor = None
        return y



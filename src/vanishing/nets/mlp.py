"""Deep fully connected networks for reproducing vanishing gradients."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from ..errors import ConfigError
from ..activations import get_activation
from .inits import get_init

__all__ = ["MLP", "build_mlp", "NORMS"]

NORMS = ("none", "batch", "layer")
Norm = Literal["none", "batch", "layer"]


class Block(nn.Module):
    """``z = W h + b`` → optional norm → activation; with ``residual``, ``h + act(norm(z))``."""

    def __init__(self, linear: nn.Linear, norm: nn.Module, act: nn.Module, residual: bool):
        super().__init__()
        self.linear, self.norm, self.act, self.residual = linear, norm, act, residual

    def forward(self, h: Tensor) -> Tensor:
        out = self.act(self.norm(self.linear(h)))
        return h + out if self.residual else out

    def extra_repr(self) -> str:
        return "residual=True" if self.residual else ""


class MLP(nn.Module):
    """A stack of ``depth`` weight layers: ``depth - 1`` hidden blocks, then a linear read-out.

    ``weight_layers()`` lists the ``nn.Linear`` modules input side first; layer ``l``
    of every recorded quantity is ``weight_layers()[l]``.
    """

    def __init__(self, blocks: list[Block], out: nn.Linear):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.out = out

    def forward(self, x: Tensor) -> Tensor:
        h = x.flatten(1)
        for block in self.blocks:
            h = block(h)
        return self.out(h)

    def weight_layers(self) -> list[nn.Linear]:
        return [b.linear for b in self.blocks] + [self.out]


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def build_mlp(
    in_features: int,
    out_features: int,
    depth: int = 10,
    width: int = 64,
    activation: str = "relu",
    init: str = "he_normal",
    bias_init: str = "zeros",
    norm: Norm = "none",
    residual: bool = False,
) -> MLP:
    """Build a deep MLP whose ``depth`` counts weight layers (hidden layers + read-out).

    Args:
        activation: a registered activation spec, e.g. ``"sigmoid"`` or ``"leaky_relu:negative_slope=0.2"``.
        init: weight init spec, e.g. ``"normal:std=0.01"``, ``"he_normal"``, ``"critical"``.
        bias_init: bias init spec in the same grammar (default zeros).
        norm: ``none`` | ``batch`` | ``layer`` normalisation after each hidden linear layer.
        residual: identity skip around every hidden block whose input and output width agree.

    Example:
        >>> net = build_mlp(64, 10, depth=20, activation="sigmoid", init="normal:std=0.01")
        >>> len(net.weight_layers())
        20
    """
    for field, value in (("in_features", in_features), ("out_features", out_features),
                         ("depth", depth), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(field, value, "an integer >= 1")
    if norm not in NORMS:
        raise ConfigError("norm", norm, NORMS)
    act = get_activation(activation)
    w_init = get_init(init, activation=act.spec, field="init")
    b_init = get_init(bias_init, activation=act.spec, field="bias_init")

    def linear(n_in: int, n_out: int) -> nn.Linear:
        layer = nn.Linear(n_in, n_out)
        w_init(layer.weight)
        b_init(layer.bias)
        return layer

    blocks = []
    n_in = in_features
    for _ in range(depth - 1):
        blocks.append(Block(linear(n_in, width), _norm(norm, width), act.module(),
                            residual=bool(residual) and n_in == width))
        n_in = width
    return MLP(blocks, linear(n_in, out_features))

r"""Recurrent networks unrolled from plain PyTorch cells, so every hidden state is a tensor in the graph.

``rnn`` (:class:`~torch.nn.RNNCell`, tanh or relu), ``irnn`` (relu, identity recurrent weights;
Le, Jaitly & Hinton 2015), ``lstm`` (:class:`~torch.nn.LSTMCell`, forget-gate bias, ``chrono`` init;
Tallec & Ollivier 2018) and ``gru`` (:class:`~torch.nn.GRUCell`). The net loops over time with one
cell per layer: ``h_t`` (and ``c_t``) of every step is a separate tensor, so ‖∂L/∂h_t‖ can be read at
every t. A fused :class:`~torch.nn.LSTM` cannot show this: the gradient that reaches its ``output``
tensor is only that of what uses ``output`` (the loss), not the part carried back through time inside
the fused kernel.

A readout :class:`~torch.nn.Linear` maps the top layer's last hidden state to the answer
(``per_step=False``: adding, classification) or every step's hidden state to one answer per step
(``per_step=True``: copy). Input (B, T, F), time index 0 = the first input step.

Initialisation is seeded and leaves torch's global generator untouched. Weights are initialised per gate
block (each gate's (H, F) input and (H, H) recurrent matrix on its own), so fan-based and orthogonal
inits see the fans of one gate:

- ``recurrent_init`` (``weight_hh``): any :mod:`vanishing.inits` spec, or ``identity[:gain=g]``;
  ``None`` keeps PyTorch's own U(−1/√H, 1/√H) (``irnn``: ``identity``).
- ``input_init`` (``weight_ih``): the same choices (``irnn``: ``normal:std=0.001``, as Le et al.).
- biases: PyTorch's own (``irnn``: zeros). LSTM: the forget gate's bias (``b_ih + b_hh``) is
  ``forget_bias``; with ``chrono=T_max`` it is :math:`\log U[1, T_{max}-1]` and the input gate's its negative.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..inits import INITS, SCALE_LIMIT, get_init, uniform_, zeros_
from ..spec import parse_spec

__all__ = ["RecurrentNet", "build_rnn", "check_rnn_init", "identity_", "chrono_", "CELLS", "GATES", "KINDS"]

CELLS: dict[str, type[nn.RNNCellBase]] = {"rnn": nn.RNNCell, "irnn": nn.RNNCell, "lstm": nn.LSTMCell,
                                          "gru": nn.GRUCell}
KINDS = tuple(CELLS)
GATES = {"rnn": 1, "irnn": 1, "lstm": 4, "gru": 3}
"""Gate blocks stacked in a cell's weights (PyTorch's order: LSTM i, f, g, o; GRU r, z, n)."""

IDENTITY = "identity"


def identity_(tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
    """``gain`` × the identity matrix (Le, Jaitly & Hinton 2015, IRNN): :math:`h_t = \\mathrm{relu}(h_{t-1} + \\dots)`
    carries the state, and the gradient, unchanged through time at init."""
    SCALE_LIMIT.check("init identity gain", gain)
    if tensor.dim() != 2:
        raise ConfigError("init identity", f"tensor of shape {tuple(tensor.shape)}", "a 2-D weight")
    with torch.no_grad():
        if tensor.device.type == "meta":
            return tensor
        tensor.zero_()
        n = min(tensor.shape)
        tensor[range(n), range(n)] = float(gain)
    return tensor


def chrono_(forget: Tensor, input_gate: Tensor, t_max: int, *, generator: torch.Generator | None = None) -> None:
    """Chrono init (Tallec & Ollivier 2018): :math:`b_f = \\log U[1, T_{max}-1]`, :math:`b_i = -b_f`, so
    the forget gates' time constants spread over 1 … T_max − 1 steps."""
    with torch.no_grad():
        u = torch.rand(forget.shape, generator=generator, dtype=torch.float64)
        forget.copy_(torch.log1p(u * max(t_max - 2, 0)))  # log(1 + u (T_max - 2)) = log U[1, T_max - 1]
        input_gate.copy_(-forget)


def check_rnn_init(spec: str, field: str = "recurrent_init"):
    """Validate an init spec for a cell's weights; return ``f(tensor, generator=None)`` (draws nothing now)."""
    parsed = parse_spec(spec, field)
    if parsed.name == IDENTITY:
        unknown = set(parsed.params) - {"gain"}
        if unknown:
            raise ConfigError(f"{field} identity parameter", sorted(unknown)[0], "parameters allowed: gain")
        gain = SCALE_LIMIT.check(f"{field} identity gain", parsed.params.get("gain", 1.0))
        return lambda t, generator=None: identity_(t, gain, generator=generator)
    if parsed.name not in INITS:
        raise ConfigError(field, parsed.name, INITS.names() + [IDENTITY])
    return get_init(spec, field)


class RecurrentNet(nn.Module):
    """``layers`` cells of one kind, unrolled over time, and a linear readout.

    ``forward(x)``: x (B, T, F) → (B, out) from the last step, or (B, T, out) with ``per_step``.
    """

    def __init__(self, kind: str, in_features: int, out_features: int, hidden: int = 64, layers: int = 1,
                 activation: str = "tanh", per_step: bool = False):
        super().__init__()
        if kind not in CELLS:
            raise ConfigError("model", kind, KINDS)
        self.kind, self.hidden, self.per_step = kind, hidden, per_step
        self.activation = activation if kind in ("rnn", "irnn") else None
        cells = []
        for k in range(layers):
            n_in = in_features if k == 0 else hidden
            # built on the meta device: PyTorch's own init would draw from the global generator
            if CELLS[kind] is nn.RNNCell:
                cell = nn.RNNCell(n_in, hidden, nonlinearity=activation, device="meta")
            else:
                cell = CELLS[kind](n_in, hidden, device="meta")
            cells.append(cell.to_empty(device="cpu"))
        self.cells = nn.ModuleList(cells)
        self.readout = nn.Linear(hidden, out_features, device="meta").to_empty(device="cpu")

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ConfigError("input", f"tensor of shape {tuple(x.shape)}", "(batch, time, features)")
        batch, steps = x.shape[0], x.shape[1]
        zeros = x.new_zeros(batch, self.hidden)
        h = [zeros] * len(self.cells)
        c = [zeros] * len(self.cells)
        tops = []
        for t in range(steps):
            inp = x[:, t]  # (B, F)
            for k, cell in enumerate(self.cells):
                if self.kind == "lstm":
                    h[k], c[k] = cell(inp, (h[k], c[k]))
                else:
                    h[k] = cell(inp, h[k])
                inp = h[k]
            if self.per_step:
                tops.append(inp)
        if self.per_step:
            return self.readout(torch.stack(tops, 1))  # (B, T, out)
        return self.readout(h[-1])  # (B, out)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, per_step={self.per_step}"


def _per_block(init, weight: Tensor, blocks: int, generator: torch.Generator) -> None:
    rows = weight.shape[0] // blocks
    for b in range(blocks):
        init(weight[b * rows:(b + 1) * rows], generator=generator)


def build_rnn(kind: str, in_features: int, out_features: int, *, hidden: int = 64, layers: int = 1,
              activation: str | None = None, recurrent_init: str | None = None, input_init: str | None = None,
              forget_bias: float = 1.0, chrono: int | None = None, per_step: bool = False,
              seed: int | None = 0) -> RecurrentNet:
    """A seeded :class:`RecurrentNet` (see the module docstring for the defaults of each kind).

    Args:
        activation: ``tanh`` or ``relu`` for ``rnn`` (default tanh); ``irnn`` is relu.
        chrono: T_max for the chrono init of an LSTM (``None``: off; ``forget_bias`` then sets b_f).
        seed: every parameter is drawn from ``torch.Generator().manual_seed(seed)``, cell by cell,
            input side first, then the readout.

    >>> net = build_rnn("lstm", 2, 1, hidden=8, seed=0)
    >>> net(torch.zeros(3, 5, 2)).shape
    torch.Size([3, 1])
    """
    if kind not in CELLS:
        raise ConfigError("model", kind, KINDS)
    if activation is None:
        activation = "relu" if kind == "irnn" else "tanh"
    if kind == "irnn" and activation != "relu":
        raise ConfigError("rnn_activation", activation, "relu for irnn (Le et al.'s net)")
    if activation not in ("tanh", "relu"):
        raise ConfigError("rnn_activation", activation, ("tanh", "relu"))
    if chrono is not None and kind != "lstm":
        raise ConfigError("chrono", chrono, "only with model lstm")
    if kind == "irnn":
        recurrent_init = IDENTITY if recurrent_init is None else recurrent_init
        input_init = "normal:std=0.001" if input_init is None else input_init
    w_hh = None if recurrent_init is None else check_rnn_init(recurrent_init, "recurrent_init")
    w_ih = None if input_init is None else check_rnn_init(input_init, "input_init")
    net = RecurrentNet(kind, in_features, out_features, hidden, layers, activation, per_step)
    g = torch.Generator()
    if seed is not None:
        g.manual_seed(seed)
    else:
        g.seed()
    blocks = GATES[kind]
    bound = 1 / math.sqrt(hidden)  # PyTorch's own init of every cell parameter
    for cell in net.cells:
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p = getattr(cell, name)
                init = {"weight_ih": w_ih, "weight_hh": w_hh}.get(name)
                if kind == "irnn" and name.startswith("bias"):
                    zeros_(p)
                elif init is None:
                    uniform_(p, bound, generator=g)
                else:
                    _per_block(init, p, blocks, g)
            if kind == "lstm":
                H = hidden
                if chrono is not None:
                    chrono_(cell.bias_ih[H:2 * H], cell.bias_ih[:H], chrono, generator=g)
                    cell.bias_hh[:2 * H].zero_()
                else:
                    cell.bias_ih[H:2 * H].fill_(forget_bias)
                    cell.bias_hh[H:2 * H].zero_()
    with torch.no_grad():  # nn.Linear's own init, from the same generator
        bound = 1 / math.sqrt(hidden)
        uniform_(net.readout.weight, bound, generator=g)
        uniform_(net.readout.bias, bound, generator=g)
    return net

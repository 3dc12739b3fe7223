r"""Gradient norms along the time axis: ‖∂L/∂h_t‖ of recurrent cells, ‖∂L/∂x_t‖ of a sequence input.

:class:`TimeAxis` is the probe's recorder for sequence models (the probe makes one when the model has
recurrent cells or ``watch(time_axis=...)`` is given). Its hooks are registered on due steps only.

- Cells (:class:`~torch.nn.RNNCellBase`: ``RNNCell``, ``LSTMCell``, ``GRUCell``) called once per
  time step: the t-th call of a cell in a forward pass is time step t. A tensor hook on each output
  ``h_t`` (and ``c_t``) sees the whole gradient of that state: from the next step, the layer above
  and the readout. Rows: ``hidden_grad_norm`` (the last cell in module order: the top layer),
  ``hidden_grad_norm/l<k>`` for every layer of a stack, ``cell_grad_norm`` (and ``/l<k>``) for LSTMs.
- ``RNNCell`` (:math:`h_t = \phi(a_t)`, :math:`a_t = W_{hh} h_{t-1} + W_{ih} x_t + b`) of the top
  layer: the backward step t → t−1 splits exactly, as the layers' attribution does,

  .. math::
      \log_{10}\frac{\|W_{hh}^\top \delta_t\|}{\|\partial L/\partial h_t\|}
      = \underbrace{\log_{10}\frac{\|\delta_t\|}{\|\partial L/\partial h_t\|}}_{\text{time\_attr\_activation}}
      + \underbrace{\log_{10}\frac{\|W_{hh}^\top\delta_t\|}{\|\delta_t\|}}_{\text{time\_attr\_recurrent}},
      \qquad \delta_t = \phi'(a_t)\odot \partial L/\partial h_t,

  and :math:`W_{hh}^\top\delta_t` is all of ∂L/∂h_{t−1} where nothing else reads h_{t−1} (one layer, a
  loss on the last step). Index 0 is NaN (h_{−1} is the fixed zero state). Gated cells (LSTM, GRU)
  send ∂L/∂h_{t−1} along two paths (the recurrent weights, and the gated carry of c or of h), a sum
  that no product of two factors splits exactly: they have no attribution rows.
- ``time_axis``: ‖∂L/∂x_t‖ (``input_grad_norm_t``) over all axes but ``time_axis`` of the model's first
  positional input, or of the first :class:`~torch.nn.Embedding`'s output when the input is token ids.

Norms are of the whole batch (root-sum-square over micro-batches), accumulated in float64.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ._hookset import HookSet

__all__ = ["TimeAxis", "HIDDEN", "CELL", "INPUT", "ATTR_RECURRENT", "ATTR_ACTIVATION", "recurrent_cells",
           "stack_rows"]

HIDDEN, CELL, INPUT = "hidden_grad_norm", "cell_grad_norm", "input_grad_norm_t"
ATTR_RECURRENT, ATTR_ACTIVATION = "time_attr_recurrent", "time_attr_activation"


def recurrent_cells(model: nn.Module) -> list[nn.RNNCellBase]:
    """The recurrent cells of ``model`` in module order (for a stack: input side first)."""
    return [m for m in model.modules() if isinstance(m, nn.RNNCellBase)]


class TimeAxis(HookSet):
    """Per-time-step gradient norms of one step's forward/backward passes; see the module docstring.

    Use: :meth:`attach`, then per training step ``begin(due)`` before the forward pass and
    :meth:`collect` after the backward pass (rows of that step, name → (T,) float64), :meth:`detach`.
    """

    def __init__(self, model: nn.Module, time_axis: int | None = None, scale: Callable[[], Any] | None = None):
        if time_axis is not None and (isinstance(time_axis, bool) or not isinstance(time_axis, int)):
            raise ConfigError("time_axis", time_axis, "an integer axis of the model's input (e.g. 1 for "
                              "(batch, time, features)), or None")
        self.model, self.time_axis, self.scale = model, time_axis, scale
        self.cells = recurrent_cells(model)
        self.embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
        self.attached = self.due = False
        self._handles: list[Any] = []
        self._grads: dict[tuple[str, ...], list] = {}  # row names → [(t, ∂L/∂state_t, RNN split or None)]
        self._input: Tensor | None = None  # (T,) squared norms of ∂L/∂x_t
        self._calls: dict[nn.Module, int] = {}

    @classmethod
    def wanted(cls, model: nn.Module, time_axis: int | None) -> bool:
        """True when ``model`` has recurrent cells or a time axis was asked for."""
        return time_axis is not None or any(isinstance(m, nn.RNNCellBase) for m in model.modules())

    # --- attach / detach -------------------------------------------------------------------
    def begin(self, due: bool) -> None:
        """A new training step; hooks are on only while ``due``."""
        self._grads, self._input = {}, None
        if due != self.due:
            self.due = due
            if self.attached:
                self._register()

    def _register(self) -> None:
        self._remove_all()
        if not (self.attached and self.due):
            return
        add = self._handles.append
        add(self.model.register_forward_pre_hook(self._before_model))
        top = len(self.cells) - 1
        for k, cell in enumerate(self.cells):
            add(cell.register_forward_hook(partial(self._after_cell, k, k == top)))
        if self.time_axis is not None and self.embedding is not None:
            add(self.embedding.register_forward_hook(self._after_embedding))

    # --- hooks -----------------------------------------------------------------------------
    def _before_model(self, module: nn.Module, args: tuple) -> tuple | None:
        self._calls = {}
        if self.time_axis is None or self.embedding is not None or not torch.is_grad_enabled():
            return None
        if not args or not isinstance(args[0], Tensor) or not args[0].is_floating_point():
            return None
        x = args[0]
        axis = self._axis(x)
        # a view: its gradient is the model's input gradient; a leaf when the input needs none
        v = x.view_as(x) if x.requires_grad else x.detach().requires_grad_()
        v.register_hook(partial(self._input_grad, axis))
        return (v, *args[1:])

    def _after_embedding(self, module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, Tensor) and output.requires_grad and torch.is_grad_enabled():
            ids = args[0] if args and isinstance(args[0], Tensor) else output
            output.register_hook(partial(self._input_grad, self._axis(ids)))

    def _axis(self, x: Tensor) -> int:
        axis = self.time_axis if self.time_axis >= 0 else x.dim() + self.time_axis
        if not 0 <= axis < x.dim():
            raise ConfigError("time_axis", self.time_axis, f"an axis of the model's input of shape {tuple(x.shape)}")
        return axis

    def _input_grad(self, axis: int, g: Tensor) -> None:
        if not self.due:
            return
        rows = g.detach().movedim(axis, 0)
        sq = torch.linalg.vector_norm(rows.reshape(rows.shape[0], -1), dim=1, dtype=torch.float64).square()
        prev = self._input
        self._input = sq if prev is None or prev.shape != sq.shape else prev + sq

    def _after_cell(self, k: int, top: bool, cell: nn.Module, args: tuple, output: Any) -> None:
        if not torch.is_grad_enabled():
            return
        t = self._calls.get(cell, 0)
        self._calls[cell] = t + 1
        h, c = output if isinstance(output, tuple) else (output, None)
        layered = len(self.cells) > 1
        if isinstance(h, Tensor) and h.requires_grad:
            names = ([HIDDEN] if top else []) + ([f"{HIDDEN}/l{k}"] if layered else [])
            split = top and isinstance(cell, nn.RNNCell)
            h.register_hook(partial(self._keep, tuple(names), t, (cell, h.detach()) if split else None))
        if isinstance(c, Tensor) and c.requires_grad:
            names = ([CELL] if top else []) + ([f"{CELL}/l{k}"] if layered else [])
            c.register_hook(partial(self._keep, tuple(names), t, None))

    def _keep(self, names: tuple[str, ...], t: int, split: tuple[nn.RNNCell, Tensor] | None, g: Tensor) -> None:
        """Keep the gradient of a state: the norms are taken at :meth:`collect`, all steps at once
        (one norm per time step inside the backward pass would cost a small op each)."""
        if self.due:
            self._grads.setdefault(names, []).append((t, g.detach(), split))

    # --- reading ---------------------------------------------------------------------------
    def collect(self) -> dict[str, np.ndarray]:
        """This step's rows (name → (T,) float64; one host transfer), then empty until the next due step."""
        grads, inp = self._grads, self._input
        self._grads, self._input = {}, None
        parts: dict[str, Tensor] = {}  # name → (T,) squared norms, NaN where a step was not seen
        for names, entries in grads.items():
            sq, seen = _squared_norms(entries)
            for n in names:
                parts[n] = torch.where(seen, sq, torch.nan)
            if entries[0][2] is not None:
                act, back = _rnn_split(entries)
                parts["_delta"], parts["_back"] = act, back
        if inp is not None:
            parts[INPUT] = inp
        if not parts:
            return {}
        names = list(parts)
        flat = np.sqrt(torch.cat([parts[n] for n in names]).cpu().numpy())  # one transfer
        rows: dict[str, np.ndarray] = {}
        at = 0
        for n in names:
            size = parts[n].numel()
            rows[n], at = flat[at:at + size], at + size
        scale = self.scale() if self.scale is not None else None
        if scale is not None:
            rows = {n: v / float(scale) for n, v in rows.items()}
        delta, back = rows.pop("_delta", None), rows.pop("_back", None)
        if delta is not None and HIDDEN in rows:
            h = rows[HIDDEN]
            act, rec = np.full_like(h, np.nan), np.full_like(h, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                act[1:] = np.log10(delta[1:]) - np.log10(h[1:])
                rec[1:] = np.log10(back[1:]) - np.log10(delta[1:])
            rows[ATTR_ACTIVATION], rows[ATTR_RECURRENT] = act, rec
        return rows


def _groups(entries: list) -> list[tuple[Tensor, list]]:
    """Entries (t, g, ...) grouped by the gradient's shape (micro-batches may differ): (time indices, entries)."""
    by_shape: dict[tuple, list] = {}
    for e in entries:
        by_shape.setdefault(tuple(e[1].shape), []).append(e)
    return [(torch.tensor([e[0] for e in group]), group) for group in by_shape.values()]


def _squared_norms(entries: list) -> tuple[Tensor, Tensor]:
    """(T,) float64 sums of squared norms per time step over ``entries`` (t, g, ...), and where any was seen."""
    length = max(e[0] for e in entries) + 1
    device = entries[0][1].device
    sq = torch.zeros(length, dtype=torch.float64, device=device)
    seen = torch.zeros(length, dtype=torch.bool, device=device)
    for ts, group in _groups(entries):
        g = torch.stack([e[1] for e in group])  # (n, B, H)
        ts = ts.to(device)
        sq.index_add_(0, ts, torch.linalg.vector_norm(g.flatten(1), dim=1, dtype=torch.float64).square())
        seen[ts] = True
    return sq, seen


def _rnn_split(entries: list) -> tuple[Tensor, Tensor]:
    """(T,) squared norms of δ_t = φ'(a_t) ⊙ ∂L/∂h_t and of W_hhᵀ δ_t (see the module docstring)."""
    length = max(e[0] for e in entries) + 1
    cell = entries[0][2][0]
    device = entries[0][1].device
    act = torch.zeros(length, dtype=torch.float64, device=device)
    back = torch.zeros(length, dtype=torch.float64, device=device)
    with torch.no_grad():
        for ts, group in _groups(entries):
            g = torch.stack([e[1] for e in group])  # (n, B, H)
            h = torch.stack([e[2][1] for e in group])
            # φ'(a_t) from h_t = φ(a_t): tanh' = 1 − h², relu' = [h > 0]
            d = 1 - h * h if cell.nonlinearity == "tanh" else (h > 0).to(h.dtype)
            delta = d * g  # ∂L/∂a_t
            ts = ts.to(device)
            act.index_add_(0, ts, torch.linalg.vector_norm(delta.flatten(1), dim=1, dtype=torch.float64).square())
            rows = delta @ cell.weight_hh  # W_hhᵀ δ_t, as rows: (n, B, H)
            back.index_add_(0, ts, torch.linalg.vector_norm(rows.flatten(1), dim=1, dtype=torch.float64).square())
    return act, back


def stack_rows(per_step: dict[int, dict[str, np.ndarray]], steps: np.ndarray) -> dict[str, np.ndarray]:
    """(S, T) arrays over ``steps`` from the rows :meth:`TimeAxis.collect` gave at some of them (NaN elsewhere;
    T = the longest row of each name)."""
    names: dict[str, int] = {}
    for rows in per_step.values():
        for n, v in rows.items():
            names[n] = max(names.get(n, 0), len(v))
    out = {n: np.full((len(steps), t), np.nan) for n, t in names.items()}
    where = {int(s): i for i, s in enumerate(steps)}
    for step, rows in per_step.items():
        i = where.get(step)
        if i is None:
            continue
        for n, v in rows.items():
            out[n][i, :len(v)] = v
    return out


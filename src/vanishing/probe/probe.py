"""The probe: hooks on any ``nn.Module``, device-side buffers, one host transfer per flush.

Where numbers come from (step ``k`` = the ``k``-th optimizer step, from 0):

- ``grad`` quantities read the accumulated ``.grad`` just before ``optimizer.step()``
  (optimizer step pre-hook; or in :meth:`Probe.step` without an optimizer);
- ``update_ratio`` compares weights copied in the pre-hook with the weights after the step;
- ``signal`` quantities come from tensor hooks put on layer outputs / inputs during the
  forward passes of step ``k`` and fired by their backward passes;
- ``activation`` statistics are taken from the input of the first activation module that
  runs after a probed layer (from its output where φ' is cheaper so: sigmoid, tanh), during
  the forward passes of step ``k``.

Only forward passes run with autograd enabled are looked at: evaluation under
``torch.no_grad()`` is ignored. On steps where no such quantity is due the forward hooks
return at once.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Iterable, Mapping, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ConfigError, VanishingError
from ..activations import BoundActivation, activation_from_module
from . import quantities as Q
from .functional import ActivationMode
from .layers import LayerSpec, candidates, layer_info, split_params, tensors_in
from .schedules import ScheduleLike, resolve
from .trace import LayerInfo, Trace

__all__ = ["Probe", "watch"]

QuantitySpec = Union[None, Iterable[str], Mapping[str, ScheduleLike]]

_GRAD = ("grad_norm", "bias_grad_norm", "param_norm", "nonfinite_grads")
_ACT = ("saturation", "dead_fraction", "act_derivative_mean")
_DERIVED = ("attribution_activation", "attribution_weights")

# layers whose output is one autograd node fed directly by the layer's input (for the given input
# rank): that node's post-hook sees ∂L/∂z and the gradient sent to the input through this layer only
_ONE_NODE = {nn.Linear: (2,), nn.Conv1d: (3,), nn.Conv2d: (4,), nn.Conv3d: (5,)}
_ONE_NODE_NAMES = frozenset({"AddmmBackward0", "MmBackward0", "ConvolutionBackward0"})


class _StepBuffers:
    """What the hooks of one step write; closed when the step is finalised or the probe detached."""

    __slots__ = ("signal", "input", "act", "before_norm", "closed")

    def __init__(self) -> None:
        self.signal: dict[int, Tensor | float] = {}  # layer → Σ‖∂L/∂z‖² over forward calls
        self.input: dict[int, Tensor | float] = {}   # layer → Σ‖∂L/∂x‖²
        self.act: dict[int, Q.ActivationStats] = {}
        self.before_norm: Tensor | None = None  # (L,) ‖W_before‖ when update_ratio is due
        self.closed = False


class Probe:
    """Records per-layer gradient-flow quantities of ``model``; made and attached by :func:`watch`.

    Layers are found on the first forward pass run with autograd on, in execution order;
    a module called several times appears once (at its first call) and its readings
    combine all calls (signal norms: root-sum-square). Gradient accumulation is one step:
    gradient norms read the accumulated ``.grad``, signal norms are the root-sum-square over
    micro-batches (the norm over the whole effective batch), activation statistics pool all
    micro-batches. While detached the probe neither records nor counts steps.

    ``meta`` is copied into every :class:`Trace` (put the run configuration there).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        every: ScheduleLike = None,
        quantities: QuantitySpec = None,
        layers: LayerSpec = None,
        scaler: Any = None,
        flush_every: int = 256,
    ):
        if not isinstance(model, nn.Module):
            raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.schedules = _resolve_quantities(quantities, resolve(every))
        self.meta: dict[str, Any] = {}
        self.step_index = 0
        self.flush_every = flush_every
        self._candidates = candidates(model, layers)
        self._acts = {m: a for m in model.modules() if (a := activation_from_module(m)) is not None}
        # discovery (first forward pass with autograd on)
        self._order: list[nn.Module] = []
        self._index: dict[nn.Module, int] = {}
        self._act_of: dict[int, BoundActivation] = {}  # layer → the activation that first followed it
        self._frozen = False
        self._cursor: int | None = None  # last probed layer run, not yet followed by an activation
        self._aliased: nn.Module | None = None  # the layer whose inputs the pre-hook just aliased
        self._awaiting: tuple[int, BoundActivation] | None = None  # (layer, activation) whose output is due
        self._mode: ActivationMode | None = None
        self._functional = False  # functional activations were seen in the discovery pass
        first = next(iter(model.parameters()), None)
        self._device = first.device if first is not None else torch.device("cpu")
        self._nan = torch.tensor(float("nan"), dtype=torch.float64, device=self._device)
        self._snapshot: list[Tensor] | None = None
        self._host_rows = self._device.type == "cpu"  # gradient-norm rows assembled from host floats
        self.layers: list[LayerInfo] = []
        # storage
        self._buf = _StepBuffers()
        self._pending: dict[int, dict[str, Tensor]] = {}  # step → quantity → (L,) device tensor
        self._pending_scalars: dict[int, dict[str, Tensor | float]] = {}
        self._host: dict[int, dict[str, np.ndarray]] = {}
        self._deferred: list[tuple] = []  # CPU gradient-norm records (step, key, names, norms, counts)
        self._host_scalars: dict[int, dict[str, float]] = {}
        self._trace: Trace | None = None
        self._handles: list[Any] = []
        self._forward_handles: list[Any] = []
        self._attached = False
        self._begin_step()

    # --- attach / detach -------------------------------------------------------------
    def attach(self) -> "Probe":
        """Register the hooks (idempotent)."""
        if self._attached:
            return self
        self._attached = True
        self._buf = _StepBuffers()
        self._register_forward_hooks()
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(lambda *_: self._before_update()))
            self._handles.append(self.optimizer.register_step_post_hook(lambda *_: self._after_update()))
        return self

    def detach(self) -> None:
        """Remove every hook; tensor hooks still pending on live graphs become no-ops."""
        for h in self._handles + self._forward_handles:
            h.remove()
        if self._mode is not None:  # detached inside a forward pass
            self._mode.__exit__(None, None, None)
            self._mode = None
        self._handles, self._forward_handles = [], []
        self._awaiting = None
        self._buf.closed = True
        self._attached = False

    def __enter__(self) -> "Probe":
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _register_forward_hooks(self) -> None:
        for h in self._forward_handles:
            h.remove()
        self._forward_handles = []
        if self._frozen and not self._forward_due():
            return
        layers = self._order if self._frozen else list(self._candidates)
        add = self._forward_handles.append
        for m in layers:
            if "input_grad_norm" in self.schedules:
                add(m.register_forward_pre_hook(self._before_layer))
            add(m.register_forward_hook(self._after_layer))
        if not self._frozen or any(q in self.schedules for q in _ACT):
            for m, act in self._acts.items():
                add(m.register_forward_pre_hook(partial(self._before_activation, act)))
                if act.has_output_derivative:
                    add(m.register_forward_hook(self._after_activation))
            add(self.model.register_forward_pre_hook(self._before_model))
        add(self.model.register_forward_hook(self._after_model, always_call=True))

    def _forward_due(self) -> bool:
        """Whether this step records anything seen in the forward pass (signal norms, activation statistics).

        Once the layers are known, the forward hooks are registered only for such steps: on the
        others (most steps of the default schedule) the model runs without a single hook."""
        return self._want_signal or self._want_input or self._want_act

    # --- public stepping and logging -------------------------------------------------
    def step(self) -> None:
        """Finish the current step and advance (only without an optimizer: it advances by itself)."""
        if self.optimizer is not None:
            raise VanishingError("this probe advances after each optimizer.step(); do not call probe.step()")
        self._before_update()
        self._after_update()

    def log(self, **scalars: float | Tensor) -> None:
        """Record scalars (floats or one-element tensors, kept on device until the flush) at the current step."""
        row = self._pending_scalars.setdefault(self.step_index, {})
        for name, v in scalars.items():
            if isinstance(v, Tensor):
                if v.numel() != 1:
                    raise VanishingError(f"probe.log({name}=...) needs a scalar; got a tensor of shape {tuple(v.shape)}")
                row[name] = v.detach().reshape(())
            else:
                row[name] = float(v)
        self._trace = None

    @property
    def trace(self) -> Trace:
        """Everything recorded so far (flushes device buffers; cached until new data arrives)."""
        self._flush()
        if self._trace is None:
            self._trace = self._build_trace()
        return self._trace

    # --- step machinery ---------------------------------------------------------------
    def _begin_step(self) -> None:
        k = self.step_index
        self._due = {q for q, s in self.schedules.items() if s(k)}
        self._want_signal = "signal_grad_norm" in self._due
        self._want_input = "input_grad_norm" in self._due
        self._want_act = any(q in self._due for q in _ACT)
        self._want_grads = any(q in self._due for q in ("grad_norm", "bias_grad_norm", "nonfinite_grads"))
        self._want_grad_rows = self._want_grads or "param_norm" in self._due
        if self._attached and self._frozen and self._forward_due() != bool(self._forward_handles):
            self._register_forward_hooks()

    @torch.no_grad()
    def _before_update(self) -> None:
        if not self._frozen:
            self._freeze()
        if not self.layers:  # no layer ran, or the filter chose none: nothing per layer to record
            self._due, self._want_grad_rows = set(), False
        due = self._due
        weight_norms = self._grad_rows(due) if self._want_grad_rows else None
        if "update_ratio" in due and self.optimizer is not None and self._weights:
            # one persistent copy of the weights, reused every time (no allocation per step)
            if self._snapshot is None:
                self._snapshot = [torch.empty_like(w) for w in self._weights]
            torch._foreach_copy_(self._snapshot, self._weights)
            self._buf.before_norm = self._weight_norms() if weight_norms is None else weight_norms

    @torch.no_grad()
    def _after_update(self) -> None:
        buf, due, L = self._buf, self._due, len(self.layers)
        if self._forward_due() or buf.before_norm is not None:
            row = self._pending.setdefault(self.step_index, {})
            if buf.before_norm is not None:
                torch._foreach_sub_(self._snapshot, self._weights)  # W_before − W_after
                diff = Q.grouped_norms(Q.norms(self._snapshot), *self._w_groups)
                row["update_ratio"] = diff / buf.before_norm
            if "signal_grad_norm" in due:
                row["signal_grad_norm"] = self._stack(buf.signal, L).sqrt()
            if "input_grad_norm" in due:
                row["input_grad_norm"] = self._stack(buf.input, L).sqrt()
            if self._want_act:
                row.update(Q.activation_rows([buf.act.get(i) for i in range(L)], due, self._device))
            if not row:
                del self._pending[self.step_index]
            buf.closed = True
            self._buf = _StepBuffers()
        self.step_index += 1
        self._begin_step()
        self._trace = None
        if max(len(self._pending), len(self._deferred)) >= self.flush_every:
            self._flush()

    def _grad_rows(self, due: set[str]) -> Tensor | None:
        """grad_norm, bias_grad_norm, param_norm, nonfinite_grads of this step from one batched norm
        call: pending device rows, or on the CPU a deferred record of host floats. Returns the
        (L,) weight norms when param_norm is due."""
        need_grads = self._want_grads
        wgrads = [p.grad for p in self._weights] if need_grads else []
        bgrads = [p.grad for p in self._biases] if need_grads else []
        if any(g is None for g in wgrads) or any(g is None for g in bgrads):  # not `None in`: Tensor ==
            wg = tuple(i for i, g in enumerate(wgrads) if g is not None)
            bg = tuple(i for i, g in enumerate(bgrads) if g is not None)
            grads = [wgrads[i] for i in wg] + [bgrads[i] for i in bg]
        else:  # every parameter has its gradient (the usual case): no filtering
            wg, bg = (self._all_w, self._all_b) if need_grads else ((), ())
            grads = wgrads + bgrads
        with_params = "param_norm" in due
        tensors = grads + self._weights if with_params else grads
        if self._host_rows:
            return self._grad_rows_host(due, (wg, bg, with_params), grads, tensors)
        n = Q.norms(tensors).to(self._device)
        plan = self._grad_plans.get((wg, bg, with_params))
        if plan is None:
            plan = self._grad_plans[(wg, bg, with_params)] = self._grad_plan(wg, bg, with_params)
        idx, has, layer_of_grad, has_grad, unique = plan
        # rows 0, 1, 2 of (3, L): weight-gradient, bias-gradient and weight norms
        out = Q.grouped_norms(n, idx, has, unique).view(3, -1)
        row = self._pending.setdefault(self.step_index, {})
        row.update({q: out[i] for i, q in enumerate(("grad_norm", "bias_grad_norm", "param_norm")) if q in due})
        if "nonfinite_grads" in due:
            counts = Q.nonfinite_counts(grads, n[:len(grads)])
            total = torch.zeros(len(self.layers), dtype=torch.float64, device=self._device)
            row["nonfinite_grads"] = torch.where(has_grad, total.index_add_(0, layer_of_grad, counts), self._nan)
        return row.get("param_norm")

    def _grad_rows_host(self, due: set[str], key: tuple, grads: list[Tensor],
                        tensors: list[Tensor]) -> Tensor | None:
        """The CPU path of :meth:`_grad_rows`: the norms become host floats at once and the rows are
        assembled at the flush, for all deferred steps together.

        Right after a backward pass the caches hold gradients, not the interpreter's state, and every
        Python or tensor operation costs 10-30× its usual time; this path does as few as it can
        (one norm call, one stack, one copy to the host) and leaves the rest to the flush.
        """
        vals, counts = Q.host_norms(tensors, self._norm_acc), None
        if "nonfinite_grads" in due and not math.isfinite(sum(vals)):  # a finite norm: every entry finite
            counts = {j: float((~torch.isfinite(grads[j])).sum()) for j in range(len(grads))
                      if not math.isfinite(vals[j])}
        self._deferred.append((self.step_index, key, tuple(q for q in _GRAD if q in due), vals, counts))
        if key[2] and "update_ratio" in due:  # the weight norms: the update ratio's denominator
            return Q.grouped_norms(torch.tensor(vals[len(grads):], dtype=torch.float64), *self._w_groups)
        return None

    def _host_rows_of(self, records: list[tuple]) -> list[tuple[int, dict[str, np.ndarray]]]:
        """(step, quantity → (L,) float64 row) of deferred CPU records, assembled with numpy per
        pattern of present gradients."""
        out: list[tuple[int, dict[str, np.ndarray]]] = []
        by_key: dict[tuple, list[tuple]] = {}
        for r in records:
            by_key.setdefault(r[1], []).append(r)
        L = len(self.layers)
        for key, group in by_key.items():
            plan = self._host_plans.get(key)
            if plan is None:
                plan = self._host_plans[key] = self._host_plan(*key)
            rows, cols, unique, has, grad_layers = plan
            vals = np.array([r[3] for r in group], dtype=np.float64).reshape(len(group), len(rows))
            if unique:  # each layer has at most one tensor per row: place the norms
                table = np.full((len(group), 4, L), np.nan)
                table[:, rows, cols] = vals
            else:  # root-sum-square where a layer has several tensors (the device path's rule)
                table = np.zeros((len(group), 4, L))
                for j in range(len(rows)):
                    table[:, rows[j], cols[j]] += vals[:, j] ** 2
                np.sqrt(table, out=table)
                table[:, ~has] = np.nan
            table[:, 3] = np.nan
            table[:, 3, grad_layers] = 0.0
            for s, (step, _, names, _, counts) in enumerate(group):
                for j, c in (counts or {}).items():
                    table[s, 3, cols[j]] += c
                out.append((step, {q: table[s, _GRAD.index(q)] for q in names}))
        return out

    def _norm_cells(self, wg: tuple[int, ...], bg: tuple[int, ...], with_params: bool) -> tuple[list[int], list[int]]:
        """The (row, layer) cell of each norm of :meth:`_grad_rows`, in its order: row 0 the weight
        gradients, 1 the bias gradients, 2 the weights."""
        rows = [0] * len(wg) + [1] * len(bg) + ([2] * len(self._w_idx) if with_params else [])
        cols = [self._w_idx[i] for i in wg] + [self._b_idx[i] for i in bg] + (self._w_idx if with_params else [])
        return rows, cols

    def _host_plan(self, wg: tuple[int, ...], bg: tuple[int, ...], with_params: bool) -> tuple[Any, ...]:
        """Index arrays for :meth:`_host_rows_of`, one per pattern of present gradients: the
        (row, layer) cell of each norm, whether no cell has two, which cells have any, the layers
        with gradients."""
        rows, cols = self._norm_cells(wg, bg, with_params)
        has = np.zeros((4, len(self.layers)), dtype=bool)
        has[rows, cols] = True
        unique = len(set(zip(rows, cols))) == len(rows)
        grad_layers = sorted(set(cols[:len(wg) + len(bg)]))
        return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp), unique, has, grad_layers

    def _grad_plan(self, wg: tuple[int, ...], bg: tuple[int, ...], with_params: bool) -> tuple[Any, ...]:
        """Device index tensors for :meth:`_grad_rows`, one per pattern of present gradients."""
        L = len(self.layers)
        rows, cols = self._norm_cells(wg, bg, with_params)
        layer_of_grad = cols[:len(wg) + len(bg)]
        idx = [r * L + c for r, c in zip(rows, cols)]
        has = torch.zeros(3 * L, dtype=torch.bool)
        has[idx] = True
        has_grad = torch.zeros(L, dtype=torch.bool)
        has_grad[layer_of_grad] = True
        dev = self._device
        # every layer has one weight and one bias tensor, all with gradients: no grouping to do
        grouping = None if idx == list(range(3 * L)) else torch.tensor(idx, dtype=torch.long, device=dev)
        return (grouping, has.to(dev), torch.tensor(layer_of_grad, dtype=torch.long, device=dev), has_grad.to(dev),
                len(set(idx)) == len(idx))

    def _weight_norms(self) -> Tensor:
        return Q.grouped_norms(Q.norms(self._weights), *self._w_groups)

    def _weight_groups(self) -> tuple[Tensor | None, Tensor]:
        """Device (layer index of each weight, has-weights mask) for grouping weight norms;
        no index when each layer has exactly one weight tensor."""
        has = torch.zeros(len(self.layers), dtype=torch.bool)
        has[self._w_idx] = True
        one_each = self._w_idx == list(range(len(self.layers)))
        groups = None if one_each else torch.tensor(self._w_idx, dtype=torch.long, device=self._device)
        return groups, has.to(self._device)

    def _stack(self, values: dict[int, Tensor | float], L: int) -> Tensor:
        """(L,) float64 on the device from per-layer values (0-d tensors, or floats on the CPU path)."""
        vals = [values.get(i) for i in range(L)]
        if not any(isinstance(v, Tensor) for v in vals):
            return torch.tensor([math.nan if v is None else v for v in vals], dtype=torch.float64,
                                device=self._device)
        return torch.stack([self._nan if v is None else torch.as_tensor(v, dtype=torch.float64, device=self._device)
                            for v in vals])

    # --- discovery --------------------------------------------------------------------
    def _freeze(self) -> None:
        """Fix the layer list: the layers seen in the first forward pass, in execution order."""
        if not self._order:  # no forward pass seen: fall back to registration order
            self._order = list(self._candidates)
            self._index = {m: i for i, m in enumerate(self._order)}
        self._frozen = True
        self.layers = [layer_info(self._candidates.get(m, ""), m,
                                  self._act_of[i].spec if i in self._act_of else None)
                       for i, m in enumerate(self._order)]
        self._unused = [n for m, n in self._candidates.items() if m not in self._index]
        self._weights, w_idx, self._biases, b_idx = [], [], [], []
        for i, m in enumerate(self._order):
            params = split_params(m)
            self._weights += params.weights
            w_idx += [i] * len(params.weights)
            self._biases += params.biases
            b_idx += [i] * len(params.biases)
        self._w_idx, self._b_idx = w_idx, b_idx
        self._grad_plans: dict[tuple, tuple[Tensor | None, ...]] = {}
        self._host_plans: dict[tuple, tuple[Any, ...]] = {}
        self._all_w, self._all_b = tuple(range(len(self._weights))), tuple(range(len(self._biases)))
        wide = any(p.dtype == torch.float64 for p in self._weights + self._biases)
        self._norm_acc = torch.float64 if wide else torch.float32  # the CPU path's norm precision
        self._w_groups = self._weight_groups()
        if self._attached:
            self._register_forward_hooks()  # drop hooks of unused modules (and all if none needed)

    # --- hooks ------------------------------------------------------------------------
    def _after_layer(self, module: nn.Module, args: Any, output: Any) -> None:
        if not torch.is_grad_enabled():
            return
        idx = self._index.get(module)
        if idx is None:
            if self._frozen:
                return
            idx = self._index[module] = len(self._order)
            self._order.append(module)
        self._cursor = idx
        if not (self._want_signal or self._want_input):
            return
        aliased, self._aliased = self._aliased is module, None
        if not aliased and self._one_node(module, args):
            # one hook on the node that made the output, for both signal norms (no input alias: the
            # pre-hook skipped it); its inputs come in the order of its next_functions
            node = output.grad_fn if isinstance(output, Tensor) else None
            if node is not None and node.name() in _ONE_NODE_NAMES:
                x = args[0].grad_fn if self._want_input else None
                j = next((k for k, (f, _) in enumerate(node.next_functions) if x is not None and f is x), None)
                node.register_hook(partial(self._on_node, self._buf, idx, self._want_signal, j))
                return
        if self._want_signal:
            hook = partial(self._on_grad, self._buf, self._buf.signal, idx)
            for t in tensors_in(output):
                if t.requires_grad:
                    t.register_hook(hook)

    @staticmethod
    def _one_node(module: nn.Module, args: tuple) -> bool:
        """Whether ``module`` called on ``args`` makes its output in one node fed by its input."""
        ranks = _ONE_NODE.get(type(module))  # exactly: a subclass may compute more than one op
        if ranks is None or len(args) != 1 or not isinstance(args[0], Tensor) or args[0].dim() not in ranks:
            return False
        x = args[0]  # its node must be known to find it among the output node's inputs (or it needs none)
        return x.grad_fn is not None or not x.requires_grad

    def _before_layer(self, module: nn.Module, args: tuple) -> tuple | None:
        self._aliased = None
        if not (self._want_input and torch.is_grad_enabled()):
            return None
        idx = self._index.get(module)
        if idx is None and self._frozen:
            return None
        if self._one_node(module, args):  # the output's node reports the input gradient (see _after_layer)
            return None
        buf = self._buf
        # on the discovery pass the layer gets its index after this hook: look it up in the backward
        hook = partial(self._on_input, buf, module) if idx is None else partial(self._on_grad, buf, buf.input, idx)

        def alias(a: Any) -> Any:
            # a view of the input: its gradient is the part that flows through this layer only
            if isinstance(a, Tensor) and a.requires_grad and a.is_floating_point():
                v = a.view_as(a)
                v.register_hook(hook)
                return v
            return None

        self._aliased = module  # its input gradients come from the aliases, not the output's node
        if len(args) == 1:  # the common case
            v = alias(args[0])
            return None if v is None else (v,)
        aliases: dict[int, Tensor | None] = {}  # one view per distinct input tensor
        for a in args:
            if id(a) not in aliases:
                aliases[id(a)] = alias(a)
        new = tuple(a if aliases[id(a)] is None else aliases[id(a)] for a in args)
        return new if any(v is not None for v in aliases.values()) else None

    def _before_activation(self, act: BoundActivation, module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], Tensor):
            self._on_activation(act, args[0])

    def _after_activation(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._on_output(output)

    def _on_activation(self, act: BoundActivation, x: Tensor) -> bool:
        """The first activation after a probed layer belongs to it; later ones are ignored.

        Its statistics come from its input ``x``, or, where φ' is cheaper from the output
        (``act.has_output_derivative``), from the output the caller passes to :meth:`_on_output`.
        """
        idx = self._cursor
        if idx is None or not torch.is_grad_enabled():
            return False
        self._cursor = None
        if not self._frozen:
            self._act_of.setdefault(idx, act)
        if self._want_act:
            if act.has_output_derivative:
                self._awaiting = (idx, act)
            else:
                self._buf.act.setdefault(idx, Q.ActivationStats()).update(act, x)
        return True

    def _on_output(self, y: Any) -> None:
        if self._awaiting is not None:
            (idx, act), self._awaiting = self._awaiting, None
            if isinstance(y, Tensor):
                self._buf.act.setdefault(idx, Q.ActivationStats()).update(act, y, of_output=True)

    def _on_functional_activation(self, act: BoundActivation, x: Tensor) -> bool:
        claimed = self._on_activation(act, x)
        if claimed and not self._frozen:
            self._functional = True
        return claimed

    def _before_model(self, module: nn.Module, args: Any) -> None:
        # functional activations are seen through a TorchFunctionMode, entered only on due steps
        # of models where the discovery pass found some
        wanted = not self._frozen or (self._want_act and self._functional)
        if self._mode is None and wanted and torch.is_grad_enabled():
            self._mode = ActivationMode(self._on_functional_activation, self._on_output)
            self._mode.__enter__()

    def _after_model(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)
        self._cursor, self._awaiting = None, None
        if not self._frozen and self._order and torch.is_grad_enabled():
            self._freeze()

    def _on_grad(self, buf: _StepBuffers, store: dict[int, Tensor], idx: int, grad: Tensor) -> None:
        if buf.closed:
            return
        n = Q.norm(grad)
        if self.scaler is not None:
            scale = self._grad_scale()
            if scale is not None:
                n = n / scale
        if isinstance(n, Tensor) and n.device != self._device:
            n = n.to(self._device)
        store[idx] = n * n if idx not in store else store[idx] + n * n

    def _on_node(self, buf: _StepBuffers, idx: int, signal: bool, j: int | None,
                 grad_inputs: tuple, grad_outputs: tuple) -> None:
        """Post-hook of a layer's output node: ∂L/∂z, and the gradient it sent to the layer's input."""
        if signal and grad_outputs[0] is not None:
            self._on_grad(buf, buf.signal, idx, grad_outputs[0])
        if j is not None and grad_inputs[j] is not None:
            self._on_grad(buf, buf.input, idx, grad_inputs[j])

    def _on_input(self, buf: _StepBuffers, module: nn.Module, grad: Tensor) -> None:
        idx = self._index.get(module)
        if idx is not None:
            self._on_grad(buf, buf.input, idx, grad)

    def _grad_scale(self) -> Tensor | float | None:
        """The GradScaler's current scale, as a device tensor when possible (no host sync)."""
        s = self.scaler
        if s is None or (hasattr(s, "is_enabled") and not s.is_enabled()):
            return None
        scale = getattr(s, "_scale", None)
        if not isinstance(scale, Tensor):
            return float(s.get_scale())
        return float(scale) if scale.device.type == "cpu" else scale.to(torch.float64)

    # --- host side ---------------------------------------------------------------------
    def _flush(self) -> None:
        """Move pending device rows and scalars to the host: one transfer per device."""
        items = [(k, q, t) for k, row in self._pending.items() for q, t in row.items()]
        scal = [(k, q, v) for k, row in self._pending_scalars.items() for q, v in row.items()
                if isinstance(v, Tensor)]
        for k, row in self._pending_scalars.items():
            for q, v in row.items():
                if not isinstance(v, Tensor):
                    self._host_scalars.setdefault(k, {})[q] = v
        if items:
            host = _to_host([t for _, _, t in items])
            for (k, q, _), arr in zip(items, host):
                self._host.setdefault(k, {})[q] = arr
        if scal:
            host = _to_host([v.to(torch.float64) for _, _, v in scal])
            for (k, q, _), arr in zip(scal, host):
                self._host_scalars.setdefault(k, {})[q] = float(arr)
        for k, rows in self._host_rows_of(self._deferred):
            self._host.setdefault(k, {}).update(rows)
        self._pending, self._pending_scalars, self._deferred = {}, {}, []

    def _build_trace(self) -> Trace:
        steps = np.array(sorted(set(self._host) | set(self._host_scalars)), dtype=np.int64)
        pos = {int(k): i for i, k in enumerate(steps)}
        L = len(self.layers)
        names = [q for q in self.schedules if q not in _DERIVED]
        data = {q: np.full((len(steps), L), np.nan) for q in names}
        for k, row in self._host.items():
            for q, arr in row.items():
                data[q][pos[k]] = arr
        if any(q in self.schedules for q in _DERIVED):
            act, weights = Q.attribution(data["signal_grad_norm"], data["input_grad_norm"])
            if "attribution_activation" in self.schedules:
                data["attribution_activation"] = act
            if "attribution_weights" in self.schedules:
                data["attribution_weights"] = weights
        scalar_names = list(dict.fromkeys(q for row in self._host_scalars.values() for q in row))
        scalars = {q: np.full(len(steps), np.nan) for q in scalar_names}
        for k, row in self._host_scalars.items():
            for q, v in row.items():
                scalars[q][pos[k]] = v
        meta = {**self.meta, "probe": {
            "quantities": {q: repr(s) for q, s in self.schedules.items()},
            "unused_layers": list(getattr(self, "_unused", [])),
            "scaler": self.scaler is not None,
        }}
        return Trace(steps=steps, layers=list(self.layers), data=data, scalars=scalars, meta=meta)


def _to_host(tensors: list[Tensor]) -> list[np.ndarray]:
    """One device → host copy per device for a list of same-dtype tensors."""
    out: list[np.ndarray | None] = [None] * len(tensors)
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    for idx in by_device.values():
        # cat promotes mixed dtypes; one conversion for all (rows are float64 already)
        flat = torch.cat([tensors[i].reshape(-1) for i in idx]).to(torch.float64).cpu().numpy()
        start = 0
        for i in idx:
            n = tensors[i].numel()
            out[i] = flat[start:start + n].reshape(tensors[i].shape)
            start += n
    return out  # type: ignore[return-value]


def _resolve_quantities(quantities: QuantitySpec, default: Callable[[int], bool]) -> dict[str, Callable[[int], bool]]:
    """Name → schedule. Every quantity follows ``every`` unless a dict gives its own schedule."""
    if quantities is None:
        spec: dict[str, Any] = {q: default for q in Q.ALL}
    elif isinstance(quantities, str):
        raise ConfigError("quantities", quantities, "a list of quantity names or a dict name → schedule")
    elif isinstance(quantities, Mapping):
        spec = {q: (default if s is None else resolve(s, f"quantities[{q!r}]")) for q, s in quantities.items()}
    else:
        spec = {q: default for q in quantities}
    for q in spec:
        Q.QUANTITIES.get(q, "quantities")
    if any(q in spec for q in _DERIVED):
        # the attribution is computed from both signal norms on the same steps
        sched = [spec[q] for q in _DERIVED if q in spec]
        both = sched[0] if len(sched) == 1 or sched[0] is sched[1] else (lambda k, a=sched: any(s(k) for s in a))
        for q in ("signal_grad_norm", "input_grad_norm"):
            if q not in spec:
                spec[q] = both
            elif spec[q] is not both:
                spec[q] = (lambda k, a=spec[q], b=both: a(k) or b(k))
    return spec


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    every: ScheduleLike = None,
    quantities: QuantitySpec = None,
    layers: LayerSpec = None,
    scaler: Any = None,
) -> Probe:
    """Attach a :class:`Probe` to ``model`` and return it.

    Args:
        optimizer: the probe advances one step after each ``optimizer.step()``; without one,
            call ``probe.step()`` once per update.
        every: ``None`` (log-spaced early, then every 50 steps), an int ``n`` (every n steps),
            a list of steps, or a callable ``step -> bool``. Applies to all quantities.
        quantities: names (see ``QUANTITIES``; default all), or a dict name → schedule
            overriding ``every`` for that quantity.
        layers: a list of modules or module names, or a filter ``(name, module) -> bool``.
        scaler: a ``torch.amp.GradScaler``; backpropagated signals are recorded unscaled.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> with watch(net, opt, every=1) as probe:
        ...     for _ in range(3):
        ...         opt.zero_grad(); net(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
        >>> probe.trace["grad_norm"].shape
        (3, 2)
    """
    return Probe(model, optimizer, every=every, quantities=quantities, layers=layers, scaler=scaler).attach()

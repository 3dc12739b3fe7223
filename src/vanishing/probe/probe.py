"""The probe: :class:`Probe` composes the hooks (:mod:`.hooks`), the quantities (:mod:`.quantities`)
and the storage (:mod:`.recorder`); :func:`watch` makes and attaches one.

Where numbers come from (step ``k`` = the ``k``-th optimizer step, from 0):

- ``grad`` quantities read the accumulated ``.grad`` where it is final for the step: just before
  ``optimizer.step()`` (optimizer step pre-hook), or, for ``optimizer.step(closure)``, right after
  the closure's first evaluation (the gradient at the weights the step starts from; LBFGS's later
  evaluations, at trial weights, are not read); without an optimizer, in :meth:`Probe.read` /
  :meth:`Probe.step`. All norms in one pass;
- ``update`` quantities compare weights copied in the pre-hook with the weights after the step;
- ``signal`` / ``input`` quantities come from tensor hooks put on layer outputs / input views during
  the forward passes of step ``k`` and fired by their backward passes (with a closure: those of its
  first evaluation);
- ``activation`` quantities read φ' of the first activation that runs after a layer.

Only forward passes run with autograd on are looked at: evaluation under ``torch.no_grad()`` is
ignored. On steps where no forward quantity is due, the model runs without a single hook.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import partial
from typing import Any, Callable, Iterable, Mapping, Union

import torch
from torch import Tensor, nn

from ..errors import ConfigError, VanishingError
from .hooks import Hooks
from .layers import LayerSpec, Row, candidates, module_rows, shared_rows, stray_row
from .layers import stray_params as find_stray
from .quantities import QUANTITIES, GradReading, Group, UpdateReading, all_finite, fill_norms
from .recorder import Recorder, StepBuffer
from .schedules import ScheduleLike, resolve
from .timeaxis import TimeAxis, stack_rows
from .trace import LayerInfo, Trace

__all__ = ["Probe", "watch", "resolve_quantities", "probe_meta"]

QuantitySpec = Union[None, Iterable[str], Mapping[str, ScheduleLike]]
_FORWARD = ("signal", "input", "activation")


class Probe:
    """Records per-layer gradient-flow quantities of ``model``; made and attached by :func:`watch`.

    Layers are found on the first forward pass run with autograd on, in execution order; a module
    called several times appears once (at its first call) and its readings combine all calls
    (norms: root-sum-square). Gradient accumulation is one step: ``grad`` quantities read the
    accumulated ``.grad``, forward readings pool all micro-batches. While detached the probe
    neither records nor counts steps. ``meta`` is copied into every :class:`Trace`.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, every: ScheduleLike = None,
                 quantities: QuantitySpec = None, layers: LayerSpec = None, scaler: Any = None,
                 flush_every: int = 256, stray_params: bool = False, time_axis: int | None = None):
        if not isinstance(model, nn.Module):
            raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.schedules = resolve_quantities(quantities, resolve(every))
        self.meta: dict[str, Any] = {}
        self.step_index = 0
        self.recorder = Recorder(flush_every)
        found = candidates(model, layers)
        self.hooks = Hooks(model, found, self._on_freeze, find_stray(model, found) if stray_params else None)
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.host_norms = self.device.type == "cpu"  # float32-then-exact norms on the CPU
        self.layers: list[LayerInfo] = []
        self.shared: list[list[int]] = []  # groups of rows holding the same weight tensor
        self._handles: list[Any] = []
        self._remap: dict[str, list[int]] | None = None  # stage → row of each module (fused modules)
        self._read_done = False  # this step's gradients are read
        self._snapshot: list[Tensor] | None = None
        self._before: Group | None = None
        self._trace: Trace | None = None
        # sequences: per-time-step norms (probe.timeaxis) on the steps of the default schedule, with the
        # full set of quantities or an explicit time_axis (a list of quantities alone records none)
        wanted = TimeAxis.wanted(model, time_axis) and (quantities is None or time_axis is not None)
        self.time = TimeAxis(model, time_axis, self._grad_scale if scaler is not None else None) if wanted else None
        self._time_due, self._time_rows = resolve(every), {}
        self._begin_step()

    # --- attach / detach ---------------------------------------------------------------
    def attach(self) -> "Probe":
        """Register the hooks (idempotent)."""
        if not self.hooks.attached:
            self._begin_step()
            self.hooks.attach()
            if self.time is not None:
                self.time.attach()
            if self.optimizer is not None:
                self._handles = [self.optimizer.register_step_pre_hook(self._pre_step),
                                 self.optimizer.register_step_post_hook(lambda *_: self.advance())]
        return self

    def detach(self) -> None:
        """Remove every hook; tensor hooks still pending on live graphs become no-ops."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.hooks.detach()
        self.hooks.buf.closed = True
        if self.time is not None:
            self.time.detach()

    def __enter__(self) -> "Probe":
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # --- public stepping and logging ---------------------------------------------------
    def step(self) -> None:
        """Read this step's gradients and advance: :meth:`read` then :meth:`advance` (only without an
        optimizer: with one, the probe does both around each ``optimizer.step()``)."""
        if self.optimizer is not None:
            raise VanishingError("this probe advances after each optimizer.step(); do not call probe.step()")
        self._before_update()  # no update follows: no update quantities
        self.advance()

    def read(self, params: Iterable[Tensor] | None = None) -> None:
        """Take the ``grad`` readings of the current step now, from the ``.grad`` present; the first
        call of a step also copies the weights for ``update`` quantities, compared in :meth:`advance`
        (call it after the update).

        ``params``: read only the layers of these parameters (one optimizer's); called once per
        optimizer in a step, each call fills its own layers of the step's rows. For loops and
        callbacks that own the moment the gradients are final (Lightning's ``on_before_optimizer_step``).
        """
        self._before_update(None if params is None else {id(p) for p in params}, update_follows=True)

    def advance(self) -> None:
        """Finish the current step (``update`` and forward quantities) and start the next."""
        if not self._read_done:  # a closure that was never evaluated: read what is there now
            self._before_update()
        self._after_update()

    def begin_forward(self) -> None:
        """Mark the start of a forward pass that is not one call of the watched model (a Lightning
        ``training_step`` calling submodules): functional activations are seen from here."""
        self.hooks.begin_forward()

    def end_forward(self) -> None:
        """Mark its end (before the backward pass); harmless where the model's own call ended it."""
        self.hooks.end_forward()

    def row(self, step: int) -> dict[str, Any]:
        """Quantity → (L,) numpy values recorded at ``step`` (for loggers; one host transfer)."""
        return self.recorder.row(step)

    def log(self, **scalars: float | Tensor) -> None:
        """Record scalars (floats or one-element tensors, kept on device until the flush) at the current step."""
        self.recorder.log(self.step_index, scalars)

    @property
    def flush_every(self) -> int:
        return self.recorder.flush_every

    @flush_every.setter
    def flush_every(self, n: int) -> None:
        self.recorder.flush_every = n

    @property
    def trace(self) -> Trace:
        """Everything recorded so far (flushes device buffers; cached until new data arrives)."""
        if self._trace is None or not self.recorder.fresh:
            meta = {**self.meta, "probe": probe_meta(self.schedules, self._unused, self.scaler is not None,
                                                     self.shared)}
            self._trace = self.recorder.trace(self.layers, self.schedules, meta)
            if self.time is not None:
                self._trace.time = stack_rows(self._time_rows, self._trace.steps)
        return self._trace

    # --- one step ----------------------------------------------------------------------
    def _pre_step(self, optimizer: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        """The optimizer's step pre-hook: read now, or, given a closure, after its first evaluation."""
        closure = args[1] if len(args) > 1 else kwargs.get("closure")  # args[0] is the optimizer
        if closure is None:
            self._before_update()
            return None

        def read_after_first_evaluation(*a: Any, **k: Any) -> Any:
            out = closure(*a, **k)
            if not self._read_done:
                self._before_update()
                self.hooks.buf.closed = True  # later evaluations (LBFGS: trial weights) are not pooled
            return out

        if len(args) > 1:
            return (args[0], read_after_first_evaluation, *args[2:]), kwargs
        return args, {**kwargs, "closure": read_after_first_evaluation}

    def _begin_step(self) -> None:
        self._read_done = False
        k = self.step_index
        self.due = [QUANTITIES.get(q) for q, s in self.schedules.items() if s(k)]
        by_stage: dict[str, list] = {}
        for q in self.due:
            by_stage.setdefault(q.stage, []).append(q)
        self.by_stage = by_stage
        buf = StepBuffer({s: by_stage[s] for s in _FORWARD if s in by_stage},
                         self._grad_scale if self.scaler is not None else None)
        self.hooks.set_due(buf, *(s in by_stage for s in _FORWARD))
        if self.time is not None:
            self.time.begin(bool(self._time_due(k)))

    @torch.no_grad()
    def _before_update(self, params: set[int] | None = None, update_follows: bool = False) -> None:
        if not self.hooks.frozen:
            self.hooks.freeze()
        first, self._read_done = not self._read_done, True
        grad_qs = self.by_stage.get("grad", []) if self.layers else []
        update = bool(first and self.layers and self._weights and "update" in self.by_stage
                      and (self.optimizer is not None or update_follows))
        if not (grad_qs or update):
            return
        r = self._grad_reading(params)
        needs = {n for q in grad_qs for n in q.needs} | ({"weights"} if update else set())
        groups = [getattr(r, n) for n in ("weight_grads", "bias_grads", "weights") if n in needs]
        fill_norms(groups, self.host_norms, self._acc)
        self.recorder.put(self.step_index, self._compute(grad_qs, r, groups), merge=not first)
        if update:  # one persistent copy of the weights, reused every time
            if self._snapshot is None:
                self._snapshot = [torch.empty_like(w) for w in self._weights]
            torch._foreach_copy_(self._snapshot, self._weights)
            self._before = r.weights

    def _grad_reading(self, params: set[int] | None = None) -> GradReading:
        """The weights and the gradients present now (a parameter may have none this step; with
        ``params``, ids of parameters, only theirs count)."""
        def present(ps: list[Tensor], layer: tuple[int, ...]) -> Group:
            grads = [p.grad if params is None or id(p) in params else None for p in ps]
            if any(g is None for g in grads):  # not `None in`: Tensor ==
                keep = [i for i, g in enumerate(grads) if g is not None]
                return Group([grads[i] for i in keep], tuple(layer[i] for i in keep))
            return Group(grads, layer)

        return GradReading(Group(self._weights, self._w_layer), present(self._weights, self._w_layer),
                           present(self._biases, self._b_layer), len(self.layers))

    @torch.no_grad()
    def _after_update(self) -> None:
        rows: dict[str, Tensor] = {}
        if self._before is not None:
            torch._foreach_sub_(self._snapshot, self._weights)  # W_before − W_after
            u = UpdateReading(self._before, Group(self._snapshot, self._w_layer), len(self.layers))
            fill_norms([u.delta], self.host_norms, self._acc)
            rows.update(self._compute(self.by_stage["update"], u, [u.before, u.delta]))
            self._before = None
        buf = self.hooks.buf
        if buf.due and self.layers:
            if self._remap is not None:  # module index → row index, per stage
                for stage, qs in buf.due.items():
                    to = self._remap[stage]
                    for q in qs:
                        if q.name in buf.values:
                            buf.values[q.name] = {to[i]: v for i, v in buf.values[q.name].items()}
            rows.update(buf.rows(len(self.layers), self.device))
        buf.closed = True
        if self.time is not None and (time_rows := self.time.collect()):
            self._time_rows[self.step_index] = time_rows
        self.recorder.put(self.step_index, rows)
        self.step_index += 1
        self._begin_step()

    def _compute(self, qs: list, reading: Any, groups: list[Group]) -> dict[str, Any]:
        """Rows of the quantities ``qs`` from ``reading``. On the CPU path, ``norms_only`` quantities
        whose norms are all finite become calls made at the flush on the norms alone (right after a
        backward pass every tensor operation costs many times its usual time; the flush does not)."""
        later = [q for q in qs if q.norms_only] if self.host_norms and all(map(all_finite, groups)) else []
        rows = {q.name: q.compute(reading) for q in qs if q not in later}
        if later:
            lite = replace(reading, **{f.name: getattr(reading, f.name).without_tensors() for f in fields(reading)
                                       if isinstance(getattr(reading, f.name), Group)})
            rows.update({q.name: partial(q.compute, lite) for q in later})
        return rows

    def _grad_scale(self) -> Tensor | float | None:
        """The GradScaler's current scale, as a device tensor when possible (no host sync)."""
        s = self.scaler
        if s is None or (hasattr(s, "is_enabled") and not s.is_enabled()):
            return None
        scale = getattr(s, "_scale", None)
        if not isinstance(scale, Tensor):
            return float(s.get_scale())
        return float(scale) if scale.device.type == "cpu" else scale.to(torch.float64)

    def _on_freeze(self) -> None:
        """The layers are known: the trace's rows (a module's, a fused module's stacked layers, stray
        parameters at their first use), their descriptions and parameters, grouped by row."""
        h = self.hooks
        rows: list[Row] = []
        first: list[int] = []  # each module's first row
        stray = list(h.stray.values())
        before = {n: h.stray_at.get(n, 0) for n in stray}  # unused on the discovery pass: input side
        for i, m in enumerate(h.order + [None]):
            rows += [stray_row(n, p) for n, p in self._stray_items() if before[n] == i]
            if m is not None:
                first.append(len(rows))
                rows += module_rows(h.candidates.get(m, ""), m, h.act_of[i].spec if i in h.act_of else None)
        last = [f + len(module_rows("", m)) - 1 for f, m in zip(first, h.order)]
        self._remap = (None if first == list(range(len(first))) and last == first
                       else {"signal": last, "activation": last, "input": first})
        self.layers = [r.info for r in rows]
        self.shared = shared_rows(rows)
        self._weights, self._biases, w_layer, b_layer = [], [], [], []
        for i, r in enumerate(rows):
            self._weights += r.weights
            self._biases += r.biases
            w_layer += [i] * len(r.weights)
            b_layer += [i] * len(r.biases)
        self._w_layer, self._b_layer = tuple(w_layer), tuple(b_layer)
        wide = any(p.dtype == torch.float64 for p in self._weights + self._biases)
        self._acc = torch.float64 if wide else torch.float32  # the CPU path's first norm pass

    def _stray_items(self) -> list[tuple[str, Tensor]]:
        by_name = dict(self.model.named_parameters())
        return [(n, by_name[n]) for n in self.hooks.stray.values()]

    @property
    def _unused(self) -> list[str]:
        return [n for m, n in self.hooks.candidates.items() if m not in self.hooks.index] if self.hooks.frozen else []


def probe_meta(schedules: Mapping[str, Callable[[int], bool]], unused: list[str], scaler: bool,
               shared: list[list[int]] | None = None) -> dict[str, Any]:
    """The ``probe`` entry of a trace's meta: what was recorded when; ``shared_weights``: groups of
    layer indices that hold the same weight tensor (tied embeddings), where there are any."""
    out = {"quantities": {q: repr(s) for q, s in schedules.items()}, "unused_layers": list(unused), "scaler": scaler}
    if shared:
        out["shared_weights"] = [list(g) for g in shared]
    return out



def resolve_quantities(quantities: QuantitySpec, default: Callable[[int], bool]) -> dict[str, Callable[[int], bool]]:
    """Name → schedule. Every quantity (default: all registered) follows ``default`` unless a dict gives
    its own; a derived quantity brings the ones it is computed from, recorded on its steps too."""
    if quantities is None:
        spec: dict[str, Any] = {q: default for q in QUANTITIES}
    elif isinstance(quantities, str):
        raise ConfigError("quantities", quantities, "a list of quantity names or a dict name → schedule")
    elif isinstance(quantities, Mapping):
        spec = {q: (default if s is None else resolve(s, f"quantities[{q!r}]")) for q, s in quantities.items()}
    else:
        spec = {q: default for q in quantities}
    for q in list(spec):
        for need in QUANTITIES.get(q, "quantities").requires:
            mine = spec[q]
            if need not in spec:
                spec[need] = mine
            elif spec[need] is not mine:
                spec[need] = (lambda k, a=spec[need], b=mine: a(k) or b(k))
    return spec


def watch(model: nn.Module, optimizer: torch.optim.Optimizer | None = None, every: ScheduleLike = None,
          quantities: QuantitySpec = None, layers: LayerSpec = None, scaler: Any = None,
          stray_params: bool = False, time_axis: int | None = None) -> Probe:
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
        stray_params: also give each parameter that no layer holds (a ``cls_token`` or ``pos_embed``
            on a module with children) a row of its own, named by its full parameter name and
            placed where the forward pass first uses it (``grad``/``update`` quantities only).
        time_axis: for a sequence model, the time axis of its input: ‖∂L/∂x_t‖ per time step is
            recorded (``trace.time["input_grad_norm_t"]``) at the input, or at the first
            ``nn.Embedding``'s output for token ids. Models with recurrent cells (``nn.RNNCell``,
            ``nn.LSTMCell``, ``nn.GRUCell``) get ‖∂L/∂h_t‖ per time step without it, unless
            ``quantities`` lists what to record (:mod:`vanishing.probe.timeaxis`).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        >>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
        >>> with watch(net, opt, every=1) as probe:
        ...     for _ in range(3):
        ...         opt.zero_grad(); net(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
        >>> probe.trace["grad_norm"].shape
        (3, 2)
    """
    return Probe(model, optimizer, every=every, quantities=quantities, layers=layers, scaler=scaler,
                 stray_params=stray_params, time_axis=time_axis).attach()

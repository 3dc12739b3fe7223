"""The probe's hooks: forward hooks on the watched layers, their activations and the model, tensor
hooks on what those forward passes make, and the discovery of the layers' execution order.

- ∂L/∂z of layer ``l``: a tensor hook on each floating output of the layer;
- ∂L/∂x through layer ``l`` only: the layer's inputs are replaced by views of themselves in a
  forward pre-hook, and a tensor hook on each view sees the gradient that this layer sends back
  (other consumers of ``x`` send theirs to ``x`` itself, not to the view);
- activation statistics: the first activation module (or activation function, seen through
  :class:`~.functional.ActivationMode`) that runs after a layer belongs to it.

Only forward passes run with autograd on are looked at. Every hook writes into the
:class:`~.recorder.StepBuffer` of its step, which ignores whatever arrives after it is closed.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ..activations import BoundActivation
from ._hookset import HookSet
from .composite import MeasuredActivation, is_elementwise, maybe_activation, module_activation
from .functional import ActivationMode
from .layers import tensors_in
from .recorder import StepBuffer

__all__ = ["Hooks"]


class Hooks(HookSet):
    """Hooks on ``model``; :meth:`attach` / :meth:`detach` are symmetric (also as a context manager).

    ``order`` lists the layers (among ``candidates``) in the order of their first call on the first
    forward pass with autograd on; ``act_of[l]`` is the activation that first followed layer ``l``.
    ``on_freeze()`` is called when that pass ends. ``buf`` is the current step's buffer and
    ``due = (signal, input, activation)`` what it wants; :meth:`set_due` updates both.
    """

    def __init__(self, model: nn.Module, candidates: dict[nn.Module, str], on_freeze: Callable[[], None],
                 stray: dict[str, Tensor] | None = None):
        self.model, self.candidates, self.on_freeze = model, candidates, on_freeze
        # stray parameters (name → tensor) and, once seen as an argument on the discovery pass, the
        # number of layers run before their first use: their place in the layer order
        self.stray = {id(p): n for n, p in (stray or {}).items()}
        self.stray_at: dict[str, int] = {}
        self.acts: dict[nn.Module, Any] = {m: a for m in model.modules() if (a := module_activation(m)) is not None}
        # parameter-free leaves that may be unknown activations: looked at on the discovery pass only
        self.maybe = [m for m in model.modules() if m not in self.acts and m not in candidates and maybe_activation(m)]
        # unwatched leaves (a norm left out by ``layers=``, dropout): a layer's output passes through them
        # to its activation, which then still takes "the layer's output"
        self.through = [m for m in model.modules() if m not in self.acts and m not in candidates
                        and next(m.children(), None) is None]
        self.order: list[nn.Module] = []
        self.index: dict[nn.Module, int] = {}
        self.act_of: dict[int, BoundActivation] = {}
        self.frozen = self.functional = self.attached = False
        self.buf = StepBuffer({})
        self.due = (True, True, True)
        self._cursor: int | None = None  # last layer run, not yet followed by an activation
        self._outputs: list[Tensor] = []  # that layer's outputs: an activation must take one of them itself
        self._awaiting: tuple[int, BoundActivation, Tensor] | None = None  # activation whose output is due
        self._mode: ActivationMode | None = None
        self._handles: list[Any] = []

    # --- attach / detach -------------------------------------------------------------
    def detach(self) -> None:
        super().detach()
        if self._mode is not None:  # detached inside a forward pass
            self._mode.__exit__(None, None, None)
            self._mode = None
        self._awaiting = None

    def set_due(self, buf: StepBuffer, signal: bool, input: bool, act: bool) -> None:
        """A new step: its buffer and what it records; re-registers only when the set of hooks changes."""
        before = self._needed()
        self.buf, self.due = buf, (signal, input, act)
        if self.attached and self._needed() != before:
            self._register()

    def freeze(self) -> None:
        """Fix the layer order (registration order if no forward pass was seen)."""
        if not self.order:
            self.order = list(self.candidates)
            self.index = {m: i for i, m in enumerate(self.order)}
        self.frozen = True
        self.on_freeze()
        if self.attached:
            self._register()  # drop hooks of unused modules (and all if none are needed)

    def _needed(self) -> tuple[bool, bool, bool, bool]:
        """(layer hooks, input aliases, activation hooks, any): once the layers are known, forward
        hooks are registered only on steps that record something seen in the forward pass."""
        signal, input, act = self.due
        if not self.frozen:
            return True, input, True, True
        return signal or input or act, input, act, signal or input or act

    def _register(self) -> None:
        self._remove_all()
        layer_hooks, aliases, act_hooks, anything = self._needed()
        if not anything:
            return
        add = self._handles.append
        for m in (self.order if self.frozen else list(self.candidates)):
            if aliases:
                add(m.register_forward_pre_hook(self._before_layer))
            if layer_hooks:
                add(m.register_forward_hook(self._after_layer))
        if act_hooks:
            for m, act in self.acts.items():
                add(m.register_forward_pre_hook(partial(self._before_activation, act)))
                if act.has_output_derivative:
                    add(m.register_forward_hook(self._after_activation))
            if not self.frozen:
                for m in self.maybe:
                    add(m.register_forward_pre_hook(self._before_unknown))
            for m in self.through:
                add(m.register_forward_hook(self._passed_through))
            add(self.model.register_forward_pre_hook(self._before_model))
        add(self.model.register_forward_hook(self._after_model, always_call=True))

    # --- layers ---------------------------------------------------------------------
    def _before_layer(self, module: nn.Module, args: tuple) -> tuple | None:
        if not (self.due[1] and torch.is_grad_enabled()):
            return None
        idx = self.index.get(module)
        if idx is None and self.frozen:
            return None
        buf = self.buf
        # on the discovery pass the layer gets its index after this hook: look it up in the backward
        hook = partial(self._input_grad, buf, module)

        def alias(a: Any) -> Any:
            # a view of the input: its gradient is the part that flows through this layer only
            if isinstance(a, Tensor) and a.requires_grad and a.is_floating_point():
                v = a.view_as(a)
                v.register_hook(hook)
                return v
            return None

        aliases: dict[int, Tensor | None] = {}  # one view per distinct input tensor
        for a in args:
            if id(a) not in aliases:
                aliases[id(a)] = alias(a)
        if all(v is None for v in aliases.values()):
            return None
        return tuple(a if aliases[id(a)] is None else aliases[id(a)] for a in args)

    def _after_layer(self, module: nn.Module, args: Any, output: Any) -> None:
        if not torch.is_grad_enabled():
            return
        idx = self.index.get(module)
        if idx is None:
            if self.frozen:
                return
            idx = self.index[module] = len(self.order)
            self.order.append(module)
        self._cursor, self._outputs = idx, tensors_in(output)
        if self.due[0]:
            hook = partial(self._output_grad, self.buf, idx)
            for t in tensors_in(output):
                if t.requires_grad:
                    t.register_hook(hook)

    def _output_grad(self, buf: StepBuffer, idx: int, grad: Tensor) -> None:
        buf.gradient("signal", idx, grad)

    def _input_grad(self, buf: StepBuffer, module: nn.Module, grad: Tensor) -> None:
        idx = self.index.get(module)
        if idx is not None:
            buf.gradient("input", idx, grad)

    # --- activations -----------------------------------------------------------------
    def _before_activation(self, act: BoundActivation, module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], Tensor):
            self._on_activation(act, args[0])

    def _after_activation(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._on_output(output)

    def _on_activation(self, act: BoundActivation | MeasuredActivation, x: Tensor) -> bool:
        """The first activation after a layer that takes the layer's output itself (not a transformed
        copy: GPT-2's gelu_new calls tanh on one), directly or through unwatched modules (a norm left
        out by ``layers=``, dropout), belongs to it; its statistics come from its input, or
        from its output where φ' is cheaper so (``act.has_output_derivative``)."""
        idx = self._cursor
        if idx is None or not torch.is_grad_enabled() or not any(x is t for t in self._outputs):
            return False
        self._cursor, self._outputs = None, []
        if not self.frozen:
            self.act_of.setdefault(idx, act)
        if self.due[2]:
            if act.has_output_derivative:
                self._awaiting = (idx, act, x)
            else:
                self.buf.activation(idx, act, x, None)
        return True

    def _passed_through(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self._cursor is not None and args and any(args[0] is t for t in self._outputs):
            self._outputs = self._outputs + tensors_in(output)

    def _before_unknown(self, module: nn.Module, args: tuple) -> None:
        """Discovery pass: a parameter-free module taking a layer's output itself is an activation
        if it is elementwise (its φ' is then measured through autograd on it)."""
        if self.frozen or module in self.acts or not args or not isinstance(args[0], Tensor):
            return
        x = args[0]
        if self._cursor is None or not any(x is t for t in self._outputs) or len(tensors_in(args)) != 1:
            return
        if is_elementwise(module.forward, x):
            act = self.acts[module] = MeasuredActivation(f"unknown:{type(module).__name__}", module.forward, "unknown")
            self._on_activation(act, x)

    def _on_output(self, y: Any) -> None:
        if self._awaiting is not None:
            (idx, act, x), self._awaiting = self._awaiting, None
            if isinstance(y, Tensor):
                self.buf.activation(idx, act, x, y)

    def _on_functional_activation(self, act: BoundActivation, x: Tensor) -> bool:
        claimed = self._on_activation(act, x)
        if claimed and not self.frozen:
            self.functional = True
        return claimed

    def _on_args(self, args: tuple) -> None:
        for a in args:
            for t in (a if isinstance(a, (tuple, list)) else (a,)):
                if isinstance(t, Tensor) and id(t) in self.stray:
                    self.stray_at.setdefault(self.stray[id(t)], len(self.order))

    # --- the model ------------------------------------------------------------------
    def begin_forward(self) -> None:
        """A forward pass starts that is not one call of the model (Lightning's ``training_step``)."""
        self._before_model(self.model, ())

    def end_forward(self) -> None:
        """That forward pass ended (idempotent; the model's own forward hook may have ended it)."""
        self._after_model(self.model, (), None)

    def _before_model(self, module: nn.Module, args: Any) -> None:
        # functional activations are seen through a TorchFunctionMode, entered only for the
        # discovery pass and, later, on due steps of models where it found some
        wanted = not self.frozen or (self.due[2] and self.functional)
        if self._mode is None and wanted and torch.is_grad_enabled():
            self._mode = ActivationMode(self._on_functional_activation, self._on_output,
                                        self._on_args if self.stray and not self.frozen else None)
            self._mode.__enter__()

    def _after_model(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)
        self._cursor, self._awaiting, self._outputs = None, None, []
        if not self.frozen and self.order and torch.is_grad_enabled():
            self.freeze()

"""Hugging Face: :class:`GradientFlowCallback`, a ``transformers.TrainerCallback`` that puts the probe on the
Trainer's model and reads the gradients where the Trainer says they are final for the step.

- gradients: in ``on_pre_optimizer_step`` — after gradient accumulation and after the Trainer's
  gradient clipping (which is where it unscales mixed-precision gradients; with ``max_grad_norm=0`` and
  a float16 GradScaler the readings would be scaled), just before ``optimizer.step()``;
- one probe step per optimizer step, recorded on the probe's schedule; ``update`` quantities compare the
  weights around ``optimizer.step()`` (``on_optimizer_step``);
- per-layer scalars ``"<prefix>/<quantity>/<layer>"`` go through ``trainer.log`` (and so to every
  ``report_to`` integration) on recorded steps, when the callback knows the trainer (``trainer=`` or
  :meth:`GradientFlowCallback.attach`); otherwise into ``state.log_history``;
- at ``on_train_end`` (main process): :attr:`trace`, :attr:`diagnosis`, and ``trace.npz``,
  ``diagnosis.json``, ``diagnosis.md`` (and ``report.html`` with ``report=True``) in ``output_dir``
  (default ``<args.output_dir>/vanishing``).

>>> trainer = transformers.Trainer(model=model, args=args, train_dataset=data)       # doctest: +SKIP
>>> flow = GradientFlowCallback.attach(trainer, every=10)                            # doctest: +SKIP
>>> trainer.train(); flow.diagnosis.verdict                                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..diagnose import Diagnosis
from ..errors import VanishingError
from ..probe import Probe, Trace
from ..probe.layers import LayerSpec
from ..probe.probe import QuantitySpec
from ..probe.schedules import ScheduleLike
from ._common import step_metrics, write_outputs

__all__ = ["GradientFlowCallback"]


class GradientFlowCallback(TrainerCallback):
    """Record the probe's per-layer gradient-flow quantities during ``Trainer.train()``.

    Args:
        every, quantities, layers, stray_params: as for :func:`vanishing.watch`.
        trainer: the Trainer, for logging through ``trainer.log`` (see :meth:`attach`).
        output_dir: where the files go at the end (default ``<args.output_dir>/vanishing``).
        report: also write the HTML report.
        prefix: the first part of every logged scalar's name.
    """

    def __init__(self, every: ScheduleLike = None, quantities: QuantitySpec = None, layers: LayerSpec = None,
                 stray_params: bool = False, trainer: Any = None, output_dir: str | Path | None = None,
                 report: bool = False, prefix: str = "gradient_flow"):
        self.every, self.quantities, self.layers, self.stray_params = every, quantities, layers, stray_params
        self.trainer, self.output_dir, self.report, self.prefix = trainer, output_dir, report, prefix
        self.probe: Probe | None = None
        self.diagnosis: Diagnosis | None = None
        self.paths: dict[str, Path] = {}
        self._log_step = 0

    @classmethod
    def attach(cls, trainer: Any, **kwargs: Any) -> "GradientFlowCallback":
        """Make a callback that logs through ``trainer`` and add it to the trainer's callbacks."""
        cb = cls(trainer=trainer, **kwargs)
        trainer.add_callback(cb)
        return cb

    @property
    def trace(self) -> Trace:
        """Everything recorded so far."""
        if self.probe is None:
            raise VanishingError("GradientFlowCallback has recorded nothing yet: it starts with trainer.train()")
        return self.probe.trace

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.probe = Probe(model, None, every=self.every, quantities=self.quantities, layers=self.layers,
                           stray_params=self.stray_params).attach()
        self.probe.meta["model"] = type(model).__name__

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.probe is not None:
            self._log_step = state.global_step
            self.probe.read()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        probe = self.probe
        if probe is None:
            return
        k = probe.step_index
        probe.advance()
        metrics = step_metrics(probe, k, self.prefix)
        if not metrics or not state.is_world_process_zero:
            return
        if self.trainer is not None:
            self.trainer.log(metrics)
        else:
            state.log_history.append({**metrics, "step": self._log_step})

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if self.probe is not None and logs and "loss" in logs:  # the running loss, at the step just ended
            self.probe.recorder.log(max(self.probe.step_index - 1, 0), {"loss": float(logs["loss"])})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.probe is None:
            return
        self.probe.detach()
        if state.is_world_process_zero:
            where = self.output_dir if self.output_dir is not None else Path(args.output_dir) / "vanishing"
            self.diagnosis, self.paths = write_outputs(self.probe.trace, where, self.report)

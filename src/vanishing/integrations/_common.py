"""What the callbacks share: per-layer scalars of one step for a logger, and the files written at the end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..diagnose import Diagnosis, diagnose
from ..errors import VanishingError
from ..probe import Probe, Trace
from ..probe.layers import LayerSpec
from ..probe.probe import QuantitySpec
from ..probe.schedules import ScheduleLike
from ..results import codec

__all__ = ["Recording", "step_metrics", "write_outputs"]


class Recording:
    """What both callbacks hold: the probe's settings, the probe once training starts, and what the end of
    training made (:attr:`diagnosis`, :attr:`paths`)."""

    def __init__(self, every: ScheduleLike, quantities: QuantitySpec, layers: LayerSpec, stray_params: bool,
                 report: bool, prefix: str):
        self.every, self.quantities, self.layers, self.stray_params = every, quantities, layers, stray_params
        self.report, self.prefix = report, prefix
        self.probe: Probe | None = None
        self.diagnosis: Diagnosis | None = None
        self.paths: dict[str, Path] = {}

    @property
    def trace(self) -> Trace:
        """Everything recorded so far."""
        if self.probe is None:
            raise VanishingError(f"{type(self).__name__} has recorded nothing yet: it starts when training starts")
        return self.probe.trace

    def start(self, model: Any, scaler: Any = None) -> Probe:
        self.probe = Probe(model, None, every=self.every, quantities=self.quantities, layers=self.layers,
                           scaler=scaler, stray_params=self.stray_params).attach()
        self.probe.meta["model"] = type(model).__name__
        return self.probe

    def finish(self, where: str | Path | None) -> None:
        """Detach; with ``where`` (the main process), diagnose and write the files there."""
        if self.probe is None:
            return
        self.probe.detach()
        if where is not None:
            self.diagnosis, self.paths = write_outputs(self.probe.trace, where, self.report)


def step_metrics(probe: Probe, step: int, prefix: str) -> dict[str, float]:
    """``"<prefix>/<quantity>/<layer>" → value`` of every finite reading recorded at probe step ``step``."""
    names = [layer.name for layer in probe.layers]
    return {f"{prefix}/{q}/{name}": float(v) for q, row in probe.row(step).items()
            for name, v in zip(names, row) if math.isfinite(v)}


def write_outputs(trace: Trace, dirpath: str | Path, report: bool) -> tuple[Diagnosis, dict[str, Path]]:
    """Diagnose ``trace`` and write ``trace.npz``, ``diagnosis.json``, ``diagnosis.md`` and, with
    ``report``, ``report.html`` into ``dirpath``; returns the diagnosis and the paths written."""
    d = diagnose(trace)
    out = Path(dirpath)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"trace": trace.save(out / "trace.npz"), "diagnosis": out / "diagnosis.json",
             "diagnosis_md": out / "diagnosis.md"}
    paths["diagnosis"].write_text(codec.dumps(d.to_dict(), indent=2))
    paths["diagnosis_md"].write_text(d.to_markdown())
    if report:
        from ..report.html import write_report
        from ..results import RunResult
        from ..results.outcome import TrainOutcome

        loss = trace.scalars.get("loss", np.zeros(0))
        finite = loss[np.isfinite(loss)]
        last = float(finite[-1]) if finite.size else math.nan
        steps = int(trace.steps[-1]) + 1 if len(trace.steps) else 0
        result = RunResult({}, trace, TrainOutcome(steps, False, None, last, None, None), diagnosis=d.to_dict())
        paths["report"] = write_report(result, out / "report.html")
    return d, paths


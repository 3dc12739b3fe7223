"""What the callbacks share: per-layer scalars of one step for a logger, and the files written at the end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..diagnose import Diagnosis, diagnose
from ..probe import Probe, Trace
from ..results import codec

__all__ = ["step_metrics", "write_outputs"]


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


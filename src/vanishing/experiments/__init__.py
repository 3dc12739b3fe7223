"""Experiments: one run end to end (and, later, sweeps)."""

from .run import RunResult, recorded_steps, run

__all__ = ["RunResult", "recorded_steps", "run"]

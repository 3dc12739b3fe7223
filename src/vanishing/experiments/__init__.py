"""Experiments: one run end to end, sweeps of many runs, and the results store."""

from .run import RunResult, run
from .store import Store, config_hash
from .sweep import SweepOutcome, SweepProgress, SweepSpec, run_sweep

__all__ = ["RunResult", "Store", "SweepOutcome", "SweepProgress", "SweepSpec", "config_hash", "run", "run_sweep"]

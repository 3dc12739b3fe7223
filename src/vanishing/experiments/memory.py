"""What a sweep holds in memory at once, checked before any run starts.

An executor runs units of work side by side: single runs (``sequential``, ``processes``) or stacked
groups (``batched``, ``ray``), on ``workers`` slots. :func:`check_sweep_fits` estimates every unit with
:func:`~vanishing.resources.estimate_run_memory` (a group: its members stacked) and refuses the sweep
when the ``workers`` largest units together exceed this machine's available memory.
"""

from __future__ import annotations

import os
from typing import Sequence

from ..config import RunConfig
from ..data import load_dataset
from ..errors import VanishingError
from ..resources import check_parallel_fits, estimate_run_memory
from .executors.batched import split_groups

__all__ = ["sweep_units", "check_sweep_fits"]


def sweep_units(configs: Sequence[RunConfig], executor: str, workers: int) -> list[list[int]]:
    """The units of work (indices into ``configs``) that ``executor`` trains, each on one slot."""
    if executor in ("batched", "ray"):
        return split_groups(configs, workers) if configs else []
    return [[i] for i in range(len(configs))]


def check_sweep_fits(configs: Sequence[RunConfig], executor: str, workers: int | None = None,
                     available: int | None = None) -> int:
    """Refuse (:class:`~vanishing.errors.ResourceError`, one line with both numbers) a sweep whose
    parallel units cannot fit this machine's memory together; return the bytes needed at the peak.

    ``workers`` defaults to the CPU count, as the executors do; ``sequential`` runs one unit at a time.
    Each data set is loaded once (seed 0) to learn its sizes; runs whose data set cannot be loaded are
    left out (they fail on their own, stored with their error).
    """
    slots = 1 if executor == "sequential" else (workers or os.cpu_count() or 1)
    sizes: dict[str, tuple[int, int, int, int] | None] = {}
    for c in configs:
        if c.dataset not in sizes:
            try:
                data = load_dataset(c.dataset, seed=0)
            except VanishingError:  # its runs fail one by one and are stored with the error, as before
                sizes[c.dataset] = None
                continue
            sizes[c.dataset] = (data.in_features, data.out_features, len(data.x_train), len(data.x_test))
    estimates = []
    for unit in sweep_units(configs, executor, slots):
        first = configs[unit[0]]  # members of a group share the architecture and the data set
        known = sizes[first.dataset]
        if known is None:
            continue
        fi, fo, n_train, n_test = known
        estimates.append(estimate_run_memory(first, fi, fo, members=len(unit), n_train=n_train, n_test=n_test))
    what = f"sweep on {slots} worker{'s' if slots > 1 else ''}"
    return check_parallel_fits(estimates, slots, what, available) if estimates else 0

"""``processes``: one run per task on ``workers`` slots (this process and a ``spawn`` pool)."""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

from ...config import RunConfig
from ...train.loop import StepDeltas
from . import EXECUTORS, ExecutorOptions, Finished
from ._pool import _pooled
from .sequential import _run_one


@EXECUTORS.register("processes")
def processes(configs: Sequence[RunConfig], advance: Callable[[int], None],
              options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """One run per task on ``workers`` slots: this process and a ``spawn`` pool of ``workers - 1``
    processes, one thread each; results come back to the driver."""
    options = options or ExecutorOptions()
    if not configs:
        return
    workers = max(1, min(options.workers or os.cpu_count() or 1, len(configs)))
    yield from _pooled(configs, [[i] for i in range(len(configs))], workers, _run_in_worker, advance, options)


def _run_in_worker(group: list[RunConfig], advance: Callable[[int], None], notes: list[str]) -> Iterator[Finished]:
    yield 0, _run_one(group[0], StepDeltas(advance))

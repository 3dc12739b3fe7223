"""Progress bars: the one place that draws them (the library reports counts through callbacks).

Both draw on stderr, and only when it is a terminal.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from ..experiments.sweep import SweepProgress
from ._common import err_console

__all__ = ["training_progress", "sweep_progress"]


@contextmanager
def training_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``update(steps_done)`` (a run's ``on_step``); draws a transient bar."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err_console, transient=True,
                        disable=not err_console.is_terminal)
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def sweep_progress() -> Iterator[SweepProgress]:
    """Yield a :class:`~vanishing.experiments.sweep.SweepProgress` that draws a bar over steps (with the
    time elapsed and the ETA) labelled ``runs done/total``; the bar stays on screen when done."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err_console,
                        transient=False, disable=not err_console.is_terminal)
    with progress:
        task = progress.add_task("runs", total=None)

        def update(steps_done: int, steps_total: int, runs_done: int, runs_total: int) -> None:
            progress.update(task, completed=steps_done, total=max(steps_total, 1),
                            description=f"runs {runs_done}/{runs_total}")

        yield update

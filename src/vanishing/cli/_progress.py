"""A progress bar for training runs (shown only on a terminal)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ._common import err_console

__all__ = ["training_progress"]


@contextmanager
def training_progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``update(steps_done)``; draws a transient bar on stderr when it is a terminal."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err_console, transient=True,
                        disable=not err_console.is_terminal)
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)

"""``sequential``: one :func:`~vanishing.experiments.run.run` after another (the reference and the fallback)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from ...config import RunConfig
from ...train.loop import StepDeltas
from . import EXECUTORS, ExecutorOptions, Finished, error_line

if TYPE_CHECKING:
    from ..run import RunResult


def _run_one(config: RunConfig, on_step: Callable[[int], None] | None = None) -> "RunResult | str":
    """One run; an exception becomes its one-line error; a run stopped by Ctrl-C re-raises it."""
    from ..run import run

    try:
        result = run(config, on_step=on_step)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, the sweep goes on
        return error_line(exc)
    if result.outcome.interrupted:
        raise KeyboardInterrupt
    return result


@EXECUTORS.register("sequential")
def sequential(configs: Sequence[RunConfig], advance: Callable[[int], None],
               options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """One run after another in this process."""
    steps = StepDeltas(advance)
    take = (options.take if options is not None else None) or (lambda ix: ix)
    for i, config in enumerate(configs):
        if not take([i]):
            continue
        out = _run_one(config, steps)
        steps.finish(config.steps)
        yield i, out

"""Executors: run many configs and hand back each run as it finishes; the caller alone stores them.

An executor is a generator function ``executor(configs, advance, options)`` that yields
``(index, result_or_error)`` in the order runs finish: a :class:`~vanishing.experiments.run.RunResult`,
or a one-line error string for a run that raised. ``advance(n)`` reports ``n`` more steps done (for a
progress bar; negative when work is lost and done again). Ctrl-C (raised inside the generator, or
thrown into it at a ``yield``) stops its workers; an executor with workers first yields the runs they
had finished, then re-raises :class:`KeyboardInterrupt`. A run cut short is never yielded. A diverged
(NaN) run is a normal result. Configs that ``options.take`` withholds are not run and not yielded.

- ``batched``: same-architecture configs train as one stacked computation (:mod:`.batched`).
- ``sequential``: one :func:`~vanishing.experiments.run.run` after another (the reference and the fallback).
- ``processes``: ``workers`` slots (default: the CPU count), one thread each: this process and a pool of
  ``workers - 1`` processes; one run per task.
- ``ray``: Ray tasks on a cluster (``address``) or a local instance; needs ``pip install 'vanishing[ray]'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence, Union

from ...config import RunConfig
from ...errors import VanishingError
from ...registry import Registry

if TYPE_CHECKING:
    from ..run import RunResult

__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "Finished", "get_executor", "error_line",
           "sequential", "batched", "processes", "ray"]

Finished = tuple[int, Union["RunResult", str]]
RAY_MISSING = "executor 'ray' needs Ray: pip install 'vanishing[ray]'"


@dataclass
class ExecutorOptions:
    """Settings an executor may use; ``notes`` collects one-line remarks for the user.

    ``retries``: how often the unfinished runs of a worker that died (killed, out of memory) are
    started again before they are failures. ``take``: asked with config indices just before they
    start, returns those this sweep may run (the others are another sweep's, see
    :meth:`~vanishing.experiments.store.Store.claim`); None runs everything.
    """

    workers: int | None = None
    address: str | None = None
    notes: list[str] = field(default_factory=list)
    retries: int = 2
    take: Callable[[list[int]], list[int]] | None = None


class Executor(Protocol):
    def __call__(self, configs: Sequence[RunConfig], advance: Callable[[int], None],
                 options: ExecutorOptions) -> Iterator[Finished]: ...


EXECUTORS: Registry[Executor] = Registry("executor")


def get_executor(name: str) -> Executor:
    """The executor called ``name``; checks up front what it needs (Ray installed)."""
    ex = EXECUTORS.get(name)
    if name == "ray":
        from .ray import import_ray

        import_ray()
    return ex


def error_line(exc: BaseException) -> str:
    """A run's exception as one line: our own errors as they are, others with their type."""
    text = str(exc) if isinstance(exc, VanishingError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__




# each module registers its executor; imported last, as they use the names above
from ._pool import _pooled  # noqa: E402  (tests drive the pool directly)
from .sequential import sequential  # noqa: E402
from .batched import batched  # noqa: E402
from .processes import processes  # noqa: E402
from .ray import ray  # noqa: E402

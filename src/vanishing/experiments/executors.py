"""Executors: run many configs and hand back each run as it finishes; the caller alone stores them.

An executor is a generator function ``executor(configs, advance, options)`` that yields
``(index, result_or_error)`` in the order runs finish: a :class:`~vanishing.experiments.run.RunResult`,
or a one-line error string for a run that raised. ``advance(n)`` reports ``n`` more steps done (for a
progress bar). Ctrl-C raises :class:`KeyboardInterrupt` out of the generator, which stops its workers;
a run cut short is never yielded. A diverged (NaN) run is a normal result.

- ``batched``: same-architecture configs train as one stacked computation (:mod:`vanishing.train.ensemble`).
- ``sequential``: one :func:`~vanishing.experiments.run.run` after another (the reference and the fallback).
- ``processes``: ``workers`` slots (default: the CPU count), one thread each: this process and a pool of
  ``workers - 1`` processes; one run per task.
- ``ray``: Ray tasks on a cluster (``address``) or a local instance; needs ``pip install 'vanishing[ray]'``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence, Union

from ..config import RunConfig
from ..errors import VanishingError
from ..registry import Registry
from ..train.loop import StepDeltas

if TYPE_CHECKING:
    from .run import RunResult

__all__ = ["EXECUTORS", "Executor", "ExecutorOptions", "Finished", "get_executor", "error_line",
           "sequential", "batched", "processes", "ray"]

Finished = tuple[int, Union["RunResult", str]]
RAY_MISSING = "executor 'ray' needs Ray: pip install 'vanishing[ray]'"


@dataclass
class ExecutorOptions:
    """Settings an executor may use; ``notes`` collects one-line remarks for the user."""

    workers: int | None = None
    address: str | None = None
    notes: list[str] = field(default_factory=list)


class Executor(Protocol):
    def __call__(self, configs: Sequence[RunConfig], advance: Callable[[int], None],
                 options: ExecutorOptions) -> Iterator[Finished]: ...


EXECUTORS: Registry[Executor] = Registry("executor")


def get_executor(name: str) -> Executor:
    """The executor called ``name``; checks up front what it needs (Ray installed)."""
    ex = EXECUTORS.get(name)
    if name == "ray":
        _import_ray()
    return ex


def error_line(exc: BaseException) -> str:
    """A run's exception as one line: our own errors as they are, others with their type."""
    text = str(exc) if isinstance(exc, VanishingError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def _run_one(config: RunConfig, on_step: Callable[[int], None] | None = None) -> "RunResult | str":
    """One run; an exception becomes its one-line error; a run stopped by Ctrl-C re-raises it."""
    from .run import run

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
    for i, config in enumerate(configs):
        out = _run_one(config, steps)
        steps.finish(config.steps)
        yield i, out


@EXECUTORS.register("batched")
def batched(configs: Sequence[RunConfig], advance: Callable[[int], None],
            options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """Groups of same-architecture configs, each trained as one stacked computation.

    With ``workers`` > 1 (default: the CPU count) the groups, cut into pieces of at most half a
    worker's share (:func:`~vanishing.train.ensemble.split_groups`), train on ``workers`` slots,
    one thread each (this process and a pool of ``workers - 1`` processes, see :func:`_pooled`),
    handed out largest first: on a CPU, one thread per stacked group beats several threads
    fighting over small matrix products. ``workers=1`` trains in this process. A group whose
    stacked training raises is run again one config at a time, so one bad config fails alone
    (and is recorded with its own error).
    """
    options = options or ExecutorOptions()
    from ..train.ensemble import groups, split_groups

    workers = options.workers or os.cpu_count() or 1
    if workers > 1 and len(configs) > 1:
        parts = split_groups(configs, workers)
        yield from _pooled(configs, parts, workers, _group_in_worker, advance, options)
        return
    for members in groups(configs):
        group = [configs[i] for i in members]
        yield from _group(members, group, advance, options.notes)


def _group(members: list[int], group: list[RunConfig], advance: Callable[[int], None],
           notes: list[str]) -> Iterator[Finished]:
    """One stacked group in this process; single runs if the stacked training raises."""
    from ..train.ensemble import run_group

    advanced = [0]

    def on_step(n: int) -> None:
        advanced[0] += n
        advance(n)

    try:
        results = run_group(group, on_step=on_step)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - fall back to single runs, which record per-run errors
        if len(group) > 1:
            notes.append(f"stacked training of {len(group)} configs failed ({error_line(exc)}); "
                         "ran them one by one")
        advance(-advanced[0])
        for j, out in sequential(group, advance):
            yield members[j], out
        return
    for i, result in zip(members, results):
        if result.outcome.interrupted:
            raise KeyboardInterrupt
        yield i, result
    advance(sum(c.steps for c in group) - advanced[0])  # members that diverged early


def _group_in_worker(group: list[RunConfig], part: int = -1,
                     advance: Callable[[int], None] | None = None) -> "tuple[list[Finished], list[str]]":
    """A stacked group in a worker process, a Ray task or the driver's own slot: its results by
    position, and notes. ``advance`` defaults to the pool worker's progress channel."""
    notes: list[str] = []
    out = list(_group(list(range(len(group))), group, advance or _progress_sender(part), notes))
    return out, notes


# a pool worker's channel for progress: (part, steps) messages to the driver
_PROGRESS: "object | None" = None
_PROGRESS_EVERY_S = 0.5


def _progress_sender(part: int) -> Callable[[int], None]:
    """``advance`` for a worker: batches step counts and sends them about twice a second."""
    queue = _PROGRESS
    if queue is None or part < 0:
        return lambda n: None
    pending, last = [0], [time.monotonic()]

    def advance(n: int) -> None:
        pending[0] += n
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S and pending[0] > 0:
            queue.put((part, pending[0]))  # type: ignore[attr-defined]
            pending[0], last[0] = 0, now

    return advance


def _worker_init(parent: int, progress: object = None) -> None:
    """A pool worker: one thread; Ctrl-C is the driver's to handle (it stops the pool)."""
    import torch

    global _PROGRESS
    _PROGRESS = progress
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A driver killed with SIGKILL cannot stop its pool: its workers notice and leave."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


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


def _run_in_worker(group: list[RunConfig], part: int = -1,
                   advance: Callable[[int], None] | None = None) -> "tuple[list[Finished], list[str]]":
    return [(0, _run_one(group[0], StepDeltas(advance or _progress_sender(part))))], []


def _pooled(configs: Sequence[RunConfig], parts: list[list[int]], workers: int,
            task: Callable[..., "tuple[list[Finished], list[str]]"],
            advance: Callable[[int], None], options: ExecutorOptions) -> Iterator[Finished]:
    """Run ``task(part_configs, part_index[, advance])`` on each part (a list of config indices) on
    ``workers`` slots (``advance`` is given in the driver's slot; pool workers report through their queue).

    One slot is this process (a thread, one torch thread while the parts run), which starts at
    once; the others are a ``spawn`` pool of ``workers - 1`` processes, each of which needs a
    second or two to import torch before its first step. Parts are handed out in the order given
    (largest first, see :func:`~vanishing.train.ensemble.split_groups`) to whichever slot is free,
    none queued ahead, so the slots finish together. Workers report steps as they go (queues the
    driver drains while it waits), so the progress bar moves during long stacked groups; runs are
    yielded as their part finishes. Ctrl-C stops the pool and the driver's slot at its next step.
    """
    import multiprocessing
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    import torch

    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Queue()            # (part, steps) from the pool's workers
    local_progress: "queue_mod.SimpleQueue[tuple[int, int]]" = queue_mod.SimpleQueue()  # ... from the driver's slot
    stop = threading.Event()
    n_pool = max(0, min(workers, len(parts)) - 1)
    pool = (ProcessPoolExecutor(max_workers=n_pool, mp_context=ctx, initializer=_worker_init,
                                initargs=(os.getpid(), progress)) if n_pool else None)
    local = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vanishing-sweep")
    reported = [0] * len(parts)  # steps already reported per part
    closed: set[int] = set()

    def drain() -> None:
        for source in (progress, local_progress):
            while True:
                try:
                    k, n = source.get_nowait()
                except queue_mod.Empty:
                    break
                if k not in closed:  # a finished part has been topped up already
                    reported[k] += n
                    advance(n)

    def in_driver(k: int) -> "tuple[list[Finished], list[str]]":
        def report(n: int) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            local_progress.put((k, n))

        return task([configs[i] for i in parts[k]], k, report)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the driver's slot: one thread, like every worker
    todo = list(range(len(parts)))
    pending: dict[Future, tuple[int, bool]] = {}  # future → (part, in the driver's slot)
    finished = False
    try:
        while todo or pending:
            if todo and not any(here for _, here in pending.values()):
                k = todo.pop(0)
                pending[local.submit(in_driver, k)] = (k, True)
            while todo and pool is not None and sum(not here for _, here in pending.values()) < n_pool:
                k = todo.pop(0)
                pending[pool.submit(task, [configs[i] for i in parts[k]], k)] = (k, False)
            ready, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            drain()
            for fut in ready:
                k, _ = pending.pop(fut)
                part = parts[k]
                try:
                    outs, notes = fut.result()
                except BrokenProcessPool:
                    raise VanishingError("a sweep worker process died (out of memory, or killed?); "
                                         "finished runs are stored, run the sweep again to resume") from None
                options.notes.extend(notes)
                drain()
                advance(sum(configs[i].steps for i in part) - reported[k])
                closed.add(k)
                for j, out in outs:
                    yield part[j], out
        finished = True
    finally:
        stop.set()
        local.shutdown(wait=True, cancel_futures=True)  # the driver's part stops at its next step
        torch.set_num_threads(threads)
        if pool is not None:
            if finished:  # every result is in: the workers exit on their own, nothing to wait for
                pool.shutdown(wait=False)
            else:
                _stop_pool(pool)
        progress.close()
        progress.cancel_join_thread()


def _stop_pool(pool) -> None:
    """Cancel queued runs and end the workers now (ProcessPoolExecutor has no public terminate before 3.14)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise VanishingError(RAY_MISSING) from None
    return ray


@EXECUTORS.register("ray")
def ray(configs: Sequence[RunConfig], advance: Callable[[int], None],
        options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """Ray tasks, each a stacked group of runs, returning results to the driver (which alone writes the store).

    The configs are split into stacked groups (:func:`~vanishing.train.ensemble.split_groups`),
    at least one per CPU of the cluster, so every node trains batched. Uses Ray as already
    initialised in this process, else connects to ``options.address`` (e.g. ``auto``,
    ``HOST:6379`` or ``ray://HOST:10001``), else starts a local instance with ``options.workers``
    CPUs (default: all). Cluster nodes need ``vanishing`` installed.
    """
    from ..train.ensemble import split_groups

    ray_mod = _import_ray()
    options = options or ExecutorOptions()
    if not configs:
        return
    started = False
    if not ray_mod.is_initialized():
        kwargs = {"address": options.address} if options.address else {"num_cpus": options.workers}
        try:
            ray_mod.init(**kwargs, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - connection problems come in many types
            where = f"at {options.address}" if options.address else "locally"
            raise VanishingError(f"could not start Ray {where}: {error_line(exc)}") from None
        started = True
    cpus = int(ray_mod.cluster_resources().get("CPU", 1)) or 1
    parts = split_groups(configs, cpus)
    task = ray_mod.remote(num_cpus=1, max_retries=0)(_group_in_ray)
    pending = {task.remote([configs[i] for i in part]): part for part in parts}
    try:
        while pending:
            ready, _ = ray_mod.wait(list(pending), num_returns=1)
            for ref in ready:
                part = pending.pop(ref)
                try:
                    outs, notes = ray_mod.get(ref)
                except ray_mod.exceptions.RayError as exc:  # the worker died, or the task could not run
                    outs, notes = [(j, error_line(exc)) for j in range(len(part))], []
                options.notes.extend(notes)
                for j, out in outs:
                    advance(configs[part[j]].steps)
                    yield part[j], out
    finally:
        for ref in pending:
            try:
                ray_mod.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        if started:
            ray_mod.shutdown()


def _group_in_ray(group: list[RunConfig]) -> "tuple[list[Finished], list[str]]":
    import torch

    torch.set_num_threads(1)
    return _group_in_worker(group)

"""Worker slots for the ``processes`` and ``batched`` executors: this process and a ``spawn`` pool."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, Iterator, Sequence

from ...config import RunConfig
from ...errors import VanishingError
from . import ExecutorOptions, Finished


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


def _pooled(configs: Sequence[RunConfig], parts: list[list[int]], workers: int,
            task: Callable[..., "tuple[list[Finished], list[str]]"],
            advance: Callable[[int], None], options: ExecutorOptions) -> Iterator[Finished]:
    """Run ``task(part_configs, part_index[, advance])`` on each part (a list of config indices) on
    ``workers`` slots (``advance`` is given in the driver's slot; pool workers report through their queue).

    One slot is this process (a thread, one torch thread while the parts run), which starts at
    once; the others are a ``spawn`` pool of ``workers - 1`` processes, each of which needs a
    second or two to import torch before its first step. Parts are handed out in the order given
    (largest first, see :func:`~.batched.split_groups`) to whichever slot is free,
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

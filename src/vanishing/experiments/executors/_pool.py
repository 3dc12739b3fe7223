"""Worker slots for the ``processes`` and ``batched`` executors: this process and ``spawn`` worker processes.

A *part* (a list of config indices) is handed to a free slot; the slot runs ``task(group, advance, notes)``,
a generator of ``(position in group, result or error)``, and sends each run back the moment it is
yielded, so a part whose worker dies loses only its unfinished runs. A worker that dies (SIGKILL, the
out-of-memory killer, a crash in native code) is replaced, and its unfinished runs go back to the
queue, up to ``options.retries`` times each; after that they are failures naming the cause.

Why a process and a pipe per slot rather than ``concurrent.futures.ProcessPoolExecutor``: when one of
its workers dies, that pool is broken as a whole (every pending future fails, the other workers are
stopped) and cannot say which part was lost; here the dead worker is known, and it alone is replaced.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator, Sequence

from ...config import RunConfig
from . import ExecutorOptions, Finished, error_line

# a part's task: (its configs, advance, notes) → (position, result or error) as each run finishes
Task = Callable[[list[RunConfig], Callable[[int], None], list[str]], Iterator[Finished]]

_PROGRESS_EVERY_S = 0.5  # a worker sends its step count about twice a second


def _worker_main(conn: Any, parent: int, task: Task) -> None:
    """A pool worker: one torch thread; runs the parts the driver sends until it sends ``None``.

    Messages to the driver: ``("steps", k, n)``, ``("run", k, j, out)`` for each finished run of
    part ``k``, ``("part", k, notes)`` when the part is over. Ctrl-C is the driver's to handle.
    """
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if msg is None:
            return
        k, group = msg
        pending, last = [0], [time.monotonic()]

        def advance(n: int, k: int = k) -> None:
            pending[0] += n
            if time.monotonic() - last[0] >= _PROGRESS_EVERY_S and pending[0]:
                conn.send(("steps", k, pending[0]))
                pending[0], last[0] = 0, time.monotonic()

        notes: list[str] = []
        done: set[int] = set()
        try:
            for j, out in task(group, advance, notes):
                conn.send(("run", k, j, out))
                done.add(j)
        except Exception as exc:  # noqa: BLE001 - a task's own bug fails its unfinished runs, not the sweep
            for j in range(len(group)):
                if j not in done:
                    conn.send(("run", k, j, error_line(exc)))
        conn.send(("part", k, notes))


def _exit_with_parent(parent: int) -> None:
    """A driver killed with SIGKILL cannot stop its pool: its workers notice and leave."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


class _Worker:
    """One worker process and the driver's end of its pipe; ``part``: what it is running (or None)."""

    def __init__(self, ctx: Any, task: Task):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid(), task), daemon=True)
        self.proc.start()
        child.close()  # the driver keeps only its own end, so a dead worker reads as end-of-file
        self.part: int | None = None

    def messages(self) -> Iterator[tuple]:
        """Every complete message waiting in the pipe (none once the worker is gone and they are read)."""
        while True:
            try:
                if not self.conn.poll():
                    return
                yield self.conn.recv()
            except (EOFError, OSError, ValueError, TypeError, AttributeError, ImportError):
                return  # end of file, or a message cut short by the worker's death

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout=5)
        self.conn.close()


def _death(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _pooled(configs: Sequence[RunConfig], parts: list[list[int]], workers: int, task: Task,
            advance: Callable[[int], None], options: ExecutorOptions) -> Iterator[Finished]:
    """Run ``task`` on each part on ``workers`` slots, yielding each run as it finishes.

    One slot is this process (a thread, one torch thread while the parts run), which starts at
    once; the others are ``workers - 1`` ``spawn`` processes, each of which needs a second or two to
    import torch before its first step. Parts are handed out in the order given (largest first, see
    :func:`~.batched.split_groups`) to whichever slot is free, none queued ahead, so the slots finish
    together; ``options.take`` (when set) is asked just before a part starts which of its configs this
    sweep may run (another sweep on the same store may hold the others). Workers report steps as they
    go, so the progress bar moves during long stacked groups.

    A worker that dies is replaced and the unfinished runs of its part are queued again, each at
    most ``options.retries`` times; then they are yielded as failures naming the cause. Ctrl-C
    (raised here, or thrown in at a ``yield``) stops the driver's slot at its next step, yields the
    runs that workers had already sent, stops the workers and re-raises.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    import torch

    ctx = multiprocessing.get_context("spawn")
    parts = [list(p) for p in parts]
    tries = [0] * len(parts)          # deaths each part (and its requeued remainder) has seen
    left = [set(range(len(p))) for p in parts]  # positions not yet yielded, per part
    reported = [0] * len(parts)       # steps reported per part so far
    todo = deque(range(len(parts)))
    stop = threading.Event()
    local_q: "queue_mod.SimpleQueue[tuple]" = queue_mod.SimpleQueue()
    local_busy = [False]
    n_pool = max(0, min(workers, len(parts)) - 1)
    pool = [_Worker(ctx, task) for _ in range(n_pool)]

    def in_driver(k: int, group: list[RunConfig]) -> None:
        def report(n: int) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            local_q.put(("steps", k, n))

        notes: list[str] = []
        try:
            for j, out in task(group, report, notes):
                local_q.put(("run", k, j, out))
        except KeyboardInterrupt:
            pass  # stopped: the part's unfinished runs are simply not reported
        except Exception as exc:  # noqa: BLE001 - a task's own bug fails its unfinished runs
            local_q.put(("fail", k, error_line(exc)))
        local_q.put(("part", k, notes))

    def next_part() -> tuple[int, list[RunConfig]] | None:
        while todo:
            k = todo.popleft()
            if options.take is not None and tries[k] == 0:  # a retried part is still ours
                mine = set(options.take([parts[k][j] for j in sorted(left[k])]))
                kept = [parts[k][j] for j in sorted(left[k]) if parts[k][j] in mine]
                if len(kept) < len(parts[k]):  # the part shrinks to what this sweep may run
                    parts[k], left[k] = kept, set(range(len(kept)))
            if left[k]:
                return k, [configs[i] for i in parts[k]]
        return None

    def handle(msg: tuple) -> Iterator[Finished]:
        kind, k = msg[0], msg[1]
        if kind == "steps":
            reported[k] += msg[2]
            advance(msg[2])
        elif kind == "run":
            j = msg[2]
            if j in left[k]:
                left[k].discard(j)
                yield parts[k][j], msg[3]
        elif kind == "fail":
            for j in sorted(left[k]):
                left[k].discard(j)
                yield parts[k][j], msg[2]
        elif kind == "part":
            options.notes.extend(msg[2])
            steps = sum(configs[i].steps for i in parts[k])
            advance(steps - reported[k])  # runs that stopped early (diverged) top up to the part's steps
            reported[k] = steps

    def died(w: _Worker) -> Iterator[Finished]:
        """``w`` is dead: requeue (or fail) its part's unfinished runs; a replacement starts if work is left."""
        k, w.part = w.part, None
        cause = _death(w.proc)
        w.stop()
        unfinished = sorted(left[k]) if k is not None else []
        if not unfinished:
            options.notes.append(f"a worker process died ({cause}) between runs; it was replaced")
        else:
            lost = sum(configs[parts[k][j]].steps for j in unfinished)
            advance(-min(lost, reported[k]))  # the lost runs' steps are trained again (or never)
            left[k] = set()
            tries[k] += 1
            if tries[k] <= options.retries:
                parts.append([parts[k][j] for j in unfinished])
                tries.append(tries[k])
                left.append(set(range(len(unfinished))))
                reported.append(0)
                todo.appendleft(len(parts) - 1)
                options.notes.append(f"a worker process died ({cause}) with {len(unfinished)} unfinished run(s); "
                                     f"replaced, and they started again (retry {tries[k]} of {options.retries})")
            else:
                for j in unfinished:
                    yield parts[k][j], (f"the worker process training it died ({cause}) on each of "
                                        f"{tries[k]} attempts (out of memory?)")
        if todo:
            pool[pool.index(w)] = _Worker(ctx, task)
        else:
            pool.remove(w)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the driver's slot: one thread, like every worker
    local: threading.Thread | None = None
    try:
        while True:
            if not local_busy[0] and (nxt := next_part()) is not None:
                local_busy[0] = True
                local = threading.Thread(target=in_driver, args=nxt, name="vanishing-sweep", daemon=True)
                local.start()
            for w in pool:
                if w.part is None and w.proc.is_alive() and (nxt := next_part()) is not None:
                    w.part = nxt[0]
                    try:
                        w.conn.send(nxt)
                    except OSError:  # died before it could take it: handled as a death below
                        pass
            if not local_busy[0] and all(w.part is None for w in pool) and not todo:
                break
            msgs: list[tuple] = []
            if pool:
                ready = wait([w.conn for w in pool] + [w.proc.sentinel for w in pool], timeout=0.25)
            else:  # the driver's slot alone: wait on its queue
                ready = []
                try:
                    msgs.append(local_q.get(timeout=0.25))
                except queue_mod.Empty:
                    pass
            for msg in msgs + list(_drain(local_q)):
                if msg[0] == "part":
                    local_busy[0] = False
                yield from handle(msg)
            for w in list(pool):
                if w.conn in ready or w.proc.sentinel in ready:
                    for msg in w.messages():
                        if msg[0] == "part":
                            w.part = None
                        yield from handle(msg)
                    if not w.proc.is_alive():
                        yield from died(w)
    except KeyboardInterrupt:
        # hand back what has finished: the workers' runs already sent, the driver's slot's last ones
        stop.set()
        if local is not None:
            local.join(timeout=10)
        harvest: list[Finished] = []
        for msg in _drain(local_q):
            harvest.extend(handle(msg))
        for w in pool:
            for msg in w.messages():
                harvest.extend(handle(msg))
        for w in pool:
            w.stop()
        pool.clear()
        yield from harvest
        raise
    finally:
        stop.set()
        if local is not None:
            local.join(timeout=10)  # the driver's part stops at its next step
        torch.set_num_threads(threads)
        for w in pool:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in pool:
            w.stop()


def _drain(q: "queue_mod.SimpleQueue[tuple]") -> Iterator[tuple]:
    while True:
        try:
            yield q.get_nowait()
        except queue_mod.Empty:
            return

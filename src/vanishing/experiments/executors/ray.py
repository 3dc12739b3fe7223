"""``ray``: stacked groups as Ray tasks on a cluster or a local instance."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections import deque
from typing import Any, Callable, Iterator, Sequence

from ...config import RunConfig
from ...errors import VanishingError
from . import EXECUTORS, RAY_MISSING, ExecutorOptions, Finished, error_line
from .batched import _group_in_worker, split_groups


@contextlib.contextmanager
def local_token() -> Iterator[None]:
    """Token authentication for a local Ray this process starts: a fresh random token in the
    environment (inherited by Ray's own processes) while it runs, so no one without it can connect.

    Ray's servers listen on every interface whatever ``ray.init`` is given (it turns 127.0.0.1 into
    the machine's address), so the token is what keeps the instance closed. A token mode the user
    set (``RAY_AUTH_MODE``) is left as it is.
    """
    if os.environ.get("RAY_AUTH_MODE"):
        yield
        return
    os.environ["RAY_AUTH_MODE"], os.environ["RAY_AUTH_TOKEN"] = "token", secrets.token_hex(32)
    _reload_token()
    try:
        yield
    finally:
        os.environ.pop("RAY_AUTH_MODE", None)
        os.environ.pop("RAY_AUTH_TOKEN", None)
        _reload_token()


def _reload_token() -> None:
    """Make this process' Ray read its token settings again (it caches them; a second local instance
    in the same process has a new token)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication: nothing cached
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def import_ray():
    try:
        import ray
    except ImportError:
        raise VanishingError(RAY_MISSING) from None
    return ray


@EXECUTORS.register("ray")
def ray(configs: Sequence[RunConfig], advance: Callable[[int], None],
        options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """Ray tasks, each a stacked group of runs, streaming each run to the driver (which alone writes the
    store) as it finishes; a task whose worker dies is started again for its unfinished runs
    (``options.retries`` times). At most one task per CPU runs at a time, each part claimed as it starts.

    The configs are split into stacked groups (:func:`~.batched.split_groups`),
    at least one per CPU of the cluster, so every node trains batched. Uses Ray as already
    initialised in this process, else connects to ``options.address`` (e.g. ``auto``,
    ``HOST:6379`` or ``ray://HOST:10001``: a cluster trusted with pickled configs and results), else
    starts a local instance with ``options.workers`` CPUs (default: all), without dashboard and with a
    fresh token (:func:`local_token`), stopped at the end. Cluster nodes need ``vanishing`` installed.
    """
    ray_mod = import_ray()
    options = options or ExecutorOptions()
    if not configs:
        return
    started = False
    closed = contextlib.ExitStack()  # the local instance's token, dropped when it stops
    if not ray_mod.is_initialized():
        kwargs = {"address": options.address} if options.address else {"num_cpus": options.workers}
        if not options.address:
            closed.enter_context(local_token())
        try:
            ray_mod.init(**kwargs, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - connection problems come in many types
            closed.close()
            where = f"at {options.address}" if options.address else "locally"
            raise VanishingError(f"could not start Ray {where}: {error_line(exc)}") from None
        started = True
    cpus = int(ray_mod.cluster_resources().get("CPU", 1)) or 1
    parts = split_groups(configs, cpus)
    task = ray_mod.remote(num_cpus=1, max_retries=0)(_group_in_ray).options(num_returns="streaming")
    left = [set(range(len(p))) for p in parts]  # positions not yet yielded, per part
    tries = [0] * len(parts)
    todo = deque(range(len(parts)))
    running: dict = {}  # a task's stream of runs → (its part, the positions it trains)

    def submit() -> None:
        """Start parts while a CPU is free (claims are made as work starts, so other sweeps can share it)."""
        while todo and len(running) < cpus:
            k = todo.popleft()
            if options.take is not None and tries[k] == 0:
                mine = set(options.take([parts[k][j] for j in sorted(left[k])]))
                left[k] = {j for j in left[k] if parts[k][j] in mine}
            if left[k]:
                sub = sorted(left[k])
                running[task.remote([configs[parts[k][j]] for j in sub])] = (k, sub)

    def receive(stream) -> Iterator[Finished]:
        """The next message of ``stream``: a run, the task's notes, its end, or its failure."""
        k, sub = running[stream]
        try:
            j, out = ray_mod.get(next(stream))
        except StopIteration:
            running.pop(stream)
            return
        except ray_mod.exceptions.RayError as exc:  # the worker died, or the task could not run
            running.pop(stream)
            yield from lost(k, exc)
            return
        if j < 0:
            options.notes.extend(out)
            return
        i = parts[k][sub[j]]
        left[k].discard(sub[j])
        advance(configs[i].steps)
        yield i, out

    def lost(k: int, exc: BaseException) -> Iterator[Finished]:
        """A task that died: its unfinished runs start again, up to ``options.retries`` times, then fail."""
        unfinished = sorted(left[k])
        if not unfinished:
            return
        tries[k] += 1
        cause = type(exc).__name__
        if tries[k] <= options.retries:
            parts.append([parts[k][j] for j in unfinished])
            left.append(set(range(len(unfinished))))
            tries.append(tries[k])
            todo.appendleft(len(parts) - 1)
            left[k] = set()
            options.notes.append(f"a Ray task died ({cause}) with {len(unfinished)} unfinished run(s); "
                                 f"they started again (retry {tries[k]} of {options.retries})")
            return
        left[k] = set()
        for j in unfinished:
            yield parts[k][j], error_line(exc)

    try:
        submit()
        while running:
            ready, _ = ray_mod.wait(list(running), num_returns=1, timeout=0.5)
            for stream in ready:
                yield from receive(stream)
            submit()
    except KeyboardInterrupt:
        # hand back the runs that had finished and arrived, then stop
        harvest: list[Finished] = []
        for stream in list(running):
            while stream in running and ray_mod.wait([stream], num_returns=1, timeout=0)[0]:
                harvest.extend(receive(stream))
        yield from harvest
        raise
    finally:
        for stream in running:
            try:
                ray_mod.cancel(stream, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        if started:
            ray_mod.shutdown()
            closed.close()


def _group_in_ray(group: list[RunConfig]) -> Iterator[tuple[int, Any]]:
    """A stacked group as a Ray streaming task: each run ``(position, result or error)`` as it finishes,
    then ``(-1, notes)``."""
    import torch

    torch.set_num_threads(1)
    notes: list[str] = []
    yield from _group_in_worker(group, lambda n: None, notes)
    yield -1, notes

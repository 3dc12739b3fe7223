"""``ray``: stacked groups as Ray tasks on a cluster or a local instance."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from typing import Callable, Iterator, Sequence

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
    """Ray tasks, each a stacked group of runs, returning results to the driver (which alone writes the store).

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
            closed.close()


def _group_in_ray(group: list[RunConfig]) -> "tuple[list[Finished], list[str]]":
    import torch

    torch.set_num_threads(1)
    return _group_in_worker(group)

"""``ray``: stacked groups as Ray tasks on a cluster or a local instance."""

from __future__ import annotations

import logging
from typing import Callable, Iterator, Sequence

from ...config import RunConfig
from ...errors import VanishingError
from . import EXECUTORS, RAY_MISSING, ExecutorOptions, Finished, error_line
from .batched import _group_in_worker, split_groups


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
    ``HOST:6379`` or ``ray://HOST:10001``), else starts a local instance with ``options.workers``
    CPUs (default: all). Cluster nodes need ``vanishing`` installed.
    """
    ray_mod = import_ray()
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

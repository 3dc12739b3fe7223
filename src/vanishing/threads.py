"""How many CPU threads torch should use for one of our runs: chosen from the work and the free cores.

Small networks on a busy CPU lose to thread over-subscription: torch's default is one thread per core,
and a thread that finds its core taken makes every other thread of each matrix product wait for it. So
the count is the smaller of what the work pays for (:data:`WORK_PER_THREAD`) and the whole cores left
idle, rounded down: too few threads cost at most the factor of cores missed, too many cost 2-20×.

Precedence: the ``--threads N`` flag, then the environment variable :data:`ENV_VAR`, then
:func:`auto_threads`. Only the commands that train our own networks apply it (``run``, ``demo``,
``sweep``, through :func:`torch_threads`); :func:`vanishing.watch` never touches a user's thread count.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator, Mapping

from .errors import ConfigError

__all__ = ["ENV_VAR", "MAX_THREADS", "WORK_PER_THREAD", "run_work", "auto_threads", "free_cores", "resolve_threads",
           "torch_threads"]

ENV_VAR = "VANISHING_THREADS"

WORK_PER_THREAD = 2**22
"""Multiply-adds of one layer's matrix product (batch × width²) that one more thread needs to pay off.

Below it a product is too small to split: each of the few hundred small ops of a step forks and joins
its threads, and a thread whose core is taken holds up all the others at every join. Measured on a
2-core AMD EPYC (a linear layer's forward and backward, 1 vs 2 threads): nearly idle, a second thread
was 1.33× slower at batch 64 × width 64 (2.6·10⁵), 0.91× at 4.2·10⁶, 0.72× at 1.7·10⁷ and 0.53-0.60×
from 6.7·10⁷ up; the demo took 3.8-4.4 s on one thread and 5.3-6.2 s on two. Beside one busy process,
two threads ran the demo past 100 s (one: 5-10 s); under a load average of 7, a second thread lost at
every size up to 1.1·10⁹ (2-22× slower).
"""


def run_work(batch_size: int, width: int) -> int:
    """Multiply-adds of one hidden layer's matrix product in one step (batch × width²).

    Depth is left out on purpose: layers run one after another, so depth multiplies the number of
    products, not the size of each one that threads could share.
    """
    return batch_size * width * width


def auto_threads(work: float, cores_free: float) -> int:
    """Threads for products of ``work`` multiply-adds on a CPU with ``cores_free`` idle cores (>= 1).

    One thread per :data:`WORK_PER_THREAD` of work, never more than the whole free cores: a thread
    without a core of its own stalls all the others, so a fraction of a free core counts as none.

    >>> auto_threads(64 * 64 * 64, cores_free=8)     # the demo's networks: too small to split
    1
    >>> auto_threads(256 * 1024 * 1024, cores_free=8)
    8
    >>> auto_threads(256 * 1024 * 1024, cores_free=1.7)  # one core busy out of two (and then some)
    1
    """
    by_work = max(1, int(work // WORK_PER_THREAD))
    return max(1, min(by_work, math.floor(cores_free)))


def _cpu_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max``, as containers set it); None when unlimited or unknown."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _busy_tasks() -> float:
    """Tasks keeping CPUs busy besides this process: the larger of the 1-minute load average and the
    tasks running right now (``/proc/loadavg``; the load average takes a minute to see a new one)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows)
        return 0.0
    try:
        running = int(open("/proc/loadavg").read().split()[3].split("/")[0]) - 1  # less this process
    except (OSError, ValueError, IndexError):
        running = 0
    return max(load, running)


def free_cores() -> float:
    """Cores this process may use that the rest of the machine leaves idle.

    The busy tasks are spread over all ``os.cpu_count()`` CPUs; their share of the cores this process
    may run on (affinity, cgroup quota) is taken as busy.
    """
    try:
        usable: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    quota = _cpu_quota()
    if quota is not None:
        usable = min(usable, quota)
    busy = min(1.0, _busy_tasks() / (os.cpu_count() or 1))
    return usable * (1.0 - busy)


MAX_THREADS = 1024
"""The most threads ``--threads`` may ask for: ``--threads 1000000000`` made the OpenMP runtime try to
allocate 216 GB and abort the process."""


def resolve_threads(flag: int | None, work: float, env: Mapping[str, str] | None = None,
                    cores_free: float | None = None) -> int:
    """The thread count to use: ``flag`` if given, else ``$VANISHING_THREADS``, else :func:`auto_threads`.

    ``env`` defaults to ``os.environ`` and ``cores_free`` to :func:`free_cores` (given in tests).
    """
    if flag is not None:
        if not 1 <= flag <= MAX_THREADS:
            raise ConfigError("threads", flag, f"an integer >= 1 and <= {MAX_THREADS}")
        return flag
    raw = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_THREADS:
            raise ConfigError(ENV_VAR, raw, f"an integer >= 1 and <= {MAX_THREADS} (or unset: chosen from the "
                                            "work and the free cores)")
        return n
    return auto_threads(work, free_cores() if cores_free is None else cores_free)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run the body with ``torch.set_num_threads(n)``; the previous count is restored on the way out."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)

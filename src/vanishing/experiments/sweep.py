"""Sweeps: a YAML spec expanded into many run configs, run by an executor, each result stored as it finishes.

Spec grammar (every key is optional; ``base`` alone is one run)::

    name: sigmoid-vs-relu          # default: the file's stem
    base:                          # a run config, the keys of `vanishing run --config`
      dataset: circles
      steps: 200
    grid:                          # field -> list of values; the cartesian product
      activation: [sigmoid, tanh, relu]
      init: [xavier_normal, he_normal]
    random:                        # n samples, each crossed with every grid point
      n: 20
      seed: 0                      # seed of the sampler (default 0)
      fields:                      # field -> {distribution: args}
        lr: {log_uniform: [1.0e-3, 1]}     # lo * (hi/lo)**U, lo > 0 (number fields)
        # lr: {uniform: [0.01, 0.5]}       # lo + (hi-lo)*U (number fields)
        width: {int_uniform: [16, 128]}    # integers lo..hi inclusive (integer fields)
        depth: {int_log_uniform: [3, 30]}  # integers lo..hi, log-spaced (integer fields)
        norm: {choice: [none, layer]}      # one of the listed values (any field)
    seeds: 3                       # seeds 0, 1, 2 (innermost); or a list: [0, 5]

Order is deterministic: grid points in the order the keys are written (the last key varies fastest), then
random samples, then seeds. Identical configs are kept once.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from ..config import RunConfig, load_config_file
from ..errors import ConfigError

if TYPE_CHECKING:
    from .store import Store

__all__ = ["SweepSpec", "SweepOutcome", "SweepProgress", "DISTRIBUTIONS", "MAX_RUNS", "run_sweep", "load_spec"]

SPEC_KEYS = ("name", "base", "grid", "random", "seeds")
RANDOM_KEYS = ("n", "seed", "fields")
MAX_RUNS = 100_000
"""The most configs a sweep expands to without being told to go further (``vanishing sweep --max-runs``, ``--yes``)."""
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int_uniform", "int_log_uniform")
_FIELDS = tuple(RunConfig.model_fields)
_MAPPING = "a YAML mapping with keys " + ", ".join(SPEC_KEYS)
LEASE_S = 60.0  # how long a claimed run stays another sweep's without a renewal (renewed every third of it)


def _number(path: str, value: Any, *, integer: bool = False) -> float:
    """A YAML number (``1e-3`` arrives as a string in YAML 1.1, so numeric strings count too)."""
    if isinstance(value, bool):
        raise ConfigError(path, value, "an integer" if integer else "a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(path, value, "an integer" if integer else "a number") from None
    if not math.isfinite(x) or (integer and x != int(x)):
        raise ConfigError(path, value, "an integer" if integer else "a finite number")
    return x


def _check_value(path: str, key: str, value: Any, base: Mapping[str, Any]) -> None:
    """Validate one value of run-config field ``key``; errors name the spec path."""
    try:
        RunConfig.make({**base, key: value})
    except ConfigError as exc:
        if exc.field == key:
            raise ConfigError(path, value, exc.allowed) from None
        if exc.field.startswith((key + " ", key + ".")):  # a part of a spec string, e.g. "init normal std"
            raise ConfigError(f"{path} {exc.field[len(key) + 1:]}", exc.value, exc.allowed) from None
        raise


@dataclass(frozen=True)
class Distribution:
    """One ``random.fields`` entry: ``{kind: args}``."""

    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        lo, hi = self.args
        u = float(rng.random())
        if self.kind == "uniform":
            return lo + (hi - lo) * u
        if self.kind == "log_uniform":
            return float(math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u))
        if self.kind == "int_uniform":
            return int(rng.integers(int(lo), int(hi) + 1))
        # int_log_uniform: log-uniform over [lo, hi + 1), floored, so every integer is reachable
        return min(int(hi), int(math.exp(math.log(lo) + (math.log(hi + 1) - math.log(lo)) * u)))

    @classmethod
    def parse(cls, path: str, raw: Any) -> "Distribution":
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise ConfigError(path, raw, "one of {" + ", ".join(f"{d}: [...]" for d in DISTRIBUTIONS) + "}")
        kind, args = next(iter(raw.items()))
        if kind not in DISTRIBUTIONS:
            raise ConfigError(path, kind, DISTRIBUTIONS)
        path = f"{path}.{kind}"
        if kind == "choice":
            if not isinstance(args, list) or not args:
                raise ConfigError(path, args, "a non-empty list of values")
            return cls(kind, tuple(args))
        if not isinstance(args, list) or len(args) != 2:
            raise ConfigError(path, args, "a list [low, high]")
        integer = kind.startswith("int_")
        lo, hi = (_number(path, a, integer=integer) for a in args)
        if not lo <= hi:
            raise ConfigError(path, args, "low <= high")
        if kind in ("log_uniform", "int_log_uniform") and lo <= 0:
            raise ConfigError(path, args, "low > 0 (log scale)")
        return cls(kind, (int(lo), int(hi)) if integer else (lo, hi))


@dataclass(frozen=True)
class RandomSpec:
    """``random:``: ``n`` samples of ``fields`` drawn with a seeded generator."""

    n: int
    seed: int
    fields: dict[str, Distribution]

    def samples(self) -> list[dict[str, Any]]:
        rng = np.random.default_rng(self.seed)
        return [{k: d.sample(rng) for k, d in self.fields.items()} for _ in range(self.n)]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated sweep spec; :meth:`configs` expands it."""

    name: str
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: RandomSpec | None = None
    seeds: Sequence[int] | None = None  # a range for `seeds: n`
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, name: str | None = None, root: Path | None = None) -> "SweepSpec":
        """Validate a spec mapping; every error names the key path (``grid.depth``), the value and what is allowed.

        ``root`` is where a ``base:`` given as a file path is looked up (the spec's folder).
        """
        if not isinstance(data, Mapping):
            raise ConfigError("sweep spec", data, _MAPPING)
        unknown = [k for k in data if k not in SPEC_KEYS]
        if unknown:
            raise ConfigError("sweep key", unknown[0], SPEC_KEYS)
        spec_name = data.get("name", name)
        if spec_name is None:
            spec_name = "sweep"
        if not isinstance(spec_name, str) or not spec_name.strip():
            raise ConfigError("name", spec_name, "a non-empty string")

        base = _parse_base(data.get("base"), root)
        grid = _parse_grid(data.get("grid"), base)
        rnd = _parse_random(data.get("random"), base, grid)
        seeds = _parse_seeds(data.get("seeds"))
        if seeds is not None:
            clash = "grid.seed" if "seed" in grid else "random.fields.seed" if rnd and "seed" in rnd.fields else None
            if clash:
                raise ConfigError("seeds", data["seeds"], f"either seeds or {clash}, not both")
        raw = {"name": spec_name, "base": base, "grid": grid, "random": _plain(data.get("random")),
               "seeds": data["seeds"] if isinstance(seeds, range) else seeds}  # a count is stored as given
        return cls(spec_name, base, grid, rnd, seeds, raw)

    @classmethod
    def load(cls, path: str | Path) -> "SweepSpec":
        """Read a YAML spec file; ``name`` defaults to the file's stem."""
        p = Path(path)
        try:
            data = load_config_file(p)  # one YAML reader for configs and specs
        except ConfigError as exc:
            allowed = exc.allowed if "readable" in exc.allowed or "parse error" in exc.allowed else _MAPPING
            raise ConfigError("sweep spec", str(path), allowed) from None
        if not data:
            raise ConfigError("sweep spec", str(path), _MAPPING + " (the file is empty)")
        return cls.parse(data, name=p.stem, root=p.parent)

    def size(self) -> int:
        """How many configs the spec expands to, at most (identical ones are kept once): a product of the
        grid's lengths, the random samples and the seeds, counted without expanding anything."""
        n = math.prod(len(values) for values in self.grid.values())
        return n * (self.random.n if self.random else 1) * (len(self.seeds) if self.seeds is not None else 1)

    def check_size(self, max_runs: int = MAX_RUNS) -> int:
        """:meth:`size`, refused with a :class:`ConfigError` above ``max_runs``."""
        n = self.size()
        if n > max_runs:
            raise ConfigError(f"sweep size of {self.name}", n, f"at most {max_runs} runs (--max-runs; "
                              "--yes runs it anyway)")
        return n

    def points(self) -> Iterator[dict[str, Any]]:
        """The raw settings of every config, in order (before validation and de-duplication)."""
        keys = list(self.grid)
        samples = self.random.samples() if self.random else [{}]
        seeds = self.seeds if self.seeds is not None else [None]
        for values in itertools.product(*(self.grid[k] for k in keys)):
            for sample in samples:
                for seed in seeds:
                    point = {**self.base, **dict(zip(keys, values)), **sample}
                    if seed is not None:
                        point["seed"] = seed
                    yield point

    def configs(self) -> list[RunConfig]:
        """Every config of the sweep, validated, in a deterministic order, duplicates removed."""
        out: dict[str, RunConfig] = {}
        for point in self.points():
            try:
                config = RunConfig.make(point)
            except ConfigError as exc:
                raise ConfigError(f"sweep config {exc.field}", exc.value, exc.allowed) from None
            out.setdefault(json.dumps(config.model_dump(), sort_keys=True), config)
        return list(out.values())


def load_spec(path: str | Path) -> SweepSpec:
    """Shorthand for :meth:`SweepSpec.load`."""
    return SweepSpec.load(path)


def _plain(v: Any) -> Any:
    """YAML values made JSON-able (the spec is stored with the sweep)."""
    return json.loads(json.dumps(v, default=str)) if v is not None else None


def _parse_base(raw: Any, root: Path | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):  # a run config file, relative to the spec
        path = Path(raw).expanduser()
        if root is not None and not path.is_absolute():
            path = root / path
        raw = load_config_file(path)
    if not isinstance(raw, Mapping):
        raise ConfigError("base", raw, "a mapping of run settings (the keys of `vanishing run --config`) or a YAML file")
    base = {str(k).replace("-", "_"): v for k, v in raw.items()}
    for key in base:
        if key not in _FIELDS:
            raise ConfigError("base key", key, _FIELDS)
    try:
        RunConfig.make(base)
    except ConfigError as exc:
        raise ConfigError(f"base.{exc.field}", exc.value, exc.allowed) from None
    return base


def _parse_grid(raw: Any, base: Mapping[str, Any]) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("grid", raw, "a mapping field -> list of values")
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        key = str(key).replace("-", "_")
        if key not in _FIELDS:
            raise ConfigError("grid key", key, _FIELDS)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key}", values, "a non-empty list of values, e.g. [a, b]")
        for i, v in enumerate(values):
            _check_value(f"grid.{key}[{i}]", key, v, base)
        grid[key] = list(values)
    return grid


def _parse_random(raw: Any, base: Mapping[str, Any], grid: Mapping[str, Any]) -> RandomSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError("random", raw, "a mapping with keys n, seed, fields")
    unknown = [k for k in raw if k not in RANDOM_KEYS]
    if unknown:
        raise ConfigError("random key", unknown[0], RANDOM_KEYS)
    n = raw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("random.n", n, "an integer >= 1 (the number of samples)")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError("random.seed", seed, "an integer")
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, Mapping) or not fields_raw:
        raise ConfigError("random.fields", fields_raw, "a mapping field -> {distribution: args}")
    fields: dict[str, Distribution] = {}
    for key, dist in fields_raw.items():
        key = str(key).replace("-", "_")
        if key not in _FIELDS:
            raise ConfigError("random.fields key", key, _FIELDS)
        if key in grid:
            raise ConfigError(f"random.fields.{key}", dist, f"a field not also in grid ({key} is in grid)")
        path = f"random.fields.{key}"
        d = Distribution.parse(path, dist)
        kind_ok = {int: ("choice", "int_uniform", "int_log_uniform"),
                   float: ("choice", "uniform", "log_uniform")}.get(RunConfig.model_fields[key].annotation, ("choice",))
        if d.kind not in kind_ok:
            raise ConfigError(path, d.kind, f"for {key}: one of: " + ", ".join(kind_ok))
        for i, v in enumerate(d.args):  # choices, or the ends of a range: each must be a valid value
            _check_value(f"{path}.{d.kind}[{i}]", key, v, base)
        fields[key] = d
    return RandomSpec(n, seed, fields)


def _parse_seeds(raw: Any) -> Sequence[int] | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ConfigError("seeds", raw, "a count n (seeds 0..n-1) or a list of integers")
    if isinstance(raw, int):
        if raw < 1:
            raise ConfigError("seeds", raw, "a count >= 1 (seeds 0..n-1) or a list of integers")
        return range(raw)  # lazy: `seeds: 1000000000000` is counted, not listed
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) for s in raw):
        return list(dict.fromkeys(raw))
    raise ConfigError("seeds", raw, "a count n (seeds 0..n-1) or a non-empty list of integers")


@dataclass
class SweepOutcome:
    """What one call of :func:`run_sweep` did."""

    name: str
    sweep_id: int
    hashes: list[str]        # every config of the sweep, in spec order
    skipped: int = 0         # already done in the store before this call
    done: int = 0            # finished and stored by this call
    failed: int = 0          # raised; stored as failures (a rerun tries them again)
    shared: int = 0          # finished by another sweep sharing the store while this one ran
    interrupted: bool = False
    duration_s: float = 0.0
    executor: str = "batched"
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.hashes)

    @property
    def remaining(self) -> int:
        """Configs neither done nor failed (left by Ctrl-C)."""
        return self.total - self.skipped - self.done - self.failed - self.shared


class SweepProgress(Protocol):
    """How :func:`run_sweep` reports progress: the counts so far, each time one changes.

    Called from the thread that called :func:`run_sweep`, first with zeros done. ``steps_done`` can go
    down when a stacked group fails and is run again one config at a time. The CLI draws these as a bar.
    """

    def __call__(self, steps_done: int, steps_total: int, runs_done: int, runs_total: int) -> None: ...


def run_sweep(spec: SweepSpec, store: "Store", executor: str = "batched", workers: int | None = None,
              ray_address: str | None = None, progress: SweepProgress | None = None, *, retries: int = 2,
              lease_s: float = LEASE_S, replace_spec: bool = False) -> SweepOutcome:
    """Run every config of ``spec`` not yet done in ``store``, storing each as soon as it finishes.

    Idempotent by config hash: configs already ``done`` are skipped, so a rerun after Ctrl-C or a
    killed process finishes the sweep with nothing lost or run twice; a stored run whose data no
    longer decodes (:meth:`~.store.Store.check`) is run again. A run that raises is stored as a
    failure with its one-line error (a rerun tries it again); a diverged run is a normal result.
    A worker process that dies is replaced and its unfinished runs start again, ``retries`` times,
    before they are stored as failures naming the cause. Ctrl-C stops cleanly: every run that had
    finished is stored (the executor hands back what its workers had done), ``interrupted`` is set.

    Sweeps sharing ``store`` share the work: each run is claimed with a lease of ``lease_s`` seconds
    (renewed while this call works) just before it starts, so another sweep never trains it too;
    runs another sweep holds are waited for, and taken over when its lease expires (it crashed).
    A ``spec`` whose name is stored with another spec raises :class:`~.store.SweepSpecChanged`
    unless ``replace_spec``. ``progress`` receives the counts of steps and runs as they change.

    Example:
        >>> with Store("results.db") as store:                              # doctest: +SKIP
        ...     outcome = run_sweep(SweepSpec.load("examples/sweeps/seed_grid.yaml"), store, executor="processes")
    """
    from .executors import ExecutorOptions, get_executor
    from .store import config_hash

    execute = get_executor(executor)
    if workers is not None and workers < 1:
        raise ConfigError("workers", workers, "an integer >= 1")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("retries", retries, "an integer >= 0")
    if not (isinstance(lease_s, (int, float)) and math.isfinite(lease_s) and lease_s > 0):
        raise ConfigError("lease", lease_s, "a number of seconds > 0")
    start = time.perf_counter()
    configs = spec.configs()
    hashes = [config_hash(c) for c in configs]
    sweep_id = store.add_sweep(spec.name, spec.raw, hashes, replace=replace_spec)
    outcome = SweepOutcome(spec.name, sweep_id, hashes, executor=executor)
    for h, reason in store.check(store.done_hashes(hashes)):  # damaged data is not a finished run
        store.mark_damaged(h, reason)
        outcome.notes.append(f"run {h[:12]} was stored but its data does not decode ({reason}); running it again")
    done_before = store.done_hashes(hashes)
    todo = [i for i, h in enumerate(hashes) if h not in done_before]
    since = store.failures(hashes)  # failures stored after this are settled: not tried again here
    outcome.skipped = len(configs) - len(todo)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def take(indices: list[int]) -> list[int]:
        claimed = set(store.claim([batch_hashes[i] for i in indices], owner, lease_s, failed_before=since))
        return [i for i in indices if batch_hashes[i] in claimed]

    options = ExecutorOptions(workers=workers, address=ray_address, notes=outcome.notes, retries=retries, take=take)
    counts = _Counts(progress, len(todo), sum(configs[i].steps for i in todo))
    handled: set[int] = set()
    renewing = _Renewal(store, owner, lease_s)
    try:
        while not outcome.interrupted:
            open_ = [i for i in todo if i not in handled]
            waiting = store.unsettled([hashes[i] for i in open_], since)
            for i in open_:
                if hashes[i] not in waiting:  # finished (or failed) by another sweep on this store
                    handled.add(i)
                    outcome.shared += 1
                    counts.run_finished(configs[i].steps)
            held = store.claimed(waiting, others_than=owner)
            batch = [i for i in open_ if hashes[i] in waiting and hashes[i] not in held]
            if batch:
                batch_hashes = [hashes[i] for i in batch]
                runs = execute([configs[i] for i in batch], counts.advance, options)
                outcome.interrupted = _store_runs(runs, lambda j: configs[batch[j]], store, sweep_id, outcome,
                                                  counts, lambda j: handled.add(batch[j]))
            elif not waiting:
                break
            else:  # the rest is being trained by other sweeps: wait for them, or for their leases to expire
                time.sleep(min(2.0, lease_s / 4))
    except KeyboardInterrupt:  # while claims were read or others waited for: finished runs are stored already
        outcome.interrupted = True
    finally:
        renewing.stop()
        store.release(owner)  # what this call did not finish is free for others at once
    outcome.duration_s = time.perf_counter() - start
    return outcome


def _store_runs(runs: Iterator[Any], config_of: Any, store: "Store", sweep_id: int, outcome: SweepOutcome,
                counts: "_Counts", mark: Any) -> bool:
    """Store each run an executor yields as it comes; returns whether Ctrl-C stopped it.

    On Ctrl-C the executor is told (thrown into it), so it can hand back the runs its workers had
    finished; those are stored too before the executor is closed.
    """
    def store_one(j: int, out: Any) -> None:
        with _deferred_interrupt():  # a store write is never cut in half by Ctrl-C
            if isinstance(out, str):
                store.put_failure(config_of(j), out, sweep_id=sweep_id)
                outcome.failed += 1
            elif out.outcome.interrupted:  # never store a run cut short
                raise KeyboardInterrupt
            else:
                store.put(out, sweep_id=sweep_id)
                outcome.done += 1
            mark(j)
        counts.run_finished()

    try:
        for j, out in runs:
            store_one(j, out)
    except KeyboardInterrupt:
        try:
            item = runs.throw(KeyboardInterrupt)  # type: ignore[attr-defined]
            while True:
                store_one(*item)
                item = next(runs)
        except (KeyboardInterrupt, StopIteration):
            pass
        return True
    finally:
        runs.close()  # type: ignore[attr-defined]  # stops the executor's workers when we leave early
    return False


class _Renewal:
    """A daemon thread renewing ``owner``'s leases every third of ``lease_s`` until :meth:`stop`."""

    def __init__(self, store: "Store", owner: str, lease_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, owner, lease_s), daemon=True,
                                        name="vanishing-lease")
        self._thread.start()

    def _run(self, store: "Store", owner: str, lease_s: float) -> None:
        from ..errors import VanishingError

        while not self._stop.wait(lease_s / 3):
            try:
                store.renew(owner, lease_s)
            except VanishingError:  # busy or closed: the next renewal tries again
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Counts:
    """Steps and runs done so far, passed on to a :class:`SweepProgress` (or to nobody)."""

    def __init__(self, report: SweepProgress | None, runs: int, steps: int):
        self._report, self.runs, self.steps = report or None, runs, steps
        self.runs_done = self.steps_done = 0
        self._tell()

    def _tell(self) -> None:
        if self._report is not None:
            self._report(self.steps_done, self.steps, self.runs_done, self.runs)

    def advance(self, n: int) -> None:
        if n:
            self.steps_done += n
            self._tell()

    def run_finished(self, steps: int = 0) -> None:
        """One more run finished (``steps``: its steps, when they were not reported as they went)."""
        self.runs_done += 1
        self.steps_done += steps
        self._tell()


@contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, then raise it (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt

"""`vanishing sweep` (run a YAML sweep spec into a results store) and `vanishing results` (read it back)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, VanishingError
from ..experiments.executors import EXECUTORS
from ..experiments.results import FORMATS
from ..experiments.sweep import LEASE_S, MAX_RUNS
from ._common import console, err_console, handle_errors, missing, threads_option, training_threads
from ._progress import sweep_progress

__all__ = ["register"]

_SHOWN_ROWS = 10


def sweep_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="Sweep spec: base, grid, random, seeds, name (see README)."),
    store_path: Path = typer.Option(Path("results.db"), "--store", metavar="FILE", help="SQLite results store; created if missing, shared by sweeps."),
    executor: str = typer.Option("batched", metavar="|".join(EXECUTORS.names()), help="batched (same-architecture runs stacked in one computation), sequential, processes (local pool) or ray."),
    workers: Optional[int] = typer.Option(None, help="Parallel slots for batched and processes: this process plus N-1 worker processes, one thread each (default: the CPU count; 1 = everything in this process), or CPUs of a local Ray. [default: CPU count]"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDRESS", help="Ray cluster to use (auto, HOST:6379, ray://HOST:10001): it receives and runs pickled objects, so trust it; default starts a local Ray closed by a fresh token (see docs/reliability.md)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count the configs and what is already done; run nothing."),
    max_runs: int = typer.Option(MAX_RUNS, "--max-runs", metavar="N", help="Refuse a spec that expands to more configs than this (counted before anything is expanded)."),
    yes: bool = typer.Option(False, "--yes", help="Run a spec above --max-runs anyway."),
    threads: Optional[int] = threads_option(),
    retries: int = typer.Option(2, "--retries", metavar="N", help="Start the unfinished runs of a worker process that died (killed, out of memory) again up to N times; then they are stored as failed with the cause."),
    new_name: Optional[str] = typer.Option(None, "--new-name", metavar="NAME", help="Store this sweep under NAME (when its spec's name is stored with another spec)."),
    force: bool = typer.Option(False, "--force", help="Replace the stored spec of a sweep of this name with this one (its old members stay)."),
    lease: float = typer.Option(LEASE_S, "--lease", metavar="SECONDS", help="How long a run this sweep claimed stays its own without a renewal: after a crash, other sweeps on the store take its runs after this long."),
) -> None:
    """Run every config of a sweep spec not yet in the store; a rerun resumes where it stopped."""
    from dataclasses import replace

    from ..experiments.memory import check_sweep_fits
    from ..experiments.store import Store, SweepSpecChanged, config_hash
    from ..experiments.sweep import SweepSpec, run_sweep

    EXECUTORS.get(executor)
    if workers is not None and workers < 1:
        raise ConfigError("workers", workers, "an integer >= 1")
    if max_runs < 1:
        raise ConfigError("--max-runs", max_runs, "an integer >= 1")
    if retries < 0:
        raise ConfigError("retries", retries, "an integer >= 0")
    if not lease > 0 or lease != lease or lease == float("inf"):
        raise ConfigError("lease", lease, "a number of seconds > 0")
    if new_name is not None and not new_name.strip():
        raise ConfigError("new-name", new_name, "a non-empty name")
    spec = SweepSpec.load(spec_path)
    if new_name is not None:
        spec = replace(spec, name=new_name, raw={**spec.raw, "name": new_name})
    size = spec.size()  # a product: a spec of 10**12 configs is counted, never listed
    if dry_run and size > max_runs:
        console.print(f"sweep [bold]{escape(spec.name)}[/]: {size} configs at most, above --max-runs {max_runs} "
                      "(not expanded)", highlight=False, soft_wrap=True)
        return
    if not yes:
        spec.check_size(max_runs)
    configs = spec.configs()
    with Store(store_path) as store:
        hashes = [config_hash(c) for c in configs]
        done_hashes = store.done_hashes(hashes)
        done = len(done_hashes)
        console.print(f"sweep [bold]{escape(spec.name)}[/]: {len(configs)} configs, {done} already done (skipped), "
                      f"{len(configs) - done} to run" + ("" if dry_run else f" ({executor})"),
                      highlight=False, soft_wrap=True)
        if dry_run:
            return
        if executor != "ray" or ray_address is None:  # a remote cluster's memory is not this machine's
            check_sweep_fits([c for c, h in zip(configs, hashes) if h not in done_hashes], executor, workers)
        # worker slots take one thread each; the rule applies where runs share this process (sequential)
        with sweep_progress() as progress, training_threads(threads, *configs):
            try:
                outcome = run_sweep(spec, store, executor=executor, workers=workers, ray_address=ray_address,
                                    progress=progress, retries=retries, lease_s=lease, replace_spec=force)
            except SweepSpecChanged as exc:
                differs = ", ".join(exc.keys) + (" differs" if len(exc.keys) == 1 else " differ")
                raise VanishingError(f"sweep {exc.name!r} is stored in {store_path} with another spec ({differs}): "
                                     "give it --new-name NAME, or --force to replace the stored spec") from None
        for note in outcome.notes:
            err_console.print(f"note: {note}", highlight=False)
        order = {h: i for i, h in enumerate(outcome.hashes)}
        rows = sorted(store.rows(sweep=spec.name), key=lambda r: order.get(r["config_hash"], len(order)))
    if outcome.skipped < outcome.total:
        console.print(f"{outcome.done} finished, {outcome.failed} failed in {outcome.duration_s:.1f} s"
                      + (f", {outcome.shared} finished by another sweep on this store" if outcome.shared else "")
                      + (f", {outcome.remaining} not run" if outcome.remaining else ""), highlight=False)
    _summary(rows)
    console.print(f"results in [bold]{store_path}[/]: vanishing results {store_path} --sweep {spec.name}",
                  highlight=False, soft_wrap=True)
    if outcome.interrupted:
        err_console.print(f"interrupted: finished runs are stored; the same command again runs the other "
                          f"{outcome.remaining}", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    if outcome.failed:
        failures = [r for r in rows if r.get("status") == "failed"]
        if failures:
            err_console.print(f"{len(failures)} run(s) failed (stored with their error; a rerun tries them "
                              f"again), e.g.: {failures[0].get('error')}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _summary(rows: list[dict]) -> None:
    """Runs by verdict, then the first rows of the results table."""
    from ..experiments.results import write_rows

    if not rows:
        return
    counts = Counter(r.get("verdict") or r.get("status") for r in rows)
    table = Table(title="runs by verdict", title_justify="left", box=None, padding=(0, 2))
    table.add_column("verdict")
    table.add_column("runs", justify="right")
    for verdict, n in counts.most_common():
        table.add_row(str(verdict), str(n))
    console.print(table)
    typer.echo(write_rows(rows[:_SHOWN_ROWS], "table"), nl=False)
    if len(rows) > _SHOWN_ROWS:
        typer.echo(f"... {len(rows) - _SHOWN_ROWS} more")


def results_command(
    store_path: Path = typer.Argument(..., metavar="STORE", help="Results store written by `vanishing sweep`."),
    where: List[str] = typer.Option([], "--where", metavar="'FIELD OP VALUE'", help="Filter, repeatable, all must hold: FIELD OP VALUE with OP one of = != < <= > >=, e.g. depth>=10, activation=tanh, verdict!=healthy."),
    sweep: Optional[str] = typer.Option(None, "--sweep", metavar="NAME", help="Only the runs of this sweep (by name)."),
    fmt: str = typer.Option("table", "--format", metavar="|".join(FORMATS), help="table, csv or parquet (parquet needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", help="Write to this file instead of the terminal."),
    check: bool = typer.Option(False, "--check", help="Verify that every finished run decodes (config, summary, trace); list those that do not and exit 1 (resuming their sweep runs them again)."),
) -> None:
    """One row per run: its config fields, status, summary metrics and verdict."""
    from ..experiments.results import write_rows
    from ..experiments.store import Store

    if check:
        _check(store_path)
        return
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, FORMATS)
    if fmt == "parquet" and out is None:
        missing("--out", "a file path: parquet is written to a file")
    with Store(store_path, create=False) as store:
        rows = store.rows(where, sweep=sweep)
    if not rows:
        err_console.print(f"no runs in {store_path}" + (" match" if where or sweep else ""), highlight=False)
        if fmt == "table":
            return
    if out is None:
        typer.echo(write_rows(rows, fmt), nl=False)
        return
    write_rows(rows, fmt, out)
    console.print(f"{len(rows)} rows written to [bold]{out}[/]", highlight=False)


def _check(store_path: Path) -> None:
    """``vanishing results STORE --check``: one line per damaged run, a count, exit 1 when any is damaged."""
    from ..experiments.store import Store

    with Store(store_path, create=False) as store:
        done = len(store.done_hashes())
        damaged = store.check()
    for h, reason in damaged:
        console.print(f"damaged  {h[:12]}  {reason}", highlight=False, soft_wrap=True)
    if not damaged:
        console.print(f"{done} finished run(s) in {store_path} checked: all decode", highlight=False, soft_wrap=True)
        return
    err_console.print(f"{len(damaged)} of {done} finished run(s) in {store_path} do not decode; running their "
                      f"sweep again (vanishing sweep SPEC.yaml --store {store_path}) trains them again",
                      highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sweep")(handle_errors(sweep_command))
    app.command("results")(handle_errors(results_command))

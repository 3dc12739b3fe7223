"""Sweeps under real faults, in real processes: kill -9 of the driver and of a worker under the processes
and batched executors, two sweeps on one store, a crashed claimer, a damaged stored run.

Each test checks with :func:`check_complete`: every config done and stored once, nothing lost, no run
that had finished before the fault trained again.
"""

import os
import re
import signal
import sqlite3

import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.experiments.store import Store

from _faults import (alive, check_complete, children, cmdline, done_runs, finish, start, sweep_cmd, wait_until,
                      write_spec)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EXECUTORS = [("processes", ["--executor", "processes", "--workers", "2"]),
             ("batched", ["--executor", "batched", "--workers", "2"])]


def workers_of(pid: int) -> list[int]:
    return [c for c in children(pid) if "spawn_main" in cmdline(c) and alive(c)]


@pytest.mark.parametrize("name, args", EXECUTORS, ids=[e for e, _ in EXECUTORS])
def test_kill_9_of_a_worker_is_survived(tmp_path, name, args):
    """A worker killed while the sweep runs is replaced; its unfinished runs start again; the sweep ends
    with every run done (exit 0) and says what happened."""
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    proc = start(sweep_cmd(spec, db, *args), tmp_path / "log")
    try:
        wait_until(lambda: workers_of(proc.pid) or proc.poll() is not None, what="a worker process")
        wait_until(lambda: done_runs(db) or proc.poll() is not None, what="a first finished run")
        victims = workers_of(proc.pid)
        assert victims and proc.poll() is None, "the sweep ended before a worker could be killed"
        before = done_runs(db)
        os.kill(victims[0], signal.SIGKILL)
        rc = finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (tmp_path / "log").read_text()
    assert rc == 0, log
    assert "a worker process died (killed by SIGKILL)" in log, log
    check_complete(spec, db, before, f"kill -9 of a worker ({name})", log)


@pytest.mark.parametrize("name, args", EXECUTORS + [("sequential", ["--executor", "sequential"])],
                         ids=[e for e, _ in EXECUTORS] + ["sequential"])
def test_kill_9_of_the_driver_then_resume(tmp_path, name, args):
    """The driver killed mid-sweep: its workers leave, and the same command again finishes the sweep with
    nothing lost, nothing stored twice and no finished run trained again."""
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    proc = start(sweep_cmd(spec, db, *args), tmp_path / "log")
    try:
        wait_until(lambda: done_runs(db) or proc.poll() is not None, what="a first finished run")
        pool = workers_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    wait_until(lambda: not any(alive(p) for p in pool), timeout=30, what="the workers to leave with their driver")
    before = done_runs(db)
    assert 1 <= len(before) < 8
    rc = finish(start(sweep_cmd(spec, db, *args), tmp_path / "log2"))
    assert rc == 0, (tmp_path / "log2").read_text()
    assert f"8 configs, {len(before)} already done" in (tmp_path / "log2").read_text()
    check_complete(spec, db, before, f"kill -9 of the driver, then resume ({name})")


def finished_here(log: str) -> tuple[int, int]:
    """(runs this sweep trained, runs another sweep finished) from a sweep's last report line."""
    m = re.search(r"(\d+) finished, (\d+) failed in [\d.]+ s(?:, (\d+) finished by another sweep)?", log)
    assert m, log
    return int(m.group(1)), int(m.group(3) or 0)


def test_two_sweeps_on_one_store_share_the_work(tmp_path):
    """Two sweeps of one spec started together on one store: each run trained by exactly one of them."""
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    Store(db).close()  # created once, so neither races to create it
    procs = [start(sweep_cmd(spec, db, "--executor", "sequential"), tmp_path / f"log{i}") for i in range(2)]
    try:
        codes = [finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    logs = [(tmp_path / f"log{i}").read_text() for i in range(2)]
    assert codes == [0, 0], logs
    trained = [finished_here(log) for log in logs]
    assert sum(t for t, _ in trained) == 8, logs  # none trained twice, none left out
    assert all(t + o == 8 for t, o in trained), logs  # each sweep saw all 8 finished, its own or the other's
    assert all(t > 0 for t, _ in trained), logs  # the work was shared
    check_complete(spec, db, None, f"two sweeps on one store (trained {trained[0][0]} + {trained[1][0]})")


def test_the_runs_of_a_crashed_claimer_are_taken_after_its_lease(tmp_path):
    """A sweep killed while it holds a claim: a second sweep runs the free runs at once and the claimed one
    once the lease has expired; the first sweep's finished runs are kept."""
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    first = start(sweep_cmd(spec, db, "--executor", "sequential", "--lease", "4"), tmp_path / "log1")
    try:
        wait_until(lambda: done_runs(db) or first.poll() is not None, what="a first finished run")
        with sqlite3.connect(db, timeout=30) as conn:
            wait_until(lambda: conn.execute("SELECT count(*) FROM claims").fetchone()[0] > 0, what="a claim")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    before = done_runs(db)
    with sqlite3.connect(db, timeout=30) as conn:
        (held,) = conn.execute("SELECT count(*) FROM claims").fetchone()
    assert held == 1 and len(before) < 8
    second = start(sweep_cmd(spec, db, "--executor", "sequential", "--lease", "4"), tmp_path / "log2")
    assert finish(second) == 0, (tmp_path / "log2").read_text()
    trained, _ = finished_here((tmp_path / "log2").read_text())
    assert trained == 8 - len(before)
    check_complete(spec, db, before, "kill -9 of a sweep holding a claim; a second sweep takes it over")


def test_a_damaged_run_is_reported_by_check_and_run_again_on_resume(tmp_path):
    """One stored run's trace blob corrupted: `vanishing results --check` names it (exit 1), the sweep run
    again trains it (and only it) again, and the check then passes."""
    runner = CliRunner()
    spec = write_spec(tmp_path, text=SPEC_SMALL)
    db = tmp_path / "r.db"
    assert runner.invoke(app, ["sweep", str(spec), "--store", str(db), "--executor", "sequential"]).exit_code == 0
    ok = runner.invoke(app, ["results", str(db), "--check"])
    assert ok.exit_code == 0 and "3 finished run(s)" in ok.output and "all decode" in ok.output
    with sqlite3.connect(db) as conn:
        victim = conn.execute("SELECT config_hash FROM traces ORDER BY rowid LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute("UPDATE traces SET data = ? WHERE config_hash = ?", (b"\x78\x9c not zlib", victim))
    before = done_runs(db)
    bad = runner.invoke(app, ["results", str(db), "--check"])
    assert bad.exit_code == 1 and f"damaged  {victim[:12]}" in bad.output and "1 of 3" in bad.output, bad.output
    again = runner.invoke(app, ["sweep", str(spec), "--store", str(db), "--executor", "sequential"])
    assert again.exit_code == 0, again.output
    assert "does not decode" in again.output and "1 finished, 0 failed" in again.output, again.output
    assert runner.invoke(app, ["results", str(db), "--check"]).exit_code == 0
    check_complete(spec, db, {h: t for h, t in before.items() if h != victim}, "one stored run's trace corrupted")


SPEC_SMALL = """\
base: {dataset: circles, depth: 3, width: 8, steps: 20, record_every: 10, device: cpu}
grid:
  activation: [tanh, relu, sigmoid]
"""

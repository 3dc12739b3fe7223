"""Sweeps under Ray, under real faults: a Ray worker killed with SIGKILL mid-task, the driver killed with
SIGKILL (its local Ray goes with it) and the sweep resumed. Each test starts its own local Ray (through
`vanishing sweep --executor ray`) with a private temp folder, and stops every process it started."""

import os
import shutil
import signal
import tempfile

import pytest

from _faults import (check_complete, cmdline, done_runs, finish, kill_session, session, start, sweep_cmd,
                     wait_until, write_spec)

pytest.importorskip("ray", reason="Ray is not installed (pip install 'vanishing[ray]')")

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ARGS = ["--executor", "ray", "--workers", "2"]


@pytest.fixture
def ray_env():
    temp = tempfile.mkdtemp(prefix="rayf", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    try:
        yield {"RAY_TMPDIR": temp}
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def ray_tasks(sid: int) -> list[int]:
    return [p for p in session(sid) if cmdline(p).startswith("ray::_group_in_ray")]


def test_kill_9_of_a_ray_worker_is_survived(tmp_path, ray_env):
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    proc = start(sweep_cmd(spec, db, *ARGS), tmp_path / "log", ray_env)
    try:
        wait_until(lambda: ray_tasks(proc.pid) or proc.poll() is not None, what="a running Ray task")
        before = done_runs(db)
        victims = ray_tasks(proc.pid)
        assert victims and proc.poll() is None, "the sweep ended before a Ray worker could be killed"
        os.kill(victims[0], signal.SIGKILL)
        rc = finish(proc)
    finally:
        kill_session(proc.pid)
    log = (tmp_path / "log").read_text()
    assert rc == 0, log
    assert "a Ray task died (WorkerCrashedError)" in log, log
    check_complete(spec, db, before, "kill -9 of a Ray worker", log)


def test_kill_9_of_the_ray_driver_then_resume(tmp_path, ray_env):
    spec, db = write_spec(tmp_path), tmp_path / "r.db"
    proc = start(sweep_cmd(spec, db, *ARGS), tmp_path / "log", ray_env)
    try:
        wait_until(lambda: done_runs(db) or proc.poll() is not None, what="a first finished run")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        kill_session(proc.pid)  # the local Ray the driver started
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    before = done_runs(db)
    assert 1 <= len(before) < 8
    again = start(sweep_cmd(spec, db, *ARGS), tmp_path / "log2", ray_env)
    try:
        rc = finish(again)
    finally:
        kill_session(again.pid)
    assert rc == 0, (tmp_path / "log2").read_text()
    check_complete(spec, db, before, "kill -9 of the Ray driver, then resume")

"""Helpers of the fault tests: real sweep processes (`vanishing sweep` in a subprocess), killed for real."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from vanishing.experiments.store import Store, config_hash
from vanishing.experiments.sweep import SweepSpec

SPEC = """\
base: {dataset: circles, depth: 3, width: 8, steps: 300, record_every: 100, device: cpu}
grid:
  activation: [tanh, relu]
  lr: [0.1, 0.05]
seeds: 2
"""
WAIT_S = 240  # the longest any one phase may take on a busy 2-core machine


def write_spec(folder: Path, name: str = "faults", text: str = SPEC) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def sweep_cmd(spec: Path, db: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from vanishing.cli import main; main()", "sweep", str(spec), "--store", str(db),
            *args]


def start(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """A sweep in its own process group (so a test can stop everything it started), output to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen, timeout: float = WAIT_S) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"the sweep did not finish within {timeout} s")


def done_runs(db: Path) -> dict[str, str]:
    """config hash → finished_at of the finished runs (read with sqlite3 alone: the store may be mid-write)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return dict(conn.execute("SELECT config_hash, finished_at FROM runs WHERE status = 'done'"))
    except sqlite3.Error:
        return {}


def wait_until(test, timeout: float = WAIT_S, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ... ([] if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _processes(field: int, value: int) -> list[int]:
    """Live processes whose stat field ``field`` (1: parent, 3: session) is ``value``."""
    found = [(int(p), _stat(p)) for p in os.listdir("/proc") if p.isdigit()]
    return [p for p, st in found if st and int(st[field]) == value and st[0] != "Z"]


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    return _processes(1, pid)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    st = _stat(pid)
    return bool(st) and st[0] != "Z"


def check_complete(spec: Path, db: Path, before: dict[str, str] | None = None, fault: str = "",
                   log: str = "") -> dict[str, int]:
    """Every config of ``spec`` stored once and done; runs finished ``before`` a fault kept as they were.

    Returns (and prints, for docs/reliability.md: ``pytest -s -m faults | grep FAULT``) the counts: runs,
    finished before the fault, lost, duplicated, recomputed (finished before the fault yet trained again),
    restarted (unfinished runs of a dead worker started again, from the sweep's notes in ``log``).
    """
    expected = {config_hash(c) for c in SweepSpec.load(spec).configs()}
    with Store(db, create=False) as store:
        rows = store.rows()
        claims = store.claimed()
    hashes = [r["config_hash"] for r in rows]
    after = {r["config_hash"]: r["finished_at"] for r in rows if r["status"] == "done"}
    counts = {"runs": len(expected), "lost": len(expected - set(after)), "duplicated": len(hashes) - len(set(hashes)),
              "recomputed": sum(after.get(h) != t for h, t in (before or {}).items())}
    counts["before"] = len(before or {})
    counts["restarted"] = sum(int(n) for n in re.findall(r"with (\d+) unfinished run", log))
    print(f"FAULT {fault}: " + " ".join(f"{k}={v}" for k, v in counts.items()))
    assert counts["lost"] == counts["duplicated"] == counts["recomputed"] == 0, counts
    assert set(hashes) == expected and not claims
    return counts


def session(sid: int) -> list[int]:
    """Every live process of session ``sid`` (a sweep started by :func:`start` and all it started: Ray's too)."""
    return _processes(3, sid)


def kill_session(sid: int) -> None:
    for pid in session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

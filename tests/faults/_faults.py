"""Helpers of the fault tests: real sweep processes (`vanishing sweep` in a subprocess), killed for real."""

import os
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


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_complete(spec: Path, db: Path, before: dict[str, str] | None = None) -> dict[str, int]:
    """Every config of ``spec`` stored once and done; runs finished ``before`` a fault kept as they were.

    Returns the counts the docs report: runs, lost, duplicated, recomputed (finished before yet stored again).
    """
    expected = {config_hash(c) for c in SweepSpec.load(spec).configs()}
    with Store(db, create=False) as store:
        rows = store.rows()
        claims = store.claimed()
    hashes = [r["config_hash"] for r in rows]
    after = {r["config_hash"]: r["finished_at"] for r in rows if r["status"] == "done"}
    counts = {"runs": len(expected), "lost": len(expected - set(after)), "duplicated": len(hashes) - len(set(hashes)),
              "recomputed": sum(after.get(h) != t for h, t in (before or {}).items())}
    assert counts["lost"] == counts["duplicated"] == counts["recomputed"] == 0, counts
    assert set(hashes) == expected and not claims
    return counts

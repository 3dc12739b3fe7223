"""A local Ray started by ``vanishing sweep --executor ray`` is closed: no dashboard (no HTTP job API), and
its servers, which this Ray binds to every interface, refuse a client without the run's fresh token.

The reference is a second process that tries to join the running instance as Ray's own client would,
without the token: it must be refused. The listening sockets of the instance's processes are read with
``ss -ltnp`` and must not include a dashboard.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from vanishing.experiments.store import Store
from vanishing.experiments.sweep import SweepSpec, run_sweep

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'vanishing[ray]')")

pytestmark = [pytest.mark.slow, pytest.mark.hardening]

BASE = {"dataset": "circles", "depth": 2, "width": 4, "steps": 2, "record_every": 1, "device": "cpu"}
DASHBOARD_PORT = 8265


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _listening(pids: set[int]) -> list[str]:
    """``ADDRESS:PORT`` of every listening TCP socket of ``pids`` (ss -ltnp)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if {int(p) for p in re.findall(r"pid=(\d+)", line)} & pids]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_local_ray_needs_the_token_and_has_no_dashboard(tmp_path):
    assert not ray.is_initialized()
    seen: dict[str, object] = {}

    def look(steps_done, steps_total, runs_done, runs_total):
        if runs_done and "intruder" not in seen and ray.is_initialized():
            seen["sockets"] = _listening(_descendants(os.getpid()))
            gcs = ray.get_runtime_context().gcs_address
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
            code = ("import logging, ray; ray.init(address=%r, logging_level=logging.ERROR); "
                    "print('JOINED', ray.get(ray.remote(lambda: 1).remote()))" % gcs)
            seen["intruder"] = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                              text=True, timeout=300)

    spec = SweepSpec.parse({"base": BASE, "grid": {"lr": [0.1, 0.05]}}, name="closed")
    with Store(tmp_path / "ray.db") as store:
        outcome = run_sweep(spec, store, executor="ray", workers=1, progress=look)
    assert (outcome.done, outcome.failed) == (2, 0)
    intruder = seen["intruder"]
    assert intruder.returncode != 0 and "JOINED" not in intruder.stdout
    assert "token" in intruder.stderr.lower() or "auth" in intruder.stderr.lower(), intruder.stderr[-2000:]
    ports = {address.rsplit(":", 1)[1] for address in seen["sockets"]}
    assert seen["sockets"] and str(DASHBOARD_PORT) not in ports, seen["sockets"]
    assert not ray.is_initialized() and "RAY_AUTH_TOKEN" not in os.environ  # stopped, token dropped

"""Each benchmark script runs: its ``--quick`` smoke mode as a subprocess, exit status 0, its tables printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_probe_overhead_quick():
    r = _run("benchmarks/probe_overhead.py", "--quick")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| norms every step" in r.stdout and "--peers adds them" in r.stdout


@pytest.mark.slow
def test_peers_quick():
    pytest.importorskip("lightning")
    pytest.importorskip("wandb")
    r = _run("benchmarks/peers.py", "--quick")
    assert r.returncode == 0, r.stderr[-2000:]
    for line in ("| bare", "| vanishing.watch, default schedule", "| Lightning grad_norm every step",
                 "| wandb.watch gradients, log_freq=1", "what each tool reports"):
        assert line in r.stdout, r.stdout


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present: the check would run")
def test_gpu_check_skips_cleanly_without_cuda():
    r = _run("benchmarks/gpu_check.py", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False)"
    assert r.stderr == ""

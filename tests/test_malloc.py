"""glibc allocator tuning for our own processes (CLI, sweep workers)."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from vanishing import _malloc

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc, reason="glibc only")
def test_sets_glibc_thresholds_once():
    assert _malloc.tune_malloc() is True
    assert _malloc.tune_malloc() is True  # idempotent


@pytest.mark.skipif(not glibc, reason="glibc only")
def test_freed_blocks_are_reused_not_refaulted():
    """With the thresholds raised, a loop that frees and reallocates 4 MB blocks of a growing and
    shrinking heap stops faulting in fresh pages; glibc's defaults keep returning them to the system."""
    code = """
import resource, sys, numpy as np
if sys.argv[1] == "1":
    from vanishing._malloc import tune_malloc; assert tune_malloc()
keep = []
for _ in range(5):
    blocks = [np.ones(1 << 20, dtype=np.float32) for _ in range(12)]  # 12 × 4 MB, touched
    del blocks
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    blocks = [np.ones(1 << 20, dtype=np.float32) for _ in range(12)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    faults = {m: int(subprocess.run([sys.executable, "-c", code, m], env=env, capture_output=True, text=True,
                                    check=True).stdout) for m in ("0", "1")}
    # 20 rounds × 48 MB would be ~245 000 faults if every page were fresh
    print(faults)
    assert faults["1"] < 2000, faults
    assert faults["1"] * 10 < faults["0"], faults


def test_pool_workers_and_the_cli_tune(monkeypatch):
    calls = []
    monkeypatch.setattr(_malloc, "tune_malloc", lambda: calls.append(1) or True)
    import vanishing.cli as cli
    from vanishing.experiments import executors

    monkeypatch.setattr(executors.signal, "signal", lambda *a: None)
    monkeypatch.setattr(executors.threading, "Thread", lambda **k: type("T", (), {"start": lambda self: None})())
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    executors._worker_init(os.getpid())
    monkeypatch.setattr(cli, "app", lambda: None)
    cli.main()
    assert len(calls) == 2

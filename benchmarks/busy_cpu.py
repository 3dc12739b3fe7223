"""The demo and a depth-20 run on an idle CPU and beside a CPU-burning process: automatic threads vs torch's.

Each measurement is the wall time of the command a user types (a fresh process, start-up included):
``vanishing demo --no-report`` and ``vanishing run --depth 20``, once with the thread count vanishing
chooses (``vanishing.threads``) and once with ``--threads T``, T = torch's own default (one per core).
Idle and busy alternate within each repeat, so a slow drift of the machine falls on both alike;
the figure is the median over repeats. Busy = one ``while True: pass`` process started
``--settle`` seconds before and killed after.

    python benchmarks/busy_cpu.py                     # the real demo (600 steps a run), 3 repeats
    python benchmarks/busy_cpu.py --steps 200 --repeats 5

Prints the medians and the ratios busy / idle (goal: the demo within 1.5x of its idle time with one
core busy) and torch default / automatic.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time

CLI = [sys.executable, "-c", "from vanishing.cli import main; main()"]


def torch_default_threads() -> int:
    """Threads torch takes in a fresh process (one per physical core)."""
    code = "import torch; print(torch.get_num_threads())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def timed(args: list[str], timeout: float) -> float:
    """Wall seconds of one CLI command (inf when it ran past ``timeout``)."""
    start = time.perf_counter()
    try:
        subprocess.run(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="steps of each run (the demo's own: 600)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds the burner runs before a busy measurement")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds after which one command counts as inf")
    args = ap.parse_args()

    default = torch_default_threads()
    jobs = {
        "demo": ["demo", "--no-report", "--steps", str(args.steps)],
        "run depth 20": ["run", "--depth", "20", "--width", "64", "--steps", str(args.steps)],
    }
    modes = {"automatic": [], f"torch default ({default})": ["--threads", str(default)]}
    times: dict[tuple[str, str, str], list[float]] = {}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load now "
          f"{os.getloadavg()[0]:.2f}, {args.steps} steps a run, {args.repeats} repeats", flush=True)
    for r in range(args.repeats):
        for load in ("idle", "busy"):
            burner = None
            if load == "busy":
                burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(args.settle)
            try:
                for job, cmd in jobs.items():
                    for mode, extra in modes.items():
                        t = timed(cmd + extra, args.timeout)
                        times.setdefault((job, mode, load), []).append(t)
                        print(f"  repeat {r + 1}: {job:13s} {mode:18s} {load}: {t:7.2f} s", flush=True)
            finally:
                if burner is not None:
                    burner.kill()
                    burner.wait()

    print(f"\nmedian wall seconds (start-up included), {args.repeats} repeats")
    print(f"{'':14s}{'threads':20s}{'idle':>9s}{'busy':>9s}{'busy/idle':>11s}")
    for job in jobs:
        for mode in modes:
            idle = statistics.median(times[(job, mode, "idle")])
            busy = statistics.median(times[(job, mode, "busy")])
            ratio = f"{busy / idle:10.2f}x" if math.isfinite(idle) and math.isfinite(busy) else f"{'-':>11s}"
            print(f"{job:14s}{mode:20s}{idle:9.2f}{busy:9.2f}{ratio}  (inf: past --timeout)")
    print("\ntorch default / automatic")
    auto, dflt = list(modes)
    for job in jobs:
        for load in ("idle", "busy"):
            ratio = statistics.median(times[(job, dflt, load)]) / statistics.median(times[(job, auto, load)])
            print(f"{job:14s}{load:6s}{ratio:7.2f}x")


if __name__ == "__main__":
    main()

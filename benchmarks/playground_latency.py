"""Playground latency: how live the page feels (a script, not a test).

Starts a playground server on a free port of 127.0.0.1 and, as a page does, starts a run and reads its
server-sent events over HTTP (httpx). For a 20-layer, width-64 sigmoid net on digits (batch 64, a row
recorded every step so that the throttle, not the recording, bounds the updates) it measures:

- **play → first chart update**: from sending "play" (POST /api/runs) to the first update that carries a
  recorded row (what the page draws first), median over ``--repeats`` runs;
- **chart updates per second** while the net trains: update events carrying rows / training time
  (the server sends at most ``updates_per_s`` = 10 a second);
- **overhead of streaming**: the run's wall time from "play" to its "end" event over the wall time of
  the same config through :func:`vanishing.experiments.run` (the path of ``vanishing run``), in the same
  process, torch threads set alike, the two alternated and the median ratio taken.

    python benchmarks/playground_latency.py              # ~1 minute on 2 cores
    python benchmarks/playground_latency.py --quick      # smoke version

Targets: first update ≤ 1 s; ≥ 8 updates/s; streaming overhead ≤ 1.15×.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import httpx
import torch

from vanishing.config import RunConfig
from vanishing.experiments import run
from vanishing.playground import Limits, serve

TARGETS = {"first_update_s": 1.0, "updates_per_s": 8.0, "overhead": 1.15}


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def config(steps: int) -> dict:
    return dict(depth=20, width=64, activation="sigmoid", init="xavier_normal", dataset="digits",
                optimizer="momentum", lr=0.01, batch_size=64, steps=steps, record_every=1, seed=0)


def stream_run(client: httpx.Client, values: dict) -> dict[str, float]:
    """One run from 'play' to 'end', timed from the client's side."""
    t0 = time.perf_counter()
    run_id = client.post("/api/runs", json={"config": values, "play": True}).json()["id"]
    first = None
    updates_with_rows = 0
    event = None
    with client.stream("GET", f"/api/runs/{run_id}/stream", timeout=None) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "update":
                msg = json.loads(line[6:])
                if msg["rows"]:
                    updates_with_rows += 1
                    if first is None:
                        first = time.perf_counter() - t0
            elif line.startswith("data: ") and event == "end":
                break
    total = time.perf_counter() - t0
    assert first is not None
    return {"first_update_s": first, "updates": updates_with_rows, "total_s": total,
            "updates_per_s": updates_with_rows / max(total - first, 1e-9)}


def cli_run(values: dict) -> float:
    t0 = time.perf_counter()
    run(RunConfig.make(values))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the CLI's automatic choice for 20×64 is 1)")
    ap.add_argument("--quick", action="store_true", help="60 steps, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.repeats = 60, 1
    torch.set_num_threads(args.threads)
    values = config(args.steps)
    cli_run(config(5))  # warm-up: data set loaded and cached, imports done
    streamed, ratios = [], []
    with serve(Limits()) as server, httpx.Client(base_url=server.url) as client:
        stream_run(client, config(5))
        for _ in range(args.repeats):
            s = stream_run(client, values)
            c = cli_run(values)
            streamed.append(s)
            ratios.append(s["total_s"] / c)
            print(f"  streamed {s['total_s']:.2f} s (first update {s['first_update_s']:.3f} s, "
                  f"{s['updates']} updates, {s['updates_per_s']:.1f}/s); run() {c:.2f} s")
    first = statistics.median(s["first_update_s"] for s in streamed)
    rate = statistics.median(s["updates_per_s"] for s in streamed)
    overhead = statistics.median(ratios)
    steps_per_s = statistics.median(args.steps / s["total_s"] for s in streamed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores, load average {load:.1f}, torch {torch.__version__}, "
          f"threads {args.threads}, {args.steps} steps × {args.repeats} repeats")
    print("| measure | value | target |\n|---|---|---|")
    print(f"| play → first chart update | {first:.3f} s | ≤ {TARGETS['first_update_s']} s |")
    print(f"| chart updates per second while training | {rate:.1f} | ≥ {TARGETS['updates_per_s']} |")
    print(f"| training steps per second (streamed; one recorded row each) | {steps_per_s:.1f} | — |")
    print(f"| streamed run / `vanishing run` path, wall time | {overhead:.2f}× | ≤ {TARGETS['overhead']}× |")


if __name__ == "__main__":
    main()

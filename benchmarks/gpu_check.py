"""The probe on CUDA: its correctness checks, its host syncs and its overhead, printed as one JSON.

    python benchmarks/gpu_check.py                 # on a machine with CUDA (a few minutes)
    python benchmarks/gpu_check.py --quick         # fewer timed steps and rounds
    python benchmarks/gpu_check.py --allow-cpu     # the same code path on the CPU (no sync checks)

Without CUDA (and without ``--allow-cpu``) it prints one line and exits with status 0.

What it does, in order:

1. ``tests/probe/test_devices.py`` under pytest: weight/bias gradient norms against float64 ``p.grad``
   norms on the device, backpropagated signals against autograd, AMP (float16) with a GradScaler.
2. Its own figures on a 20-layer sigmoid MLP on the device: the largest relative difference of
   ``grad_norm`` from float64 ``p.grad`` norms, and of ``signal_grad_norm`` from the gradients autograd
   leaves on the layer outputs.
3. Host syncs: one training step under ``torch.cuda.set_sync_debug_mode("error")``, after warm-up, with
   a probe on which nothing is due that step, and with ``quantities=NORMS, every=1``: either raises on
   the first synchronising call. The full set every step is run under ``"warn"`` and its syncs counted.
4. Overhead: ``benchmarks/probe_overhead.py``'s interleaved rounds on the device, timed by wall clock
   with a ``torch.cuda.synchronize()`` at each segment's ends.

Goals: norms every step ≤ 1.02× bare; no host sync in a probed step while nothing is due or norms
are due (``"ok": true`` in ``syncs``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from probe_overhead import MODELS, TOOLS, measure, ratio

from vanishing.probe import NORMS, watch

ROOT = Path(__file__).resolve().parents[1]
GOAL_NORMS_EVERY_STEP = 1.02  # × bare


def on(device: torch.device, make: Callable[[], tuple]) -> Callable[[], tuple]:
    """A benchmark model factory whose model and batches live on ``device``."""
    def made() -> tuple:
        net, batch = make()
        return net.to(device), lambda g: tuple(t.to(device) for t in batch(g))
    return made


def _mlp(device: torch.device) -> tuple[nn.Module, list]:
    torch.manual_seed(0)
    net, batch = MODELS["mlp"][1]()
    g = torch.Generator().manual_seed(0)
    return net.to(device), [tuple(t.to(device) for t in batch(g)) for _ in range(3)]


def accuracy(device: torch.device) -> dict[str, Any]:
    """Largest relative differences of the probe's grad and signal norms from independent references."""
    net, data = _mlp(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, a, out: out.retain_grad() or outputs.append(out)) for m in linears]
    want_w, want_s = [], []
    with watch(net, opt, every=1, quantities=["grad_norm", "signal_grad_norm"]) as probe:
        for x, y in data:
            outputs.clear()
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            want_w.append([torch.linalg.vector_norm(m.weight.grad.double()).item() for m in linears])
            want_s.append([torch.linalg.vector_norm(z.grad.double()).item() for z in outputs])
            opt.step()
    for h in hooks:
        h.remove()
    t = probe.trace

    def worst(got, want) -> float:
        return max(abs(a - b) / b for ra, rb in zip(got.tolist(), want) for a, b in zip(ra, rb))

    return {"layers": len(linears), "steps": len(data), "grad_norm_max_rel_err": worst(t["grad_norm"], want_w),
            "signal_grad_norm_max_rel_err": worst(t["signal_grad_norm"], want_s),
            "float32_eps": torch.finfo(torch.float32).eps}


def one_step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()


def syncs(device: torch.device, warmup: int = 5) -> dict[str, Any]:
    """A probed step under the sync debug mode, after ``warmup`` steps (layer discovery, the probe's
    one-time device tables): nothing due; norms due; the full set due (syncs counted, not raised)."""
    out: dict[str, Any] = {}
    cases = {"nothing_due": dict(every=[0]), "norms_every_step": dict(every=1, quantities=list(NORMS)),
             "full_every_step": dict(every=1)}
    for name, kwargs in cases.items():
        net, data = _mlp(device)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        probe = watch(net, opt, **kwargs)
        for i in range(warmup):
            one_step(net, opt, *data[i % len(data)])
        torch.cuda.synchronize(device)
        x, y = data[0]
        if name == "full_every_step":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    one_step(net, opt, x, y)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            found = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message).lower()]
            out[name] = {"syncs": len(found), "first": found[0] if found else None}
        else:
            torch.cuda.set_sync_debug_mode("error")
            try:
                one_step(net, opt, x, y)
                out[name] = {"ok": True}
            except RuntimeError as e:
                out[name] = {"ok": False, "error": str(e).splitlines()[0]}
            finally:
                torch.cuda.set_sync_debug_mode("default")
        probe.detach()
        assert probe.trace.steps.size > 0  # the probe did record (a flush syncs: after the checked step)
    return out


def overhead(device: torch.device, steps: int, rounds: int, segment: int, warmup: int) -> dict[str, Any]:
    """probe_overhead.py's interleaved rounds on ``device`` (wall clock, synchronised)."""
    def clock() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    result: dict[str, Any] = {}
    for key, (title, make) in MODELS.items():
        times = measure(on(device, make), TOOLS, steps, warmup, segment, rounds, clock)
        result[key] = {"model": title, "bare_ms_per_step": statistics.median(times["bare"]) * 1e3,
                       "ratio_to_bare": {v: ratio(times, v) for v in TOOLS}}
        result[key]["norms_every_step_goal_met"] = \
            result[key]["ratio_to_bare"]["norms every step"] <= GOAL_NORMS_EVERY_STEP
    return result


def tests(device: torch.device) -> dict[str, Any]:
    """tests/probe/test_devices.py under pytest (its CUDA cases run where CUDA is present)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        "tests/probe/test_devices.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    tail = [line for line in r.stdout.splitlines() if line.strip()][-1:] or [r.stderr.strip()[-200:]]
    return {"exit_status": r.returncode, "summary": tail[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer timed steps and rounds")
    ap.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no CUDA (no sync checks)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)  # as probe_overhead.py times the CPU
    steps = args.steps or (20 if args.quick else 100)
    rounds = args.rounds or (2 if args.quick else 7)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "tests": tests(device),
        "accuracy": accuracy(device),
        "syncs": syncs(device) if device.type == "cuda" else "not checked on the CPU",
        "overhead": overhead(device, steps, rounds, segment=min(10, steps), warmup=5 if args.quick else 10),
        "method": f"{steps} timed steps per variant and round, {rounds} rounds, wall clock synchronised, medians",
    }
    print(json.dumps(report, indent=2, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v)))
    ok = report["tests"]["exit_status"] == 0 and (device.type != "cuda" or all(
        report["syncs"][k]["ok"] for k in ("nothing_due", "norms_every_step")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

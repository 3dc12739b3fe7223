"""Sweep throughput: runs/s of each executor against a plain loop of single runs (a script, not a test).

The reference sweep (issue 7, ``examples/sweeps/reference.yaml``): digits; depth {5, 10, 20}; width 64; activations {sigmoid, tanh,
relu, leaky_relu, elu, gelu}; inits {normal:std=0.01, xavier_normal, he_normal, orthogonal};
3 seeds; 300 steps; batch 64; the probe on the run's default schedule (every 10 steps + the last),
i.e. 216 runs. Every variant computes exactly the same runs (same configs, same results):

- ``sequential``: ``for c in configs: vanishing.run(c)`` in this process (torch's default threads);
- ``batched``: the batched executor (stacked training, :mod:`vanishing.experiments.executors.batched`) on one slot per CPU,
  this process and CPUs − 1 worker processes, one thread each;
- ``processes``: one run per task on the same slots;
- ``ray``: Ray tasks on a local instance started before timing (skipped when Ray is not installed).

Variants run one after another in a rotating order, ``--rounds`` times; the table gives medians.
Achieved FLOP/s counts the matrix products the runs need (forward, weight and input gradients of
every training step, and the evaluation passes on recorded steps) divided by wall time, as a fraction
of this machine's float32 matmul peak, measured by the same script (``torch.mm`` of 2048×2048
matrices, all threads, best of the measurements taken before and after the sweeps).

The *kernel floor* printed last bounds what any executor can reach on this machine: the sweep's
products at one core's ``torch.bmm`` rate for its shapes plus every hidden activation (training
forward and backward, evaluation forward) at its measured cost per element, spread over the cores.

    python benchmarks/sweep_throughput.py                 # the reference sweep (~5 min on 2 cores)
    python benchmarks/sweep_throughput.py --quick         # 1 seed, 100 steps (~3 min)
    python benchmarks/sweep_throughput.py --executors sequential batched
    python benchmarks/sweep_throughput.py --stacking      # how the batched executor stacks members

``--stacking`` times one training step of one stacked run (12 members, depth 10, width 64, batch 64,
one thread) both ways the batched executor could run it: its explicit stacked forward over the
members' ``nn.Sequential`` (:class:`~vanishing.experiments.executors._stack.StackedNet`) and
``torch.func.stack_module_state`` + ``vmap(functional_call)``.

Targets: batched ≥ 3.5× the sequential loop on 2 cores, and within 1.5× of its kernel floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import yaml

from vanishing.config import RunConfig
from vanishing.data import load_dataset
from vanishing.experiments.executors import ExecutorOptions, get_executor
from vanishing.experiments.run import run
from vanishing.probe.schedules import every_and_last
from vanishing.experiments.sweep import SweepSpec
from vanishing.train.loop import EVAL_TRAIN_SAMPLES

REFERENCE = Path(__file__).resolve().parent.parent / "examples" / "sweeps" / "reference.yaml"
TARGET_SPEEDUP, TARGET_FLOOR = 3.5, 1.5


def reference_configs(seeds: int, steps: int) -> list[RunConfig]:
    """``examples/sweeps/reference.yaml`` with ``seeds`` seeds and ``steps`` steps."""
    raw = yaml.safe_load(REFERENCE.read_text())
    raw["seeds"], raw["base"]["steps"] = seeds, steps
    return SweepSpec.parse(raw, name="reference").configs()


def matmul_flops(configs: list[RunConfig]) -> float:
    """Matrix-product FLOPs the runs need: training steps (forward, dW, dx) and recorded-step evaluations."""
    total = 0.0
    data = load_dataset("digits")
    n_eval = min(len(data.x_train), EVAL_TRAIN_SAMPLES) + len(data.x_test)
    for c in configs:
        dims = [data.in_features] + [c.width] * (c.depth - 1) + [data.out_features]
        macs = [a * b for a, b in zip(dims[:-1], dims[1:])]
        per_step = 2 * c.batch_size * (2 * sum(macs) + sum(macs[1:]))  # forward + dW, dx (none for the input)
        evals = len(every_and_last(c.record_every, c.steps).steps()) + 1
        total += c.steps * per_step + evals * 2 * n_eval * sum(macs)
    return total


def _best(fn: Callable[[], object], repeats: int = 20) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one untimed call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """float32 FLOP/s of torch.mm on n×n matrices (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / _best(lambda: torch.mm(a, b), repeats)


def kernel_floor(configs: list[RunConfig]) -> tuple[float, float, float]:
    """(matmul CPU-s, activation CPU-s, bmm GFLOP/s per core): what the sweep's kernels alone cost.

    Timed on one thread at the shapes a stacked group uses (12 members, 64 wide): the products at
    ``torch.bmm``'s rate for 256×64 by 64×64 blocks, and every hidden activation of every training
    step (forward and backward) and evaluation pass (forward) at its measured cost per element.
    Elementwise work beyond the activation (bias, loss, optimizer) is left out: a lower bound.
    """
    from vanishing.activations import get_activation

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(12, 256, 64), torch.randn(12, 64, 64)
        rate = 2 * 12 * 256 * 64 * 64 / _best(lambda: torch.bmm(a, b))
        data = load_dataset("digits")
        n_eval = min(len(data.x_train), EVAL_TRAIN_SAMPLES) + len(data.x_test)
        x = torch.randn(12, 256, 64)
        cost: dict[str, tuple[float, float]] = {}  # activation → (forward, backward) seconds per element
        for spec in sorted({c.activation for c in configs}):
            fn = get_activation(spec).module()
            xr = x.clone().requires_grad_()
            y, g = fn(xr), torch.randn_like(x)
            fwd = _best(lambda: fn(x)) / x.numel()
            bwd = _best(lambda: torch.autograd.grad(y, xr, g, retain_graph=True)) / x.numel()
            cost[spec] = (fwd, bwd)
        act = 0.0
        for c in configs:
            hidden = c.width * (c.depth - 1)  # activations per row
            evals = len(every_and_last(c.record_every, c.steps).steps()) + 1
            f, b_ = cost[c.activation]
            act += c.steps * c.batch_size * hidden * (f + b_) + evals * n_eval * hidden * f
    finally:
        torch.set_num_threads(threads)
    return matmul_flops(configs) / rate, act, rate


def stacking(members: int = 12, depth: int = 10, width: int = 64, batch: int = 64, rounds: int = 5) -> None:
    """Seconds per training step of one stacked run: StackedNet against vmap(functional_call)."""
    import copy

    from torch.func import functional_call, stack_module_state, vmap

    from vanishing.experiments.executors._stack import StackedNet
    from vanishing.nets import build_mlp
    from vanishing.train.loop import loss

    torch.set_num_threads(1)
    data = load_dataset("digits")
    nets = [build_mlp(data.in_features, data.out_features, depth=depth, width=width, activation="tanh",
                      init="xavier_normal", seed=s) for s in range(members)]
    x = data.x_train[:batch].expand(members, -1, -1)
    y = data.y_train[:batch].expand(members, -1)
    stacked = StackedNet(nets, torch.device("cpu"))
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def explicit() -> None:
        out, _ = stacked.forward(x)
        loss(out, y, "classification", members=True).sum().backward()

    def one(p, b, xx, yy):
        return loss(functional_call(base, (p, b), (xx,)), yy, "classification")

    def vmapped() -> None:
        vmap(one)(params, buffers, x, y).sum().backward()

    for r in range(rounds):
        a, b = _best(explicit, 50), _best(vmapped, 50)
        print(f"round {r + 1}: stacked forward {a * 1e3:.2f} ms/step, vmap(functional_call) {b * 1e3:.2f} ms/step "
              f"({b / a:.2f}×)")


def time_sequential(configs: list[RunConfig]) -> float:
    t = time.perf_counter()
    for c in configs:
        run(c)
    return time.perf_counter() - t


def timer_for(name: str, workers: int | None) -> Callable[[list[RunConfig]], float]:
    if name == "sequential":
        return time_sequential
    executor = get_executor(name)

    def timed(configs: list[RunConfig]) -> float:
        t = time.perf_counter()
        done = 0
        for _, out in executor(configs, lambda n: None, ExecutorOptions(workers=workers)):
            if isinstance(out, str):
                raise SystemExit(f"{name}: a run failed: {out}")
            done += 1
        assert done == len(configs)
        return time.perf_counter() - t

    return timed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 100 steps")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--executors", nargs="+", default=["sequential", "batched", "processes", "ray"])
    ap.add_argument("--workers", type=int, default=None, help="processes/ray workers (default: CPU count)")
    ap.add_argument("--stacking", action="store_true", help="only time the two ways of stacking members")
    args = ap.parse_args(argv)
    if args.stacking:
        stacking()
        return
    seeds = args.seeds or (1 if args.quick else 3)
    steps = args.steps or (100 if args.quick else 300)
    configs = reference_configs(seeds, steps)
    names = list(args.executors)
    if "ray" in names:
        try:
            import ray
        except ImportError:
            print("ray: not installed, skipped (pip install 'vanishing[ray]')")
            names.remove("ray")
        else:
            ray.init(num_cpus=args.workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    timers = {n: timer_for(n, args.workers) for n in names}
    peaks = [matmul_peak()]
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t = timers[n](configs)
            times[n].append(t)
            print(f"  round {r + 1}: {n:<10} {t:8.1f} s", file=sys.stderr, flush=True)
    peaks.append(matmul_peak())
    peak = max(peaks)
    flops = matmul_flops(configs)
    print(f"\nreference sweep (examples/sweeps/reference.yaml): {len(configs)} runs (3 depths × 6 activations × "
          f"4 inits × {seeds} seeds), {steps} steps, batch 64, width 64, digits; "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    print(f"float32 matmul peak (torch.mm 2048²): {peak / 1e9:.1f} GFLOP/s; the sweep needs "
          f"{flops / 1e12:.2f} TFLOP of matrix products\n")
    print(f"{'executor':<12}{'wall s':>9}{'runs/s':>9}{'speed-up':>10}{'GFLOP/s':>10}{'of peak':>9}")
    base = statistics.median(times["sequential"]) if "sequential" in times else None
    for n in names:
        t = statistics.median(times[n])
        speed = f"{base / t:9.1f}×" if base else "        -"
        print(f"{n:<12}{t:9.1f}{len(configs) / t:9.2f}{speed:>10}{flops / t / 1e9:10.1f}{flops / t / peak:9.1%}")
    mm_s, act_s, rate = kernel_floor(configs)
    cores = args.workers or os.cpu_count() or 1
    floor = (mm_s + act_s) / cores
    print(f"\nkernel floor (one core: bmm {rate / 1e9:.0f} GFLOP/s; activation kernels timed per element): "
          f"{mm_s:.1f} CPU-s of products + {act_s:.1f} CPU-s of activations = {floor:.1f} s on {cores} cores, "
          f"i.e. at best {flops / floor / peak:.0%} of the peak"
          + (f" and {base / floor:.1f}× the sequential loop" if base else ""))
    if base and "batched" in times:
        t = statistics.median(times["batched"])
        print(f"\ntargets: batched ≥ {TARGET_SPEEDUP:.1f}× sequential: {base / t:.1f}× "
              f"({'met' if base / t >= TARGET_SPEEDUP else 'MISSED'}); ≤ {TARGET_FLOOR:.1f}× its kernel floor: "
              f"{t / floor:.2f}× ({'met' if t / floor <= TARGET_FLOOR else 'MISSED'})")


if __name__ == "__main__":
    main()

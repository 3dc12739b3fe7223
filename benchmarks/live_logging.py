"""Live logging overhead: time per training step with a LiveLogger, relative to the probe alone
(a script, not a test).

Each round trains every variant for ``--steps`` steps from the same seed, in rotating order; a
variant's ratio is the median over rounds of (its time / the probe-alone time of the same schedule in
the same round). The logger reads the probe's trace on every step the probe records (to check the
alarms), and that read rebuilds the trace, so its cost grows with the run's length: the second table
gives one read's time after S recorded steps.

    python benchmarks/live_logging.py            # full (a few minutes on 2 cores)
    python benchmarks/live_logging.py --quick    # smoke version (seconds)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from vanishing.integrations import LiveLogger, MemorySink, TensorBoardSink
from vanishing.nets import build_mlp
from vanishing.probe import watch

VARIANTS = {  # name → (probe schedule, sink maker or None)
    "probe, default schedule": (None, None),
    "+ LiveLogger (memory), default schedule": (None, lambda d: MemorySink()),
    "+ LiveLogger (TensorBoard), default schedule": (None, lambda d: TensorBoardSink(d)),
    "probe, every step": (1, None),
    "+ LiveLogger (memory), every step": (1, lambda d: MemorySink()),
}


def one_run(args, schedule, sink_maker, logdir: str) -> float:
    net = build_mlp(args.width, 10, depth=args.depth, width=args.width, activation="tanh", seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch, args.width, generator=g), torch.randint(0, 10, (args.batch,), generator=g))
               for _ in range(8)]
    probe = watch(net, opt, every=schedule)
    live = LiveLogger(probe, sink_maker(logdir), every=args.every) if sink_maker else None
    start = time.perf_counter()
    for k in range(args.steps):
        x, y = batches[k % len(batches)]
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    if live is not None:
        live.close()
    probe.trace  # noqa: B018 - the probe alone flushes too
    elapsed = time.perf_counter() - start
    probe.detach()
    return elapsed / args.steps


def trace_read_times(args) -> list[tuple[int, float]]:
    """Seconds for one ``probe.trace`` read (flush + rebuild) after S recorded steps, every step recorded."""
    net = build_mlp(args.width, 10, depth=args.depth, width=args.width, activation="tanh", seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    probe = watch(net, opt, every=1)
    x, y = torch.randn(args.batch, args.width), torch.randint(0, 10, (args.batch,))
    out = []
    for k in range(max(args.read_at) + 1):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if k + 1 in args.read_at:
            probe.trace  # noqa: B018 - flush what is pending first
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            t = time.perf_counter()
            probe.trace  # noqa: B018
            out.append((k + 2, time.perf_counter() - t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke version: small model, few steps")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=50, help="LiveLogger: steps between writes")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    args.read_at = [100, 1000, 4000]
    if args.quick:
        args.rounds, args.steps, args.depth, args.width, args.batch, args.read_at = 1, 30, 4, 16, 8, [10, 40]

    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i in range(len(names)):
                name = names[(i + r) % len(names)]
                schedule, sink = VARIANTS[name]
                times[name].append(one_run(args, schedule, sink, f"{tmp}/{r}-{i}"))
    print(f"MLP depth {args.depth}, width {args.width}, batch {args.batch}, {args.steps} steps per run, "
          f"{args.rounds} rounds, LiveLogger every={args.every}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'variant':48s} {'ms/step':>8s} {'× probe alone':>14s}")
    for name in names:
        base = "probe, every step" if "every step" in name else "probe, default schedule"
        ratio = statistics.median(a / b for a, b in zip(times[name], times[base]))
        print(f"{name:48s} {1e3 * statistics.median(times[name]):8.3f} {ratio:14.3f}")
    print(f"\n{'recorded steps S':>16s} {'one probe.trace read (ms)':>26s}")
    for s, t in trace_read_times(args):
        print(f"{s:16d} {1e3 * t:26.1f}")


if __name__ == "__main__":
    main()

"""Probe overhead: time per training step relative to bare training (a script, not a test).

Each round builds one model from the same seed and times every variant on it: after
``--warmup`` untimed steps per variant (layer discovery, the first log-spaced records), each
variant runs ``--steps`` timed steps in segments of ``--segment`` steps, the segments of all
variants interleaved in rotating order (the variant's probe attached for its segments only, its
schedule running on across them; the baselines' per-step work added for theirs). A variant's
time in a round is the median of its segments; the ratio is the median over rounds of (variant
time / bare time in the same round). Interleaving short segments on one model keeps the ratios
free of the machine's drift and of the placement of separately built models.

    python benchmarks/probe_overhead.py            # full (a few minutes on 2 cores)
    python benchmarks/probe_overhead.py --quick    # smoke version (~1 minute)

Targets: norms every step ≤ 1.02× the floor row (one ``_foreach_norm`` of gradients and weights
read to the host, the least any per-step norm recording can do), full set on the default
schedule ≤ 1.05× bare, full set every step ≤ 1.30× bare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vanishing.nets import build_mlp, build_rnn
from vanishing.probe import NORMS, watch

FLOOR = "floor: read grads + weights once"
TARGETS = {"full, default schedule": 1.05, "full every step": 1.30}  # × bare
FLOOR_TARGETS = {"norms every step": 1.02}  # × the floor row


def mlp() -> tuple[nn.Module, Callable[[torch.Generator], tuple]]:
    """Reference model: 20-layer sigmoid MLP, width 256, batch 128."""
    net = build_mlp(256, 10, depth=20, width=256, activation="sigmoid", init="xavier_normal")
    return net, lambda g: (torch.randn(128, 256, generator=g), torch.randint(0, 10, (128,), generator=g))


def cnn() -> tuple[nn.Module, Callable[[torch.Generator], tuple]]:
    """Small CNN on 28×28 single-channel images, batch 64."""
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))
    return net, lambda g: (torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g))


def lstm() -> tuple[nn.Module, Callable[[torch.Generator], tuple]]:
    """LSTM unrolled from nn.LSTMCell (hidden 64) over 50 time steps, batch 64: the probe adds the
    time-axis recorder (‖∂L/∂h_t‖, ‖∂L/∂c_t‖ per step) on recorded steps. Not in the default ``--models``."""
    net = build_rnn("lstm", 2, 10, hidden=64, seed=0)
    return net, lambda g: (torch.randn(64, 50, 2, generator=g), torch.randint(0, 10, (64,), generator=g))


def lightning_norms(net: nn.Module) -> dict[str, float]:
    """Lightning-style ``grad_norm``: one ``.norm().item()`` per parameter."""
    return {n: p.grad.norm().item() for n, p in net.named_parameters() if p.grad is not None}


def read_floor(net: nn.Module) -> list[float]:
    """The floor of "norms every step": every gradient and every parameter read once, by one
    ``_foreach_norm``, to host floats; nothing stored, no float64 fallback, no hooks."""
    params = [p for p in net.parameters() if p.grad is not None]
    return torch.stack(torch._foreach_norm([p.grad for p in params] + params)).tolist()


def wandb_histograms(net: nn.Module) -> list:
    """wandb.watch-style: a 64-bin histogram of every gradient, copied to the host."""
    return [torch.histc(p.grad, bins=64).cpu().numpy() for p in net.parameters() if p.grad is not None]


class Subject:
    """One model, its optimizer and a fixed set of batches, shared by every variant of a round.

    Timing the variants on the *same* model instance keeps each round's ratios free of the placement
    noise of separately built models (their tensors land elsewhere; on this machine that alone moved
    a whole run of the CNN by ±10 %).
    """

    def __init__(self, make) -> None:
        torch.manual_seed(0)
        self.make = make
        self.net, batch = make()
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(0)
        self.data = [batch(g) for _ in range(8)]


class Variant:
    """A variant's per-step work on a subject; its probe lives for the whole round (its schedule
    runs on across segments), attached only while the variant is being timed."""

    def __init__(self, name: str, subject: Subject, warmup: int):
        self.name, self.net, self.opt, self.data = name, subject.net, subject.opt, subject.data
        self.probe, self.extra, self.cockpit_step, self.i = None, None, None, 0
        if name == "norms every step":
            self.probe = watch(self.net, self.opt, every=1, quantities=list(NORMS))
        elif name == "full, default schedule":
            self.probe = watch(self.net, self.opt)
        elif name == "full every step":
            self.probe = watch(self.net, self.opt, every=1)
        elif name == "lightning .norm().item() loop":
            self.extra = lightning_norms
        elif name == FLOOR:
            self.extra = read_floor
        elif name == "wandb-style histograms":
            self.extra = wandb_histograms
        elif name == "cockpit economy":  # BackPACK extends the modules it is given: a model of its own
            torch.manual_seed(0)
            self.net = subject.make()[0]
            self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01)
            self.cockpit_step = _cockpit(self.net, self.opt)
        self.steps(warmup)  # layer discovery, the first log-spaced records: untimed
        if self.probe is not None:
            self.probe.detach()

    def steps(self, n: int) -> None:
        for _ in range(n):
            x, y = self.data[self.i % len(self.data)]
            self.i += 1
            self.opt.zero_grad()
            if self.cockpit_step is not None:
                self.cockpit_step(self.i, x, y)
                continue
            F.cross_entropy(self.net(x), y).backward()
            if self.extra is not None:
                self.extra(self.net)
            self.opt.step()

    def timed(self, n: int, clock: Callable[[], float]) -> float:
        """Seconds per step over ``n`` steps."""
        if self.probe is not None:
            self.probe.attach()
        t0 = clock()
        self.steps(n)
        elapsed = clock() - t0
        if self.probe is not None:
            self.probe.detach()
        return elapsed / n


def one_round(make, variants: list[str], steps: int, warmup: int, segment: int, first: int,
              clock: Callable[[], float]) -> dict[str, float]:
    """Seconds per step of each variant in one round: ``steps`` steps each, in segments of
    ``segment`` steps interleaved across the variants in rotating order; median per variant."""
    subject = Subject(make)
    vs = {v: Variant(v, subject, warmup) for v in variants}
    per: dict[str, list[float]] = {v: [] for v in variants}
    for k in range(max(1, steps // segment)):
        r = (first + k) % len(variants)
        for v in variants[r:] + variants[:r]:
            per[v].append(vs[v].timed(segment, clock))
    return {v: statistics.median(t) for v, t in per.items()}


def _cockpit(net: nn.Module, opt: torch.optim.Optimizer):
    from backpack import extend
    from cockpit import Cockpit
    from cockpit.utils.configuration import configuration

    net = extend(net)
    lossfunc = extend(nn.CrossEntropyLoss())
    loss_each = nn.CrossEntropyLoss(reduction="none")
    ck = Cockpit(net.parameters(), quantities=configuration("economy"))

    def step(i: int, x, y) -> None:
        out = net(x)
        loss = lossfunc(out, y)
        with ck(i, info={"batch_size": x.shape[0], "individual_losses": loss_each(out, y), "loss": loss,
                         "optimizer": opt}):
            loss.backward(create_graph=ck.create_graph(i))
        opt.step()

    return step


def cockpit_available() -> bool:
    try:
        import cockpit  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--segment", type=int, default=10, help="steps per interleaved segment")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved repeats")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps timings stable)")
    ap.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn, lstm")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    args = ap.parse_args()
    steps = args.steps or (30 if args.quick else 100)
    rounds = args.rounds or (3 if args.quick else 7)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    variants = ["bare", "norms every step", "full, default schedule", "full every step", FLOOR,
                "lightning .norm().item() loop", "wandb-style histograms"]
    has_cockpit = cockpit_available()
    if has_cockpit:
        variants.append("cockpit economy")
    models = {"mlp": ("20-layer sigmoid MLP, width 256, batch 128", mlp), "cnn": ("small CNN, batch 64", cnn),
              "lstm": ("unrolled LSTM, hidden 64, 50 steps, batch 64", lstm)}
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock, {steps} timed steps per variant "
          f"and round in segments of {args.segment} after {args.warmup} warm-up, {rounds} rounds, medians")
    for key in args.models.split(","):
        title, make = models[key]
        times: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(rounds):
            for v, t in one_round(make, variants, steps, args.warmup, args.segment, r, clock).items():
                times[v].append(t)
        bare = statistics.median(times["bare"])
        print(f"\n{title}: bare {bare * 1e3:.2f} ms/step")
        print(f"| {'variant':<32} | ms/step | × bare | × floor | target |")
        print(f"|{'-' * 34}|---------|--------|---------|--------|")
        for v in variants:
            med = statistics.median(times[v])
            # the median of per-round ratios is robust to the machine's drift between rounds
            ratio = statistics.median(t / b for t, b in zip(times[v], times["bare"]))
            vs_floor = statistics.median(t / f for t, f in zip(times[v], times[FLOOR]))
            mark = ""
            if v in TARGETS:
                mark = f"≤ {TARGETS[v]:.2f} × bare " + ("ok" if ratio <= TARGETS[v] else "MISSED")
            elif v in FLOOR_TARGETS:
                mark = f"≤ {FLOOR_TARGETS[v]:.2f} × floor " + ("ok" if vs_floor <= FLOOR_TARGETS[v] else "MISSED")
            print(f"| {v:<32} | {med * 1e3:7.2f} | {ratio:6.3f} | {vs_floor:7.3f} | {mark} |")
        if not has_cockpit:
            print("cockpit economy: skipped: cockpit not installed")


if __name__ == "__main__":
    main()

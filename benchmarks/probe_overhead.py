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
    python benchmarks/probe_overhead.py --peers    # also W&B-style histograms and Cockpit (if installed; hours)
    python benchmarks/probe_overhead.py --quick    # smoke run (seconds): MLP, 4 steps, one round

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


class Tool:
    """What a variant adds to the bare loop: ``attach``/``detach`` around its timed segments,
    ``after_backward(net, loss)`` between backward and the optimizer step, or a whole ``step(i, x, y)``
    of its own (then on its own ``net``/``opt``)."""

    def __init__(self, attach: Callable[[], object] | None = None, detach: Callable[[], object] | None = None,
                 after_backward: Callable[[nn.Module, torch.Tensor], object] | None = None,
                 step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
                 net: nn.Module | None = None, opt: torch.optim.Optimizer | None = None):
        self.attach, self.detach = attach or (lambda: None), detach or (lambda: None)
        self.after_backward, self.step, self.net, self.opt = after_backward, step, net, opt


def probe_tool(**kwargs) -> Callable[[Subject], Tool]:
    """A variant that watches the subject with ``watch(net, opt, **kwargs)``."""
    def make(subject: Subject) -> Tool:
        probe = watch(subject.net, subject.opt, **kwargs)
        return Tool(probe.attach, probe.detach)
    return make


def cockpit_tool(subject: Subject) -> Tool:
    """Cockpit's economy configuration; BackPACK extends the modules it is given: a model of its own."""
    torch.manual_seed(0)
    net = subject.make()[0]
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    return Tool(step=_cockpit(net, opt), net=net, opt=opt)


TOOLS: dict[str, Callable[[Subject], Tool]] = {
    "bare": lambda s: Tool(),
    "norms every step": probe_tool(every=1, quantities=list(NORMS)),
    "full, default schedule": probe_tool(),
    "full every step": probe_tool(every=1),
    FLOOR: lambda s: Tool(after_backward=lambda net, loss: read_floor(net)),
    "lightning .norm().item() loop": lambda s: Tool(after_backward=lambda net, loss: lightning_norms(net)),
}
PEERS: dict[str, Callable[[Subject], Tool]] = {  # opt-in (--peers): slow, and Cockpit takes hours
    "wandb-style histograms": lambda s: Tool(after_backward=lambda net, loss: wandb_histograms(net)),
    "cockpit economy": cockpit_tool,
}


class Variant:
    """A tool's per-step work on a subject; the tool lives for the whole round (a probe's schedule
    runs on across segments) and is attached only while the variant is being timed."""

    def __init__(self, name: str, subject: Subject, warmup: int, make_tool: Callable[[Subject], Tool]):
        self.name, self.data, self.i = name, subject.data, 0
        self.tool = make_tool(subject)
        self.net, self.opt = self.tool.net or subject.net, self.tool.opt or subject.opt
        self.tool.attach()
        self.steps(warmup)  # layer discovery, the first log-spaced records: untimed
        self.tool.detach()

    def steps(self, n: int) -> None:
        for _ in range(n):
            x, y = self.data[self.i % len(self.data)]
            self.i += 1
            self.opt.zero_grad()
            if self.tool.step is not None:
                self.tool.step(self.i, x, y)
                continue
            loss = F.cross_entropy(self.net(x), y)
            loss.backward()
            if self.tool.after_backward is not None:
                self.tool.after_backward(self.net, loss)
            self.opt.step()

    def timed(self, n: int, clock: Callable[[], float]) -> float:
        """Seconds per step over ``n`` steps."""
        self.tool.attach()
        t0 = clock()
        self.steps(n)
        elapsed = clock() - t0
        self.tool.detach()
        return elapsed / n


def one_round(make, tools: dict[str, Callable[[Subject], Tool]], steps: int, warmup: int, segment: int,
              first: int, clock: Callable[[], float]) -> dict[str, float]:
    """Seconds per step of each variant in one round: ``steps`` steps each, in segments of
    ``segment`` steps interleaved across the variants in rotating order; median per variant."""
    subject = Subject(make)
    variants = list(tools)
    vs = {v: Variant(v, subject, warmup, tools[v]) for v in variants}
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


def measure(make, tools: dict[str, Callable[[Subject], Tool]], steps: int, warmup: int, segment: int, rounds: int,
            clock: Callable[[], float]) -> dict[str, list[float]]:
    """Seconds per step of each variant, one entry per round (the rounds rotate who goes first)."""
    times: dict[str, list[float]] = {v: [] for v in tools}
    for r in range(rounds):
        for v, t in one_round(make, tools, steps, warmup, segment, r, clock).items():
            times[v].append(t)
    return times


def ratio(times: dict[str, list[float]], variant: str, base: str = "bare") -> float:
    """The median over rounds of (variant time / ``base`` time in the same round): robust to the
    machine's drift between rounds."""
    return statistics.median(t / b for t, b in zip(times[variant], times[base]))


def timing_args(ap: argparse.ArgumentParser, clock: str = "cpu") -> None:
    """The options every interleaved benchmark shares."""
    ap.add_argument("--quick", action="store_true", help="smoke run: a few steps, one round, MLP only")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per variant and round")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps per variant and round")
    ap.add_argument("--segment", type=int, default=10, help="steps per interleaved segment")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved repeats")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps timings stable)")
    ap.add_argument("--models", default=None, help="comma-separated: mlp, cnn, lstm (default mlp,cnn; --quick: mlp)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default=clock,
                    help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")


def timing_setup(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Callable[[], float]:
    """Resolve the --quick defaults in place; set the threads; the clock. Bad values: a usage error (exit 2)."""
    q = args.quick
    args.steps = args.steps or (4 if q else 100)
    args.warmup = args.warmup if args.warmup is not None else (2 if q else 10)
    args.segment = min(args.segment, args.steps)
    args.rounds = args.rounds or (1 if q else 7)
    args.models = args.models or ("mlp" if q else "mlp,cnn")
    for key in args.models.split(","):
        if key not in MODELS:
            ap.error(f"--models: unknown model {key!r}; one of: {', '.join(MODELS)}")
    for name in ("steps", "rounds", "segment", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: {getattr(args, name)}; a positive integer")
    torch.set_num_threads(args.threads)
    return time.process_time if args.clock == "cpu" else time.perf_counter


MODELS = {"mlp": ("20-layer sigmoid MLP, width 256, batch 128", mlp), "cnn": ("small CNN, batch 64", cnn),
          "lstm": ("unrolled LSTM, hidden 64, 50 steps, batch 64", lstm)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    timing_args(ap)
    ap.add_argument("--peers", action="store_true",
                    help="also time W&B-style histograms and, if installed, Cockpit economy (slow)")
    args = ap.parse_args()
    clock = timing_setup(ap, args)
    tools = dict(TOOLS)
    skipped = []
    if args.peers:
        tools.update(PEERS)
        if not cockpit_available():
            del tools["cockpit economy"]
            skipped.append("cockpit economy: skipped: cockpit not installed")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock, {args.steps} timed steps per "
          f"variant and round in segments of {args.segment} after {args.warmup} warm-up, {args.rounds} rounds, medians")
    for key in args.models.split(","):
        title, make = MODELS[key]
        times = measure(make, tools, args.steps, args.warmup, args.segment, args.rounds, clock)
        bare = statistics.median(times["bare"])
        print(f"\n{title}: bare {bare * 1e3:.2f} ms/step")
        print(f"| {'variant':<32} | ms/step | × bare | × floor | target |")
        print(f"|{'-' * 34}|---------|--------|---------|--------|")
        for v in tools:
            med = statistics.median(times[v])
            r, vs_floor = ratio(times, v), ratio(times, v, FLOOR)
            mark = ""
            if v in TARGETS:
                mark = f"≤ {TARGETS[v]:.2f} × bare " + ("ok" if r <= TARGETS[v] else "MISSED")
            elif v in FLOOR_TARGETS:
                mark = f"≤ {FLOOR_TARGETS[v]:.2f} × floor " + ("ok" if vs_floor <= FLOOR_TARGETS[v] else "MISSED")
            print(f"| {v:<32} | {med * 1e3:7.2f} | {r:6.3f} | {vs_floor:7.3f} | {mark} |")
        for line in skipped:
            print(line)
        if not args.peers:
            print("peers (W&B-style histograms, Cockpit): not timed; --peers adds them")


if __name__ == "__main__":
    main()

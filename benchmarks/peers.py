"""Side by side with the tools people use: overhead per training step and what each tool reports.

One run, on the same machine: the bare loop, ``vanishing.watch`` on its default schedule and with
every quantity every step, Lightning's ``grad_norm`` every step, ``wandb.watch(model,
log="gradients", log_freq=1)`` in offline mode (its run in a temporary folder) and, with
``--cockpit`` when ``cockpit`` imports, Cockpit's economy configuration. Timing interleaves short
segments of every tool on one model, round after round (see benchmarks/probe_overhead.py, whose
machinery this script shares); a tool's ratio is the median over rounds of its time / bare time.

What each tool reports is measured, not stated: each tool watches a 20-layer sigmoid MLP for three
steps, then one more step in which one entry of the first layer's weight gradient is set to NaN;
the table says whether its output holds per-layer backpropagated signal norms ‖∂L/∂z‖, whether the
NaN shows, and what diagnosis it gives.

    python benchmarks/peers.py             # both models, 7 rounds (several minutes on 2 cores)
    python benchmarks/peers.py --quick     # smoke run (under a minute, mostly W&B start-up)
    python benchmarks/peers.py --cockpit   # adds Cockpit economy when cockpit is installed

The default clock is wall time: W&B hands its records to a separate process, whose work a
process-CPU clock would not count.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probe_overhead import (MODELS, Subject, Tool, cockpit_available, cockpit_tool, measure, mlp, probe_tool, ratio,
                            timing_args, timing_setup)

import vanishing
from vanishing.probe import watch

WATCH_DEFAULT = "vanishing.watch, default schedule"
WATCH_FULL = "vanishing.watch, all quantities every step"
LIGHTNING = "Lightning grad_norm every step"
WANDB = "wandb.watch gradients, log_freq=1"
COCKPIT = "Cockpit economy"


# --- the peers -----------------------------------------------------------------------------------
def lightning_norms(net: nn.Module) -> dict[str, float]:
    """``lightning.pytorch.utilities.grad_norm`` as a LightningModule logs it: the norms as floats."""
    from lightning.pytorch.utilities import grad_norm

    return {k: float(v) for k, v in grad_norm(net, norm_type=2).items()}


class WandbRun:
    """One offline W&B run for the whole benchmark; records what ``wandb.watch`` logs."""

    def __init__(self, folder: str):
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project="vanishing-peers", dir=folder, mode="offline")
        self.logged: list[dict[str, Any]] = []
        self.capture = False
        log = self.run._log  # wandb.watch's hooks log histograms through it (commit=False)

        def recording(data, *args, **kwargs):
            if self.capture:
                self.logged.append(dict(data))
            return log(data, *args, **kwargs)

        self.run._log = recording

    def tool(self, net: nn.Module) -> Tool:
        """``wandb.watch`` attached for the timed segments; a ``run.log`` per step sends its histograms."""
        return Tool(attach=lambda: self.wandb.watch(net, log="gradients", log_freq=1, idx=0),
                    detach=lambda: self.wandb.unwatch(net),
                    after_backward=lambda _, loss: self.run.log({"loss": loss.item()}))

    def finish(self) -> None:
        self.run.finish()


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def peer_tools(wb: WandbRun | None, cockpit: bool) -> dict[str, Callable[[Subject], Tool]]:
    tools: dict[str, Callable[[Subject], Tool]] = {
        "bare": lambda s: Tool(),
        WATCH_DEFAULT: probe_tool(),
        WATCH_FULL: probe_tool(every=1),
    }
    if available("lightning"):
        tools[LIGHTNING] = lambda s: Tool(after_backward=lambda net, loss: lightning_norms(net))
    if wb is not None:
        tools[WANDB] = lambda s: wb.tool(s.net)
    if cockpit:
        tools[COCKPIT] = cockpit_tool
    return tools


# --- what each tool reports ----------------------------------------------------------------------
@dataclass
class Report:
    signal: str      # per-layer ‖∂L/∂z‖ in the output?
    nonfinite: str   # does a NaN gradient entry show?
    diagnosis: str


class ReportSubject:
    """The reports' model, its optimizer, three clean batches and one more; ``poison = True`` sets one
    entry of the first weight's gradient to NaN (a hook put on before any tool's, so every tool sees it)."""

    def __init__(self):
        torch.manual_seed(0)
        self.net, batch = mlp()
        g = torch.Generator().manual_seed(0)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01)
        self.clean, self.last = [batch(g) for _ in range(3)], [batch(g)]
        self.poison = False
        first = next(self.net.parameters())
        first.register_hook(lambda g: g.flatten().index_fill(0, torch.tensor([0]), math.nan).view_as(g)
                            if self.poison else g)

    def steps(self, after: Callable[[Any], None] | None = None, poison: bool = False) -> None:
        """The three clean steps, or (``poison``) the poisoned one; ``after(loss)`` after each backward."""
        self.poison = poison
        for x, y in (self.last if poison else self.clean):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.net(x), y)
            loss.backward()
            if after is not None:
                after(loss)
            self.opt.step()
        self.poison = False


def report_vanishing() -> Report:
    s = ReportSubject()
    probe = watch(s.net, s.opt, every=1)
    s.steps()
    trace = probe.trace
    sig = trace["signal_grad_norm"][0]
    verdict = vanishing.diagnose(trace).verdict
    s.steps(poison=True)
    probe.detach()
    counts = probe.trace["nonfinite_grads"][-1]
    bad = [f"{int(c)} in layer '{n}'" for n, c in zip(probe.trace.layer_names, counts) if c > 0]
    return Report(f"yes: {int(np.isfinite(sig).sum())} of {len(sig)} layers",
                  "yes: nonfinite_grads counts " + ", ".join(bad) if bad else "no", verdict)


def _names_parameters(keys: list[str], net: nn.Module, prefix: str) -> bool:
    params = {n for n, _ in net.named_parameters()}
    return all(k[len(prefix):] in params for k in keys if k.startswith(prefix))


def report_lightning() -> Report:
    s = ReportSubject()
    out: list[dict[str, float]] = []
    s.steps(lambda loss: out.append(lightning_norms(s.net)))
    per_param = _names_parameters(list(out[-1]), s.net, "grad_2.0_norm/")
    s.steps(lambda loss: out.append(lightning_norms(s.net)), poison=True)
    bad = [k for k, v in out[-1].items() if not math.isfinite(v)]
    return Report("no: one norm per parameter gradient" if per_param else "unclear: keys " + ", ".join(out[-1])[:60],
                  f"yes: {len(bad)} norms are nan ({bad[0]}, ...)" if bad else "no", "none")


def report_wandb(wb: WandbRun) -> Report:
    s = ReportSubject()
    wb.wandb.watch(s.net, log="gradients", log_freq=1, idx=0)
    wb.capture = True
    s.steps(lambda loss: wb.run.log({"loss": loss.item()}))
    keys = sorted({k for d in wb.logged for k in d if k != "loss"})
    per_param = _names_parameters(keys, s.net, "gradients/")
    wb.logged.clear()
    s.steps(lambda loss: wb.run.log({"loss": loss.item()}), poison=True)
    wb.capture = False
    wb.wandb.unwatch(s.net)
    first_name, first = next(s.net.named_parameters())
    hist = next((d[k] for d in wb.logged for k in d if k == f"gradients/{first_name}"), None)
    if hist is None:
        shown = "no: nothing logged for that gradient"
    else:
        values = [*hist.histogram, *hist.bins]
        held = int(round(sum(hist.histogram)))
        shown = ("yes: a non-finite value in the histogram" if not all(map(math.isfinite, values)) else
                 f"no: the NaN is dropped (histogram of {held} of {first.numel()} entries)" if held < first.numel()
                 else "no")
    return Report("no: one histogram per parameter gradient" if per_param else "unclear: keys " + ", ".join(keys)[:60],
                  shown, "none")


# --- the run -------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    timing_args(ap, clock="wall")
    ap.add_argument("--cockpit", action="store_true", help="add Cockpit economy (if cockpit is installed; slow)")
    args = ap.parse_args()
    clock = timing_setup(ap, args)
    notes = []
    cockpit = args.cockpit and cockpit_available()
    if args.cockpit and not cockpit:
        notes.append(f"{COCKPIT}: skipped: cockpit not installed")
    elif not args.cockpit:
        notes.append(f"{COCKPIT}: not run (opt-in: --cockpit)")
    if not available("lightning"):
        notes.append(f"{LIGHTNING}: skipped: lightning not installed")
    wb = None
    with tempfile.TemporaryDirectory(prefix="vanishing-peers-") as folder:
        if available("wandb"):
            os.environ["WANDB_MODE"] = "offline"
            os.environ["WANDB_DIR"] = folder
            wb = WandbRun(folder)
        else:
            notes.append(f"{WANDB}: skipped: wandb not installed")
        try:
            tools = peer_tools(wb, cockpit)
            print(f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock, {args.steps} timed steps "
                  f"per tool and round in segments of {args.segment} after {args.warmup} warm-up, {args.rounds} "
                  f"rounds, medians")
            for key in args.models.split(","):
                title, make = MODELS[key]
                times = measure(make, tools, args.steps, args.warmup, args.segment, args.rounds, clock)
                print(f"\n{title}: bare {statistics.median(times['bare']) * 1e3:.2f} ms/step")
                print(f"| {'tool':<44} | ms/step | × bare |")
                print(f"|{'-' * 46}|---------|--------|")
                for v in tools:
                    print(f"| {v:<44} | {statistics.median(times[v]) * 1e3:7.2f} | {ratio(times, v):6.3f} |")
            reports = {WATCH_FULL: report_vanishing()}
            if LIGHTNING in tools:
                reports[LIGHTNING] = report_lightning()
            if wb is not None:
                reports[WANDB] = report_wandb(wb)
            print("\nwhat each tool reports (20-layer sigmoid MLP: 3 steps, then 1 step with a NaN in one gradient entry)")
            print(f"| {'tool':<44} | per-layer ‖∂L/∂z‖ | NaN/Inf visible | diagnosis |")
            print(f"|{'-' * 46}|---|---|---|")
            for v, r in reports.items():
                print(f"| {v:<44} | {r.signal} | {r.nonfinite} | {r.diagnosis} |")
            if cockpit:
                print(f"| {COCKPIT:<44} | not measured | not measured | not measured |")
            for line in notes:
                print(line)
        finally:
            if wb is not None:
                wb.finish()
    sys.stdout.flush()


if __name__ == "__main__":
    main()

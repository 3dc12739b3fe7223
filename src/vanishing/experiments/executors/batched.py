"""``batched``: many same-shape runs trained as one stacked computation.

Configurations that share the architecture and the training schedule (data set, depth, width,
norm, residual, optimizer, batch size, steps, record interval, device) form a *group*; members
may differ in activation, weight and bias init, learning rate and seed. Members sharing an
activation and a learning rate form a *run* of the group, whose parameters are stacked along a
leading member axis (:class:`~._stack.StackedNet`), so each layer of a run is one batched product
instead of one small product per member.

Each member is an exact replica of :func:`vanishing.run` with its config, by construction:

- its network is built by the same code with the same seed (:func:`~vanishing.experiments.run.setup`)
  and copied into the stack; the stacked forward walks that very ``nn.Sequential``;
- its mini-batches come from its own generator seeded like the single run's;
- the loss is :func:`vanishing.train.loop.loss` with a member axis: the stacked loss is the *sum*
  of the members' own mean losses, so each member's gradient is its single-run gradient;
- the optimizer is :func:`vanishing.train.loop.make_optimizer` over the stacked tensors, one param
  group per learning rate (updates are elementwise: each member's slice is updated as alone);
- on the recorded steps every registered quantity is computed by the very function the probe
  calls (:mod:`vanishing.probe.quantities`), with the member axis, and loss/accuracy are
  evaluated before the update, as in the loop.

Results agree with single runs to float32 rounding (the matrix products sum in a different
order); ``tests/experiments/test_ensemble.py`` compares them. A member whose loss becomes
non-finite stops where a single run would stop and is frozen from then on. Batch normalisation
is not stacked (running statistics per member): such groups run one config at a time.

Why stacked parameters and an explicit forward rather than ``torch.func.stack_module_state`` +
``vmap(functional_call)`` over the same module: measured on the reference sweep's shapes (one run
of 12 members, depth 10, width 64, batch 64, tanh, one thread; ``python
benchmarks/sweep_throughput.py --stacking``), a training step (forward, loss, backward) took
4.9-5.0 ms stacked against 6.5-7.4 ms through ``vmap`` (1.30-1.48× slower, 5 rounds, 2-core shared
machine); and ``vmap`` cannot
keep ∂L/∂z of intermediate outputs (``retain_grad`` and tensor hooks do not work inside it), which
the signal quantities read.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ...config import RunConfig
from ...probe import probe_meta, resolve_quantities
from ...probe.quantities import QUANTITIES, GradReading, Group, Quantity, UpdateReading, act_derivative, fill_norms
from ...probe.recorder import build_trace, to_host
from ...probe.schedules import every_and_last
from ...train.loop import (EVAL_TRAIN_SAMPLES, StepDeltas, TrainOutcome, _batches, accuracy, loss, make_optimizer,
                           resolve_device)
from . import EXECUTORS, ExecutorOptions, Finished, error_line
from ._pool import _pooled
from ._stack import Kept, StackedNet
from .sequential import sequential

if TYPE_CHECKING:
    from ..run import RunResult

__all__ = ["batched", "GROUP_FIELDS", "group_key", "groups", "split_groups", "run_group", "stackable", "cost"]

# fields that must agree for configs to share one stacked computation
GROUP_FIELDS = ("dataset", "depth", "width", "norm", "residual", "optimizer", "batch_size", "steps",
                "record_every", "device")

# evaluation rows go through in chunks of at most this many floats per layer output of a run (16 MB):
# a user's MNIST test set (10 000 rows) × 72 members × width 256 would take 740 MB at once
_EVAL_FLOATS = 2**22


def group_key(config: RunConfig) -> tuple:
    """Configs with equal keys can be trained together."""
    return tuple(getattr(config, f) for f in GROUP_FIELDS)


def stackable(config: RunConfig) -> bool:
    """Whether ``config`` can be stacked (batch norm, recurrent models and gradient clipping cannot:
    they run on their own, through :func:`~vanishing.experiments.run.run`)."""
    return config.norm != "batch" and not config.recurrent and config.clip is None


def groups(configs: Sequence[RunConfig], max_members: int = 128) -> list[list[int]]:
    """Partition ``configs`` (by index) into groups that train together, each at most ``max_members``.

    Order is kept within a group; groups come in order of their first member. Unstackable
    configs form groups of one.
    """
    if max_members < 1:
        raise ValueError("max_members must be >= 1")
    by_key: dict[tuple, list[int]] = {}
    out: list[list[int]] = []
    for i, c in enumerate(configs):
        if not stackable(c):
            out.append([i])
            continue
        members = by_key.get(group_key(c))
        if members is None or len(members) >= max_members:
            members = by_key[group_key(c)] = []
            out.append(members)
        members.append(i)
    return out


def cost(config: RunConfig) -> float:
    """Relative work of one run (weight-matrix entries × steps; a recurrent net's × time steps), for
    balancing groups across workers."""
    if config.recurrent:
        from ...data.sequence import task_length
        from ...nets.rnn import GATES

        return (float(config.steps) * config.rnn_layers * GATES[config.model] * config.hidden * config.hidden
                * task_length(config.task))
    return float(config.steps) * config.depth * config.width * config.width


def split_groups(configs: Sequence[RunConfig], parts: int, max_members: int = 128) -> list[list[int]]:
    """:func:`groups`, cut so that ``parts`` workers taking them largest first finish together.

    Every group costing more than half a worker's share (the total / ``parts``) gives away
    pieces of exactly half a share, and the rest stays one group. A pool handing the pieces out
    largest first (the order returned) to whichever worker is free gives every worker about one
    share, and the half-share grain lets the last pieces even out what the cost model misses.
    Each piece is still a stacked group (a piece of 30 members trains as fast per member as one
    of 70), so every worker keeps the batched speed-up. The smallest pieces are then halved until
    there is one piece per worker of at most 1/8 of a worker's total: a fine tail, handed out
    last, with which the workers end together.
    """
    out = groups(configs, max_members)
    if parts <= 1 or not out:
        return out
    total = sum(cost(c) for c in configs)
    share = total / parts / 2
    cut: list[list[int]] = []
    for g in out:
        per = cost(configs[g[0]])  # members of a group share depth, width and steps: equal cost
        cap = max(1, int(share / per + 1e-9)) if per > 0 else len(g)
        while len(g) > cap and (len(g) - cap) * per > 0:
            cut.append(g[:cap])
            g = g[cap:]
        cut.append(g)
    weight = lambda g: sum(cost(configs[i]) for i in g)  # noqa: E731

    def halve(g: list[int]) -> None:
        cut.remove(g)
        half = (len(g) + 1) // 2
        cut.extend([g[:half], g[half:]])

    while len(cut) < parts:  # fewer groups than workers: halve the costliest
        big = max(cut, key=weight)
        if len(big) < 2:
            break
        halve(big)
    # a fine tail: at least one piece per worker of at most 1/8 of a worker's total, handed out last,
    # so that the workers end together even when one started late (a pool worker imports torch
    # for a second or two while the driver's slot already trains) or the cost model is off
    tail = total / (8 * parts)
    while sum(weight(g) <= tail for g in cut) < parts:
        small = [g for g in cut if len(g) >= 2]
        if not small:
            break
        halve(min(small, key=weight))
    return sorted(cut, key=weight, reverse=True)




@EXECUTORS.register("batched")
def batched(configs: Sequence[RunConfig], advance: Callable[[int], None],
            options: ExecutorOptions | None = None) -> Iterator[Finished]:
    """Groups of same-architecture configs, each trained as one stacked computation.

    With ``workers`` > 1 (default: the CPU count) the groups, cut into pieces of at most half a
    worker's share (:func:`split_groups`), train on ``workers`` slots,
    one thread each (this process and a pool of ``workers - 1`` processes, see :func:`_pooled`),
    handed out largest first: on a CPU, one thread per stacked group beats several threads
    fighting over small matrix products. ``workers=1`` trains in this process. A group whose
    stacked training raises is run again one config at a time, so one bad config fails alone
    (and is recorded with its own error).
    """
    options = options or ExecutorOptions()
    workers = options.workers or os.cpu_count() or 1
    if workers > 1 and len(configs) > 1:
        parts = split_groups(configs, workers)
        yield from _pooled(configs, parts, workers, _group_in_worker, advance, options)
        return
    for members in groups(configs):
        if options.take is not None:
            mine = set(options.take(members))
            members = [i for i in members if i in mine]
            if not members:
                continue
        group = [configs[i] for i in members]
        yield from _group(members, group, advance, options.notes)


def _group(members: list[int], group: list[RunConfig], advance: Callable[[int], None],
           notes: list[str]) -> Iterator[Finished]:
    """One stacked group in this process; single runs if the stacked training raises."""
    advanced = [0]

    def on_step(n: int) -> None:
        advanced[0] += n
        advance(n)

    try:
        results = run_group(group, on_step=on_step)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - fall back to single runs, which record per-run errors
        if len(group) > 1:
            notes.append(f"stacked training of {len(group)} configs failed ({error_line(exc)}); "
                         "ran them one by one")
        advance(-advanced[0])
        for j, out in sequential(group, advance):
            yield members[j], out
        return
    if any(r.outcome.interrupted for r in results):
        raise KeyboardInterrupt
    done = list(zip(members, results))
    for n, (i, result) in enumerate(done):
        try:
            yield i, result
        except KeyboardInterrupt:  # every member's result is complete: hand the rest back before stopping
            yield from done[n + 1:]
            raise
    advance(sum(c.steps for c in group) - advanced[0])  # members that diverged early


def _group_in_worker(group: list[RunConfig], advance: Callable[[int], None], notes: list[str]) -> Iterator[Finished]:
    """A stacked group in a worker process, a Ray task or the driver's own slot: its runs by position."""
    yield from _group(list(range(len(group))), group, advance, notes)


def run_group(configs: Sequence[RunConfig], on_step: Callable[[int], None] | None = None) -> list["RunResult"]:
    """Train ``configs`` (one group, see :func:`groups`) as one stacked computation.

    Returns one :class:`~vanishing.experiments.run.RunResult` per config, in order, each equal (to
    float32 rounding) to ``vanishing.run(config)``. ``on_step(n)`` is called after every stacked step
    with ``n`` = the number of members that took it. KeyboardInterrupt propagates: a group is all or
    nothing.
    """
    from ..run import run

    configs = list(configs)
    if not configs:
        return []
    if len({group_key(c) for c in configs}) > 1:
        raise ValueError("run_group needs configs that share " + ", ".join(GROUP_FIELDS))
    if not stackable(configs[0]):
        results = []
        for c in configs:
            r = run(c, on_step=None if on_step is None else StepDeltas(on_step))
            if r.outcome.interrupted:
                raise KeyboardInterrupt
            results.append(r)
        return results
    # members sharing an activation and a learning rate side by side: one run of the stack each
    order = sorted(range(len(configs)), key=lambda i: (configs[i].activation, configs[i].lr))
    trained = _Members([configs[i] for i in order]).train(on_step)
    results: list["RunResult"] = [None] * len(configs)  # type: ignore[list-item]
    for pos, i in enumerate(order):
        results[i] = trained[pos]
    return results


class _Run:
    """Members ``s..e-1`` of a group (one activation, one learning rate) as one :class:`StackedNet`."""

    def __init__(self, s: int, e: int, net: StackedNet, lr: float):
        self.s, self.e, self.net, self.lr = s, e, net, lr
        self.layer = tuple(range(len(net.weights)))

    def grad_reading(self) -> GradReading:
        net, lay = self.net, self.layer
        return GradReading(Group(net.weight_views(), lay, True),
                           Group([w.grad.transpose(1, 2) for w in net.weights], lay, True),
                           Group([b.grad for b in net.biases], lay, True), len(lay), True)

    @torch.no_grad()
    def grad_rows(self, qs: list[Quantity]) -> tuple[dict[str, Tensor], Group]:
        """(m, L) rows of the ``grad`` quantities ``qs``, and a copy of the weights before the update."""
        g = self.grad_reading()
        needs = {n for q in qs for n in q.needs} | {"weights"}
        fill_norms([getattr(g, n) for n in ("weight_grads", "bias_grads", "weights") if n in needs])
        before = Group([w.detach().clone() for w in g.weights.tensors], self.layer, True, g.weights.norms())
        return {q.name: q.compute(g) for q in qs}, before

    @torch.no_grad()
    def update_rows(self, qs: list[Quantity], before: Group) -> dict[str, Tensor]:
        delta = torch._foreach_sub(before.tensors, self.net.weight_views())  # W_before − W_after
        u = UpdateReading(before, Group(delta, self.layer, True), len(self.layer), True)
        return {q.name: q.compute(u) for q in qs}

    @torch.no_grad()
    def forward_rows(self, stages: dict[str, list[Quantity]], kept: Kept) -> dict[str, Tensor]:
        """(m, L) rows of the signal, input and activation quantities from one kept forward pass."""
        nan = torch.full((self.e - self.s,), math.nan, dtype=torch.float64, device=self.net.weights[0].device)

        def stack(vals: list[Tensor | None]) -> Tensor:
            return torch.stack([nan if v is None else v.to(torch.float64) for v in vals], 1)

        rows = {}
        for stage, ts in (("signal", kept.zs), ("input", kept.xs)):
            for q in stages[stage]:
                rows[q.name] = stack([None if t is None or t.grad is None else
                                      q.finish(q.compute(t.grad, True), True) for t in ts])
        ds = [None if a is None else act_derivative(*a) for a in kept.acts]
        for q in stages["activation"]:
            readings = [None if d is None else q.compute(d, a[0], True) for d, a in zip(ds, kept.acts)]
            rows[q.name] = stack([None if x is None else q.finish(x, True) for x in readings])
        return rows


class _Members:
    """The stacked state of one group: runs of members, data, optimizer, generators."""

    def __init__(self, configs: list[RunConfig]):
        from ..run import setup

        self.start = time.perf_counter()
        self.configs, c0 = configs, configs[0]
        self.M = len(configs)
        self.device = dev = resolve_device(c0.device)
        self.datas, models = [], []
        loaded: dict[tuple[str, int], object] = {}  # one load per (data set, seed)
        for c in configs:
            data, model, _ = setup(c, loaded.get((c.dataset, c.seed)), members=self.M)
            loaded[(c.dataset, c.seed)] = data
            self.datas.append(data)
            models.append(model)
        d0 = self.datas[0]
        self.task = d0.task
        self.shared_data = all(_same_data(d0, d) for d in self.datas[1:])
        pick = [d0] if self.shared_data else self.datas
        self.x_train = torch.stack([d.x_train for d in pick]).to(dev)
        self.y_train = torch.stack([d.y_train for d in pick]).to(dev)
        self.x_test = torch.stack([d.x_test for d in pick]).to(dev)
        self.y_test = torch.stack([d.y_test for d in pick]).to(dev)
        self.runs: list[_Run] = []
        s = 0
        for e in range(1, self.M + 1):
            if e == self.M or (configs[e].activation, configs[e].lr) != (configs[s].activation, configs[s].lr):
                self.runs.append(_Run(s, e, StackedNet(models[s:e], dev), configs[s].lr))
                s = e
        by_lr: dict[float, list[Tensor]] = {}
        for r in self.runs:
            by_lr.setdefault(r.lr, []).extend(r.net.parameters())
        self.opt = make_optimizer(c0.optimizer, [{"params": ps, "lr": lr} for lr, ps in by_lr.items()], c0.lr)
        self.schedule = every_and_last(c0.record_every, c0.steps)
        self.schedules = resolve_quantities(None, self.schedule)  # every registered quantity, as a run's probe
        self.stages = {st: [QUANTITIES.get(q) for q in self.schedules if QUANTITIES.get(q).stage == st]
                       for st in ("grad", "update", "signal", "input", "activation")}

    def members_of(self, r: _Run, t: Tensor) -> Tensor:
        """Run ``r``'s rows of a per-member tensor; a shared one (leading size 1) expanded."""
        return t.expand(r.e - r.s, *t.shape[1:]) if t.shape[0] == 1 else t[r.s:r.e]

    @torch.no_grad()
    def evaluate(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """(M,) mean loss and accuracy (None for regression) over ``x`` (1 or M, N, F), in row chunks."""
        n = x.shape[1]
        losses, accs = [], []
        for r in self.runs:
            width = max(w.shape[-1] for w in r.net.weights)
            rows = max(1, _EVAL_FLOATS // ((r.e - r.s) * width))
            tot_l = tot_a = 0
            for i in range(0, n, rows):
                out, _ = r.net.forward(self.members_of(r, x[:, i:i + rows]))
                yy = self.members_of(r, y[:, i:i + rows])
                k = out.shape[1]
                tot_l = tot_l + loss(out, yy, self.task, members=True).double() * k
                if self.task == "classification":
                    tot_a = tot_a + accuracy(out, yy).double() * k
            losses.append(tot_l / n)
            accs.append(tot_a / n)
        return torch.cat(losses), (torch.cat(accs) if self.task == "classification" else None)

    # --- training ----------------------------------------------------------------------
    def _where(self, i: int) -> tuple[_Run, int]:
        r = next(r for r in self.runs if r.s <= i < r.e)
        return r, i - r.s

    def train(self, on_step: Callable[[int], None] | None) -> list["RunResult"]:
        c0, M, dev = self.configs[0], self.M, self.device
        wanted = set(self.schedule.steps())
        gens = [_batches(self.x_train.shape[1], c0.batch_size, torch.Generator().manual_seed(c.seed))
                for c in self.configs]
        n_eval = min(self.x_train.shape[1], EVAL_TRAIN_SAMPLES)
        x_eval, y_eval = self.x_train[:, :n_eval], self.y_train[:, :n_eval]
        rows: dict[int, dict[str, Tensor]] = {}      # step → quantity → (M, L)
        scal: dict[int, dict[str, Tensor]] = {}      # step → scalar → (M,)
        alive = torch.ones(M, dtype=torch.bool, device=dev)  # not yet diverged
        diverged_step: list[int | None] = [None] * M
        diverged_loss: list[float] = [math.nan] * M  # the non-finite training loss a single run logs
        frozen: dict[int, list[Tensor]] = {}  # diverged member → its parameters at that step
        n_alive = M
        member = torch.arange(M, device=dev)
        for step in range(c0.steps):
            keep = step in wanted
            if keep:  # evaluated before this step's update: step 0 describes the network at init
                tr_loss, tr_acc = self.evaluate(x_eval, y_eval)
                _, te_acc = self.evaluate(self.x_test, self.y_test)
                nan = torch.full((M,), math.nan, dtype=torch.float64, device=dev)
                scal[step] = {"loss": tr_loss, "train_accuracy": nan if tr_acc is None else tr_acc,
                              "test_accuracy": nan if te_acc is None else te_acc}
            idx = torch.stack([next(g) for g in gens]).to(dev)  # (M, batch)
            if self.shared_data:
                xb, yb = self.x_train[0][idx], self.y_train[0][idx]
            else:
                xb, yb = self.x_train[member[:, None], idx], self.y_train[member[:, None], idx]
            self.opt.zero_grad(set_to_none=True)
            outs = [r.net.forward(xb[r.s:r.e], keep) for r in self.runs]
            losses = torch.cat([loss(out, yb[r.s:r.e], self.task, members=True)
                                for r, (out, _) in zip(self.runs, outs)])
            finite = torch.isfinite(losses.detach())
            newly = alive & ~finite
            if bool(newly.any()):
                bad = losses.detach().tolist()
                for i in newly.nonzero().flatten().tolist():
                    diverged_step[i], diverged_loss[i] = step, bad[i]
                    r, k = self._where(i)
                    frozen[i] = [p[k].detach().clone() for p in r.net.parameters()]
                alive = alive & finite
                n_alive = int(alive.sum())
                if n_alive == 0:
                    break
            # diverged members contribute nothing (their graph may be NaN; the others' gradients are unaffected)
            torch.where(alive, losses, torch.zeros_like(losses)).sum().backward()
            if keep:
                read = [r.grad_rows(self.stages["grad"]) for r in self.runs]
            self.opt.step()
            if keep:
                rows[step] = _cat([{**g, **r.update_rows(self.stages["update"], before),
                                    **r.forward_rows(self.stages, kept)}
                                   for r, (g, before), (_, kept) in zip(self.runs, read, outs)])
            if on_step is not None:
                on_step(n_alive)
        with torch.no_grad():  # frozen members end with the weights they had when they diverged
            for i, saved in frozen.items():
                r, k = self._where(i)
                for p, v in zip(r.net.parameters(), saved):
                    p[k].copy_(v)
        fin_loss, fin_tr = self.evaluate(x_eval, y_eval)
        _, fin_te = self.evaluate(self.x_test, self.y_test)
        return self.results(rows, scal, [fin_loss, fin_tr, fin_te], diverged_step, diverged_loss)

    def results(self, rows: dict[int, dict[str, Tensor]], scal: dict[int, dict[str, Tensor]],
                finals: list[Tensor | None], diverged_step: list[int | None],
                diverged_loss: list[float]) -> list["RunResult"]:
        """Each member's RunResult from the recorded (M, L) rows, (M,) scalars and final evaluation."""
        from ..run import make_result

        M = self.M
        duration = (time.perf_counter() - self.start) / M
        # one host transfer for every recorded row and scalar of every member
        items = [(k, q, t) for d in (rows, scal) for k, row in d.items() for q, t in row.items()]
        host = to_host([t for _, _, t in items] + [t for t in finals if t is not None])
        host_rows: dict[int, dict[str, np.ndarray]] = {}
        host_scal: dict[int, dict[str, np.ndarray]] = {}
        for (k, q, _), arr in zip(items, host):
            (host_rows if k in rows and q in rows[k] else host_scal).setdefault(k, {})[q] = arr
        rest = iter(host[len(items):])
        fin_loss, fin_tr, fin_te = [[None] * M if t is None else next(rest).tolist() for t in finals]
        meta = {"probe": probe_meta(self.schedules, [], False)}
        results = []
        for i, c in enumerate(self.configs):
            ds = diverged_step[i]
            steps_done = ds if ds is not None else c.steps
            if ds is None and not math.isfinite(fin_loss[i]):
                ds = c.steps
            outcome = TrainOutcome(steps_done=steps_done, diverged=ds is not None, diverged_step=ds,
                                   final_loss=fin_loss[i], final_train_accuracy=fin_tr[i],
                                   final_test_accuracy=fin_te[i])
            layers = self._where(i)[0].net.layers
            trace = _member_trace(i, host_rows, host_scal, diverged_step[i], diverged_loss[i], layers,
                                  self.schedules, meta)
            results.append(make_result(c, self.datas[i], trace, outcome, duration))
        return results


def _member_trace(i: int, rows: dict[int, dict[str, np.ndarray]], scal: dict[int, dict[str, np.ndarray]],
                  diverged: int | None, diverged_loss: float, layers, schedules, meta):
    """Member ``i``'s Trace, laid out as the probe lays out a single run's: rows up to the step a
    diverged member stopped at, scalars up to it, and the non-finite loss it logged there."""
    mine = {k: {q: v[i] for q, v in row.items()} for k, row in rows.items() if diverged is None or k < diverged}
    scalars = {k: {q: float(v[i]) for q, v in row.items()} for k, row in scal.items()
               if diverged is None or k <= diverged}
    if diverged is not None:
        scalars.setdefault(diverged, {})["loss"] = diverged_loss
    return build_trace(mine, scalars, layers, schedules, {"probe": dict(meta["probe"])})


def _cat(per_run: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Rows of the runs (m_r, L) → the group's (M, L), in member order."""
    return {q: torch.cat([d[q] for d in per_run]) for q in per_run[0]} if per_run else {}


def _same_data(a, b) -> bool:
    return a is b or (a.spec == b.spec and a.x_train.shape == b.x_train.shape and torch.equal(a.x_train, b.x_train)
            and torch.equal(a.y_train, b.y_train) and torch.equal(a.x_test, b.x_test)
            and torch.equal(a.y_test, b.y_test))

"""Many same-shape runs trained as one stacked computation (the ``batched`` sweep executor).

Configurations that share the architecture and the training schedule (data set, depth,
width, norm, residual, optimizer, batch size, steps, record interval, device) form a
*group*; members may differ in activation, weight and bias init, learning rate and seed.
Members are sorted by activation; each run of members sharing an activation owns its weights
stacked along a leading member axis (stored transposed), and each layer is one
``torch.baddbmm`` per run, so 72 small networks take a few large batched products per layer
instead of 72 small ones (on the reference sweep of ``benchmarks/sweep_throughput.py``, ~4×
the throughput of single runs on 2 cores).

Each member is an exact replica of :func:`vanishing.run` with its config:

- its network is built by the same code with the same seed (:func:`~vanishing.experiments.run.setup`),
  then copied into the stack, so the initial weights are bit-identical;
- its mini-batches come from its own generator seeded like the single run's;
- its loss is its own mean loss: the stacked loss is the *sum* of the members' losses, so each
  member's gradient is exactly its single-run gradient;
- the optimizer update (SGD, SGD with momentum 0.9, Adam) is written out with torch's formulas,
  per member learning rate;
- on the recorded steps the probe's quantities are computed per member from the stacked
  tensors (gradient, parameter and update norms, backpropagated signal norms, activation
  statistics, attribution), and loss/accuracy are evaluated before the update, as in the loop.

Results agree with single runs to float32 rounding (the matrix products sum in a different
order); ``tests/experiments/test_ensemble.py`` compares them. A member whose loss becomes
non-finite stops where a single run would stop and is frozen from then on.

Batch normalisation is not stacked (its running statistics make it a different kind of
computation): groups with ``norm=batch`` run one config at a time through :func:`vanishing.run`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from ..config import RunConfig
from ..activations import BoundActivation, get_activation
from ..probe import quantities as Q
from ..probe.trace import Trace
from .loop import EVAL_TRAIN_SAMPLES, StepDeltas, TrainOutcome, _batches, resolve_device

if TYPE_CHECKING:
    from ..experiments.run import RunResult

__all__ = ["GROUP_FIELDS", "group_key", "groups", "split_groups", "run_group", "stackable", "cost"]

# fields that must agree for configs to share one stacked computation
GROUP_FIELDS = ("dataset", "depth", "width", "norm", "residual", "optimizer", "batch_size", "steps",
                "record_every", "device")

_ADAM_BETAS = (0.9, 0.999)
_EVAL_FLOATS = 2**18  # evaluation chunk: members of one run × rows × width floats per layer output (1 MB)
_ADAM_EPS = 1e-8
_MOMENTUM = 0.9


def group_key(config: RunConfig) -> tuple:
    """Configs with equal keys can be trained together."""
    return tuple(getattr(config, f) for f in GROUP_FIELDS)


def stackable(config: RunConfig) -> bool:
    """Whether ``config`` can be stacked (batch norm cannot: it runs on its own)."""
    return config.norm != "batch"


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
    """Relative work of one run (weight-matrix entries × steps), for balancing groups across workers."""
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


def run_group(configs: Sequence[RunConfig], on_step: Callable[[int], None] | None = None) -> list["RunResult"]:
    """Train ``configs`` (one group, see :func:`groups`) as one stacked computation.

    Returns one :class:`~vanishing.experiments.run.RunResult` per config, in order, each
    equal (to float32 rounding) to ``vanishing.run(config)``. ``on_step(n)`` is called after
    every stacked step with ``n`` = the number of members that took it. KeyboardInterrupt
    propagates: a group is all or nothing.
    """
    from ..experiments.run import run

    configs = list(configs)
    if not configs:
        return []
    keys = {group_key(c) for c in configs}
    if len(keys) > 1:
        raise ValueError("run_group needs configs that share " + ", ".join(GROUP_FIELDS))
    if not stackable(configs[0]):
        results = []
        for c in configs:
            r = run(c, on_step=None if on_step is None else StepDeltas(on_step))
            if r.outcome.interrupted:
                raise KeyboardInterrupt
            results.append(r)
        return results
    # members with the same activation side by side: one contiguous run per activation
    order = sorted(range(len(configs)), key=lambda i: configs[i].activation)
    trained = _Ensemble([configs[i] for i in order]).train(on_step)
    results: list["RunResult"] = [None] * len(configs)  # type: ignore[list-item]
    for pos, i in enumerate(order):
        results[i] = trained[pos]
    return results


class _Ensemble:
    """The stacked state of one group: parameters (M, ...), optimizer state, data, generators."""

    def __init__(self, configs: list[RunConfig]):
        from ..experiments.run import setup
        from ..probe.schedules import every_and_last
        from ..probe import Probe

        self.start = time.perf_counter()
        self.configs = configs
        c0 = configs[0]
        self.M = len(configs)
        self.device = dev = resolve_device(c0.device)
        self.datas, models = [], []
        loaded: dict[tuple[str, int], object] = {}  # one load per (data set, seed)
        for c in configs:
            data, model, _ = setup(c, loaded.get((c.dataset, c.seed)))
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
        # layer l of activation run r: Wt (m_r, in, out) — the weight transposed, so that every
        # product is a plain bmm — b (m_r, out); LayerNorm affine (m_r, width) per hidden layer.
        # Each run of members sharing an activation owns its own leaves: no slicing of a shared
        # tensor in the autograd graph (whose backward would scatter into zero-filled copies).
        layers = [m.weight_layers() for m in models]
        self.L = L = len(layers[0])
        self.norm = c0.norm
        self.ln_eps = models[0].blocks[0].norm.eps if self.norm == "layer" and L > 1 else 1e-5
        self.residual = [bool(b.residual) for b in models[0].blocks]

        def leaf(ts: list[Tensor]) -> Tensor:
            return torch.stack(ts).to(dev).contiguous().requires_grad_()

        # activations: contiguous runs of members with the same activation spec
        self.runs: list[_Run] = []
        for i, c in enumerate(configs):
            if self.runs and self.runs[-1].act.spec == c.activation:
                self.runs[-1].e = i + 1
            else:
                act = get_activation(c.activation)
                # the forward pass uses the activation module the single runs use (torch's fused kernels)
                self.runs.append(_Run(i, i + 1, act, act.module()))
        for r in self.runs:
            ls, ms = layers[r.s:r.e], models[r.s:r.e]
            r.Wt = [leaf([x[l].weight.detach().t() for x in ls]) for l in range(L)]
            r.b = [leaf([x[l].bias.detach() for x in ls]) for l in range(L)]
            if self.norm == "layer":
                r.gamma = [leaf([m.blocks[l].norm.weight.detach() for m in ms]) for l in range(L - 1)]
                r.beta = [leaf([m.blocks[l].norm.bias.detach() for m in ms]) for l in range(L - 1)]
        self.params = [p for r in self.runs for p in r.params()]
        self.lr = torch.tensor([c.lr for c in configs], dtype=torch.float32, device=dev)
        # each parameter's members' learning rates, shaped to broadcast against it
        self.param_lr = [self.lr[r.s:r.e].view(-1, *([1] * (p.dim() - 1))) for r in self.runs for p in r.params()]
        lrs = {c.lr for c in configs}
        self.uniform_lr: float | None = lrs.pop() if len(lrs) == 1 else None
        self.schedule = every_and_last(c0.record_every, c0.steps)
        # the probe's layer descriptions and schedule metadata, from an unattached probe of member 0
        probe = Probe(models[0], None, every=self.schedule, layers=models[0].weight_layers())  # never attached
        from ..probe.layers import layer_info

        names = {m: n for n, m in models[0].named_modules()}
        self.layer_infos = [[layer_info(names[m], m, (get_activation(c.activation).spec if l < L - 1 else None))
                             for l, m in enumerate(models[0].weight_layers())] for c in configs]
        self.probe_meta = {"quantities": {q: repr(s) for q, s in probe.schedules.items()},
                           "unused_layers": [], "scaler": False}

    # --- the stacked network -----------------------------------------------------------
    def forward(self, r: "_Run", x: Tensor, keep: bool = False) -> tuple[Tensor, "_Kept | None"]:
        """Logits (m, N, C) of run ``r``'s members from ``x`` (m, N, F); with ``keep``: layer outputs
        z_l (retaining their gradients), activation inputs and outputs."""
        kept = _Kept() if keep else None
        h = x
        for l in range(self.L):
            z = torch.baddbmm(r.b[l].unsqueeze(1), h, r.Wt[l])
            if kept is not None:
                z.retain_grad()
                kept.zs.append(z)
            if l == self.L - 1:
                return z, kept
            u = z
            if self.norm == "layer":
                u = F.layer_norm(z, z.shape[-1:], eps=self.ln_eps) * r.gamma[l].unsqueeze(1) + r.beta[l].unsqueeze(1)
            a = r.fn(u)
            if kept is not None:
                kept.pre.append(u)
                kept.post.append(a)
            h = h + a if self.residual[l] else a
        raise AssertionError("unreachable")

    def members_of(self, r: "_Run", t: Tensor) -> Tensor:
        """Run ``r``'s rows of a per-member tensor; a shared one (leading size 1) expanded."""
        return t.expand(r.e - r.s, *t.shape[1:]) if t.shape[0] == 1 else t[r.s:r.e]

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """(M, N, C) without gradients, ``x`` (1, N, F) shared or (M, N, F)."""
        return torch.cat([self.forward(r, self.members_of(r, x))[0] for r in self.runs])

    def losses(self, out: Tensor, y: Tensor) -> Tensor:
        """(m,) mean loss of each member; ``y`` (m, N) labels or (m, N, C) targets."""
        if self.task == "classification":
            C = out.shape[-1]
            return F.cross_entropy(out.reshape(-1, C), y.reshape(-1), reduction="none").view(out.shape[:2]).mean(1)
        return F.mse_loss(out, y, reduction="none").flatten(1).mean(1)

    @torch.no_grad()
    def evaluate_both(self, x_eval: Tensor, y_eval: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(M,) training-subset loss and accuracy and test accuracy, from forward passes over both sets.

        Rows go through in chunks small enough that one layer's output of one activation run
        stays in the processor's cache (~1 MB), whatever the group size and the data set (a
        user's MNIST test set has 10 000 rows): the elementwise passes then never wait on memory.
        """
        n = x_eval.shape[1]
        x = torch.cat([x_eval, self.x_test], 1)
        y = torch.cat([y_eval, self.y_test], 1)
        widest = max(self.configs[0].width, x.shape[-1], self.runs[0].Wt[-1].shape[-1])  # hidden, input, output
        chunk = max(32, _EVAL_FLOATS // (max(r.e - r.s for r in self.runs) * widest))
        loss_sum = torch.zeros(self.M, dtype=torch.float64, device=self.device)
        hits = []
        for a in range(0, x.shape[1], chunk):
            xc, yc = x[:, a:a + chunk], y[:, a:a + chunk]
            out = self.logits(xc)
            yc = yc.expand(self.M, *yc.shape[1:]) if yc.shape[0] == 1 else yc
            k = max(0, min(n - a, xc.shape[1]))  # rows of this chunk from the training subset
            if self.task == "classification":
                top, pred = out.max(-1)  # one pass: the row maxima serve the loss and the accuracy
                if k:
                    loss_sum += _row_cross_entropy(out[:, :k], yc[:, :k], top[:, :k]).sum(1, dtype=torch.float64)
                hits.append(pred == yc)
            elif k:
                loss_sum += self.losses(out[:, :k], yc[:, :k]).double() * k
        loss = (loss_sum / n).float()
        if self.task != "classification":
            return loss, None, None
        hit = torch.cat(hits, 1).float()
        return loss, hit[:, :n].mean(1), hit[:, n:].mean(1)

    # --- optimizer ---------------------------------------------------------------------
    def _init_optimizer(self) -> None:
        opt = self.configs[0].optimizer
        self.opt = opt
        self.t = 0
        if opt == "momentum":
            self.buf: list[Tensor | None] = [None] * len(self.params)
        elif opt == "adam":
            self.m1 = [torch.zeros_like(p) for p in self.params]
            self.m2 = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """One optimizer step (torch's SGD / SGD momentum 0.9 / Adam formulas) for every member.

        Diverged members are updated too (their values no longer matter: :meth:`freeze` kept a
        copy of their parameters from the step they diverged, restored before the final
        evaluation), so every step takes the same few whole-tensor operations.
        """
        self.t += 1
        if self.uniform_lr is not None and self.opt in ("sgd", "momentum"):
            # one learning rate: torch's own foreach update, all tensors at once
            grads = [p.grad for p in self.params]
            if self.opt == "momentum":
                if self.buf[0] is None:
                    self.buf = torch._foreach_mul(grads, 1.0)
                else:
                    torch._foreach_mul_(self.buf, _MOMENTUM)
                    torch._foreach_add_(self.buf, grads)
                grads = self.buf
            torch._foreach_add_(self.params, grads, alpha=-self.uniform_lr)
            return
        for i, p in enumerate(self.params):
            g = p.grad
            lr = self.param_lr[i]
            if self.opt == "sgd":
                step = g * lr
            elif self.opt == "momentum":
                b = self.buf[i]
                if b is None:
                    b = self.buf[i] = g.clone()
                else:
                    b.mul_(_MOMENTUM).add_(g)
                step = b * lr
            else:
                b1, b2 = _ADAM_BETAS
                self.m1[i].lerp_(g, 1 - b1)
                self.m2[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1 = 1 - b1 ** self.t
                bc2_sqrt = math.sqrt(1 - b2 ** self.t)
                denom = (self.m2[i].sqrt() / bc2_sqrt).add_(_ADAM_EPS)
                step = self.m1[i] / denom * (lr / bc1)
            p.sub_(step)

    def _run_of(self, i: int) -> tuple["_Run", int]:
        """The activation run holding member ``i`` and the member's index in it."""
        r = next(r for r in self.runs if r.s <= i < r.e)
        return r, i - r.s

    @torch.no_grad()
    def freeze(self, i: int) -> list[Tensor]:
        """A copy of member ``i``'s parameters now (it diverged: a single run stops here)."""
        r, k = self._run_of(i)
        return [p[k].clone() for p in r.params()]

    @torch.no_grad()
    def restore(self, i: int, saved: list[Tensor]) -> None:
        r, k = self._run_of(i)
        for p, v in zip(r.params(), saved):
            p[k].copy_(v)

    # --- training ----------------------------------------------------------------------
    def train(self, on_step: Callable[[int], None] | None) -> list["RunResult"]:
        from ..experiments.run import make_result

        c0, M, dev = self.configs[0], self.M, self.device
        self._init_optimizer()
        wanted = set(self.schedule.steps())
        gens = [_batches(len(self.x_train[0]), c0.batch_size, torch.Generator().manual_seed(c.seed))
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
            if n_alive == 0:
                break
            if step in wanted:
                tr_loss, tr_acc, te_acc = self.evaluate_both(x_eval, y_eval)
                nan = torch.full((M,), math.nan, device=dev)
                scal[step] = {"loss": tr_loss, "train_accuracy": nan if tr_acc is None else tr_acc,
                              "test_accuracy": nan if te_acc is None else te_acc}
            idx = torch.stack([next(g) for g in gens]).to(dev)  # (M, batch)
            if self.shared_data:
                xb, yb = self.x_train[0][idx], self.y_train[0][idx]
            else:
                xb, yb = self.x_train[member[:, None], idx], self.y_train[member[:, None], idx]
            for p in self.params:
                p.grad = None
            keep = step in wanted
            outs = [self.forward(r, xb[r.s:r.e], keep) for r in self.runs]
            losses = torch.cat([self.losses(out, yb[r.s:r.e]) for r, (out, _) in zip(self.runs, outs)])
            finite = torch.isfinite(losses.detach())
            newly = alive & ~finite
            if bool(newly.any()):
                bad = losses.detach().tolist()
                for i in newly.nonzero().flatten().tolist():
                    diverged_step[i] = step
                    diverged_loss[i] = bad[i]
                    frozen[i] = self.freeze(i)
                alive = alive & finite
                n_alive = int(alive.sum())
                if n_alive == 0:
                    break
            # dead members contribute nothing (their graph may be NaN; gradients of others are unaffected)
            total = torch.where(alive, losses, torch.zeros_like(losses)).sum()
            total.backward()
            if keep:
                row = self._grad_rows()
                before = [[w.detach().clone() for w in r.Wt] for r in self.runs]
            self.update()
            if keep:
                self._after_rows(row, before, [kept for _, kept in outs])
                rows[step] = row
            if on_step is not None:
                on_step(n_alive)
        # final evaluation (frozen members keep the weights they had when they diverged)
        for i, saved in frozen.items():
            self.restore(i, saved)
        fin_loss, fin_tr, fin_te = self.evaluate_both(x_eval, y_eval)
        duration = (time.perf_counter() - self.start) / M
        results = []
        fin_loss_l = fin_loss.tolist()
        fin_tr_l = fin_tr.tolist() if fin_tr is not None else [None] * M
        fin_te_l = fin_te.tolist() if fin_te is not None else [None] * M
        host_rows = {k: {q: v.double().cpu().numpy() for q, v in r.items()} for k, r in rows.items()}
        host_scal = {k: {q: v.double().cpu().numpy() for q, v in r.items()} for k, r in scal.items()}
        for i, c in enumerate(self.configs):
            ds = diverged_step[i]
            steps_done = ds if ds is not None else c.steps
            if ds is None and not math.isfinite(fin_loss_l[i]):
                ds = c.steps
            outcome = TrainOutcome(steps_done=steps_done, diverged=ds is not None, diverged_step=ds,
                                   final_loss=fin_loss_l[i], final_train_accuracy=fin_tr_l[i],
                                   final_test_accuracy=fin_te_l[i])
            trace = self._trace(i, host_rows, host_scal, diverged_step[i], diverged_loss[i])
            results.append(make_result(c, self.datas[i], trace, outcome, duration))
        return results

    def _per_member(self, f: Callable[[int, "_Run", int], Tensor]) -> Tensor:
        """(M, L) float64 from ``f(run index, run, layer)`` → (m,) values of that run's members."""
        return torch.stack([torch.cat([f(i, r, l) for i, r in enumerate(self.runs)]).double()
                            for l in range(self.L)], 1)

    @torch.no_grad()
    def _grad_rows(self) -> dict[str, Tensor]:
        """grad/bias-grad/param norms and non-finite counts, (M, L) float64 each."""
        def nonfinite(r: _Run, l: int) -> Tensor:
            return (~torch.isfinite(r.Wt[l].grad)).flatten(1).sum(1) + (~torch.isfinite(r.b[l].grad)).sum(1)

        row = {"grad_norm": self._per_member(lambda i, r, l: _norms(r.Wt[l].grad)),
               "bias_grad_norm": self._per_member(lambda i, r, l: _norms(r.b[l].grad)),
               "param_norm": self._per_member(lambda i, r, l: _norms(r.Wt[l].detach()))}
        # a float64 norm of finite float32 entries is finite (n · 3.4e38² < 1e308 for n < 1e231): count entries
        # only when a norm says there is something to count (counting costs ~4 norms)
        finite = torch.isfinite(row["grad_norm"]) & torch.isfinite(row["bias_grad_norm"])
        row["nonfinite_grads"] = (torch.zeros_like(row["grad_norm"]) if bool(finite.all())
                                  else self._per_member(lambda i, r, l: nonfinite(r, l)))
        return row

    @torch.no_grad()
    def _after_rows(self, row: dict[str, Tensor], before: list[list[Tensor]], kept: list["_Kept"]) -> None:
        """The quantities that need the update (update ratio) or the kept forward tensors."""
        L = self.L

        def nan(r: _Run) -> Tensor:
            return torch.full((r.e - r.s,), math.nan, dtype=torch.float64, device=self.device)

        row["update_ratio"] = self._per_member(lambda i, r, l: _norms(before[i][l] - r.Wt[l])) / row["param_norm"]
        row["signal_grad_norm"] = self._per_member(lambda i, r, l: _norms(kept[i].zs[l].grad))
        # ‖∂L/∂x_l‖ through layer l only = ‖(∂L/∂z_l) W_l‖ (Wt is W transposed); the data input (layer 0) has none
        row["input_grad_norm"] = self._per_member(
            lambda i, r, l: nan(r) if l == 0 else _norms(torch.bmm(kept[i].zs[l].grad, before[i][l].transpose(1, 2))))
        stats: dict[tuple[int, int], tuple[Tensor, Tensor, Tensor]] = {}
        for i, r in enumerate(self.runs):
            thr = Q.SATURATION_THRESHOLD * r.act.max_derivative()
            for l, (u, a) in enumerate(zip(kept[i].pre, kept[i].post)):
                # as the probe does: φ' from the output where the activation allows (tanh: 1 − a²)
                d = (r.act.derivative_of_output(a.detach()) if r.act.has_output_derivative
                     else r.act.derivative(u.detach()))
                mean = d.flatten(1).mean(1, dtype=torch.float64) if d.dtype == torch.float64 \
                    else d.flatten(1).sum(1, dtype=torch.float32).double() / d[0].numel()
                sat, dead = nan(r), nan(r)
                if r.act.kind == "saturating":  # compared straight into floats: a bool mask sums ~3× slower
                    low = torch.lt(d, thr, out=torch.empty_like(d))
                    sat = low.flatten(1).sum(1, dtype=torch.float64 if d.dtype == torch.float64 else None).double() \
                        / d[0].numel()
                elif r.act.kind == "relu_like":
                    dead = (d.amax(1) < thr).double().mean(1)
                stats[i, l] = sat, dead, mean
        for k, q in enumerate(("saturation", "dead_fraction", "act_derivative_mean")):
            row[q] = self._per_member(lambda i, r, l: stats[i, l][k] if l < L - 1 else nan(r))

    def _trace(self, i: int, rows: dict[int, dict[str, np.ndarray]], scal: dict[int, dict[str, np.ndarray]],
               diverged: int | None, diverged_loss: float) -> Trace:
        """Member ``i``'s Trace, laid out as the probe lays out a single run's."""
        keep_row = [k for k in sorted(rows) if diverged is None or k < diverged]
        keep_scal = [k for k in sorted(scal) if diverged is None or k <= diverged]
        extra = [] if diverged is None else [diverged]
        steps = np.array(sorted(set(keep_row) | set(keep_scal) | set(extra)), dtype=np.int64)
        pos = {int(k): j for j, k in enumerate(steps)}
        data: dict[str, np.ndarray] = {}
        for q in Q.ALL:
            if q.startswith("attribution_"):
                continue
            arr = np.full((len(steps), self.L), np.nan)
            for k in keep_row:
                arr[pos[k]] = rows[k][q][i]
            data[q] = arr
        act, weights = Q.attribution(data["signal_grad_norm"], data["input_grad_norm"])
        data["attribution_activation"], data["attribution_weights"] = act, weights
        scalars: dict[str, np.ndarray] = {}
        for k in keep_scal:
            for q, v in scal[k].items():
                scalars.setdefault(q, np.full(len(steps), np.nan))[pos[k]] = v[i]
        if diverged is not None:
            scalars.setdefault("loss", np.full(len(steps), np.nan))[pos[diverged]] = diverged_loss
        return Trace(steps=steps, layers=list(self.layer_infos[i]), data=data, scalars=scalars,
                     meta={"probe": dict(self.probe_meta)})


def _row_cross_entropy(out: Tensor, y: Tensor, top: Tensor) -> Tensor:
    """(m, N) cross-entropy of each row of logits ``out`` (m, N, C) against labels ``y`` (m, N), given
    the row maxima ``top`` (m, N): log Σ exp(out − top) + top − out[y].

    The evaluation's loss (no gradient). ``F.cross_entropy`` computes the same value but its
    ``log_softmax`` runs at ~15 ns per element on the CPU for 10 classes (a scalar path); this
    form is ~5× faster and agrees with it to float32 rounding (a test checks both, with
    non-finite logits too).
    """
    e = (out - top.unsqueeze(-1)).exp_()
    ones = torch.ones(out.shape[-1], 1, dtype=out.dtype, device=out.device)
    lse = (e @ ones).squeeze(-1).log_().add_(top)  # the sum over classes as a product: a fast kernel
    return lse - out.gather(-1, y.unsqueeze(-1)).squeeze(-1)


def _norms(t: Tensor) -> Tensor:
    """(m,) float64 norm of each member's slice of ``t`` (m, ...)."""
    return torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=torch.float64)


class _Run:
    """Members s..e-1 of a group, which share an activation, and their own parameter leaves."""

    def __init__(self, s: int, e: int, act: BoundActivation, fn: Callable[[Tensor], Tensor]):
        self.s, self.e, self.act, self.fn = s, e, act, fn
        self.Wt: list[Tensor] = []
        self.b: list[Tensor] = []
        self.gamma: list[Tensor] = []
        self.beta: list[Tensor] = []

    def params(self) -> list[Tensor]:
        return self.Wt + self.b + self.gamma + self.beta


class _Kept:
    """One run's forward tensors kept on a recorded step: layer outputs, activation inputs and outputs."""

    def __init__(self) -> None:
        self.zs: list[Tensor] = []
        self.pre: list[Tensor] = []
        self.post: list[Tensor] = []


def _same_data(a, b) -> bool:
    return a is b or (a.spec == b.spec and a.x_train.shape == b.x_train.shape and torch.equal(a.x_train, b.x_train)
            and torch.equal(a.y_train, b.y_train) and torch.equal(a.x_test, b.x_test)
            and torch.equal(a.y_test, b.y_test))

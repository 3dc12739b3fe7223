"""Many same-shape runs trained as one stacked computation (the ``batched`` sweep executor).

Configurations that share the architecture and the training schedule (data set, depth,
width, norm, residual, optimizer, batch size, steps, record interval, device) form a
*group*; members may differ in activation, weight and bias init, learning rate and seed.
Every member's weights are stacked along a leading member axis and each layer is one
``torch.baddbmm`` for the whole group, so a step of 72 small networks costs a little more
than a step of one, instead of 72 times as much.

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
from ..nets.activations import BoundActivation, get_activation
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
_EVAL_FLOATS = 16 * 2**20  # evaluation chunk: M × rows × width floats per layer output
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

    Every group costing more than a worker's share (the total / ``parts``) gives away pieces of
    exactly one share, and the rest stays one group; with the pieces handed out largest first
    (the order returned, the order a pool takes them), every worker gets about one share. Each
    piece is still a stacked group, so every worker keeps the batched speed-up.
    """
    out = groups(configs, max_members)
    if parts <= 1 or not out:
        return out
    total = sum(cost(c) for c in configs)
    share = total / parts
    cut: list[list[int]] = []
    for g in out:
        per = cost(configs[g[0]])  # members of a group share depth, width and steps: equal cost
        cap = max(1, int(share / per + 1e-9)) if per > 0 else len(g)
        while len(g) > cap and (len(g) - cap) * per > 0:
            cut.append(g[:cap])
            g = g[cap:]
        cut.append(g)
    weight = lambda g: sum(cost(configs[i]) for i in g)  # noqa: E731
    while len(cut) < parts:  # fewer groups than workers: halve the costliest
        big = max(cut, key=weight)
        if len(big) < 2:
            break
        cut.remove(big)
        half = (len(big) + 1) // 2
        cut += [big[:half], big[half:]]
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
        from ..experiments.run import recorded_steps, setup
        from ..probe import Probe

        self.start = time.perf_counter()
        self.configs = configs
        c0 = configs[0]
        self.M = M = len(configs)
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
        # layer l: W (M, out, in), b (M, out); LayerNorm affine (M, width) per hidden layer
        layers = [m.weight_layers() for m in models]
        self.L = L = len(layers[0])
        self.W = [torch.stack([ls[l].weight.detach() for ls in layers]).to(dev).requires_grad_() for l in range(L)]
        self.b = [torch.stack([ls[l].bias.detach() for ls in layers]).to(dev).requires_grad_() for l in range(L)]
        self.norm = c0.norm
        self.gamma: list[Tensor] = []
        self.beta: list[Tensor] = []
        if self.norm == "layer":
            for l in range(L - 1):
                self.gamma.append(torch.stack([m.blocks[l].norm.weight.detach() for m in models]).to(dev)
                                  .requires_grad_())
                self.beta.append(torch.stack([m.blocks[l].norm.bias.detach() for m in models]).to(dev)
                                 .requires_grad_())
            self.ln_eps = models[0].blocks[0].norm.eps if L > 1 else 1e-5
        self.residual = [bool(b.residual) for b in models[0].blocks]
        self.params = self.W + self.b + self.gamma + self.beta
        # activations: contiguous runs of members with the same activation spec
        specs = [c.activation for c in configs]
        self.act_runs: list[tuple[int, int, BoundActivation]] = []
        for i, s in enumerate(specs):
            if self.act_runs and self.act_runs[-1][2].spec == s:
                a, _, act = self.act_runs[-1]
                self.act_runs[-1] = (a, i + 1, act)
            else:
                self.act_runs.append((i, i + 1, get_activation(s)))
        # the forward pass uses the activation modules the single runs use (torch's fused kernels)
        self.act_fns = [(a, e, act.module()) for a, e, act in self.act_runs]
        self.lr = torch.tensor([c.lr for c in configs], dtype=torch.float32, device=dev)
        lrs = {c.lr for c in configs}
        self.uniform_lr: float | None = lrs.pop() if len(lrs) == 1 else None
        self.schedule = recorded_steps(c0.steps, c0.record_every)
        # the probe's layer descriptions and schedule metadata, from an unattached probe of member 0
        probe = Probe(models[0], None, every=self.schedule, layers=models[0].weight_layers())  # never attached
        from ..probe.layers import layer_info

        names = {m: n for n, m in models[0].named_modules()}
        self.layer_infos = [[layer_info(names[m], m, (get_activation(c.activation).spec if l < L - 1 else None))
                             for l, m in enumerate(models[0].weight_layers())] for c in configs]
        self.probe_meta = {"quantities": {q: repr(s) for q, s in probe.schedules.items()},
                           "unused_layers": [], "scaler": False}

    # --- the stacked network -----------------------------------------------------------
    def forward(self, x: Tensor, keep: bool = False, members: tuple[int, int] | None = None,
                ) -> tuple[Tensor, list[Tensor], list[Tensor], list[Tensor]]:
        """Logits (M, N, C); with ``keep``: layer inputs, layer outputs z_l and activation inputs.

        ``members=(s, e)``: only members s..e-1 (one activation run), on views of the weights.
        """
        inputs: list[Tensor] = []
        zs: list[Tensor] = []
        pre: list[Tensor] = []
        sl = slice(*members) if members is not None else slice(None)
        if members is not None:
            one = next(fn for s, _, fn in self.act_fns if s == members[0])
        else:
            one = self.act_fns[0][2] if len(self.act_fns) == 1 else None  # None: several runs, concatenated
        h = x
        for l in range(self.L):
            if keep:
                inputs.append(h)
            z = torch.baddbmm(self.b[l][sl].unsqueeze(1), h, self.W[l][sl].transpose(1, 2))
            if keep:
                z.retain_grad()
                zs.append(z)
            if l == self.L - 1:
                return z, inputs, zs, pre
            u = z
            if self.norm == "layer":
                u = F.layer_norm(z, z.shape[-1:], eps=self.ln_eps) * self.gamma[l][sl].unsqueeze(1) \
                    + self.beta[l][sl].unsqueeze(1)
            if keep:
                pre.append(u)
            if one is not None:
                a = one(u)
            else:
                a = torch.cat([fn(u[s:e]) for s, e, fn in self.act_fns])
            h = h + a if self.residual[l] else a
        raise AssertionError("unreachable")

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """(M, N, C) without gradients: one chain per activation run on weight views (no concatenation
        of hidden layers), ``x`` (1, N, F) shared or (M, N, F)."""
        if len(self.act_fns) == 1:
            return self.forward(x.expand(self.M, *x.shape[1:]) if x.shape[0] == 1 else x)[0]
        outs = []
        for s, e, _ in self.act_fns:
            xs = x.expand(e - s, *x.shape[1:]) if x.shape[0] == 1 else x[s:e]
            outs.append(self.forward(xs, members=(s, e))[0])
        return torch.cat(outs)

    def losses(self, out: Tensor, y: Tensor) -> Tensor:
        """(M,) mean loss of each member; ``y`` (M, N) labels or (M, N, C) targets."""
        if self.task == "classification":
            C = out.shape[-1]
            return F.cross_entropy(out.reshape(-1, C), y.reshape(-1), reduction="none").view(out.shape[:2]).mean(1)
        return F.mse_loss(out, y, reduction="none").flatten(1).mean(1)

    @torch.no_grad()
    def evaluate_both(self, x_eval: Tensor, y_eval: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(M,) training-subset loss and accuracy and test accuracy, from forward passes over both sets.

        Rows go through in chunks so that one layer's output stays under ~64 MB whatever the
        group size and the data set (a user's MNIST test set has 10 000 rows).
        """
        n = x_eval.shape[1]
        x = torch.cat([x_eval, self.x_test], 1)
        y = torch.cat([y_eval, self.y_test], 1)
        widest = max(self.configs[0].width, x.shape[-1], self.W[-1].shape[1])
        chunk = max(256, _EVAL_FLOATS // (self.M * widest))
        loss_sum = torch.zeros(self.M, dtype=torch.float64, device=self.device)
        hits = []
        for a in range(0, x.shape[1], chunk):
            xc, yc = x[:, a:a + chunk], y[:, a:a + chunk]
            out = self.logits(xc)
            yc = yc.expand(self.M, *yc.shape[1:]) if yc.shape[0] == 1 else yc
            k = max(0, min(n - a, xc.shape[1]))  # rows of this chunk from the training subset
            if k:
                loss_sum += self.losses(out[:, :k], yc[:, :k]).double() * k
            if self.task == "classification":
                hits.append(out.argmax(-1) == yc)
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
    def update(self, active: Tensor | None) -> None:
        """One optimizer step (torch's SGD / SGD momentum 0.9 / Adam formulas), members in ``active`` only."""
        self.t += 1
        if active is None and self.uniform_lr is not None and self.opt in ("sgd", "momentum"):
            # every member alive and one learning rate: torch's own foreach update, all tensors at once
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
            lr = self.lr.view(-1, *([1] * (p.dim() - 1)))
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
            if active is not None:
                step = torch.where(active.view_as(lr), step, torch.zeros_like(step))
            p.sub_(step)

    # --- training ----------------------------------------------------------------------
    def train(self, on_step: Callable[[int], None] | None) -> list["RunResult"]:
        from ..experiments.run import make_result

        c0, M, dev = self.configs[0], self.M, self.device
        self._init_optimizer()
        wanted = set(self.schedule)
        gens = [_batches(len(self.x_train[0]), c0.batch_size, torch.Generator().manual_seed(c.seed))
                for c in self.configs]
        n_eval = min(self.x_train.shape[1], EVAL_TRAIN_SAMPLES)
        x_eval, y_eval = self.x_train[:, :n_eval], self.y_train[:, :n_eval]
        rows: dict[int, dict[str, Tensor]] = {}      # step → quantity → (M, L)
        scal: dict[int, dict[str, Tensor]] = {}      # step → scalar → (M,)
        alive = torch.ones(M, dtype=torch.bool, device=dev)  # not yet diverged
        diverged_step: list[int | None] = [None] * M
        diverged_loss: list[float] = [math.nan] * M  # the non-finite training loss a single run logs
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
            out, inputs, zs, pre = self.forward(xb, keep=keep)
            losses = self.losses(out, yb)
            finite = torch.isfinite(losses.detach())
            newly = alive & ~finite
            if bool(newly.any()):
                bad = losses.detach().tolist()
                for i in newly.nonzero().flatten().tolist():
                    diverged_step[i] = step
                    diverged_loss[i] = bad[i]
                alive = alive & finite
                n_alive = int(alive.sum())
                if n_alive == 0:
                    break
            # dead members contribute nothing (their graph may be NaN; gradients of others are unaffected)
            total = torch.where(alive, losses, torch.zeros_like(losses)).sum()
            total.backward()
            if keep:
                row = self._grad_rows()
                before = [w.detach().clone() for w in self.W]
            self.update(None if n_alive == M else alive)
            if keep:
                self._after_rows(row, before, inputs, zs, pre)
                rows[step] = row
            if on_step is not None:
                on_step(n_alive)
        # final evaluation (frozen members keep the weights they had when they diverged)
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

    @torch.no_grad()
    def _grad_rows(self) -> dict[str, Tensor]:
        """grad/bias-grad/param norms and non-finite counts, (M, L) float64 each."""
        def norms(ts: list[Tensor]) -> Tensor:
            return torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=torch.float64) for t in ts], 1)

        gW = [w.grad for w in self.W]
        gb = [b.grad for b in self.b]
        nonfinite = torch.stack([(~torch.isfinite(gw)).flatten(1).sum(1) + (~torch.isfinite(g)).sum(1)
                                 for gw, g in zip(gW, gb)], 1).double()
        return {"grad_norm": norms(gW), "bias_grad_norm": norms(gb), "param_norm": norms([w.detach() for w in self.W]),
                "nonfinite_grads": nonfinite}

    @torch.no_grad()
    def _after_rows(self, row: dict[str, Tensor], before: list[Tensor], inputs: list[Tensor], zs: list[Tensor],
                    pre: list[Tensor]) -> None:
        M, L, dev = self.M, self.L, self.device

        def n(t: Tensor) -> Tensor:
            return torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=torch.float64)

        row["update_ratio"] = torch.stack([n(b - w) for b, w in zip(before, self.W)], 1) / row["param_norm"]
        row["signal_grad_norm"] = torch.stack([n(z.grad) for z in zs], 1)
        nan = torch.full((M,), math.nan, dtype=torch.float64, device=dev)
        # ‖∂L/∂x_l‖ through layer l only = ‖(∂L/∂z_l) W_l‖; the data input (layer 0) has none
        row["input_grad_norm"] = torch.stack(
            [nan] + [n(torch.bmm(zs[l].grad, before[l])) for l in range(1, L)], 1)
        sat, dead, dmean = [], [], []
        for u in pre:
            s_l, d_l, m_l = nan.clone(), nan.clone(), nan.clone()
            for s, e, act in self.act_runs:
                d = act.derivative(u[s:e].detach())
                m_l[s:e] = d.flatten(1).mean(1, dtype=torch.float64) if d.dtype == torch.float64 \
                    else d.flatten(1).sum(1, dtype=torch.float32).double() / d[0].numel()
                thr = Q.SATURATION_THRESHOLD * act.max_derivative()
                if act.kind == "saturating":
                    s_l[s:e] = (d < thr).flatten(1).sum(1).double() / d[0].numel()
                elif act.kind == "relu_like":
                    d_l[s:e] = (d.amax(1) < thr).double().mean(1)
            sat.append(s_l)
            dead.append(d_l)
            dmean.append(m_l)
        for q, cols in (("saturation", sat), ("dead_fraction", dead), ("act_derivative_mean", dmean)):
            row[q] = torch.stack(cols + [nan], 1)

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


def _same_data(a, b) -> bool:
    return a is b or (a.spec == b.spec and a.x_train.shape == b.x_train.shape and torch.equal(a.x_train, b.x_train)
            and torch.equal(a.y_train, b.y_train) and torch.equal(a.x_test, b.x_test)
            and torch.equal(a.y_test, b.y_test))

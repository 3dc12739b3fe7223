"""The training loop: plain PyTorch, seeded, with the probe attached.

The loop knows nothing about what is measured: the probe (``vanishing.probe``) records
per-layer quantities; the loop only logs loss and accuracy into the same trace.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..config import RunConfig
from ..data import Dataset
from ..data.sequence import SequenceData
from ..probe import Probe
from ..results import TrainOutcome  # the record lives with the results (torch-free)

__all__ = ["make_optimizer", "loss", "accuracy", "resolve_device", "evaluate", "train", "TrainOutcome", "StepCallback", "StepDeltas"]

# accuracy/loss on at most this many training samples per recorded step (keeps evaluation cheap)
EVAL_TRAIN_SAMPLES = 2048


class StepCallback(Protocol):
    """Called after every optimizer step with the number of steps done so far."""

    def __call__(self, step: int) -> None: ...


class StepDeltas:
    """Turns a run's ``on_step(k)`` (k steps done so far) into ``advance(delta)`` calls for a progress bar.

    ``finish(steps)`` tops the count up to ``steps`` (a run that stopped early) and starts over for the next run.
    """

    def __init__(self, advance: Callable[[int], None]):
        self.advance, self.last = advance, 0

    def __call__(self, k: int) -> None:
        self.advance(k - self.last)
        self.last = k

    def finish(self, steps: int) -> None:
        self.advance(steps - self.last)
        self.last = 0


def resolve_device(device: str) -> torch.device:
    """``auto`` → cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """sgd | momentum (SGD with 0.9 momentum) | adam, over ``params`` (tensors or param groups).

    The batched executor passes stacked member tensors, one param group per learning rate: every
    update is elementwise, so each member's slice is updated exactly as its single run's parameters.
    """
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise AssertionError(name)  # validated in RunConfig


def loss(out: Tensor, y: Tensor, task: str, members: bool = False) -> Tensor:
    """Mean cross-entropy (classification; ``y`` labels) or mean squared error (regression).

    Sequence outputs with one answer per time step, ``out`` (N, T, C) and ``y`` (N, T) (the copy task),
    take the mean over every position.

    With ``members`` the leading axis of ``out`` (M, N, ...) and ``y`` holds stacked members:
    (M,) each member's own mean loss, so that the gradient of their sum is each member's own.
    """
    if not members:
        if task != "classification":
            return F.mse_loss(out, y)
        return F.cross_entropy(out.flatten(0, -2), y.flatten()) if y.dim() > 1 else F.cross_entropy(out, y)
    if task == "classification":
        each = F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none")
    else:
        each = F.mse_loss(out, y, reduction="none")
    return each.reshape(out.shape[0], -1).mean(1)


def accuracy(out: Tensor, y: Tensor) -> Tensor:
    """Fraction of rows whose largest logit is the label: () for (N, C), (M,) for (M, N, C)."""
    return (out.argmax(-1) == y).to(torch.float32).mean(-1)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, task: str) -> tuple[float, float | None]:
    """(mean loss, accuracy or None for regression) in eval mode, restoring the mode after."""
    was_training = model.training
    model.eval()
    try:
        out = model(x)
        mean_loss = float(loss(out, y, task))
        if task == "classification" and y.dim() > 1:  # one label per time step: accuracy per position
            out, y = out.flatten(0, -2), y.flatten()
        acc = float(accuracy(out, y)) if task == "classification" else None
    finally:
        model.train(was_training)
    return mean_loss, acc


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless shuffled mini-batch indices, epoch after epoch."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield perm[i:i + batch_size]


def train(
    config: RunConfig,
    model: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    probe: Probe,
    record: Callable[[int], bool],
    device: torch.device,
    on_step: StepCallback | None = None,
) -> TrainOutcome:
    """Train ``config.steps`` SGD steps; at recorded steps log loss and accuracies into the probe
    (and ``test_loss`` for a sequence task, whose score is read against its baseline).

    With ``config.clip`` the gradient's total norm is clipped to it before every update
    (:func:`torch.nn.utils.clip_grad_norm_`, after the probe has read the unclipped gradient) and the
    clipped steps are counted. A non-finite loss stops training (``diverged``); Ctrl-C stops it too
    and keeps what was recorded (``interrupted``).
    """
    task = data.task
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    eval_n = min(len(x_train), EVAL_TRAIN_SAMPLES)
    x_eval, y_eval = x_train[:eval_n], y_train[:eval_n]
    gen = torch.Generator().manual_seed(config.seed)
    batches = _batches(len(x_train), config.batch_size, gen)
    diverged_step: int | None = None
    interrupted = False
    sequence = isinstance(data, SequenceData)
    clip = config.clip
    params = [p for p in model.parameters() if p.requires_grad]
    clipper = _Clipper(params, clip, device) if clip is not None else None
    # registered after the probe's hooks: the probe reads the gradient backpropagation made, then it is clipped
    clip_hook = optimizer.register_step_pre_hook(clipper) if clipper is not None else None
    step = 0
    model.train()
    try:
        for step in range(config.steps):
            if record(step):
                # evaluate before this step's update: step 0 describes the network at init
                tr_loss, tr_acc = evaluate(model, x_eval, y_eval, task)
                te_loss, te_acc = evaluate(model, x_test, y_test, task)
                probe.log(loss=tr_loss, train_accuracy=_nan(tr_acc), test_accuracy=_nan(te_acc),
                          **({"test_loss": te_loss} if sequence else {}))
            idx = next(batches).to(device)
            optimizer.zero_grad(set_to_none=True)
            step_loss = loss(model(x_train[idx]), y_train[idx], task)
            if not math.isfinite(float(step_loss.detach())):
                probe.log(loss=float(step_loss.detach()))
                diverged_step = step
                break
            step_loss.backward()
            optimizer.step()  # the probe advances its step counter from the optimizer's post-hook
            if on_step is not None:
                on_step(step + 1)
        else:
            step = config.steps
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if clip_hook is not None:
            clip_hook.remove()
    final_loss, final_train = evaluate(model, x_eval, y_eval, task)
    final_test_loss, final_test = evaluate(model, x_test, y_test, task)
    if diverged_step is None and not math.isfinite(final_loss):
        diverged_step = step
    return TrainOutcome(
        steps_done=step,
        diverged=diverged_step is not None,
        diverged_step=diverged_step,
        final_loss=final_loss,
        final_train_accuracy=final_train,
        final_test_accuracy=final_test,
        interrupted=interrupted,
        final_test_loss=final_test_loss,
        clipped_steps=0 if clipper is None else int(clipper.count),
    )


class _Clipper:
    """An optimizer step pre-hook: clip the total gradient norm to ``clip`` and count the steps where
    it was larger (on the device: no host sync per step)."""

    def __init__(self, params: list[Tensor], clip: float, device: torch.device):
        self.params, self.clip = params, clip
        self.count = torch.zeros((), dtype=torch.int64, device=device)

    def __call__(self, *_: object) -> None:
        total = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.count += (total > self.clip).to(torch.int64)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value

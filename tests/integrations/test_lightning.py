"""GradientFlow reads each step's final gradients in Lightning: against Lightning's own grad_norm at the same
step, and against autograd in float64 at the same weights (accumulation, clipping, bf16, two optimizers)."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

pl = pytest.importorskip("lightning.pytorch")
from lightning.pytorch.loggers import Logger  # noqa: E402
from lightning.pytorch.utilities import grad_norm  # noqa: E402

from vanishing.integrations.lightning import GradientFlow  # noqa: E402

pytestmark = pytest.mark.integrations


def _data(n=32, batch=4):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))


def _layer_norms(norms: dict, net: nn.Module) -> np.ndarray:
    """Per-layer weight-gradient norms from Lightning's per-parameter ``grad_norm`` dict."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return np.array([float(norms[f"grad_2.0_norm/net.{n}.weight"]) for n in names])


class Auto(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = _net()
        self.lightning_norms, self.reference, self.batches = [], [], []

    def training_step(self, batch, batch_idx):
        self.batches.append(batch)
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def on_before_optimizer_step(self, optimizer):
        self.lightning_norms.append(_layer_norms(grad_norm(self, 2), self.net))
        # float64 autograd at the weights of this step, over the micro-batches accumulated into it
        ref = copy.deepcopy(self.net).double()
        acc = self.trainer.accumulate_grad_batches
        for x, y in self.batches:
            (F.cross_entropy(ref(x.double()), y) / acc).backward()
        self.reference.append(np.array([float(m.weight.grad.norm()) for m in ref if isinstance(m, nn.Linear)]))
        self.batches = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Memory(Logger):
    """A logger that keeps what it is given."""

    def __init__(self):
        super().__init__()
        self.calls = []

    @property
    def name(self):
        return "memory"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.calls.append((step, dict(metrics)))


def _trainer(tmp_path, flow, **kw):
    return pl.Trainer(max_epochs=1, accelerator="cpu", devices=kw.pop("devices", 1), callbacks=[flow],
                      logger=kw.pop("logger", False),
                      enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                      default_root_dir=tmp_path, **kw)


def test_accumulation_and_clipping_read_before_clipping(tmp_path, fp32_rtol):
    model, flow, logger = Auto(), GradientFlow(every=1, dirpath=tmp_path / "out"), Memory()
    _trainer(tmp_path, flow, accumulate_grad_batches=2, gradient_clip_val=1e-3, logger=logger).fit(model, _data())
    t = flow.trace
    assert t.steps.tolist() == list(range(4))  # 8 batches, 2 per step
    np.testing.assert_allclose(t["grad_norm"], np.array(model.lightning_norms), rtol=fp32_rtol(64))
    np.testing.assert_allclose(t["grad_norm"], np.array(model.reference), rtol=fp32_rtol(64))
    assert (t["grad_norm"] > 1e-3).any()  # larger than the clip: read before clipping
    # the update is lr × the clipped gradient: its weights' part is at most 0.1 × 1e-3 per step
    moved = np.sqrt(((t["update_ratio"] * t["param_norm"]) ** 2).sum(axis=1))
    assert (moved > 0).all() and (moved <= 1e-4 * (1 + 1e-5)).all()
    # logged per layer with an explicit step (the global step when the gradients were read)
    steps = [s for s, m in logger.calls if any(k.startswith("gradient_flow/") for k in m)]
    assert steps == [0, 1, 2, 3]
    first = dict(logger.calls[0][1])
    assert first["gradient_flow/grad_norm/net.0"] == pytest.approx(t["grad_norm"][0, 0])
    # the diagnosis and the trace are written at the end
    assert flow.diagnosis is not None and (tmp_path / "out" / "diagnosis.json").exists()
    assert (tmp_path / "out" / "trace.npz").exists() and not (tmp_path / "out" / "report.html").exists()


def test_bf16_mixed_on_cpu_matches_lightnings_grad_norm(tmp_path):
    model, flow = Auto(), GradientFlow(every=1, report=True, dirpath=tmp_path)
    _trainer(tmp_path, flow, precision="bf16-mixed", max_steps=3).fit(model, _data())
    t = flow.trace
    np.testing.assert_allclose(t["grad_norm"], np.array(model.lightning_norms), rtol=1e-5)
    assert np.isfinite(t["signal_grad_norm"]).all() and (tmp_path / "report.html").exists()


class TwoOptimizers(pl.LightningModule):
    """Manual optimization: the first layer and the rest have their own optimizers, stepped in turn."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.net = _net()
        self.reference = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt_a, opt_b = self.optimizers()
        ref = copy.deepcopy(self.net).double()
        F.cross_entropy(ref(x.double()), y).backward()
        self.reference.append(np.array([float(m.weight.grad.norm()) for m in ref if isinstance(m, nn.Linear)]))
        for opt in (opt_a, opt_b):
            opt.zero_grad()
        self.manual_backward(F.cross_entropy(self.net(x), y))
        opt_a.step()
        self.net[0].weight.grad.mul_(1e3)  # stale after opt_a's step: opt_b's reading must not take it
        opt_b.step()

    def configure_optimizers(self):
        rest = [p for m in (self.net[2], self.net[4]) for p in m.parameters()]
        return [torch.optim.SGD(self.net[0].parameters(), lr=0.1), torch.optim.SGD(rest, lr=0.1)]


def test_two_optimizers_each_fill_their_own_layers(tmp_path, fp32_rtol):
    model, flow = TwoOptimizers(), GradientFlow(every=1, dirpath=tmp_path)
    _trainer(tmp_path, flow, max_steps=6).fit(model, _data(n=12))
    t = flow.trace
    assert t.steps.tolist() == [0, 1, 2]
    np.testing.assert_allclose(t["grad_norm"], np.array(model.reference), rtol=fp32_rtol(64))
    assert np.isfinite(t["update_ratio"]).all()


def test_trace_before_fit_is_an_error():
    from vanishing.errors import VanishingError

    with pytest.raises(VanishingError, match="GradientFlow has recorded nothing yet"):
        GradientFlow().trace


@pytest.mark.slow
def test_ddp_two_processes_read_the_all_reduced_gradients(tmp_path, fp32_rtol):
    """Two CPU processes (gloo): rank 0 writes the trace; its readings are the gradients of the mean loss
    over both ranks' batches (DDP averages), computed here in float64 at the same weights."""
    from vanishing.probe import Trace

    model, flow = Auto(), GradientFlow(every=1, dirpath=tmp_path / "out")
    start = copy.deepcopy(model.net).double()
    trainer = _trainer(tmp_path, flow, strategy="ddp_spawn", devices=2, max_steps=1, use_distributed_sampler=True)
    trainer.fit(model, _data(n=16, batch=4))
    t = Trace.load(tmp_path / "out" / "trace.npz")
    assert t.steps.tolist() == [0]
    data = _data(n=16, batch=4).dataset
    # Lightning's DistributedSampler for training shuffles with seed 0 (torch's DistributedSampler at
    # epoch 0): rank r takes every second index of that permutation from r on
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    batches = [data[perm[r::2][:4]] for r in (0, 1)]
    for x, y in batches:
        (F.cross_entropy(start(x.double()), y) / 2).backward()
    ref = np.array([float(m.weight.grad.norm()) for m in start if isinstance(m, nn.Linear)])
    np.testing.assert_allclose(t["grad_norm"][0], ref, rtol=fp32_rtol(64, 2))
    assert math.isfinite(t["signal_grad_norm"][0, 0])

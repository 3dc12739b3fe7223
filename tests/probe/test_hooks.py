"""Hooks are scoped and symmetric: detach leaves nothing behind (cf. accelerate's tests/test_hooks.py)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import _get_current_function_mode_stack

from vanishing.errors import VanishingError
from vanishing.probe import Probe, watch


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Sigmoid(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 2))


def _no_hooks(net, opt):
    for m in net.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs"):
            assert not getattr(m, attr), (m, attr)
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def _train_step(net, opt, x):
    opt.zero_grad()
    net(x).pow(2).mean().backward()
    opt.step()


def test_detach_leaves_zero_hooks():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, every=1) as probe:
        assert isinstance(probe, Probe)
        assert any(m._forward_hooks for m in net.modules()) and opt._optimizer_step_post_hooks
        _train_step(net, opt, torch.randn(4, 3))
    _no_hooks(net, opt)
    # re-attaching works and detaching again cleans up again
    probe.attach()
    _train_step(net, opt, torch.randn(4, 3))
    probe.detach()
    _no_hooks(net, opt)
    assert probe.trace.steps.tolist() == [0, 1]


def test_detach_between_forward_and_backward_silences_tensor_hooks():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    probe = watch(net, opt, every=1)
    _train_step(net, opt, torch.randn(4, 3))
    out = net(torch.randn(4, 3))  # step 1: tensor hooks registered on this graph
    probe.detach()
    out.pow(2).mean().backward()
    opt.step()
    t = probe.trace
    assert t.steps.tolist() == [0] and probe.step_index == 1
    _no_hooks(net, opt)


def test_norms_only_keeps_no_forward_hooks_after_discovery():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, every=1, quantities=["grad_norm", "param_norm"]) as probe:
        _train_step(net, opt, torch.randn(4, 3))
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())
        _train_step(net, opt, torch.randn(4, 3))
    assert probe.trace.layer_names == ["0", "2", "4"]
    assert np.isfinite(probe.trace["grad_norm"]).all()


def test_module_activations_run_without_the_function_mode_after_discovery():
    # regression: the function mode reported nn.Sigmoid's own torch.sigmoid call before the
    # module's hook did, so a model with only module activations ran every recorded forward
    # pass under the mode (a Python call per torch function)
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    modes = []
    net[4].register_forward_hook(lambda *_: modes.append(len(_get_current_function_mode_stack())))
    with watch(net, opt, every=1) as probe:
        for _ in range(3):
            _train_step(net, opt, torch.randn(4, 3))
    assert modes == [1, 0, 0]  # the discovery pass only
    assert np.isfinite(probe.trace["saturation"][:, 0]).all()


def test_step_is_refused_when_the_optimizer_drives_the_probe():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt) as probe:
        with pytest.raises(VanishingError, match="optimizer"):
            probe.step()


def test_evaluation_under_no_grad_is_ignored():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(4, 3)
    with watch(net, opt, every=1) as probe:
        with torch.no_grad():
            net(torch.randn(100, 3))
        _train_step(net, opt, x)
    with watch(_net(), None, every=1) as ref:
        ref.model(x).pow(2).mean().backward()
        ref.step()
    np.testing.assert_allclose(probe.trace["saturation"], ref.trace["saturation"])
    np.testing.assert_allclose(probe.trace["signal_grad_norm"], ref.trace["signal_grad_norm"])


def test_log_records_scalars_at_the_current_step():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with watch(net, opt, every=2) as probe:
        for k in range(3):
            probe.log(loss=torch.tensor(float(k)), lr=0.1)
            _train_step(net, opt, torch.randn(4, 3))
        probe.log(final=7)
    t = probe.trace
    assert t.steps.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(t.scalars["loss"], [0, 1, 2, np.nan])
    np.testing.assert_array_equal(t.scalars["final"], [np.nan, np.nan, np.nan, 7])
    assert probe.trace is t  # cached until new data
    with pytest.raises(VanishingError, match="scalar"):
        probe.log(loss=torch.zeros(3))


def test_the_hooks_alone_are_symmetric_and_find_the_execution_order():
    from vanishing.probe.hooks import Hooks
    from vanishing.probe.layers import candidates

    net = _net()
    frozen = []
    with Hooks(net, candidates(net), lambda: frozen.append(True)) as hooks:
        assert any(m._forward_hooks for m in net.modules())
        net(torch.randn(4, 3)).sum().backward()
    assert frozen == [True] and hooks.order == [net[0], net[2], net[4]]
    assert [hooks.act_of[i].spec for i in (0, 1)] == ["sigmoid", "relu"] and 2 not in hooks.act_of
    _no_hooks(net, torch.optim.SGD(net.parameters(), lr=0.1))

import numpy as np
import pytest
import torch
from torch import nn

from vanishing.errors import ConfigError
from vanishing.probe import QUANTITIES, schedules, watch
from vanishing.probe.schedules import every, explicit, log_then_every, resolve


def test_every():
    assert [s for s in range(12) if every(4)(s)] == [0, 4, 8]


def test_log_then_every_is_log_spaced_then_linear():
    got = [s for s in range(260) if log_then_every(50)(s)]
    assert got == [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 50, 100, 150, 200, 250]


def test_explicit():
    assert [s for s in range(10) if explicit([7, 2, 2])(s)] == [2, 7]


def test_resolve():
    assert resolve(None) == log_then_every(schedules.DEFAULT_EVERY)
    assert resolve(3) == every(3)
    assert resolve([1, 5]) == explicit([1, 5])
    fn = lambda s: s == 2  # noqa: E731
    assert resolve(fn) is fn


@pytest.mark.parametrize("bad", [0, -1, True, "often", 1.5, [1, -2]])
def test_bad_schedules_name_the_field(bad):
    with pytest.raises(ConfigError, match="every"):
        resolve(bad)


def _train(probe_kwargs, steps=10):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(8, 3)
    with watch(net, opt, **probe_kwargs) as probe:
        for _ in range(steps):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    return probe.trace


@pytest.mark.parametrize("every_, expected", [
    (3, [0, 3, 6, 9]),
    ([0, 5, 7], [0, 5, 7]),
    (lambda s: s in (2, 4), [2, 4]),
    (None, [0, 1, 2, 3, 4, 6, 8]),
])
def test_every_quantity_records_exactly_the_scheduled_steps(every_, expected):
    trace = _train({"every": every_})
    assert trace.steps.tolist() == expected
    assert set(trace.data) == set(QUANTITIES.names())
    for q in trace.data:
        if q != "dead_fraction":  # no ReLU-like activation in this net: never a value
            assert trace.recorded(q)[0].tolist() == expected, q
    assert np.isnan(trace["dead_fraction"]).all()


def test_per_quantity_schedules():
    trace = _train({"every": 4, "quantities": {"grad_norm": 1, "saturation": [3], "signal_grad_norm": None}})
    assert set(trace.data) == {"grad_norm", "saturation", "signal_grad_norm"}
    assert trace.recorded("grad_norm")[0].tolist() == list(range(10))
    assert trace.recorded("saturation")[0].tolist() == [3]
    assert trace.recorded("signal_grad_norm")[0].tolist() == [0, 4, 8]  # None → follows `every`
    assert trace.steps.tolist() == list(range(10))


def test_unknown_quantity_lists_the_valid_ones():
    net = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="grad_norm"):
        watch(net, quantities=["grad_nrom"])


def test_explicit_accepts_numpy_integers():
    assert explicit(np.arange(0, 10, 5)) == explicit([0, 5])

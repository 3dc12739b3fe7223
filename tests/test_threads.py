"""The thread count: chosen from the work and the idle cores, overridden by flag then environment, restored."""

import pytest
import torch

from vanishing import threads
from vanishing.errors import ConfigError
from vanishing.threads import ENV_VAR, WORK_PER_THREAD, auto_threads, resolve_threads, run_work, torch_threads

DEMO = run_work(64, 64)  # the demo's networks: batch 64, width 64


@pytest.mark.parametrize("work,cores,expected", [
    (DEMO, 16, 1),                        # too small to split, however idle the CPU
    (WORK_PER_THREAD - 1, 16, 1),
    (2 * WORK_PER_THREAD, 16, 2),
    (64 * WORK_PER_THREAD, 16, 16),       # never more than the idle cores
    (64 * WORK_PER_THREAD, 1.9, 1),       # a fraction of a core counts as none
    (64 * WORK_PER_THREAD, 0.0, 1),       # a CPU busy all over: still one thread
])
def test_auto_threads_from_work_and_idle_cores(work, cores, expected):
    assert auto_threads(work, cores) == expected


def test_depth_does_not_count_as_work():
    assert run_work(batch_size=64, width=64) == 64 ** 3


def test_flag_beats_environment_beats_automatic():
    big = 64 * WORK_PER_THREAD
    assert resolve_threads(3, big, env={ENV_VAR: "2"}, cores_free=8) == 3
    assert resolve_threads(None, big, env={ENV_VAR: "2"}, cores_free=8) == 2
    assert resolve_threads(None, big, env={ENV_VAR: " "}, cores_free=8) == 8
    assert resolve_threads(None, big, env={}, cores_free=8) == 8


@pytest.mark.parametrize("flag,env,name", [(0, {}, "threads"), (None, {ENV_VAR: "0"}, ENV_VAR),
                                           (None, {ENV_VAR: "many"}, ENV_VAR)])
def test_bad_thread_counts_name_the_source_and_the_value(flag, env, name):
    with pytest.raises(ConfigError, match=f"invalid {name} .*an integer >= 1"):
        resolve_threads(flag, 1, env=env, cores_free=4)


def test_free_cores_never_exceeds_the_usable_cores():
    assert 0 <= threads.free_cores() <= (threads.os.cpu_count() or 1)


def test_torch_threads_restores_the_count_even_on_error():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_watch_leaves_the_thread_count_alone():
    from vanishing import watch

    before = torch.get_num_threads()
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    probe = watch(model)
    model(torch.randn(4, 3)).sum().backward()
    probe.detach()
    assert torch.get_num_threads() == before

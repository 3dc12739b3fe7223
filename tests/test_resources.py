"""resources: the memory estimate against the tensors torch really allocates, and the checks built on it."""

import pytest
import torch

from vanishing.config import RunConfig
from vanishing.errors import ResourceError
from vanishing.nets.mlp import build_mlp
from vanishing.resources import (MAX_DEPTH, _meminfo_available, available_memory, check_fits, check_run_fits,
                                 estimate_run_memory, format_bytes, run_memory_parts)
from vanishing.train.loop import make_optimizer

CONFIGS = [
    dict(depth=1, width=8),
    dict(depth=6, width=16),
    dict(depth=5, width=32, norm="layer"),
    dict(depth=5, width=32, norm="batch", residual=True),
    dict(depth=12, width=24, activation="tanh", optimizer="adam"),
    dict(depth=4, width=40, optimizer="momentum", batch_size=16),
]


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _config(kw) -> RunConfig:
    return RunConfig.make(**kw)


@pytest.mark.parametrize("kw", CONFIGS)
def test_parameters_and_gradients_are_exactly_the_built_networks(kw):
    config = _config(kw)
    net = build_mlp(7, 3, depth=config.depth, width=config.width, activation=config.activation,
                    norm=config.norm, residual=config.residual, seed=0)
    parts = run_memory_parts(config, 7, 3)
    assert parts["parameters"] == _bytes(net.parameters())
    net(torch.randn(5, 7)).sum().backward()
    assert parts["gradients"] == _bytes(p.grad for p in net.parameters())


@pytest.mark.parametrize("kw", CONFIGS)
def test_optimizer_state_is_what_torch_keeps(kw):
    config = _config(kw)
    net = build_mlp(7, 3, depth=config.depth, width=config.width, norm=config.norm, seed=0)
    opt = make_optimizer(config.optimizer, net.parameters(), config.lr)
    net(torch.randn(5, 7)).sum().backward()
    opt.step()
    kept = [t for state in opt.state.values() for t in state.values() if torch.is_tensor(t) and t.dim() > 0]
    assert run_memory_parts(config, 7, 3)["optimizer"] == _bytes(kept)


@pytest.mark.parametrize("kw", CONFIGS)
def test_activations_within_a_factor_2_of_what_autograd_saves(kw):
    """Reference: the distinct storages autograd saves for backward (saved-tensor hooks) in one step."""
    config = _config(kw)
    net = build_mlp(7, 3, depth=config.depth, width=config.width, activation=config.activation,
                    norm=config.norm, residual=config.residual, seed=0)
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x = torch.randn(config.batch_size, 7)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch.nn.functional.cross_entropy(net(x), torch.zeros(config.batch_size, dtype=torch.long)).backward()
    saved = sum(storages.values())
    estimate = run_memory_parts(config, 7, 3)["activations"]
    assert saved / 2 <= estimate <= 2 * saved, (estimate, saved)


def test_members_multiply_all_but_the_shared_data():
    config = RunConfig.make(depth=5, width=16)
    one = run_memory_parts(config, 8, 2, n_train=100, n_test=50)
    four = run_memory_parts(config, 8, 2, members=4, n_train=100, n_test=50)
    assert four["data"] == one["data"] > 0
    assert all(four[k] == 4 * one[k] for k in one if k != "data")
    assert estimate_run_memory(config, 8, 2, members=4, n_train=100, n_test=50) == sum(four.values())


def test_the_estimate_grows_with_depth_width_and_batch():
    base = RunConfig.make(depth=10, width=64)
    e = estimate_run_memory(base, 64, 10)
    for change in (dict(depth=20), dict(width=128), dict(batch_size=128), dict(optimizer="adam")):
        assert estimate_run_memory(base.replace(**change), 64, 10) > e


def test_available_memory_is_a_plausible_number():
    available = available_memory()
    assert available is not None and 0 < available
    total = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    assert available <= total


def test_meminfo_parser(tmp_path):
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:       24683664 kB\nMemFree: 1 kB\nMemAvailable:   2048 kB\n")
    assert _meminfo_available(str(f)) == 2048 * 1024
    f.write_text("MemTotal: 1 kB\n")
    assert _meminfo_available(str(f)) is None
    assert _meminfo_available(str(tmp_path / "missing")) is None


def test_check_fits_names_both_numbers_and_what_to_reduce():
    check_fits(2**20, available=2**30)
    with pytest.raises(ResourceError) as err:
        check_fits(3 * 2**30, "run", available=2**30)
    msg = str(err.value)
    assert msg == "run needs ~3.0 GiB, this machine has 1.0 GiB available; reduce depth, width or batch size"


def test_check_run_fits_refuses_a_width_no_machine_has():
    wide = RunConfig.make(depth=10, width=200_000)  # 10 × 200 000² float32 ≈ 1.5 TB of weights alone
    with pytest.raises(ResourceError) as err:
        check_run_fits(wide, 64, 10)
    msg = str(err.value)
    assert "depth 10, width 200000" in msg and "GiB available" in msg and "\n" not in msg
    small = RunConfig.make(depth=10, width=64)
    assert check_run_fits(small, 64, 10) == estimate_run_memory(small, 64, 10)
    with pytest.raises(ResourceError, match="batch of 3 runs"):
        check_run_fits(small, 64, 10, members=3, available=1000)


def test_depth_above_the_limit_is_a_config_error():
    RunConfig.make(depth=MAX_DEPTH)
    with pytest.raises(Exception) as err:
        RunConfig.make(depth=100_000)
    assert str(err.value) == f"invalid depth 100000; an integer >= 1 and <= {MAX_DEPTH} (deeper stacks crash torch)"


@pytest.mark.parametrize("n,text", [(0, "0 bytes"), (2048, "2.0 KiB"), (3 * 2**30 // 2, "1.5 GiB"),
                                    (300 * 2**20, "300 MiB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text

"""The documented top-level API, used the way the README shows."""

import torch

import vanishing


def test_all_names_exist():
    for name in vanishing.__all__:
        assert hasattr(vanishing, name), name


def test_watch_then_diagnose_in_a_users_own_loop():
    torch.manual_seed(0)
    model = vanishing.build_mlp(16, 3, depth=12, width=32, activation="sigmoid", init="normal:std=0.05")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(64, 16), torch.randint(0, 3, (64,))
    with vanishing.watch(model, opt, every=1) as probe:
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            probe.log(loss=loss.detach())
            opt.step()
    diagnosis = vanishing.diagnose(probe.trace)
    assert diagnosis.verdict == "vanishing_gradients"
    assert not any(m._forward_hooks for m in model.modules())

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


def test_star_import_gives_every_public_name():
    import vanishing.experiments
    import vanishing.probe
    import vanishing.results

    namespace: dict = {}
    exec("from vanishing import *", namespace)
    assert set(vanishing.__all__) <= set(namespace)
    assert namespace["Trace"] is vanishing.probe.Trace is vanishing.results.Trace
    assert namespace["RunResult"] is vanishing.experiments.RunResult is vanishing.results.RunResult


def test_names_load_on_first_use_and_diagnose_stays_the_function():
    import subprocess
    import sys

    code = ("import sys, vanishing; assert 'torch' not in sys.modules\n"
            "import vanishing.diagnose.rules  # importing a submodule must not rebind vanishing.diagnose\n"
            "assert callable(vanishing.diagnose) and vanishing.diagnose.__name__ == 'diagnose'\n"
            "vanishing.watch; assert 'torch' in sys.modules\n"
            "try:\n    vanishing.nope\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "module 'vanishing' has no attribute 'nope'"

"""Regression: a stored run's diagnosis drew from torch's global generator (the theory validated the init spec
by initialising a CPU tensor). In a sweep the driver's main thread diagnoses results from the pool while the
driver's own slot, in another thread, seeds the global generator and draws a network's weights: a
diagnosis landing in between changed that network's initial weights (seen as 3-4 % different step-0
parameter norms in one phase-diagram run out of six)."""

import torch

from vanishing.config import RunConfig
from vanishing.data import load_dataset
from vanishing.diagnose import diagnose
from vanishing.experiments.run import make_result, run
from vanishing.inits import get_init
from vanishing.nets import build_mlp
from vanishing.theory.scales import sigma_w2_of_init


def _untouched(fn) -> bool:
    torch.manual_seed(123)
    before = torch.default_generator.get_state()
    fn()
    return torch.equal(before, torch.default_generator.get_state())


def test_theory_validates_init_specs_without_drawing() -> None:
    for spec in ("he_normal", "xavier_uniform", "orthogonal", "variance_scaling:scale=1.76", "normal:std=0.01"):
        assert _untouched(lambda: sigma_w2_of_init(spec, 64))
    assert _untouched(lambda: sigma_w2_of_init("critical", 64, activation="tanh"))


def test_a_results_diagnosis_draws_nothing() -> None:
    result = run(RunConfig(depth=3, width=8, steps=3, dataset="circles", record_every=1, device="cpu"))
    assert _untouched(lambda: diagnose(result))  # as the driver does for a result made without one
    assert _untouched(lambda: make_result(RunConfig.make(result.config), load_dataset("circles", seed=0),
                                          result.trace, result.outcome, 0.0))  # the diagnosis made with a result


def test_validating_an_init_and_building_a_seeded_network_draw_nothing() -> None:
    """get_init checks on a meta tensor; a network built from a seed draws from its own generator."""
    assert _untouched(lambda: get_init("he_normal"))
    assert _untouched(lambda: build_mlp(4, 2, depth=3, width=8, init="orthogonal", seed=0))
    assert not _untouched(lambda: build_mlp(4, 2, depth=3, width=8))  # seed=None: the global generator


def test_validating_a_config_draws_nothing() -> None:
    """A config built in one thread (a store read, a fix to try) must not move another thread's stream."""
    assert _untouched(lambda: RunConfig(init="orthogonal", bias_init="normal:std=0.1", activation="tanh"))
    assert _untouched(lambda: RunConfig().replace(init="variance_scaling:scale=1.76"))
